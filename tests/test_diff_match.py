"""Node matching shared by diff and merge: names, renames (chains, same source), variants."""

import yaml

from corpus_finder import part as corpus_part
from pfgit.diff.match import (Rewrite, apply_renames, match_nodes, match_variants, node_keys)
from pfgit.flow.load import load_text

BASE = """
inputs:
  url: {type: string}
outputs:
  category: {type: string, reference: "${classify.output}"}
nodes:
- name: fetch
  type: python
  source: {type: code, path: fetch.py}
  inputs: {url: "${inputs.url}"}
- name: summarize
  type: llm
  source: {type: code, path: summarize.jinja2}
  inputs: {text: "${fetch.output}", max_tokens: '256'}
  connection: c
  api: chat
- name: classify
  type: llm
  source: {type: code, path: classify.jinja2}
  inputs: {summary: "${summarize.output}", temperature: 0}
  activate: {when: "${fetch.output}", is: ok}
  connection: c
  api: chat
"""


def data(text):
    return yaml.safe_load(text)


def edit(text, *pairs):
    for a, b in pairs:
        assert a in text, a
        text = text.replace(a, b)
    return text


def test_same_names_match_and_nothing_else():
    m = match_nodes(data(BASE), data(BASE))
    assert m.pairs == {"fetch": "fetch", "summarize": "summarize", "classify": "classify"}
    assert m.renamed == {} and m.added == [] and m.removed == []


def test_accepts_flow_objects():
    m = match_nodes(load_text(BASE), load_text(BASE))
    assert list(m.pairs) == ["fetch", "summarize", "classify"]


def test_rename_chain_with_rewritten_references_is_found():
    # fetch -> download changes summarize's and classify's text; summarize -> digest changes
    # classify again: a fixed point finds all three, in any order
    new = edit(BASE, ("name: fetch", "name: download"), ("${fetch.output}", "${download.output}"),
               ("name: summarize", "name: digest"), ("${summarize.output}", "${digest.output}"))
    m = match_nodes(data(BASE), data(new), similarity=None)
    assert m.renamed == {"fetch": "download", "summarize": "digest"}
    assert m.pairs["classify"] == "classify"
    assert m.added == [] and m.removed == []
    assert m.how["fetch"] == "body" and m.how["summarize"] == "body"


def test_rename_with_edit_found_by_source_file():
    new = edit(BASE, ("name: summarize", "name: digest"), ("${summarize.output}", "${digest.output}"),
               ("max_tokens: '256'", "max_tokens: '512'"))
    m = match_nodes(data(BASE), data(new), similarity=None)
    assert m.renamed == {"summarize": "digest"} and m.how["summarize"] == "source"


def test_rename_with_new_source_found_by_its_re_pointed_users():
    new = edit(BASE, ("name: summarize", "name: digest"), ("${summarize.output}", "${digest.output}"),
               ("summarize.jinja2", "digest.jinja2"))
    m = match_nodes(data(BASE), data(new), similarity=None)
    assert m.renamed == {"summarize": "digest"} and m.how["summarize"] == "references"


def test_rename_of_an_unused_node_with_edits_found_by_similarity_only_when_enabled():
    base = edit(BASE, ("summary: \"${summarize.output}\"", "summary: x"))
    new = edit(base, ("name: summarize", "name: digest"), ("summarize.jinja2", "digest.jinja2"))
    assert match_nodes(data(base), data(new), similarity=None).renamed == {}
    m = match_nodes(data(base), data(new))
    assert m.renamed == {"summarize": "digest"} and m.how["summarize"] == "similar"


def test_different_node_is_not_a_rename():
    new = edit(BASE, ("name: summarize", "name: translate"), ("${summarize.output}", "${translate.output}"),
               ("summarize.jinja2", "translate.jinja2"), ("text: ", "source_text: "),
               ("max_tokens: '256'", "lang: fr, max_tokens: '100'"), ("api: chat\n- name: classify", "api: completion\n- name: classify"))
    m = match_nodes(data(BASE), data(new))
    assert m.renamed == {}
    assert m.added == ["translate"] and m.removed == ["summarize"]


def test_swapped_names_are_renames_not_edits():
    a = "nodes:\n- {name: a, type: python, source: {path: x.py}}\n- {name: b, type: python, source: {path: y.py}}\n"
    b = "nodes:\n- {name: b, type: python, source: {path: x.py}}\n- {name: a, type: python, source: {path: y.py}}\n"
    # same names exist on both sides: name matching wins (the bodies changed)
    m = match_nodes(data(a), data(b))
    assert m.renamed == {} and m.pairs == {"a": "a", "b": "b"}


def test_apply_renames_rewrites_every_reference_and_variant_key():
    text = BASE.replace("- name: summarize\n  type: llm\n  source: {type: code, path: summarize.jinja2}\n"
                        "  inputs: {text: \"${fetch.output}\", max_tokens: '256'}\n  connection: c\n  api: chat\n",
                        "- name: summarize\n  use_variants: true\n") + (
        "node_variants:\n  summarize:\n    default_variant_id: v0\n    variants:\n"
        "      v0: {node: {type: llm, inputs: {text: \"${fetch.output}\"}}}\n")
    rewrites = []
    out = apply_renames(data(text), {"fetch": "download", "summarize": "digest"}, rewrites)
    assert [n["name"] for n in out["nodes"]] == ["download", "digest", "classify"]
    assert list(out["node_variants"]) == ["digest"]
    assert out["node_variants"]["digest"]["variants"]["v0"]["node"]["inputs"]["text"] == "${download.output}"
    assert Rewrite(("nodes", "classify", "inputs", "summary"), "${summarize.output}", "${digest.output}") in rewrites
    assert Rewrite(("nodes", "classify", "activate", "when"), "${fetch.output}", "${download.output}") in rewrites
    assert Rewrite(("node_variants", "digest", "variants", "v0", "node", "inputs", "text"),
                   "${fetch.output}", "${download.output}") in rewrites
    assert data(text)["nodes"][0]["name"] == "fetch"  # input untouched


def test_renamed_variant_node_matches_by_body():
    text = ("nodes:\n- {name: s, use_variants: true}\n- {name: t, type: python, inputs: {x: '${s.output}'}}\n"
            "node_variants:\n  s:\n    default_variant_id: v0\n    variants:\n"
            "      v0: {node: {type: llm, source: {path: a.jinja2}}}\n")
    new = text.replace("name: s,", "name: s2,").replace("${s.output}", "${s2.output}").replace("  s:\n", "  s2:\n")
    m = match_nodes(data(text), data(new), similarity=None)
    assert m.renamed == {"s": "s2"} and m.how["s"] == "body"


def test_match_variants_by_id():
    old = {"default_variant_id": "v0", "variants": {"v0": {}, "v1": {}}}
    new = {"default_variant_id": "v0", "variants": {"v2": {}, "v0": {}}}
    vm = match_variants(old, new)
    assert vm.common == ["v0"] and vm.added == ["v2"] and vm.removed == ["v1"]
    assert match_variants(None, new).added == ["v2", "v0"]


def test_node_keys_are_unique():
    assert node_keys([{"name": "a"}, {"name": "a"}, {}, "x"]) == ["a", "a#2", "#2", "#3"]


def test_corpus_histories_match_every_surviving_name(corpus):
    for slug in sorted(p for p in corpus_part(corpus, "history").iterdir() if p.is_dir()):
        versions = sorted(slug.glob("*.flow.dag.yaml"))
        for a, b in zip(versions, versions[1:]):
            old, new = data(a.read_text()), data(b.read_text())
            m = match_nodes(old, new)
            olds = [n["name"] for n in old.get("nodes", [])]
            news = [n["name"] for n in new.get("nodes", [])]
            assert set(m.pairs) | set(m.removed) == set(olds)
            assert set(m.pairs.values()) | set(m.added) == set(news)
            for name in set(olds) & set(news):
                assert m.pairs[name] == name
