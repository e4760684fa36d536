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

A flow with many node variants is cut the same way: each `node_variants.<node>.variants` block
mapping becomes `variants: {}` in the rest, and its entries (one per variant) are parsed in
batches and cached like the `nodes` items.

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
_VARIANTS_TOP = re.compile(r"^node_variants:[ \t]*(#.*)?$", re.M)
_VARIANTS_KEY = re.compile(r"( +)variants:[ \t]*(#.*)?$")


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


def _block(text: str, lines: list) -> tuple | None:
    """(line of `nodes:`, the items' (first line, end line) pairs, end of the block), or None
    when the text has no top-level `nodes:` line."""
    m = _NODES.search(text)
    if m is None:
        return None
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
    block = _block(text, lines)
    vblocks = _variant_blocks(text, lines)
    if block is None and not vblocks:
        raise _Unusual   # nothing to cut: the whole parse is as fast
    deep = maybe_deep(text)
    cuts = []   # (first line, end, what stands there): the rest has every other line where it was
    if block is not None:
        n, items, e = block
        texts = ["\n".join(lines[a:b]) + "\n" for a, b in items]
        missing = [k for k, t in enumerate(texts) if t not in cache]
        if missing:
            _parse_items(lines, texts, items, missing, cache, deep)
        cuts.append((n, e, "nodes: []"))
    places: dict = {}
    for vb in vblocks:
        kl, kc, _, ve, _ = vb
        places[kl] = vb + (_cache_entries(lines, vb, cache, deep),)
        cuts.append((kl, ve, " " * kc + "variants: {}"))
    parts: list = []
    pos = 0
    for a, z, stand in sorted(cuts):
        if a > pos:
            parts.append("\n".join(lines[pos:a]) + "\n")
        parts.append(stand + "\n" * (z - a))
        pos = z
    if pos < len(lines):
        parts.append("\n".join(lines[pos:]) + "\n")
    rest = "".join(parts)
    root = yaml.compose(rest, Loader=_Loader)
    if not isinstance(root, yaml.MappingNode) or root.flow_style:
        raise _Unusual
    if deep:
        check_depth(root)
    b = _VariantsBuilder(lines, places, cache) if places else _Builder(lines)
    b.merge_keys = False
    data: dict = {}
    span = Span(root.start_mark.line, root.start_mark.column, root.start_mark.line,
                root.start_mark.column, root.start_mark.line, "map", False, value=data)
    for knode, vnode in root.value:
        if knode.__class__ is not _Scalar or knode.tag != _STR or knode.value in data:
            raise _Unusual  # a duplicate key: the whole parse says where
        key, kl, kc = knode.value, knode.start_mark.line, knode.start_mark.column
        if key == "nodes" and block is not None:
            if kl != n or not isinstance(vnode, yaml.SequenceNode) or vnode.value:
                raise _Unusual
            v, s = _nodes(b, n, items, texts, cache)
        else:
            v, s = b.build(vnode, kl, kc, parent_col=kc)
        data[key] = v
        span.keys.append(key)
        span.children[key] = s
    if (block is not None and "nodes" not in data) or b.duplicates:
        raise _Unusual
    if places:
        _check_places(span, places, b.used)
    span.end = span.children[span.keys[-1]].end
    return Layout(text, lines, data, span, b.style(), True)


# -- node variants ------------------------------------------------------------------------------
VARIANTS_MIN_LINES = 200   # a smaller `variants` block is parsed with the rest


def _variant_blocks(text: str, lines: list) -> list:
    """The big `variants:` block mappings of `node_variants.<node>`: (line of `variants:`, its
    column, the entries' column, end of the block, the entries' (first line, end line) pairs,
    the node's name line's column)."""
    m = _VARIANTS_TOP.search(text) if "node_variants:" in text else None
    if m is None:
        return []
    top = text.count("\n", 0, m.start())
    i, out = top + 1, []
    name_col = key_col = None
    while i < len(lines):
        ln = lines[i]
        stripped = ln.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            i += 1
            continue
        ind = len(ln) - len(stripped)
        if ind == 0:
            break   # the next top-level key
        if name_col is None:
            name_col = ind
        if ind == name_col:
            key_col = None
        elif key_col is None:
            key_col = ind
        km = _VARIANTS_KEY.match(ln) if ind == key_col else None
        if km is None:
            i += 1
            continue
        vb = _entries(lines, i, ind)
        if vb is None:
            i += 1
            continue
        out.append(vb)
        i = vb[3]
    return out


def _entries(lines: list, kl: int, kc: int) -> tuple | None:
    """The entries of the block mapping under the key at line kl, column kc (None if too small
    or not a plain block mapping of simple keys)."""
    j = kl + 1
    while j < len(lines) and (not lines[j].strip() or lines[j].lstrip().startswith("#")):
        j += 1
    if j >= len(lines):
        return None
    c = len(lines[j]) - len(lines[j].lstrip(" "))
    if c <= kc:
        return None
    starts: list = []
    e = len(lines)
    deeper = " " * (c + 1)
    for t in range(j, len(lines)):
        ln = lines[t]
        if ln.startswith(deeper):   # most lines: inside an entry
            continue
        st = ln.lstrip(" ")
        if not st or st.startswith("#"):
            continue
        ind = len(ln) - len(st)
        if ind == c:
            if st[0] in "-?[{&*!|>%@`'\":" or ":" not in st:
                return None   # not a plain `key:` entry: left to the rest's parse
            starts.append(t)
        elif ind < c:
            if ind > kc:
                return None
            e = t
            break
    # an entry runs to the next one (blank lines and comments after it included, as a `nodes`
    # item does: a `|+` scalar ending it keeps them)
    if e - kl < VARIANTS_MIN_LINES:
        return None
    return kl, kc, c, e, list(zip(starts, starts[1:] + [e]))


def _cache_entries(lines: list, vb: tuple, cache: dict, deep: bool) -> list:
    """Parse the entries of variants block `vb` not in `cache`, in one YAML parse at their
    lines; returns the entries' cache keys."""
    _, _, c, _, items = vb
    texts = [("variant", "\n".join(lines[a:b]) + "\n") for a, b in items]
    missing = [k for k, t in enumerate(texts) if t not in cache]
    if not missing:
        return texts
    parts: list = []
    pos = 0
    for k in missing:
        a, b = items[k]
        if a > pos:
            if parts:
                parts.append(_sentinel(lines, pos))
                pos += 1
            parts.append("\n" * (a - pos))
        parts.append(texts[k][1])
        pos = b
    if pos < len(lines):
        parts.append(_sentinel(lines, pos))
    batch = "".join(parts)
    root = yaml.compose(batch, Loader=_Loader)
    if not isinstance(root, yaml.MappingNode) or root.flow_style or len(root.value) != len(missing):
        raise _Unusual
    if deep:
        check_depth(root, 4)   # the batch stands for node_variants.<node>.variants
    b = _Builder(batch.split("\n"))
    b.merge_keys = False
    for k, (knode, vnode) in zip(missing, root.value):
        kl, kc = knode.start_mark.line, knode.start_mark.column
        if knode.__class__ is not _Scalar or knode.tag != _STR or kl != items[k][0] or kc != c:
            raise _Unusual
        b.map_steps, b.seq_steps, b.seq_offsets = Counter(), Counter(), Counter()
        v, s = b.build(vnode, kl, kc, parent_col=kc)
        if b.duplicates:
            raise _Unusual
        cache[texts[k]] = (knode.value, v, s, kl, (b.map_steps, b.seq_steps, b.seq_offsets))
    return texts


class _Children(dict):
    """A mapping's children Spans, where an entry seen at other lines is moved when first read."""

    __slots__ = ("moves",)

    def __init__(self, spans: dict, moves: dict):
        super().__init__(spans)
        self.moves = moves   # key -> lines to move by

    def __getitem__(self, k):
        s = super().__getitem__(k)
        d = self.moves.pop(k, None) if self.moves else None
        if d is not None:
            s = _moved(s, d)
            super().__setitem__(k, s)
        return s

    def get(self, k, default=None):
        return self[k] if k in self else default

    def _all(self) -> None:
        for k in list(self.moves):
            self[k]

    def values(self):
        self._all()
        return super().values()

    def items(self):
        self._all()
        return super().items()

    def copy(self) -> dict:
        self._all()
        return dict(super().items())

    def __eq__(self, other) -> bool:
        self._all()
        if isinstance(other, _Children):
            other._all()
        return super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]


class _VariantsBuilder(_Builder):
    """The rest's builder: a `variants: {}` left where a block was cut is built from the cache."""

    def __init__(self, lines: list, places: dict, cache: dict):
        super().__init__(lines)
        self.places = places
        self.cache = cache
        self.used: dict = {}   # line of `variants:` -> the Span built there

    def build(self, node, start, col, parent_col=None, in_seq=False, in_flow=False):
        vb = self.places.get(start) if node.__class__ is yaml.MappingNode else None
        if vb is None or node.value or not node.flow_style or in_seq or in_flow or \
                col != vb[1] or parent_col != col or start in self.used:
            return super().build(node, start, col, parent_col, in_seq, in_flow)
        kl, kc, c, _, items, texts = vb
        self.map_steps[c - kc] += 1   # the mapping's own step, before its entries'
        out: dict = {}
        spans: dict = {}
        keys: list = []
        moves: dict = {}
        counts = (self.map_steps, self.seq_steps, self.seq_offsets)
        last = None
        for (a, _), t in zip(items, texts):
            key, v, s, line, steps = self.cache[t]
            if key in out:
                raise _Unusual   # a duplicate key: the whole parse says where
            out[key] = v
            spans[key] = s
            keys.append(key)
            if line != a:
                moves[key] = a - line
            last = (s, a - line)
            for total, part in zip(counts, steps):
                for k2, n2 in part.items():
                    total[k2] += n2
        span = Span(kl, kc, items[0][0], c, last[0].end + last[1], "map", False, keys,
                    _Children(spans, moves), value=out)
        self.used[kl] = span
        return out, span


def _check_places(root: Span, places: dict, used: dict) -> None:
    """Every cut block was built back at node_variants.<node>.variants, nowhere else."""
    if set(used) != set(places):
        raise _Unusual
    nv = root.children.get("node_variants")
    found = set()
    for node in (nv.children.values() if nv is not None and nv.kind == "map" else ()):
        v = node.children.get("variants") if node.kind == "map" else None
        if v is not None and used.get(v.start) is v:
            found.add(v.start)
    if found != set(places):
        raise _Unusual


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
