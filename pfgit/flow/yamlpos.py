"""Parse YAML into plain Python data plus the 1-based line of every key and list item.

PyYAML's composer (C-accelerated when libyaml is present) gives a node tree with marks; we build
plain dicts/lists from it ourselves so every value keeps its position, and so duplicate keys (which
PyYAML silently collapses) can be reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

try:  # libyaml is ~10x faster; fall back to the pure-Python composer
    _Loader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader

_constructor = yaml.constructor.SafeConstructor()
_MERGE_TAG = "tag:yaml.org,2002:merge"  # the `<<` key of YAML merge keys

Path = tuple  # a path into the document: keys and list indexes

MAX_YAML_BYTES = 10 * 1024 * 1024  # a flow file is a few KB; refuse to spend a minute on 50 MB
# values in the document once aliases are expanded: users of the data (checks, diff, merge) walk
# it expanded, so a "billion laughs" document of a few lines would take hours
MAX_EXPANDED_VALUES = 2_000_000
# collections nested in one another: everything that walks flow data (checks, diff, merge,
# rendering) recurses, and Python stops at 1,000 frames; libyaml itself stops at 1,000 levels.
# Real flows nest a handful of levels.
MAX_DEPTH = 100
# a value nested MAX_DEPTH deep has half of that in flow brackets, or in block indentation (each
# block level moves its content right by a column, or by two after an indentless `- `; compact
# `- - -`, `? ? ?` and `: - ` chains put levels on one line)
_DEEP_BLOCK = re.compile(r"^[ ?:-]{%d}" % (MAX_DEPTH // 2 - 5), re.M)


class YamlError(Exception):
    """The text is not YAML we can read. `line` is 1-based or None."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


@dataclass
class Document:
    data: Any
    lines: dict = field(default_factory=dict)        # path -> 1-based line of key / item
    end_lines: dict = field(default_factory=dict)    # path -> 1-based last line of the value
    duplicate_keys: list = field(default_factory=list)  # (path, line) of repeated mapping keys

    def line(self, path: Path, default: int | None = None) -> int | None:
        """Line of `path`, or of its nearest ancestor that has one."""
        path = tuple(path)
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return default
            path = path[:-1]


def decode(raw: bytes) -> str:
    """Decode YAML bytes as UTF-8 (BOM allowed); a bad byte is a YamlError with its line."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise YamlError(f"not valid UTF-8 (byte 0x{raw[e.start]:02x})", line) from None


def check_size(text: str | bytes) -> None:
    """YamlError for a text over MAX_YAML_BYTES (validate's, diff's and merge's limit)."""
    if len(text) > MAX_YAML_BYTES:
        raise YamlError(f"file is {len(text) / 1e6:.0f} MB; flow files over "
                        f"{MAX_YAML_BYTES // (1024 * 1024)} MB are not read")


_TAG_NAMES = {"tag:yaml.org,2002:int": "an integer", "tag:yaml.org,2002:float": "a number",
              "tag:yaml.org,2002:bool": "a boolean", "tag:yaml.org,2002:timestamp": "a date",
              "tag:yaml.org,2002:binary": "base64 data", "tag:yaml.org,2002:null": "null"}


def construct_scalar(node) -> Any:
    """The Python value of a scalar node; a value its tag cannot hold is a YamlError with its
    line (PyYAML raises ValueError, KeyError or AttributeError for `!!int 0b`, `!!bool maybe`,
    `!!timestamp foo`, an integer over Python's 4,300-digit limit ...)."""
    try:
        return _constructor.yaml_constructors.get(
            node.tag, _constructor.yaml_constructors[None])(_constructor, node)
    except yaml.YAMLError:
        raise
    except Exception:
        value = str(node.value)
        shown = value if len(value) <= 40 else f"{value[:20]}... ({len(value)} characters)"
        what = _TAG_NAMES.get(node.tag, node.tag.replace("tag:yaml.org,2002:", "!!"))
        why = " (over Python's 4,300-digit limit)" if node.tag == "tag:yaml.org,2002:int" and \
            len(value) > 4300 else ""
        raise YamlError(f"'{shown}' cannot be read as {what}{why}", node.start_mark.line + 1,
                        node.start_mark.column + 1) from None


def parse(text: str | bytes) -> Document:
    """Parse one YAML document. Raises YamlError with a line for syntax errors."""
    check_size(text)
    if isinstance(text, bytes):
        text = decode(text)
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        msg = " ".join(filter(None, [e.context, e.problem])) or "invalid YAML"
        raise YamlError(msg, mark.line + 1 if mark else None,
                        mark.column + 1 if mark else None) from None
    except yaml.YAMLError as e:
        raise YamlError(" ".join(str(e).split()) or "invalid YAML") from None
    except RecursionError:
        raise YamlError("YAML nested too deeply") from None
    doc = Document(data=None)
    if node is None:
        return doc
    try:
        if maybe_deep(text):
            check_depth(node)
        check_expansion(node)
        doc.data = _build(node, (), doc, {})
    except yaml.YAMLError as e:  # e.g. a bad !!int, unhashable key
        mark = getattr(e, "problem_mark", None)
        raise YamlError(" ".join(str(getattr(e, "problem", None) or e).split()),
                        mark.line + 1 if mark else None) from None
    except RecursionError:
        raise YamlError("YAML nested too deeply") from None
    return doc


def _build(node, path: tuple, doc: Document, seen: dict) -> Any:
    doc.end_lines[path] = _end_line(node)
    if isinstance(node, yaml.ScalarNode):
        return construct_scalar(node)
    if id(node) in seen:  # an alias: share the value, positions stay at the anchor
        return seen[id(node)]
    if isinstance(node, yaml.SequenceNode):
        out: list = []
        seen[id(node)] = out
        for i, item in enumerate(node.value):
            p = path + (i,)
            doc.lines[p] = item.start_mark.line + 1
            out.append(_build(item, p, doc, seen))
        return out
    if isinstance(node, yaml.MappingNode):
        own = sum(1 for k, _ in node.value if k.tag != _MERGE_TAG)
        _constructor.flatten_mapping(node)
        # `<<: *anchor` entries come first after flattening; a key given again after them (or
        # twice by the merged mappings) overrides it, as YAML means: only own keys can repeat
        merged = len(node.value) - own
        out_d: dict = {}
        own_keys: set = set()
        seen[id(node)] = out_d
        for i, (knode, vnode) in enumerate(node.value):
            key = _build(knode, path + ("<key>",), doc, seen)
            try:
                hash(key)
            except TypeError:
                raise YamlError("mapping key is not a scalar", knode.start_mark.line + 1) from None
            p = path + (key,)
            kline = knode.start_mark.line + 1
            if i >= merged:
                if key in own_keys:
                    doc.duplicate_keys.append((p, kline))
                own_keys.add(key)
            doc.lines[p] = kline
            out_d[key] = _build(vnode, p, doc, seen)
        doc.end_lines.pop(path + ("<key>",), None)
        return out_d
    raise YamlError(f"unsupported YAML node {type(node).__name__}")  # pragma: no cover


def check_expansion(root) -> bool:
    """Raise YamlError when the document expands (through aliases) to too many values; else
    return whether it uses an alias at all (a node reached twice).

    Sizes are memoised per node, so this is linear in the document as written."""
    shared = False
    size: dict = {}
    open_: set = set()  # collections whose children are still being sized
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in size:
            shared = shared or not done
            continue
        if isinstance(node, yaml.ScalarNode):
            size[id(node)] = 1
            continue
        children = ([c for kv in node.value for c in kv] if isinstance(node, yaml.MappingNode)
                    else list(node.value))
        if not done:
            if id(node) in open_:
                raise YamlError("an alias refers to a value that contains it (endless)",
                                node.start_mark.line + 1)
            open_.add(id(node))
            stack.append((node, True))
            shared = shared or any(id(c) in size for c in children)
            stack.extend((c, False) for c in children if id(c) not in size)
            continue
        open_.discard(id(node))
        size[id(node)] = total = 1 + sum(size.get(id(c), 1) for c in children)
        if total > MAX_EXPANDED_VALUES:
            raise YamlError(f"aliases expand to more than {MAX_EXPANDED_VALUES:,} values "
                            "(an alias bomb); not read", node.start_mark.line + 1)
    return shared


def maybe_deep(text: str) -> bool:
    """False when no value in `text` can be nested over MAX_DEPTH deep (a cheap test; the
    braces of `${...}` references open no collection)."""
    return text.count("[") + text.count("{") - text.count("${") >= MAX_DEPTH // 2 or \
        _DEEP_BLOCK.search(text) is not None


def check_depth(root, first: int = 1) -> None:
    """YamlError (with the line) for a value nested over MAX_DEPTH collections deep; iterative,
    so it is the one place a deep document is walked before it is refused. `first`: the level
    of `root` (2 for a part of a flow that is its `nodes` list)."""
    deepest: dict = {}   # id -> depth met (aliases reach a node more than once)
    stack = [(root, first)]
    while stack:
        node, d = stack.pop()
        if d > MAX_DEPTH:
            raise YamlError(f"YAML nested too deeply (over {MAX_DEPTH} levels)", node.start_mark.line + 1)
        if deepest.get(id(node), 0) >= d:
            continue
        deepest[id(node)] = d
        if isinstance(node, yaml.MappingNode):
            stack.extend((c, d + 1) for kv in node.value for c in kv if c.__class__ is not yaml.ScalarNode)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((c, d + 1) for c in node.value if c.__class__ is not yaml.ScalarNode)


def _end_line(node) -> int:
    # end_mark points just past the value; at column 0 that is the start of the next line
    m = node.end_mark
    return m.line if m.column == 0 and m.line > node.start_mark.line else m.line + 1
