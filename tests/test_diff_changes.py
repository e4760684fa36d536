"""The semantic change format: every op, renames, variants, files, formatting, and the property
that applying a diff to the old version reproduces the new one on every real edit history."""

import pathlib

import pytest
from corpus_finder import dag_files, locate as locate_corpus, part as corpus_part
import yaml

from pfgit.diff.changes import Change, apply_changes, diff_data, diff_flows
from pfgit.diff.render import render_json, render_markdown, render_stat, render_text
from pfgit.diff.tree import diff_flow_bytes

BASE = """\
$schema: https://azuremlschemas.azureedge.net/promptflow/latest/Flow.schema.json
inputs:
  url:
    type: string
    default: https://example.com
outputs:
  category:
    type: string
    reference: ${classify.output}
nodes:
- name: fetch
  type: python
  source:
    type: code
    path: fetch.py
  inputs:
    url: ${inputs.url}
- name: summarize
  use_variants: true
- name: classify
  type: llm
  source:
    type: code
    path: classify.jinja2
  inputs:
    summary: ${summarize.output}
    temperature: 0
    max_tokens: '256'
  connection: conn
  api: chat
node_variants:
  summarize:
    default_variant_id: variant_0
    variants:
      variant_0:
        node:
          type: llm
          source:
            type: code
            path: summarize.jinja2
          inputs:
            text: ${fetch.output}
            max_tokens: '128'
          connection: conn
          api: chat
      variant_1:
        node:
          type: llm
          source:
            type: code
            path: summarize_v1.jinja2
          inputs:
            text: ${fetch.output}
            max_tokens: '256'
          connection: conn
          api: chat
environment:
  python_requirements_txt: requirements.txt
"""


def load(text):
    return yaml.safe_load(text)


def edit(text, *pairs):
    for a, b in pairs:
        assert a in text, a
        text = text.replace(a, b, 1)
    return text


def ops(changes):
    return [(c.op, c.path) for c in changes]


def roundtrip(old_text, new_text):
    old, new = load(old_text), load(new_text)
    changes = diff_data(old, new)
    assert apply_changes(old, changes) == new
    assert [n.get("name") for n in apply_changes(old, changes).get("nodes", [])] == \
        [n.get("name") for n in new.get("nodes", [])]
    return changes


def test_field_changes_by_name_with_nested_paths_and_types_kept():
    new = edit(BASE, ("temperature: 0", "temperature: 0.2"), ("max_tokens: '256'\n  connection",
               "max_tokens: 256\n  connection"), ("default: https://example.com", "default: https://x.org"))
    changes = roundtrip(BASE, new)
    assert ops(changes) == [
        ("change", ["inputs", "url", "default"]),
        ("change", ["nodes", "classify", "inputs", "temperature"]),
        ("change", ["nodes", "classify", "inputs", "max_tokens"]),
    ]
    mt = changes[2]
    assert mt.old == "256" and mt.new == 256  # '256' vs 256 is a change, not normalised away


def test_bool_and_int_are_different_values():
    a = "nodes:\n- {name: n, type: python, aggregation: 1}\n"
    b = "nodes:\n- {name: n, type: python, aggregation: true}\n"
    assert ops(roundtrip(a, b)) == [("change", ["nodes", "n", "aggregation"])]


def test_add_remove_inputs_outputs_and_top_level_keys():
    new = edit(BASE, ("inputs:\n  url:", "inputs:\n  lang:\n    type: string\n  url:"),
               ("environment:\n  python_requirements_txt: requirements.txt\n",
                "additional_includes:\n- ../shared/util.py\nbogus_key: 1\n"))
    changes = roundtrip(BASE, new)
    assert ops(changes) == [("add", ["inputs", "lang"]), ("remove", ["environment"]),
                            ("add", ["additional_includes"]), ("add", ["bogus_key"])]
    assert changes[0].new == {"type": "string"}


def test_node_added_removed_with_position():
    new = edit(BASE, ("- name: classify", "- name: clean\n  type: python\n  source:\n    type: code\n"
                                           "    path: clean.py\n  inputs: {}\n- name: classify"))
    changes = roundtrip(BASE, new)
    add = [c for c in changes if c.op == "add"]
    assert ops(add) == [("add", ["nodes", "clean"])] and add[0].detail["after"] == "summarize"
    back = roundtrip(new, BASE)
    assert ops(back) == [("remove", ["nodes", "clean"])]


def test_move_is_order_only():
    moved = BASE.replace("- name: fetch\n  type: python\n  source:\n    type: code\n    path: fetch.py\n"
                         "  inputs:\n    url: ${inputs.url}\n", "")
    moved = moved.replace("node_variants:", "- name: fetch\n  type: python\n  source:\n    type: code\n"
                          "    path: fetch.py\n  inputs:\n    url: ${inputs.url}\nnode_variants:")
    changes = roundtrip(BASE, moved)
    assert ops(changes) == [("move", ["nodes", "fetch"])]
    assert changes[0].old == 0 and changes[0].new == 2 and changes[0].detail["after"] == "classify"


def test_rename_carries_its_reference_rewrites_and_nothing_else():
    new = BASE.replace("fetch", "download")  # node name, its references (and its source file)
    new = new.replace("path: download.py", "path: fetch.py")
    changes = roundtrip(BASE, new)
    assert ops(changes) == [("rename", ["nodes", "fetch"])]
    r = changes[0]
    assert (r.old, r.new) == ("fetch", "download")
    assert r.detail["references"] == [
        {"path": ["node_variants", "summarize", "variants", "variant_0", "node", "inputs", "text"],
         "old": "${fetch.output}", "new": "${download.output}"},
        {"path": ["node_variants", "summarize", "variants", "variant_1", "node", "inputs", "text"],
         "old": "${fetch.output}", "new": "${download.output}"}]


def test_rename_with_field_change_paths_use_the_new_name():
    new = edit(BASE, ("name: classify", "name: label"), ("${classify.output}", "${label.output}"),
               ("temperature: 0", "temperature: 1"))
    changes = roundtrip(BASE, new)
    assert ops(changes) == [("rename", ["nodes", "classify"]),
                            ("change", ["nodes", "label", "inputs", "temperature"])]
    assert changes[0].detail["references"] == [
        {"path": ["outputs", "category", "reference"], "old": "${classify.output}", "new": "${label.output}"}]


def test_renamed_variant_node_renames_its_node_variants_entry():
    new = BASE.replace("summarize:", "digest:").replace("name: summarize", "name: digest").replace(
        "${summarize.output}", "${digest.output}")
    changes = roundtrip(BASE, new)
    assert ops(changes) == [("rename", ["nodes", "summarize"])]


def test_variants_added_removed_changed_and_default():
    new = edit(BASE, ("default_variant_id: variant_0", "default_variant_id: variant_1"),
               ("max_tokens: '128'", "max_tokens: '100'"),
               ("environment:", "      variant_2:\n        node:\n          type: llm\nenvironment:"))
    changes = roundtrip(BASE, new)
    assert ops(changes) == [
        ("change", ["node_variants", "summarize", "default_variant_id"]),
        ("change", ["node_variants", "summarize", "variants", "variant_0", "node", "inputs", "max_tokens"]),
        ("add", ["node_variants", "summarize", "variants", "variant_2"]),
    ]
    gone = roundtrip(new, BASE)
    assert ("remove", ["node_variants", "summarize", "variants", "variant_2"]) in ops(gone)


REFORMATTED = """\
# reformatted by hand: comments, flow style, 4-space indent, key order, quoting
$schema: "https://azuremlschemas.azureedge.net/promptflow/latest/Flow.schema.json"
environment: {python_requirements_txt: requirements.txt}
outputs:
    category: {reference: "${classify.output}", type: string}
inputs:
    url: {default: 'https://example.com', type: "string"}
nodes:
    -   name: fetch          # first
        inputs: {url: "${inputs.url}"}
        source: {path: fetch.py, type: code}
        type: python
    -   {name: summarize, use_variants: true}
    -   name: classify
        api: chat
        connection: "conn"
        type: llm
        source: {type: code, path: classify.jinja2}
        inputs:
            max_tokens: "256"
            temperature: 0
            summary: ${summarize.output}
node_variants:
    summarize:
        variants:
            variant_1:
                node: {type: llm, source: {type: code, path: summarize_v1.jinja2}, inputs: {text: "${fetch.output}", max_tokens: '256'}, connection: conn, api: chat}
            variant_0:
                node:
                    api: chat
                    connection: conn
                    inputs: {max_tokens: '128', text: "${fetch.output}"}
                    source: {type: code, path: summarize.jinja2}
                    type: llm
        default_variant_id: variant_0
"""


def test_formatting_only_edits_are_no_semantic_change():
    assert load(REFORMATTED) == load(BASE)
    assert diff_data(load(BASE), load(REFORMATTED)) == []
    fd = diff_flow_bytes("f", "f/flow.dag.yaml", BASE.encode(), REFORMATTED.encode())
    assert fd.status == "unchanged"
    assert "no semantic change" in render_text([fd])


def test_a_flow_added_or_deleted_as_a_whole_lists_every_node():
    added = diff_flows(None, load(BASE))
    assert [c.path for c in added if c.path[0] == "nodes" and len(c.path) == 2] == [
        ["nodes", "fetch"], ["nodes", "summarize"], ["nodes", "classify"]]
    assert ("add", ["inputs", "url"]) in ops(added)
    assert apply_changes({}, added) == load(BASE)
    deleted = diff_flows(load(BASE), None)
    assert [c.op for c in deleted if c.path[0] == "nodes" and len(c.path) == 2] == ["remove"] * 3


def test_source_files_are_shown_under_every_node_and_variant_using_them():
    new = edit(BASE, ("path: summarize_v1.jinja2", "path: summarize.jinja2"))
    old_files = {"fetch.py": b"def f():\n    return 1\n", "summarize.jinja2": b"Summarise {{text}}\n",
                 "summarize_v1.jinja2": b"v1\n", "classify.jinja2": b"c\n", "notes.txt": b"a\n",
                 "flow.dag.yaml": b"ignored"}
    new_files = dict(old_files, **{"fetch.py": b"def f():\n    return 2\n",
                                   "summarize.jinja2": b"Summarise briefly {{text}}\n",
                                   "notes.txt": b"b\n", "flow.dag.yaml": b"ignored too"})
    changes = diff_flows(load(BASE), load(new), old_files, new_files)
    files = [(c.path, c.detail.get("old_file")) for c in changes if c.is_file]
    assert files == [
        (["nodes", "fetch", "file", "fetch.py"], None),
        (["node_variants", "summarize", "variants", "variant_0", "node", "file", "summarize.jinja2"], None),
        (["node_variants", "summarize", "variants", "variant_1", "node", "file", "summarize.jinja2"],
         "summarize_v1.jinja2"),
        (["files", "notes.txt"], None)]
    fetch = changes[[c.path for c in changes].index(["nodes", "fetch", "file", "fetch.py"])]
    assert "-    return 1\n+    return 2\n" in fetch.detail["diff"]
    text = render_text([_fd(changes)])
    assert "node fetch" in text and "~ source fetch.py" in text and "+    return 2" in text
    assert "files not used by any node" in text and "notes.txt" in text
    assert apply_changes(load(BASE), changes) == load(new)  # file changes are not flow data


def test_binary_and_added_source_files():
    changes = diff_flows(load(BASE), load(BASE), {"fetch.py": b"x\n", "img.png": b"\x89PNG\0\1"},
                         {"fetch.py": b"x\n", "img.png": b"\x89PNG\0\2", "new.py": b"y\n"})
    by = {c.path[-1]: c for c in changes}
    assert by["img.png"].detail["binary"] and "diff" not in by["img.png"].detail
    assert by["new.py"].detail["status"] == "added"


def _fd(changes):
    from pfgit.diff.tree import FlowDiff

    return FlowDiff(path="f", file="f/flow.dag.yaml", status="modified", changes=changes)


def test_renderers_agree_on_one_change_list():
    new = edit(BASE, ("name: classify", "name: label"), ("${classify.output}", "${label.output}"),
               ("temperature: 0", "temperature: 1"), ("default_variant_id: variant_0", "default_variant_id: variant_1"))
    fd = _fd(diff_data(load(BASE), load(new)))
    text = render_text([fd])
    assert "> node label: renamed from classify" in text
    assert "reference rewritten outputs.category.reference: ${classify.output} -> ${label.output}" in text
    assert "~ inputs.temperature: 0 -> 1" in text and "default_variant_id: variant_0 -> variant_1" in text
    md = render_markdown([fd])
    assert "node `label`: renamed from classify" in md and "`inputs.temperature`: `0` → `1`" in md
    assert "3 semantic changes" in render_stat([fd])
    js = render_json([fd])
    assert js["flows"][0]["changes"][0] == {
        "op": "rename", "path": ["nodes", "classify"], "old": "classify", "new": "label",
        "references": [{"path": ["outputs", "category", "reference"], "old": "${classify.output}",
                        "new": "${label.output}"}], "matched_by": "source"}
    assert "\033[" in render_text([fd], color=True) and "\033[" not in text
    import json

    back = [Change.from_json(c) for c in json.loads(json.dumps(js))["flows"][0]["changes"]]
    assert apply_changes(load(BASE), back) == load(new)


def test_type_change_is_visible_in_text():
    new = edit(BASE, ("max_tokens: '256'\n  connection", "max_tokens: 256\n  connection"))
    assert "~ inputs.max_tokens: '256' -> 256" in render_text([_fd(diff_data(load(BASE), load(new)))])


def test_unreadable_side_falls_back_to_text_diff():
    bad = BASE.replace("  url:\n", "  url: [\n", 1)
    fd = diff_flow_bytes("f", "f/flow.dag.yaml", BASE.encode(), bad.encode())
    assert fd.status == "unreadable" and fd.shown
    assert fd.problems[0][0] == "new" and isinstance(fd.problems[0][2], int)
    assert "+  url: [" in fd.text_diff
    assert "new side cannot be read" in render_text([fd])
    binary = diff_flow_bytes("f", "f/flow.dag.yaml", BASE.encode(), b"\xff\xfe\0\0garbage")
    assert binary.status == "unreadable" and not binary.shown


def test_apply_changes_property_over_every_corpus_history(corpus):
    pairs = 0
    renames = 0
    for slug in sorted(p for p in corpus_part(corpus, "history").iterdir() if p.is_dir()):
        versions = sorted(slug.glob("*.flow.dag.yaml"))
        for a, b in zip(versions, versions[1:]):
            old, new = load(a.read_text()), load(b.read_text())
            changes = diff_flows(old, new)
            got = apply_changes(old, changes)
            assert got == new, (slug.name, a.name)
            assert [n.get("name") for n in got.get("nodes") or []] == \
                [n.get("name") for n in new.get("nodes") or []], (slug.name, a.name)
            assert all(not isinstance(seg, int) for c in changes for seg in c.path[:2])
            renames += sum(c.op == "rename" for c in changes)
            pairs += 1
    assert pairs >= 90 and renames >= 1


def test_whole_flow_add_and_delete_property_over_corpus_examples(corpus):
    for f in dag_files(corpus)[:20]:
        data = load(f.read_text())
        assert apply_changes({}, diff_flows(None, data)) == data, f
        assert diff_flows(data, data) == []


# --- random edits of real flows (hypothesis) ---------------------------------------------------

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from pfgit.diff.match import apply_renames  # noqa: E402


def _corpus_flows():
    root = locate_corpus()
    out = []
    for f in dag_files(root / "examples" if root and (root / "examples").is_dir() else root) if root else []:
        try:
            data = load(f.read_text())
        except Exception:  # a checkout of promptflow holds deliberately broken flows too
            continue
        if isinstance(data, dict) and isinstance(data.get("nodes"), list) and len(data["nodes"]) >= 2:
            out.append(data)
    return out


FLOWS = _corpus_flows()


@st.composite
def edited_flow(draw):
    import copy

    old = draw(st.sampled_from(FLOWS))
    new = copy.deepcopy(old)
    for _ in range(draw(st.integers(1, 4))):
        nodes = new["nodes"]
        kind = draw(st.sampled_from(["rename", "move", "remove", "add", "input", "type", "top"]))
        i = draw(st.integers(0, len(nodes) - 1))
        node = nodes[i]
        if kind == "rename" and "name" in node:
            new = apply_renames(new, {node["name"]: node["name"] + "_x"})
        elif kind == "move" and len(nodes) > 1:
            nodes.insert(draw(st.integers(0, len(nodes) - 1)), nodes.pop(i))
        elif kind == "remove" and len(nodes) > 1:
            nodes.pop(i)
        elif kind == "add":
            nodes.insert(i, {"name": f"new_{i}_{len(nodes)}", "type": "python",
                             "source": {"type": "code", "path": "n.py"}, "inputs": {"a": "${inputs.q}"}})
        elif kind == "input":
            node.setdefault("inputs", {})[draw(st.sampled_from(["temperature", "extra"]))] = \
                draw(st.one_of(st.integers(0, 3), st.text(max_size=3), st.booleans()))
        elif kind == "type":
            ins = node.get("inputs") or {}
            for k, v in ins.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    ins[k] = str(v)  # '256' vs 256
                    break
        elif kind == "top":
            new[draw(st.sampled_from(["environment", "description", "inputs"]))] = {"x": 1}
    return old, new


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edited_flow())
def test_apply_of_diff_reproduces_random_edits_of_corpus_flows(corpus, pair):
    old, new = pair
    changes = diff_flows(old, new)
    got = apply_changes(old, changes)
    assert got == new
    assert [n.get("name") for n in got["nodes"]] == [n.get("name") for n in new["nodes"]]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(FLOWS), st.data())
def test_a_pure_rename_is_one_rename_change(corpus, old, data):
    names = [n["name"] for n in old["nodes"] if isinstance(n.get("name"), str)]
    name = data.draw(st.sampled_from(names))
    new = apply_renames(old, {name: name + "_renamed"})
    changes = diff_flows(old, new)
    assert [(c.op, c.path) for c in changes] == [("rename", ["nodes", name])]


def test_whole_corpus_tree_diff_identical_edited_and_deleted(corpus, tmp_path):
    import shutil

    from pfgit.diff.tree import EmptyReader, diff_trees
    from pfgit.flow.readers import DirReader

    src = corpus / "examples"
    copy = tmp_path / "examples"
    shutil.copytree(src, copy)
    old = DirReader(str(src), "")
    assert diff_trees(old, DirReader(str(copy), "")) == []
    prompty = next(copy.rglob("eval_code_quality.prompty"))
    prompty.write_text(prompty.read_text() + "\nBe brief.\n")
    flex = copy / "flows" / "integrations" / "unify-ai" / "flow.flex.yaml"
    flex.write_text(flex.read_text() + "extra: 1\n")
    wc = copy / "flows" / "standard" / "web-classification"
    (wc / "flow.dag.yaml").write_text((wc / "flow.dag.yaml").read_text().replace("temperature: 0.2", "temperature: 0.3", 1))
    diffs = {fd.path: fd for fd in diff_trees(old, DirReader(str(copy), ""))}
    assert sorted(diffs) == ["flows/integrations/unify-ai", "flows/integrations/unify-ai/eval_code_flow",
                             "flows/standard/web-classification"]
    assert [c.path for c in diffs["flows/integrations/unify-ai"].changes] == [["extra"]]  # nested flow's file not here
    (prompt,) = diffs["flows/integrations/unify-ai/eval_code_flow"].changes
    assert prompt.detail["prompt"] and "+Be brief." in prompt.detail["diff"]
    assert "prompt (the .prompty file)" in render_text([diffs["flows/integrations/unify-ai/eval_code_flow"]])
    assert [c.path for c in diffs["flows/standard/web-classification"].changes] == [
        ["nodes", "classify_with_llm", "inputs", "temperature"]]
    gone = diff_trees(old, EmptyReader())
    assert len(gone) >= 60 and {fd.status for fd in gone} == {"deleted"}


def _indent_nodes(text):
    out, inside = [], False
    for line in text.splitlines(keepends=True):
        if line.rstrip() == "nodes:":
            inside = True
        elif inside and line[:1] not in (" ", "-", "#", "\n", ""):
            inside = False
        out.append("  " + line if inside and line.strip() and line.rstrip() != "nodes:" else line)
    return "".join(out)


def test_node_by_node_parse_equals_the_full_parse(corpus):
    from pfgit.diff.parse import parse_data

    checked = 0
    for f in sorted(corpus.rglob("flow.dag.yaml")) + sorted(corpus_part(corpus, "history").rglob("*.yaml")):
        text = f.read_text(encoding="utf-8-sig")
        cache: dict = {}
        first = parse_data(text, cache, min_bytes=0)
        again = parse_data(_indent_nodes(text), cache, min_bytes=0)  # cache hits across re-indent
        assert first == load(text) and again == load(text), f
        checked += 1
    tricky = ("inputs: {}\nnodes:\n- name: a\n  inputs:\n    t: |+\n      keep\n\n# c\n- name: b\n"
              "  inputs: {x: [1, 2]}\n  list:\n  - 1\nouter: 2\n- stray\n")
    for text in (tricky, tricky.rstrip("\n"), tricky.replace("outer: 2\n- stray\n", "- name: c\n  t: |+\n    end")):
        try:
            expected = load(text)
        except yaml.YAMLError:
            continue
        assert parse_data(text, {}, min_bytes=0) == expected, text
    assert checked > 100


def test_fast_split_and_plain_load_equal_the_line_by_line_split_and_the_safe_loader():
    from pfgit.diff import parse
    from pfgit.diff.match import canon

    base = ("inputs:\n  q: {type: string}\nnodes:\n- name: a\n  type: python\n  inputs:\n    t: 0.5\n"
            "    on: yes\n    n: ~\n    d: 2024-01-02\n    s: '1'\n    h: 0x1F\n    e: ''\n    m: |\n"
            "      line\n\n      more\n  # inside\n- name: b\n  source: {path: b.py, type: code}\n"
            "outputs:\n  x: {reference: '${b.output}'}\n")
    texts = [base, base.rstrip("\n"), base.replace("nodes:\n", "nodes:  # c\n\n# top\n"),
             base.replace("\n- ", "\n    - ").replace("\n  ", "\n      "), base.replace("\n", "\r\n"),
             base.replace("  # inside", "\u3000"), base + "- stray\n", "nodes:\n- a\n-b\n", "nodes:",
             "x: 1\nnodes:\n\n", "nodes:\n  - x: 1\n   # odd\n  - y\n", "a: 1\n<<: {b: 2}\n",
             "? [a, b]\n: c\n1: x\n"]

    def outcome(fn, text):
        try:
            return fn(text)
        except parse.Unsplittable:
            return "unsplittable"
        except yaml.YAMLError:
            return "yaml error"

    for t in texts:
        assert outcome(parse._split, t) == outcome(parse._split_lines, t), t
        a, b = outcome(parse._load, t), outcome(parse._load_plain, t)
        assert (a == b == "yaml error") or canon(a) == canon(b), t
