"""The merge's node-by-node parse of big flows (pfgit/merge/nodewise.py) equals the whole parse."""

from __future__ import annotations

import pytest

from corpus_finder import dag_files, part as corpus_part
from pfgit.merge import nodewise
from pfgit.merge.files import merge_bytes
from pfgit.merge.layout import parse

FIELDS = ("text", "lines", "data", "root", "style", "final_newline", "aliases")


def nodewise_parse(text: str, cache: dict):
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return nodewise.parse_nodewise(text, list(lines), cache, min_bytes=0)


def same_as_whole(texts: list) -> int:
    """Parse the versions in turn with one cache (as a merge does); each equals its whole parse.
    Returns how many went node by node."""
    cache: dict = {}
    done = 0
    for text in texts:
        lay = nodewise_parse(text, cache)
        if lay is None:
            continue
        whole = parse(text)
        for f in FIELDS:   # Span trees compare field by field, moved items read at their lines
            assert getattr(lay, f) == getattr(whole, f), f
        done += 1
    return done


NODE = """\
{pad}- name: {name}
{pad}  type: python
{pad}  source:
{pad}    type: code
{pad}    path: {name}.py
{pad}  inputs:
{pad}    text: {value}
"""


def flow(names: list, pad: str = "", values: dict | None = None, tail: str = "") -> str:
    values = values or {}
    head = "inputs:\n  q:\n    type: string\nnodes:\n"
    nodes = "".join(NODE.format(pad=pad, name=n, value=values.get(n, "${inputs.q}")) for n in names)
    return head + nodes + tail + "outputs:\n  o:\n    reference: ${%s.output}\n" % names[-1]


@pytest.mark.parametrize("pad", ["", "  "])
def test_versions_with_inserts_edits_and_block_scalars_parse_as_whole(pad):
    names = [f"n{i}" for i in range(30)]
    keep = "|+\n" + pad + "      kept\n\n"           # keeps its trailing blank line
    folded = ">-\n" + pad + "      folded\n" + pad + "      text\n" + pad + "  # a comment\n"
    base = flow(names, pad, {"n3": keep, "n7": folded, "n29": "|\n" + pad + "      last\n"})
    ours = flow(names[:2] + ["new"] + names[2:], pad, {"n3": keep, "n7": folded, "n9": "x"})
    theirs = flow(names[:20] + names[21:], pad, {"n3": keep.replace("kept", "kept 2"), "n7": folded})
    assert same_as_whole([base, ours, theirs]) == 3


def test_unusual_shapes_take_the_whole_parse():
    base = flow(["a", "b"])
    for text in (base.replace("type: string", "type: &t string"),   # an anchor
                 base.rstrip("\n"),                                # no final newline
                 base.replace("${inputs.q}", "'a\tb'", 1),       # a tab
                 "nodes: [{name: a}]\n" + "x: 1\n",                 # flow-style nodes
                 base.replace("inputs:\n  q:", "<<: {}\ninputs:\n  q:", 1)):
        assert nodewise_parse(text, {}) is None


def test_a_duplicate_key_is_left_to_the_whole_parse_to_report():
    text = flow(["a", "b"]).replace("    text: ${inputs.q}\n", "    text: 1\n    text: 2\n", 1)
    assert nodewise_parse(text, {}) is None


def test_big_merge_is_the_same_with_and_without_the_nodewise_parse(monkeypatch):
    monkeypatch.setattr(nodewise, "CHUNK_MIN_BYTES", 0)   # a small flow stands for a big one
    names = [f"step_{i:03d}" for i in range(40)]
    base = flow(names)
    ours = flow(names[:5] + ["ours_new"] + names[5:], values={"step_010": "ours"})
    theirs = flow(names[:30] + ["theirs_new"] + names[30:], values={"step_020": "theirs",
                                                                    "step_010": "theirs"})
    args = [t.encode() for t in (base, ours, theirs)]
    seen = []
    real = nodewise.parse_nodewise
    monkeypatch.setattr(nodewise, "parse_nodewise", lambda *a: seen.append(real(*a)) or seen[-1])
    fast = merge_bytes(*args), merge_bytes(*args, diff3=True)
    assert len(seen) == 6 and all(seen)
    monkeypatch.setattr(nodewise, "parse_nodewise", lambda *a: None)
    slow = merge_bytes(*args), merge_bytes(*args, diff3=True)
    for f, s in zip(fast, slow):
        assert f.data == s.data and not f.fallback
        assert [c.reason for c in f.conflicts] == [c.reason for c in s.conflicts] != []


def test_corpus_flows_and_histories_parse_node_by_node_as_whole(corpus):
    done = sum(same_as_whole([f.read_text(encoding="utf-8")]) for f in dag_files(corpus))
    for d in sorted(corpus_part(corpus, "history").iterdir()):
        done += same_as_whole([p.read_text(encoding="utf-8") for p in sorted(d.glob("*.flow.dag.yaml"))])
    assert done > 100


def test_items_read_by_any_list_method_are_moved():
    """reversed(), `in`, index() and copy() see the moved Spans too, as indexing and iteration do."""
    from pfgit.merge.layout import Span
    from pfgit.merge.nodewise import _Items

    def items():
        spans = [Span(1, 2, 1, 2, 3, "scalar", False, value="a"), Span(4, 2, 4, 2, 5, "scalar", False, value="b")]
        return _Items(spans, {1: 10})

    assert [s.start for s in reversed(items())] == [14, 1]
    assert [s.start for s in items().copy()] == [1, 14]
    it = items()
    moved = list(it)[1]
    assert moved in it and it.index(moved) == 1
