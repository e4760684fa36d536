"""Reading the layouts of a merge's three versions node by node: each node text parsed once.

The three versions of a big flow share almost all their nodes, and parsing (composing the YAML,
then building every value's Span) was most of a big merge's time. For a plain file (a block
`nodes:` sequence at the top level; no anchors, aliases, tags, merge keys, tabs or odd line
breaks) the `nodes` items are cut out by their lines; the items of one version not seen before
are parsed together, in one YAML parse of a text that keeps them on their own lines (everything
else blanked), so their Spans carry this version's line numbers; the rest of the file is parsed
with the `nodes` block blanked out the same way. An item another version has at other lines gets
a copy of its Spans moved by the difference; its data is the same object (nothing in the merge
changes parsed data in place, and identical nodes then compare by identity).

The result equals layout.parse's (tests compare the two on every corpus file); anything this
does not handle returns None and the caller parses the whole text.
"""

from __future__ import annotations

import re
from collections import Counter

import yaml

from ..diff.parse import _risky
from ..flow.yamlpos import YamlError, check_depth, maybe_deep
from .layout import _STR, Layout, Span, _Builder, _Loader, _Scalar

CHUNK_MIN_BYTES = 50_000   # below this a whole parse takes a few milliseconds
_NODES = re.compile(r"^nodes:[ \t]*(#.*)?$", re.M)
_ITEM = re.compile(r"( *)- ")
_ODD = re.compile("[\r\x0b\x0c\x85\u2028\u2029\t]")   # other line breaks, tabs


class _Unusual(Exception):
    """Not the plain shape handled here: parse the whole text instead."""


def parse_nodewise(text: str, lines: list, cache: dict, min_bytes: int | None = None) -> Layout | None:
    """The Layout of `text` (lines: its lines, as layout.parse splits them), or None."""
    if len(text) < (CHUNK_MIN_BYTES if min_bytes is None else min_bytes) or not text.endswith("\n") or "*" in text or "<<" in text or \
            _ODD.search(text) or _risky(text):
        return None
    try:
        return _parse(text, lines, cache)
    except (_Unusual, yaml.YAMLError, YamlError, RecursionError):
        return None   # the whole parse says what is wrong, with its line


def _block(text: str, lines: list) -> tuple:
    """(line of `nodes:`, the items' (first line, end line) pairs, end of the block)."""
    m = _NODES.search(text)
    if m is None:
        raise _Unusual
    n = text.count("\n", 0, m.start())
    i = n + 1
    while i < len(lines) and (not lines[i].strip() or lines[i].lstrip().startswith("#")):
        i += 1
    im = _ITEM.match(lines[i]) if i < len(lines) else None
    if im is None:
        raise _Unusual
    pad = im.group(1)
    item, inner = pad + "- ", pad + " "
    starts = []
    e = len(lines)
    for j in range(i, len(lines)):
        ln = lines[j]
        if ln.startswith(item):
            starts.append(j)
        elif not (ln.startswith(inner) or not ln.strip() or ln.lstrip().startswith("#")):
            e = j
            break
    return n, list(zip(starts, starts[1:] + [e])), e


def _moved(s: Span, d: int) -> Span:
    """A copy of a Span tree `d` lines further down (values shared)."""
    if s.kind == "scalar":
        return Span(s.start + d, s.col, s.vline + d, s.vcol, s.end + d, s.kind, s.flow, s.keys,
                    s.children, s.items, s.value, s.own_lines, s.alias)
    return Span(s.start + d, s.col, s.vline + d, s.vcol, s.end + d, s.kind, s.flow, s.keys,
                {k: _moved(c, d) for k, c in s.children.items()}, [_moved(c, d) for c in s.items],
                s.value, s.own_lines, s.alias)


class _Items(list):
    """The `nodes` items' Spans, where an item seen at other lines is moved when first read (a
    merge reads only ours' items, and the few nodes that changed, of the others)."""

    __slots__ = ("moves",)

    def __init__(self, spans: list, moves: dict):
        super().__init__(spans)
        self.moves = moves   # index -> lines to move by

    def __getitem__(self, i):
        if not isinstance(i, int):
            self._all()
            return super().__getitem__(i)
        s = super().__getitem__(i)
        d = self.moves.pop(i if i >= 0 else i + len(self), None) if self.moves else None
        if d is not None:
            s = _moved(s, d)
            super().__setitem__(i, s)
        return s

    def _all(self) -> None:
        for i in list(self.moves):
            self[i]

    def __iter__(self):
        self._all()
        return super().__iter__()

    def __reversed__(self):   # list's own methods would bypass __getitem__: unmoved Spans
        self._all()
        return super().__reversed__()

    def __contains__(self, x) -> bool:
        self._all()
        return super().__contains__(x)

    def index(self, *a):
        self._all()
        return super().index(*a)

    def copy(self) -> list:
        self._all()
        return list(super().__iter__())

    def __eq__(self, other) -> bool:
        self._all()
        if isinstance(other, _Items):
            other._all()
        return super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]


def _parse(text: str, lines: list, cache: dict) -> Layout:
    n, items, e = _block(text, lines)
    texts = ["\n".join(lines[a:b]) + "\n" for a, b in items]
    missing = [k for k, t in enumerate(texts) if t not in cache]
    deep = maybe_deep(text)
    if missing:
        _parse_items(lines, texts, items, missing, cache, deep)
    # the rest: the `nodes` block as `nodes: []` and blank lines (every other line where it was)
    rest = "\n".join(lines[:n]) + ("\n" if n else "") + "nodes: []" + "\n" * (e - n) + \
        "\n".join(lines[e:]) + ("\n" if e < len(lines) else "")
    root = yaml.compose(rest, Loader=_Loader)
    if not isinstance(root, yaml.MappingNode) or root.flow_style:
        raise _Unusual
    if deep:
        check_depth(root)
    b = _Builder(lines)
    b.merge_keys = False
    data: dict = {}
    span = Span(root.start_mark.line, root.start_mark.column, root.start_mark.line,
                root.start_mark.column, root.start_mark.line, "map", False, value=data)
    for knode, vnode in root.value:
        if knode.__class__ is not _Scalar or knode.tag != _STR or knode.value in data:
            raise _Unusual  # a duplicate key: the whole parse says where
        key, kl, kc = knode.value, knode.start_mark.line, knode.start_mark.column
        if key == "nodes":
            if kl != n or not isinstance(vnode, yaml.SequenceNode) or vnode.value:
                raise _Unusual
            v, s = _nodes(b, n, items, texts, cache)
        else:
            v, s = b.build(vnode, kl, kc, parent_col=kc)
        data[key] = v
        span.keys.append(key)
        span.children[key] = s
    if "nodes" not in data or b.duplicates:
        raise _Unusual
    span.end = span.children[span.keys[-1]].end
    return Layout(text, lines, data, span, b.style(), True)


def _parse_items(lines: list, texts: list, items: list, missing: list, cache: dict,
                 deep: bool) -> None:
    """Parse the items not in `cache` in one YAML parse, each at its own lines.

    The line after each item holds a comment at the indentation of the file's next line there,
    and the lines between are blank: a block scalar ending an item (`|+` keeps trailing blank
    lines) ends, and its end mark falls, exactly as before the next line in the file."""
    parts: list = []
    pos = 0   # the batch's next line
    for k in missing:
        a, b = items[k]
        if a > pos:
            if parts:   # right after an item: the line the file has there, as a comment
                parts.append(_sentinel(lines, pos))
                pos += 1
            parts.append("\n" * (a - pos))
        parts.append(texts[k])
        pos = b
    if pos < len(lines):
        parts.append(_sentinel(lines, pos))
    batch = "".join(parts)
    root = yaml.compose(batch, Loader=_Loader)
    if not isinstance(root, yaml.SequenceNode) or root.flow_style or len(root.value) != len(missing):
        raise _Unusual
    if deep:
        check_depth(root, 2)   # the batch stands for `nodes`
    b = _Builder(batch.split("\n"))
    b.merge_keys = False
    for k, node in zip(missing, root.value):
        # each item's own indentation counts, in the order a whole parse would meet them
        b.map_steps, b.seq_steps, b.seq_offsets = Counter(), Counter(), Counter()
        il, ic = node.start_mark.line, node.start_mark.column
        dl, dc = b._dash(il, ic)
        if dl != items[k][0]:
            raise _Unusual
        if isinstance(node, yaml.MappingNode) and il == dl:
            b.seq_offsets[ic - dc] += 1
        v, s = b.build(node, dl, dc, in_seq=True)
        if b.duplicates:
            raise _Unusual
        cache[texts[k]] = (v, s, dl, (b.map_steps, b.seq_steps, b.seq_offsets))


def _sentinel(lines: list, i: int) -> str:
    ln = lines[i]
    return " " * (len(ln) - len(ln.lstrip(" "))) + "#\n"


def _nodes(b: _Builder, n: int, items: list, texts: list, cache: dict) -> tuple:
    """The `nodes` list and its Span, from the cached items; their indentation counted in."""
    out: list = []
    spans: list = []
    counts = (b.map_steps, b.seq_steps, b.seq_offsets)
    a0 = items[0][0]
    col = len(b.lines[a0]) - len(b.lines[a0].lstrip(" "))
    b.seq_steps[col] += 1   # the sequence's own step (under `nodes:` at column 0), before its items'
    moves: dict = {}
    for k, ((a, _), t) in enumerate(zip(items, texts)):
        v, s, line, steps = cache[t]
        out.append(v)
        spans.append(s)
        if line != a:
            moves[k] = a - line
        for total, part in zip(counts, steps):
            for key, c in part.items():
                total[key] += c
    end = spans[-1].end + moves.get(len(spans) - 1, 0)
    span = Span(n, 0, a0, col, end, "seq", False, items=_Items(spans, moves), value=out)
    return out, span
