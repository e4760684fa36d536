"""The merge library and `pfgit merge-file`: formatting kept, conflicts, bad input, CLI contract."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

from pfgit.merge.conflicts import regions, scan
from pfgit.merge.decide import merge, same
from pfgit.merge.files import merge_bytes

BASE = """\
# The qa flow
inputs:
  question:
    type: string
outputs:
  answer:
    type: string
    reference: ${answer.output}
nodes:
- name: clean
  type: python
  source: {type: code, path: clean.py}
  inputs:
    question: ${inputs.question}   # raw question
    mode: 'strict'

- name: answer
  type: python
  source:
    type: code
    path: answer.py
  inputs:
    text: ${clean.output}
    style: short
"""


def m(base: str, ours: str, theirs: str, **kw):
    return merge_bytes(base.encode(), ours.encode(), theirs.encode(), **kw)


def test_keeps_ours_comments_quotes_flow_style_and_blank_lines():
    ours = BASE.replace("style: short", "style: long")
    theirs = BASE.replace("mode: 'strict'", "mode: 'lenient'")
    r = m(BASE, ours, theirs)
    assert r.clean
    assert r.data.decode() == ours.replace("mode: 'strict'", "mode: 'lenient'")


def test_indented_sequences_and_four_space_style_are_kept_for_new_nodes():
    base = ("inputs:\n    q:\n        type: string\nnodes:\n  - name: a\n    type: python\n"
            "    inputs:\n        x: ${inputs.q}\n")
    ours = base.replace("x: ${inputs.q}", "x: ${inputs.q}\n        y: 1")
    theirs = base + "  - name: b\n    type: python\n    inputs:\n        z: ${a.output}\n"
    r = m(base, ours, theirs)
    assert r.clean
    assert r.data.decode() == ours + "  - name: b\n    type: python\n    inputs:\n        z: ${a.output}\n"


def test_their_reformat_does_not_leak_into_ours():
    ours = BASE.replace("style: short", "style: long")
    theirs = ("inputs:\n    question:\n        type: string\noutputs:\n    answer:\n        type: string\n"
              "        reference: ${answer.output}\nnodes:\n  - name: clean\n    type: python\n"
              "    source:\n        type: code\n        path: clean.py\n    inputs:\n"
              "        question: ${inputs.question}\n        mode: strict\n        extra: 2\n"
              "  - name: answer\n    type: python\n    source:\n        type: code\n        path: answer.py\n"
              "    inputs:\n        text: ${clean.output}\n        style: short\n")
    r = m(BASE, ours, theirs)
    assert r.clean
    out = r.data.decode()
    assert out == ours.replace("    mode: 'strict'\n", "    mode: 'strict'\n    extra: 2\n")


def test_flow_mapping_values_stay_inline_and_refs_are_quoted_there():
    theirs = BASE.replace("source: {type: code, path: clean.py}", "source: {type: code, path: clean2.py}")
    ours = BASE.replace("style: short", "style: long")
    r = m(BASE, ours, theirs)
    assert "  source: {type: code, path: clean2.py}\n" in r.data.decode()
    base = "nodes:\n- name: a\n  inputs: {x: 1}\n"
    r = m(base, base.replace("x: 1", "x: 2"), base + "- name: b\n  inputs: {}\n")
    assert r.clean and yaml.safe_load(r.data)["nodes"][0]["inputs"] == {"x": 2}
    base = "nodes:\n- name: a\n  inputs: {x: '1', y: 2}\n- name: b\n  inputs: {}\n"
    r = m(base, base.replace("x: '1'", "x: '3'"), base.replace("y: 2", 'y: "${b.output}"'))
    assert r.clean
    assert "  inputs: {x: '3', y: '${b.output}'}\n" in r.data.decode()


def test_crlf_bom_and_missing_final_newline_follow_ours():
    ours = ("\ufeff" + BASE.replace("style: short", "style: long")).replace("\n", "\r\n")
    theirs = BASE.replace("mode: 'strict'", "mode: 'x'")
    r = m(BASE, ours, theirs)
    assert r.clean
    assert r.data.startswith(b"\xef\xbb\xbf") and b"mode: 'x'\r\n" in r.data
    assert r.data.count(b"\r\n") == r.data.count(b"\n")
    r = m(BASE, BASE.replace("style: short", "style: long").rstrip("\n"), theirs)
    assert r.data.endswith(b"style: long") and b"mode: 'x'" in r.data


def test_same_input_conflict_markers_with_diff3_and_labels():
    ours = BASE.replace("style: short", "style: long")
    theirs = BASE.replace("style: short", "style: tiny")
    r = m(BASE, ours, theirs, diff3=True, labels=("HEAD", "merged common ancestors", "feature"))
    assert not r.clean and len(r.conflicts) == 1
    text = r.data.decode()
    assert ("<<<<<<< HEAD (pfgit: node 'answer' inputs.style changed on both sides)\n    style: long\n"
            "||||||| merged common ancestors\n    style: short\n=======\n    style: tiny\n>>>>>>> feature\n") in text
    [reg] = scan(text)
    assert reg.node == "answer" and reg.path == ["nodes", "answer", "inputs", "style"]
    # taking either side gives valid YAML: the unit is complete
    for side in ("long", "tiny"):
        resolved = text.split("<<<<<<<")[0] + f"    style: {side}\n" + text.split(">>>>>>> feature\n")[1]
        assert yaml.safe_load(resolved)["nodes"][1]["inputs"]["style"] == side


def test_remove_vs_edit_is_a_node_conflict_that_reads_well():
    ours = BASE.replace("    question: ${inputs.question}   # raw question\n", "    question: ${inputs.q2}\n")
    theirs_lines = BASE.split("- name: answer")[0].rstrip("\n") + "\n"
    theirs = theirs_lines.replace("    reference: ${answer.output}", "    reference: ${clean.output}")
    ours = BASE.replace("style: short", "style: long")
    r = m(BASE, ours, theirs)
    assert not r.clean
    [reg] = scan(r.data.decode())
    assert reg.node == "answer" and "removed by theirs" in reg.reason
    assert reg.theirs == [] and reg.ours[0] == "- name: answer"


def test_unparseable_side_falls_back_to_git_text_merge(capsys):
    theirs = BASE.replace("style: short", "style: short\n\tbad: tab")
    ours = BASE.replace("# The qa flow", "# The qa flow (ours)")
    r = m(BASE, ours, theirs)
    assert r.fallback and "theirs" in r.fallback
    assert r.clean and b"(ours)" in r.data and b"\tbad: tab" in r.data  # nothing lost
    r = m(BASE, ours.replace("# The qa flow (ours)", "# x"), theirs.replace("# The qa flow", "# y"))
    assert r.fallback and r.text_conflicts == 1 and not r.clean


def test_add_add_without_base_merges_what_agrees():
    a = BASE.replace("type: string\noutputs", "type: string\n    default: hi\noutputs")
    b = BASE + "environment:\n  python_requirements_txt: requirements.txt\n"
    r = m("", a, b)
    assert r.clean
    data = yaml.safe_load(r.data)
    assert data["environment"] and data["inputs"]["question"]["default"] == "hi"
    # a node both sides added differently is one conflict on that node
    r = m("", BASE.replace("style: short", "style: long"), b)
    assert [c.path for c in r.conflicts] == [("nodes", "answer")]


def test_rename_on_one_side_edit_and_new_reference_on_the_other():
    ours = BASE.replace("name: clean", "name: normalise").replace("${clean.output}", "${normalise.output}")
    theirs = BASE.replace("mode: 'strict'", "mode: 'loose'") + (
        "- name: log\n  type: python\n  inputs:\n    q: ${clean.output}\n")
    r = m(BASE, ours, theirs)
    assert r.clean
    data = yaml.safe_load(r.data)
    assert [n["name"] for n in data["nodes"]] == ["normalise", "answer", "log"]
    assert data["nodes"][0]["inputs"]["mode"] == "loose"
    assert data["nodes"][2]["inputs"]["q"] == "${normalise.output}"


def test_rename_to_different_names_is_a_conflict():
    ours = BASE.replace("name: clean", "name: c1").replace("${clean.output}", "${c1.output}")
    theirs = BASE.replace("name: clean", "name: c2").replace("${clean.output}", "${c2.output}")
    r = m(BASE, ours, theirs)
    # the node, and the reference to it (answer.text): ours' name against theirs'
    assert [(c.path, c.local, c.remote) for c in r.conflicts][1:] == [
        (("nodes", "answer", "inputs", "text"), "${c1.output}", "${c2.output}")]
    assert r.conflicts[0].path == ("nodes", "c1") and r.conflicts[0].remote["name"] == "c2"


def test_decisions_and_merged_order():
    base = {"nodes": [{"name": "a"}, {"name": "b"}]}
    ours = {"nodes": [{"name": "a"}, {"name": "o"}, {"name": "b"}]}
    theirs = {"nodes": [{"name": "a"}, {"name": "b"}, {"name": "t1"}, {"name": "t2"}], "x": 1}
    r = merge(base, ours, theirs)
    assert [n["name"] for n in r.merged["nodes"]] == ["a", "o", "b", "t1", "t2"]
    assert r.merged["x"] == 1
    acts = {d.path: d.action for d in r.decisions}
    assert acts[("nodes", "o")] == "local" and acts[("nodes", "t1")] == "remote" and acts[("x",)] == "remote"
    assert same(merge({"a": 1}, {"a": 2}, {"a": 2}).merged, {"a": 2})
    assert not same(1, True) and not same("1", 1)


def test_additional_includes_and_unknown_keys():
    base = "additional_includes:\n- ../a.py\n- ../b.py\nnodes: []\n"
    ours = "additional_includes:\n- ../a.py\n- ../b.py\n- ../c.py\nnodes: []\ncustom_key: {x: 1}\n"
    theirs = "additional_includes:\n- ../b.py\n- ../d.py\nnodes: []\n"
    r = m(base, ours, theirs)
    assert r.clean
    d = yaml.safe_load(r.data)
    assert d["additional_includes"] == ["../b.py", "../c.py", "../d.py"] and d["custom_key"] == {"x": 1}


def test_regions_parse_markers():
    text = "a: 1\n<<<<<<< ours (pfgit: why)\nb: 2\n=======\nb: 3\n>>>>>>> theirs\n"
    [r] = regions(text)
    assert (r.start, r.end, r.ours, r.theirs, r.reason, r.base) == (2, 6, ["b: 2"], ["b: 3"], "why", None)


# -- the CLI contract --------------------------------------------------------------------------

def run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "pfgit", *args], cwd=cwd, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)


@pytest.fixture
def three(tmp_path):
    def make(ours, theirs, base=BASE):
        for name, text in (("cur.yaml", ours), ("base.yaml", base), ("other.yaml", theirs)):
            (tmp_path / name).write_text(text)
        return tmp_path
    return make


def test_merge_file_exit_codes_and_atomic_write(three):
    d = three(BASE.replace("style: short", "style: long"), BASE.replace("mode: 'strict'", "mode: 'x'"))
    r = run("merge-file", "cur.yaml", "base.yaml", "other.yaml", cwd=d)
    assert r.returncode == 0, r.stderr
    assert "mode: 'x'" in (d / "cur.yaml").read_text() and "style: long" in (d / "cur.yaml").read_text()
    d = three(BASE.replace("style: short", "style: long"), BASE.replace("style: short", "style: x"))
    r = run("merge-file", "-L", "mine", "-L", "orig", "-L", "yours", "cur.yaml", "base.yaml", "other.yaml", cwd=d)
    assert r.returncode == 1 and "node 'answer' inputs.style changed on both sides" in r.stderr
    assert "<<<<<<< mine" in (d / "cur.yaml").read_text() and ">>>>>>> yours" in (d / "cur.yaml").read_text()
    before = (d / "cur.yaml").read_bytes()
    r = run("merge-file", "cur.yaml", "missing.yaml", "other.yaml", cwd=d)
    assert r.returncode == 2 and r.stderr.startswith("pfgit: ") and "Traceback" not in r.stderr
    assert (d / "cur.yaml").read_bytes() == before
    # -p: the result goes to stdout, the file is left alone; exit 1 with markers (diff3 shows the
    # base), exit 0 when clean
    (d / "cur.yaml").write_text(BASE.replace("style: short", "style: long"))
    before = (d / "cur.yaml").read_bytes()
    r = run("merge-file", "-p", "--diff3", "cur.yaml", "base.yaml", "other.yaml", cwd=d)
    assert r.returncode == 1, r.stderr
    assert "<<<<<<< " in r.stdout and "||||||| " in r.stdout and "style: short" in r.stdout
    assert (d / "cur.yaml").read_bytes() == before
    (d / "other.yaml").write_text(BASE.replace("mode: 'strict'", "mode: 'x'"))
    r = run("merge-file", "-p", "--diff3", "cur.yaml", "base.yaml", "other.yaml", cwd=d)
    assert r.returncode == 0, r.stderr
    assert "<<<<<<<" not in r.stdout and "style: long" in r.stdout and "mode: 'x'" in r.stdout
    assert (d / "cur.yaml").read_bytes() == before
    assert run("merge-file", "only-one", cwd=d).returncode == 2


def test_merge_driver_writes_ours_path(three):
    d = three(BASE.replace("style: short", "style: long"), BASE.replace("mode: 'strict'", "mode: 'x'"))
    r = run("merge-driver", "base.yaml", "cur.yaml", "other.yaml", "qa/flow.dag.yaml", cwd=d)
    assert r.returncode == 0 and "mode: 'x'" in (d / "cur.yaml").read_text()


def test_layout_reads_every_corpus_yaml_like_pyyaml(corpus):
    """The merge's own YAML reader (positions + a fast tag resolver) gives PyYAML's data."""
    from pfgit.merge.layout import parse

    n = 0
    for f in sorted(corpus.rglob("*.y*ml")):
        text = f.read_text(encoding="utf-8")
        try:
            ref = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except yaml.YAMLError:
            continue
        assert same(parse(text).data, ref), f
        n += 1
    assert n > 100
    t = "a: 1\nb: 1.5\nc: true\nd: null\ne: ~\nf: 2020-01-01\ng: 0x1F\nh: '1'\ni: .inf\nl: yes\nq:\nr: [1, a, '2']\n"
    assert same(parse(t).data, yaml.safe_load(t))


def test_an_internal_error_falls_back_to_the_line_merge(monkeypatch):
    import pfgit.merge.files as files

    def boom(*a, **k):
        raise KeyError("bug")

    monkeypatch.setattr(files, "merge_checked", boom)
    r = m(BASE, BASE.replace("style: short", "style: long"), BASE.replace("mode: 'strict'", "mode: 'x'"))
    assert r.clean and "internal error KeyError" in r.fallback
    assert b"style: long" in r.data and b"mode: 'x'" in r.data


def test_a_merge_the_validator_rejects_is_a_conflict(corpus):
    base = (corpus / "examples/flows/standard/web-classification/flow.dag.yaml").read_text()
    # ours removes variant_1, theirs makes it the default: each side valid, the merge is not
    ours = base[:base.index("      variant_1:")].rstrip("\n") + "\n"
    theirs = base.replace("default_variant_id: variant_0", "default_variant_id: variant_1")
    r = m(base, ours, theirs)
    assert not r.clean
    [c] = r.conflicts
    assert c.path == ("node_variants", "summarize_text_content")
    assert "would be invalid" in c.reason and "variant_1" in c.reason


def test_conflict_inside_a_one_line_flow_mapping_is_marked_in_block_style():
    base = "nodes:\n- name: a\n  inputs: {x: 1, y: 2}\n"
    r = m(base, base.replace("x: 1", "x: 3"), base.replace("x: 1", "x: 4"))
    assert r.fallback is None and len(r.conflicts) == 1
    assert r.data.decode() == ("nodes:\n- name: a\n  inputs:\n<<<<<<< ours (pfgit: node 'a' inputs.x changed on "
                               "both sides)\n    x: 3\n=======\n    x: 4\n>>>>>>> theirs\n    y: 2\n")


def test_their_value_inside_a_flow_mapping_is_not_copied_as_a_line():
    base = "nodes:\n- name: a\n  inputs:\n    x: 1\n    y: 2\n  type: python\n"
    ours = base.replace("type: python", "type: llm")
    theirs = "nodes:\n- name: a\n  inputs: {x: 5, y: 2}\n  type: python\n"
    r = m(base, ours, theirs)
    assert r.clean and r.data.decode() == ours.replace("x: 1", "x: 5")


def test_merge_file_json(three):
    import json

    d = three(BASE.replace("style: short", "style: long"), BASE.replace("style: short", "style: x"))
    r = run("merge-file", "--json", "cur.yaml", "base.yaml", "other.yaml", cwd=d)
    out = json.loads(r.stdout)
    assert r.returncode == 1 and out["clean"] is False and out["fallback"] is None
    assert out["conflicts"] == [{"path": ["nodes", "answer", "inputs", "style"],
                                 "reason": "node 'answer' inputs.style changed on both sides"}]
    assert {"path": ["nodes", "answer", "inputs", "style"], "action": "conflict", "conflict": True,
            "reason": "node 'answer' inputs.style changed on both sides"} in out["decisions"]


def test_variant_removed_vs_edited_is_a_variant_conflict(corpus):
    base = (corpus / "examples/flows/standard/web-classification/flow.dag.yaml").read_text()
    ours = base[:base.index("      variant_1:")].rstrip("\n") + "\n"
    theirs = base.replace("max_tokens: 256", "max_tokens: 300")
    r = m(base, ours, theirs)
    [c] = r.conflicts
    assert c.path == ("node_variants", "summarize_text_content", "variants", "variant_1")
    assert c.reason == "variant 'variant_1' of node 'summarize_text_content' removed by ours, changed by theirs"
    [reg] = scan(r.data.decode())
    assert reg.node == "summarize_text_content" and reg.ours == [] and reg.theirs[0] == "      variant_1:"
