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


# -- node variants: each `node_variants.<node>.variants` entry parsed once --------------------

VARIANT = """\
      {key}:
        node:
          type: llm
          source:
            type: code
            path: {key}.jinja2
          inputs:
            temperature: {temp}
            q: ${{inputs.q}}
          connection: c
          api: chat
"""


def variants_flow(keys: list, temps: dict | None = None, extra: dict | None = None,
                  nodes: bool = True, tail: str = "") -> str:
    """A flow whose node `v` (and `w`, when `extra` gives its variants) has node variants."""
    temps = temps or {}
    t = "inputs:\n  q:\n    type: string\n"
    if nodes:
        t += "nodes:\n- name: v\n  use_variants: true\n"
    t += "node_variants:\n"
    for node, ks in (("v", keys),) + (tuple(extra.items()) if extra else ()):
        t += f"  {node}:\n    default_variant_id: {ks[0]}\n    variants:\n"
        t += "".join(VARIANT.format(key=k, temp=temps.get(k, 0.5)) for k in ks)
    return t + tail + "outputs:\n  o:\n    reference: ${v.output}\n"


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(nodewise, "VARIANTS_MIN_LINES", 0)   # a small block stands for a big one


def cut_blocks(text: str) -> int:
    lines = text.split("\n")[:-1]
    return len(nodewise._variant_blocks(text, lines))


def test_variants_with_inserts_edits_comments_and_block_scalars_parse_as_whole(small_blocks):
    keys = [f"variant_{i}" for i in range(12)]
    keep = "|+\n              kept\n\n"           # keeps its trailing blank line
    base = variants_flow(keys, {"variant_3": keep, "variant_11": "|\n              last\n"})
    ours = variants_flow(keys[:2] + ["new"] + keys[2:], {"variant_3": keep, "variant_5": 0.9},
                         extra={"w": ["a", "b", "c"]})
    theirs = variants_flow(keys[:6] + keys[7:], {"variant_3": keep.replace("kept", "kept 2")},
                           tail="# a comment after\n\n")
    commented = base.replace("      variant_4:\n", "      # the fourth\n\n      variant_4:\n")
    assert cut_blocks(ours) == 2
    assert same_as_whole([base, ours, theirs, commented]) == 4


def test_variants_without_nodes_and_in_verify_texts_parse_as_whole(small_blocks):
    """The merge's check of a spliced `node_variants` reads it through the cache: no `nodes`."""
    keys = [f"variant_{i}" for i in range(5)]
    text = variants_flow(keys, nodes=False)
    assert cut_blocks(text) == 1
    assert same_as_whole([text, variants_flow(keys[1:], nodes=False)]) == 2


def test_unusual_variant_blocks_are_left_to_the_rest(small_blocks):
    keys = [f"variant_{i}" for i in range(4)]
    text = variants_flow(keys)
    for odd in (text.replace("      variant_2:", "      'variant_2':"),     # a quoted key
                text.replace("      variant_2:", "      ? variant_2\n      :")):  # a complex key
        assert cut_blocks(odd) == 0
        assert same_as_whole([odd]) == 1   # the `nodes` items still cut; the variants whole
    assert cut_blocks(text.replace("      variant_2:", "     variant_2:")) == 0   # out of line
    dup = text.replace("      variant_2:", "      variant_1:")   # a duplicate variant
    assert nodewise_parse(dup, {}) is None
    assert cut_blocks(text) == 1


def test_a_small_variants_block_is_not_cut():
    assert cut_blocks(variants_flow([f"variant_{i}" for i in range(3)])) == 0
    assert cut_blocks(variants_flow([f"variant_{i}" for i in range(40)])) == 1


def test_moved_variant_spans_are_read_at_their_lines(small_blocks):
    keys = [f"variant_{i}" for i in range(6)]
    cache: dict = {}
    nodewise_parse(variants_flow(keys), cache)
    lay = nodewise_parse(variants_flow(["first"] + keys), cache)   # every entry 12 lines down
    whole = parse(variants_flow(["first"] + keys))
    got = lay.root.children["node_variants"].children["v"].children["variants"]
    want = whole.root.children["node_variants"].children["v"].children["variants"]
    assert got.children.get("variant_2") == want.children["variant_2"]
    assert got.children["variant_3"].start == want.children["variant_3"].start
    assert dict(got.children.items()) == want.children


def test_variant_merges_are_the_same_with_and_without_the_nodewise_parse(monkeypatch, small_blocks):
    monkeypatch.setattr(nodewise, "CHUNK_MIN_BYTES", 0)
    keys = [f"variant_{i}" for i in range(30)]
    cases = [
        (variants_flow(keys), variants_flow(keys, {"variant_3": 0.7}), variants_flow(keys, {"variant_20": 0.9})),
        (variants_flow(keys), variants_flow(keys[:5] + ["ours_new"] + keys[5:], {"variant_9": 0.7}),
         variants_flow(keys[:25] + keys[26:], {"variant_9": 0.8})),                     # a conflict
        (variants_flow(keys), variants_flow(keys, {"variant_29": "|\n              ours\n"}),
         variants_flow(keys, {"variant_0": 0.1}, extra={"w": ["a", "b"]})),             # last value a block scalar
        (variants_flow(keys), variants_flow(keys[1:]), variants_flow(keys, {"variant_0": 0.3})),
    ]
    real = nodewise.parse_nodewise
    for case in cases:
        args = [t.encode() for t in case]
        fast = merge_bytes(*args), merge_bytes(*args, diff3=True)
        monkeypatch.setattr(nodewise, "parse_nodewise", lambda *a, **k: None)
        slow = merge_bytes(*args), merge_bytes(*args, diff3=True)
        monkeypatch.setattr(nodewise, "parse_nodewise", real)
        for f, s in zip(fast, slow):
            assert (f.data, [c.reason for c in f.conflicts], f.fallback) == \
                (s.data, [c.reason for c in s.conflicts], s.fallback)
            assert not f.fallback
    assert merge_bytes(*[t.encode() for t in cases[1]]).conflicts


def test_checking_a_spliced_block_through_the_cache_keeps_a_final_block_scalar_exact(small_blocks, monkeypatch):
    """The cached read of a text adds a final newline; a block scalar ending the text would read
    one line break longer, so that text is parsed whole."""
    from pfgit.merge.apply import _cached_parse

    monkeypatch.setattr(nodewise, "CHUNK_MIN_BYTES", 0)
    keys = [f"variant_{i}" for i in range(4)]
    cache: dict = {}
    plain = variants_flow(keys, nodes=False)
    part = plain[plain.index("node_variants:"):plain.index("outputs:")].rstrip("\n")
    ends = part[:-len("chat")] + "|\n            chat"   # the last value: a block scalar
    assert parse(ends).data != parse(ends + "\n").data   # why
    assert _cached_parse(ends, cache) is None
    assert _cached_parse(part, cache).data == parse(part).data
