"""Large and pathological (but legal) flows: what grew faster than the flow, or crashed."""

from __future__ import annotations

import gc

import pytest

from pfgit.gcpause import gc_paused
from pfgit.merge.files import merge_bytes


def test_gc_is_paused_inside_and_restored_after_even_on_error():
    assert gc.isenabled()
    with pytest.raises(ValueError):
        with gc_paused():
            assert not gc.isenabled()
            with gc_paused():   # nested: the outer pause decides
                pass
            assert not gc.isenabled()
            raise ValueError
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()   # a caller's own choice is left alone
    finally:
        gc.enable()


def test_a_merge_leaves_the_collector_on():
    base = b"inputs: {}\nnodes:\n- name: a\n  type: python\n"
    merge_bytes(base, base.replace(b"python", b"llm"), base + b"outputs: {}\n")
    assert gc.isenabled()


def deep_flow(levels: int, flow_style: bool, leaf: str = "v") -> str:
    """A flow whose node input `deep` holds a value nested so that the document is `levels`
    collections deep (the root mapping, `nodes`, the node and its `inputs` are the first 4)."""
    head = "inputs:\n  q:\n    type: string\nnodes:\n- name: a\n  type: python\n" \
           "  source:\n    type: code\n    path: a.py\n  inputs:\n    q: ${inputs.q}\n"
    n = levels - 4
    if flow_style:
        return head + "    deep: " + "[" * n + leaf + "]" * n + "\n"
    return head + "    deep:\n" + "".join("      " + "  " * i + f"k{i}:\n" for i in range(n - 1)) + \
        "      " + "  " * (n - 1) + f"k: {leaf}\n"


@pytest.fixture(params=["whole", "node by node"])
def parse_mode(request, monkeypatch):
    """Big flows are parsed node by node (diff, merge): make every flow big."""
    if request.param != "whole":
        from pfgit.diff import parse as diff_parse
        from pfgit.merge import nodewise

        monkeypatch.setattr(diff_parse, "CHUNK_MIN_BYTES", 0)
        monkeypatch.setattr(nodewise, "CHUNK_MIN_BYTES", 0)
    return request.param


@pytest.mark.parametrize("flow_style", [False, True])
def test_values_nested_to_the_limit_validate_diff_and_merge(flow_style, parse_mode):
    from pfgit.diff.render import render_json, render_markdown, render_text
    from pfgit.diff.tree import diff_flow_bytes
    from pfgit.flow.load import load_text
    from pfgit.flow.yamlpos import MAX_DEPTH
    from pfgit.validate.api import validate_flow

    base, ours, theirs = (deep_flow(MAX_DEPTH, flow_style, leaf).encode() for leaf in ("v", "o", "t"))
    assert not [p for p in validate_flow(load_text(base)) if p.severity == "error"]
    fd = diff_flow_bytes("f", "f/flow.dag.yaml", base, ours)
    assert fd.changes and "deep" in render_text([fd]) + render_markdown([fd])
    render_json([fd])
    for diff3 in (False, True):   # a conflict deep down: written with both sides
        res = merge_bytes(base, ours, theirs, diff3=diff3)
        assert res.fallback is None and res.conflicts
    clean = merge_bytes(base, ours, base.replace(b"q: ${inputs.q}", b"q: ${inputs.q} "))
    assert clean.fallback is None and clean.clean and b"o" in clean.data


@pytest.mark.parametrize("flow_style", [False, True])
def test_values_nested_past_the_limit_are_one_clean_error_everywhere(flow_style, parse_mode):
    from pfgit.diff.tree import diff_flow_bytes
    from pfgit.flow.load import FlowLoadError, load_text
    from pfgit.flow.yamlpos import MAX_DEPTH

    for levels in (MAX_DEPTH + 1, 600):   # 600: Python's own recursion limit was met first
        text = deep_flow(levels, flow_style).encode()
        with pytest.raises(FlowLoadError, match=r"nested too deeply \(over 100 levels\)"):
            load_text(text)
        fd = diff_flow_bytes("f", "f/flow.dag.yaml", text, text.replace(b"v", b"w"))
        assert fd.status == "unreadable" and fd.text_diff
        assert [p[3] for p in fd.problems] == [f"YAML nested too deeply (over {MAX_DEPTH} levels)"] * 2
        res = merge_bytes(text, text.replace(b"q: ", b"q:  "), text.replace(b"v", b"w"))
        assert res.fallback and "nested too deeply (over 100 levels)" in res.fallback


def test_nesting_on_one_line_with_compact_block_indicators_is_caught_too(parse_mode):
    from pfgit.diff.tree import diff_flow_bytes
    from pfgit.flow.load import FlowLoadError, load_text

    for chain in ("? " * 120, "- " * 120, "- ? " * 60):
        text = ("inputs: {}\nnodes:\n- name: a\n  type: python\nextra:\n" + chain + "x\n").encode()
        with pytest.raises(FlowLoadError, match="nested too deeply"):
            load_text(text)
        fd = diff_flow_bytes("f", "f/flow.dag.yaml", text, text.replace(b"x\n", b"y\n"))
        assert "nested too deeply" in fd.problems[0][3]
        res = merge_bytes(text, text.replace(b"python", b"llm"), text.replace(b"x\n", b"y\n"))
        assert "nested too deeply" in res.fallback


def test_a_python_source_is_parsed_once_for_its_tool_count_and_signature(tmp_path, monkeypatch):
    from pfgit.flow.readers import DirReader
    from pfgit.validate import sources, validate_path

    (tmp_path / "flow.dag.yaml").write_text(
        "inputs:\n  q:\n    type: string\noutputs:\n  o:\n    type: string\n    reference: ${a.output}\n"
        "nodes:\n- name: a\n  type: python\n  source:\n    type: code\n    path: t.py\n"
        "  inputs:\n    q: ${inputs.q}\n    extra: 1\n")
    (tmp_path / "t.py").write_text("from promptflow.core import tool\n\n\n@tool\ndef f(q: str, n: int):\n"
                                   "    return q\n" + "".join(f"\n\ndef g{i}():\n    return {i}\n" for i in range(50)))
    calls = []
    real = sources.parse_module
    monkeypatch.setattr(sources, "parse_module", lambda *a: calls.append(a[1]) or real(*a))
    [report] = validate_path(DirReader(str(tmp_path), ""), ".")
    assert calls == ["t.py"]
    assert sorted(p.code for p in report.problems) == ["missing-tool-input", "unknown-tool-input"]


def test_a_node_with_many_inputs_merges_keeping_the_comments_between_them():
    """_leading looks each key's position up (it searched the key list: quadratic)."""
    def text(edit: dict) -> bytes:
        ins = "".join((f"    # about i{k}\n" if k % 50 == 0 else "") + f"    i{k}: {edit.get(k, k)}\n"
                      for k in range(400))
        return ("inputs:\n  q:\n    type: string\nnodes:\n- name: a\n  type: python\n  source:\n"
                "    type: code\n    path: a.py\n  inputs:\n" + ins).encode()

    res = merge_bytes(text({}), text({399: "ours"}), text({1: "theirs", 350: "theirs too"}))
    assert res.clean and res.fallback is None
    assert res.data == text({399: "ours", 1: "theirs", 350: "theirs too"})


def test_a_git_tree_is_read_once_while_finding_the_flows_of_many_folders(tmp_path):
    """Each file's lookup re-read (and re-parsed) its folder's tree from the object store: a diff
    between two commits of a 500-flow repository took 2.3 s, 0.7 s with the trees kept."""
    import subprocess

    from dulwich.repo import Repo

    from pfgit.flow.load import find_flows
    from pfgit.git.repo import TreeReader

    for i in range(6):
        d = tmp_path / "flows" / f"f{i}"
        d.mkdir(parents=True)
        (d / "flow.dag.yaml").write_text(f"nodes:\n- name: n{i}\n  type: python\n")
        (d / "a.py").write_text("x = 1\n")
        (d / "b.jinja2").write_text(f"{i}\n")
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(git + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-qm", "flows"], check=True)
    repo = Repo(str(tmp_path))
    reads: list = []

    class Counting:
        def __getitem__(self, sha):
            reads.append(sha)
            return repo[sha]

    reader = TreeReader(Counting(), repo[repo.head()].tree)
    locs = find_flows(reader, ".")
    assert [loc.dir for loc in locs] == [f"flows/f{i}" for i in range(6)]
    assert len(reads) == len(set(reads)) == 1 + 1 + 6   # the root, flows/, one per flow folder
    assert reader.read_bytes("flows/f3/b.jinja2") == b"3\n"


def test_every_node_renamed_and_edited_is_still_matched_by_source_and_by_similarity():
    """Only removed/added pairs that can reach the similarity threshold are scored (every pair
    was: 400 renamed nodes took 4 s), and the by-source pass looks paths up (it scanned)."""
    from pfgit.diff.match import match_nodes

    def flow(prefix: str, n: int, temp: int) -> dict:
        return {"nodes": [{"name": f"{prefix}{i}", "type": "python",
                           "source": {"type": "code", "path": f"t{i}.py" if i % 2 else "shared.py"},
                           "inputs": {"q": "${inputs.q}", f"k{i}": temp, "label": f"x {i}",
                                      "a": 1, "b": 2, "c": 3, "d": 4}} for i in range(n)]}

    m = match_nodes(flow("old_", 300, 1), flow("new_", 300, 2))
    assert m.pairs == {f"old_{i}": f"new_{i}" for i in range(300)}
    assert {m.how[f"old_{i}"] for i in range(1, 300, 2)} == {"source"}    # its own file
    assert {m.how[f"old_{i}"] for i in range(0, 300, 2)} == {"similar"}   # one file for all
    assert not m.added and not m.removed
