"""Reading two versions of a big flow file fast: parse each node once.

A diff needs the data, not line numbers, and two versions of a flow share most of their nodes.
For a large file whose `nodes:` is a plain block sequence, each node item is parsed on its own
(dedented, so re-indenting does not defeat the cache) and items with the same text are parsed
once for both versions; identical nodes are then the same object, which the diff compares by
identity. Anything unusual (anchors/aliases, directives, several documents, flow-style `nodes`,
a part that does not parse alone) takes the plain full parse, whose errors carry their lines.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from ..flow.yamlpos import check_depth, maybe_deep

try:
    _Loader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader

CHUNK_MIN_BYTES = 50_000  # below this the full parse is already a few milliseconds
_NODES = re.compile(r"^nodes:[ \t]*(#.*)?$")
_ITEM = re.compile(r"^( *)- ")
_RISKY = re.compile(r"(^|[\s\[{,:-])[&*!][^\s]|^%|^---|^\.\.\.", re.M)


def _risky(text: str) -> bool:
    # the regex costs ~1 ms on a 10 KB flow; most flows hold none of its characters at all
    return any(c in text for c in ("&", "*", "!", "%", "---", "...")) and bool(_RISKY.search(text))


class Unsplittable(Exception):
    pass


def _load(text: str) -> Any:
    deep = maybe_deep(text)
    if "*" not in text and not deep:   # no alias: nothing can expand
        return yaml.load(text, Loader=_Loader)
    # validate's alias limit holds here too: a 9-level alias bomb is a few hundred bytes, and the
    # diff walks the data expanded (`pfgit diff` of one hung for ever)
    from ..flow.yamlpos import check_expansion

    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if deep:   # the diff recurses into values (YamlError: as for the alias limit)
            check_depth(node)
        check_expansion(node)   # raises YamlError: the caller's checked parse then says where
        return loader.construct_document(node)
    finally:
        loader.dispose()


_STR, _MAP, _SEQ = "tag:yaml.org,2002:str", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"


def _build(node, loader) -> Any:
    """The value of a composed node: plain strings, mappings and sequences built directly, other
    scalars and tags by the safe constructor (what it would build; only faster)."""
    t = node.tag
    if t == _STR and type(node) is yaml.ScalarNode:
        return node.value
    if t == _MAP and type(node) is yaml.MappingNode:
        out = {}
        for k, v in node.value:
            if k.tag != _STR:  # merge keys (<<), non-string keys: the constructor's rules
                return loader.construct_object(node, deep=True)
            out[k.value] = _build(v, loader)
        return out
    if t == _SEQ and type(node) is yaml.SequenceNode:
        return [_build(n, loader) for n in node.value]
    return loader.construct_object(node, deep=True)


class _PlainLoader(_Loader):  # type: ignore[misc, valid-type]
    """The safe loader, with plain scalars that no implicit resolver could claim (by their first
    character, as the resolver itself looks them up) tagged str at once."""

    def resolve(self, kind, value, implicit):
        if kind is yaml.ScalarNode and implicit[0] and not self.yaml_path_resolvers:
            claimed = self.yaml_implicit_resolvers
            if value and value[0] not in claimed and None not in claimed:
                return _STR
            tag = _PLAIN_TAGS.get(value)  # keys and values repeat across a history's versions
            if tag is None:
                if len(_PLAIN_TAGS) > 100_000:
                    _PLAIN_TAGS.clear()
                tag = _PLAIN_TAGS[value] = super().resolve(kind, value, implicit)
            return tag
        return super().resolve(kind, value, implicit)


_PLAIN_TAGS: dict = {}  # plain scalar text -> its implicit tag (the resolvers are fixed)


def _load_plain(text: str, level: int = 1) -> Any:
    """`_load` of a text without anchors, aliases or tags (see _risky), constructed faster.
    `level`: the depth of the text's top value in the flow (2: a batch of `nodes` items)."""
    loader = _PlainLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if maybe_deep(text):
            check_depth(node, level)
        try:
            return _build(node, loader)
        except Exception:
            return loader.construct_document(node)
    finally:
        loader.dispose()


_ODD_SPACE = re.compile(r"[^\S \n]")  # whitespace other than space and newline
_ODD_ASCII = "\r\t\x0b\x0c\x1c\x1d\x1e\x1f"
_NODES_LINE = re.compile(r"^nodes:[ \t]*(#.*)?$", re.M)
_SKIP = re.compile(r"(?: *(?:#[^\n]*)?\n)*")
_ITEM_AT = re.compile(r"( *)- ")
_ENDS: dict = {}


def _split(text: str) -> tuple:
    """(rest of the document with `nodes: []`, [node item texts, dedented])."""
    if not text.isascii() and _ODD_SPACE.search(text) or any(c in text for c in _ODD_ASCII):
        return _split_lines(text)  # other line breaks or blanks: line by line, as str does
    m = _NODES_LINE.search(text)
    if m is None or m.end() >= len(text):
        raise Unsplittable("no block 'nodes:'")
    first = _SKIP.match(text, m.end() + 1).end()
    im = _ITEM_AT.match(text, first)
    if im is None:
        raise Unsplittable("nodes is not a block sequence")
    pad = im.group(1)
    ends = _ENDS.get(pad)
    if ends is None:  # the first line that is not in the sequence: not an item, not inside one
        ends = _ENDS[pad] = re.compile(rf"\n(?!{pad}- |{pad} | *#| *(?:\n|\Z))")
    e = ends.search(text, first - 1)
    end = e.start() + 1 if e is not None else len(text)
    n = len(pad)
    block = text[first:end]
    if n and block.count("\n" + pad) + 1 == block.count("\n") + (not block.endswith("\n")):
        n, block = 0, block[n:].replace("\n" + pad, "\n")  # every line indented: dedent once
    if not n:  # the items are the block's pieces starting with "- " at a line's start
        parts = block.split("\n- ")
        texts = ["- " + p + "\n" for p in parts[:-1]]
        texts.append("- " + parts[-1])
        texts[0] = texts[0][2:]  # the block's first piece has its own "- "
        return text[:m.start()] + "nodes: []\n" + text[end:], texts
    starts, k, mark = [], first, "\n" + pad + "- "
    while 0 <= k < end:
        starts.append(k)
        k = text.find(mark, k, end)
        k = k + 1 if k >= 0 else -1
    starts.append(end)
    texts = []
    for a, b in zip(starts, starts[1:]):
        item = text[a:b]
        if n:
            lines = item.count("\n") + (not item.endswith("\n"))
            if item.count("\n" + pad) + 1 == lines:  # every line indented: drop the pad
                item = item[n:].replace("\n" + pad, "\n")
            else:
                item = "".join(ln[n:] if ln.startswith(pad) else "\n" for ln in item.splitlines(True))
        texts.append(item)
    return text[:m.start()] + "nodes: []\n" + text[end:], texts


def _split_lines(text: str) -> tuple:
    lines = text.splitlines(keepends=True)
    start = next((i for i, ln in enumerate(lines) if _NODES.match(ln.rstrip("\r\n"))), None)
    if start is None:
        raise Unsplittable("no block 'nodes:'")
    j = start + 1
    while j < len(lines) and (not lines[j].strip() or lines[j].lstrip().startswith("#")):
        j += 1
    m = _ITEM.match(lines[j]) if j < len(lines) else None
    if m is None:
        raise Unsplittable("nodes is not a block sequence")
    pad = m.group(1)
    item_start, inner = pad + "- ", pad + " "
    items: list = []
    cur: list = []
    end = len(lines)
    for j in range(j, len(lines)):
        ln = lines[j]
        if ln.startswith(item_start):
            if cur:
                items.append(cur)
            cur = [ln]
        elif ln.startswith(inner) or not ln.strip() or ln.lstrip().startswith("#"):
            cur.append(ln)  # inside the item (blank and comment lines go with it)
        else:
            end = j
            break
    items.append(cur)
    n = len(pad)
    # dedent: content lines all start with the pad; others are blank or comments
    texts = ["".join(ln[n:] if ln.startswith(pad) else "\n" for ln in item) if n else "".join(item)
             for item in items]
    rest = "".join(lines[:start]) + "nodes: []\n" + "".join(lines[end:])
    return rest, texts


def _parse_items(texts: list, cache: dict) -> None:
    """Parse the texts not yet in `cache`: one YAML parse for all of them, else one by one."""
    missing = [t for t in dict.fromkeys(texts) if t not in cache]
    if not missing:
        return
    # a text without a final newline (the file's end) can only go last
    missing.sort(key=lambda t: not t.endswith("\n"))
    if len(missing) > 1 and not missing[-2].endswith("\n"):
        missing = []  # cannot batch; fall through to one by one
    else:
        v = _load_plain("".join(missing), level=2)
        if isinstance(v, list) and len(v) == len(missing):
            cache.update(zip(missing, v))
            return
    for t in dict.fromkeys(texts):
        if t not in cache:
            v = _load(t)
            if not isinstance(v, list) or len(v) != 1:
                raise Unsplittable("item")
            cache[t] = v[0]


def parse_data(text: str, cache: dict | None = None, min_bytes: int = CHUNK_MIN_BYTES) -> Any:
    """The parsed data of a flow file's text (same result as a full YAML parse)."""
    if len(text) < min_bytes or "\t" in text or _risky(text):
        return _load(text)
    cache = {} if cache is None else cache
    try:
        rest, items = _split(text)
        top = cache.get(("", rest))  # what surrounds the nodes changes rarely: parsed once too
        if top is None:
            top = _load_plain(rest)
            if not isinstance(top, dict) or top.get("nodes") != []:
                raise Unsplittable("top level")
            cache[("", rest)] = top
        data = dict(top)  # values shared with other versions, like the nodes
        _parse_items(items, cache)
        data["nodes"] = [cache[t] for t in items]
        return data
    except (Unsplittable, yaml.YAMLError):
        return _load(text)


__all__ = ["parse_data", "CHUNK_MIN_BYTES"]
