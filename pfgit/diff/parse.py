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
    if "*" not in text:   # no alias: nothing can expand
        return yaml.load(text, Loader=_Loader)
    # validate's alias limit holds here too: a 9-level alias bomb is a few hundred bytes, and the
    # diff walks the data expanded (`pfgit diff` of one hung for ever)
    from ..flow.yamlpos import check_expansion

    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        check_expansion(node)   # raises YamlError: the caller's checked parse then says where
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _split(text: str) -> tuple:
    """(rest of the document with `nodes: []`, [node item texts, dedented])."""
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
        v = _load("".join(missing))
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
        data = _load(rest)
        if not isinstance(data, dict) or data.get("nodes") != []:
            raise Unsplittable("top level")
        _parse_items(items, cache)
        data["nodes"] = [cache[t] for t in items]
        return data
    except (Unsplittable, yaml.YAMLError):
        return _load(text)


__all__ = ["parse_data", "CHUNK_MIN_BYTES"]
