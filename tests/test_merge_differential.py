"""Differential fuzz of the merge's two shortcuts (seeded, a few seconds): big-ish generated flows
edited on both sides (comments, reordering, renames, block scalars, flow-style mappings,
unicode, quoting) merge

- to the same result with the node-by-node parse (pfgit/merge/nodewise.py) on and off, and
- with git's line-merge text taken when it reads as the same flow (files._text_merge_if_same)
  only where that is an improvement: the same data, ours' line ends and BOM, and no line that
  neither side has."""

from __future__ import annotations

import random

import pytest

from pfgit.merge import files, nodewise
from pfgit.merge.files import merge_bytes
from pfgit.merge.layout import parse

WORDS = ["alpha", "béta", "γάμμα", "データ", "emoji 🚀", "plain", "x: y", "#not a comment", "quote's"]


def _q(w: str) -> str:
    return "'" + w.replace("'", "''") + "'"


def _scalar(rnd: random.Random, pad: str) -> list:
    """A value as its text lines (the first is appended to `key:`)."""
    k = rnd.randrange(7)
    w = rnd.choice(WORDS)
    if k == 0:
        return [" ${inputs.q}"]
    if k == 1:
        return [" " + _q(w)]
    if k == 2:
        return [f' "{w}"']
    if k == 3:   # a block scalar, kept / stripped / folded
        ind = rnd.choice(["|", "|-", "|+", ">", ">-"])
        body = [f"{pad}      {rnd.choice(WORDS)}" for _ in range(rnd.randrange(1, 4))]
        return [f" {ind}"] + body + ([""] if ind == "|+" and rnd.random() < 0.5 else [])
    if k == 4:   # a flow-style mapping
        return [f" {{a: {rnd.randrange(9)}, b: {_q(rnd.choice(WORDS))}}}"]
    if k == 5:
        return [f" {rnd.randrange(100)}"]
    return [" " + _q(f"{w} {rnd.randrange(1000)}")]


def _node(rnd: random.Random, name: str, pad: str, prev: str | None) -> list:
    lines = [f"{pad}- name: {name}", f"{pad}  type: python", f"{pad}  source:",
             f"{pad}    type: code", f"{pad}    path: {name}.py", f"{pad}  inputs:"]
    lines.append(f"{pad}    prev: ${{{prev}.output}}" if prev else f"{pad}    prev: ${{inputs.q}}")
    for i in range(rnd.randrange(1, 4)):
        v = _scalar(rnd, pad)
        lines.append(f"{pad}    k{i}:{v[0]}")
        lines += v[1:]
    return lines


class Flow:
    def __init__(self, rnd: random.Random, n: int):
        self.pad = rnd.choice(["", "  "])
        self.head = ["# a generated flow", "inputs:", "  q:", "    type: string", "    default: 'é'"]
        self.nodes = []
        prev = None
        for i in range(n):
            name = f"n{i:03d}"
            self.nodes.append(_node(rnd, name, self.pad, prev))
            prev = name
        self.tail = ["outputs:", "  o:", "    type: string", f"    reference: ${{{prev}.output}}"]

    def copy(self) -> "Flow":
        f = Flow.__new__(Flow)
        f.pad, f.head, f.tail = self.pad, list(self.head), list(self.tail)
        f.nodes = [list(n) for n in self.nodes]
        return f

    def text(self, crlf: bool = False, bom: bool = False) -> bytes:
        lines = self.head + ["nodes:"] + [ln for n in self.nodes for ln in n] + self.tail
        t = "\n".join(lines) + "\n"
        return (b"\xef\xbb\xbf" if bom else b"") + (t.replace("\n", "\r\n") if crlf else t).encode()


def _edit(rnd: random.Random, f: Flow, side: str) -> None:
    op = rnd.randrange(9)
    nodes = f.nodes
    i = rnd.randrange(len(nodes))
    node = nodes[i]
    pad = f.pad
    if op == 0:     # a comment line
        node.insert(rnd.randrange(1, len(node) + 1), f"{pad}  # {side} says {rnd.choice(WORDS)}")
    elif op == 1:   # a trailing comment
        j = rnd.randrange(len(node))
        if not node[j].rstrip().endswith(("|", "|-", "|+", ">", ">-")) and node[j].startswith(pad + " "):
            node[j] += f"  # {side}"
    elif op == 2:   # a value changed
        j = rnd.randrange(6, len(node))
        if ":" in node[j] and node[j].startswith(pad + "    k"):
            key = node[j].split(":", 1)[0]
            end = j + 1
            while end < len(node) and (node[end] == "" or node[end].startswith(pad + "      ")):
                end += 1
            v = _scalar(rnd, pad)
            node[j:end] = [key + ":" + v[0]] + v[1:]
    elif op == 3:   # a node added
        name = f"{side}_{rnd.randrange(10_000)}"
        nodes.insert(rnd.randrange(len(nodes) + 1), _node(rnd, name, pad, None))
    elif op == 4 and len(nodes) > 3:   # a node removed
        del nodes[i]
    elif op == 5 and len(nodes) > 1:   # a node moved
        nodes.insert(rnd.randrange(len(nodes)), nodes.pop(i))
    elif op == 6:   # a node renamed, its references too
        old = node[0].split("name: ", 1)[1]
        new = f"{old}_{side}" + rnd.choice(["", "é", "データ"])
        for n in nodes:
            n[:] = [ln.replace(f"${{{old}.", f"${{{new}.") for ln in n]
        node[0] = node[0].replace(f"name: {old}", f"name: {new}")
        f.tail = [ln.replace(f"${{{old}.", f"${{{new}.") for ln in f.tail]
    elif op == 7:   # source as a flow-style mapping
        j = node.index(f"{pad}  source:") if f"{pad}  source:" in node else -9
        if node[j + 1:j + 2] == [f"{pad}    type: code"] and node[j + 2].startswith(f"{pad}    path: "):
            path = node[j + 2].split("path: ", 1)[1]
            node[j:j + 3] = [f"{pad}  source: {{type: code, path: {path}}}"]
    else:           # a comment among the nodes / a head comment
        if rnd.random() < 0.5:
            f.head.insert(rnd.randrange(len(f.head) + 1), f"# {side}: {rnd.choice(WORDS)}")
        else:
            nodes[i] = [f"{pad}# before {side}"] + node


def _case(seed: int):
    rnd = random.Random(seed)
    base = Flow(rnd, rnd.randrange(8, 30))
    ours, theirs = base.copy(), base.copy()
    for _ in range(rnd.randrange(1, 5)):
        _edit(rnd, ours, "ours")
    for _ in range(rnd.randrange(1, 5)):
        _edit(rnd, theirs, "theirs")
    crlf = rnd.random() < 0.15
    t = theirs.text(crlf and rnd.random() < 0.7, bom=rnd.random() < 0.1)
    if not crlf and rnd.random() < 0.1:   # one line saved by a Windows editor
        t = t.replace(b"\n", b"\r\n", 1)
    return base.text(crlf), ours.text(crlf), t


def _outcome(m) -> tuple:
    return m.data, [c.reason for c in m.conflicts], m.fallback, m.text_conflicts


SEEDS = range(100)


def test_nodewise_parse_changes_no_merge(monkeypatch):
    monkeypatch.setattr(files, "_text_merge_if_same", lambda *a, **k: a[4])   # pure python: fast
    monkeypatch.setattr(nodewise, "CHUNK_MIN_BYTES", 0)
    real = nodewise.parse_nodewise
    used = 0
    for seed in SEEDS:
        args = _case(seed)
        monkeypatch.setattr(nodewise, "parse_nodewise", real)
        on = merge_bytes(*args)
        monkeypatch.setattr(nodewise, "parse_nodewise", lambda *a, **k: None)
        off = merge_bytes(*args)
        assert _outcome(on) == _outcome(off), seed
        if on.conflicts:   # the markers' rendering reads the Spans of all three versions
            monkeypatch.setattr(nodewise, "parse_nodewise", real)
            on3 = merge_bytes(*args, diff3=True)
            monkeypatch.setattr(nodewise, "parse_nodewise", lambda *a, **k: None)
            assert _outcome(on3) == _outcome(merge_bytes(*args, diff3=True)), seed
        used += not on.fallback
    assert used > len(SEEDS) // 2      # most cases are merged, not handed to git


def _lines(b: bytes) -> set:
    return set(b.decode("utf-8-sig").replace("\r\n", "\n").split("\n"))


def test_the_line_merge_text_is_taken_only_as_an_improvement(monkeypatch):
    real = files._text_merge_if_same
    taken = 0
    for seed in SEEDS[:40]:   # git merge-file per case: fewer of them
        base, ours, theirs = _case(seed)
        monkeypatch.setattr(files, "_text_merge_if_same", real)
        on = merge_bytes(base, ours, theirs)
        monkeypatch.setattr(files, "_text_merge_if_same", lambda *a, **k: a[4])
        off = merge_bytes(base, ours, theirs)
        if on.data == off.data:
            continue
        taken += 1
        assert on.clean and off.clean and not on.fallback, seed
        text = on.data.decode("utf-8")
        assert parse(text.lstrip("\ufeff").replace("\r\n", "\n")).data == \
            parse(off.data.decode("utf-8").lstrip("\ufeff").replace("\r\n", "\n")).data, seed
        assert on.data.startswith(b"\xef\xbb\xbf") == off.data.startswith(b"\xef\xbb\xbf"), seed
        if b"\r\n" in off.data:       # ours' line ends, every line
            assert text.count("\n") == text.count("\r\n"), seed
        else:
            assert "\r" not in text, seed
        assert _lines(on.data) <= _lines(ours) | _lines(theirs), seed
    assert taken > 0


def test_a_crlf_line_or_bom_only_theirs_has_does_not_ride_in_on_the_line_merge():
    """The semantic merge writes ours' BOM and line ends; the line merge text was taken whenever
    it read as the same flow, so one CRLF line (or a BOM) theirs' editor added came through or
    not depending on the edits around it."""
    base = b"# f\ninputs:\n  q: {type: string}\nnodes:\n- name: a\n  type: python\n  x: 1\n"
    ours = base.replace(b"x: 1", b"x: 2")
    theirs = base.replace(b"# f\n", b"# f\r\n").replace(b"nodes:", b"# theirs\nnodes:")
    for t in (theirs, b"\xef\xbb\xbf" + base.replace(b"nodes:", b"# theirs\nnodes:")):
        res = merge_bytes(base, ours, t)
        assert res.clean and b"\r" not in res.data and not res.data.startswith(b"\xef")
        assert b"x: 2" in res.data
