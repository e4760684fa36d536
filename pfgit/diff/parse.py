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


class Unsplittable(Exception):
    pass


def _load(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)


def _dedent(line: str, indent: int) -> str:
    lead = len(line) - len(line.lstrip(" "))
    if lead < indent and (not line.strip() or line.lstrip().startswith("#")):
        return "\n"  # a blank or comment line left of the items: not part of any value
    return line[indent:]


def _split(text: str) -> tuple:
    """(rest of the document with `nodes: []`, [node item texts, dedented])."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, ln in enumerate(lines) if _NODES.match(ln.rstrip("\r\n"))), None)
    if start is None:
        raise Unsplittable("no block 'nodes:'")
    items: list = []
    indent = None
    cur: list = []
    end = len(lines)
    for j in range(start + 1, len(lines)):
        ln = lines[j]
        body = ln.strip()
        if not body or body.startswith("#"):
            if cur:
                cur.append(ln)
            continue
        lead = len(ln) - len(ln.lstrip(" "))
        m = _ITEM.match(ln)
        if indent is None:
            if not m:
                raise Unsplittable("nodes is not a block sequence")
            indent = len(m.group(1))
        if m and lead == indent:
            if cur:
                items.append(cur)
            cur = [ln]
        elif lead > indent:
            if not cur:
                raise Unsplittable("content before the first item")
            cur.append(ln)
        else:
            end = j
            break
    if cur:
        items.append(cur)
    if indent is None:
        raise Unsplittable("empty nodes")
    texts = ["".join(_dedent(ln, indent) for ln in item) for item in items]
    rest = "".join(lines[:start]) + "nodes: []\n" + "".join(lines[end:])
    return rest, texts


def parse_data(text: str, cache: dict | None = None, min_bytes: int = CHUNK_MIN_BYTES) -> Any:
    """The parsed data of a flow file's text (same result as a full YAML parse)."""
    if len(text) < min_bytes or "\t" in text or _RISKY.search(text):
        return _load(text)
    cache = {} if cache is None else cache
    try:
        rest, items = _split(text)
        data = _load(rest)
        if not isinstance(data, dict) or data.get("nodes") != []:
            raise Unsplittable("top level")
        nodes: list = []
        for item in items:
            if item not in cache:
                v = _load(item)
                if not isinstance(v, list) or len(v) != 1:
                    raise Unsplittable("item")
                cache[item] = v[0]
            nodes.append(cache[item])
        data["nodes"] = nodes
        return data
    except (Unsplittable, yaml.YAMLError):
        return _load(text)


__all__ = ["parse_data", "CHUNK_MIN_BYTES"]
