"""Where every value of a YAML text sits: the text layout the merge splices ours' lines from.

pfgit.flow.yamlpos gives the line of each key; splicing also needs columns, flow vs block style,
the dash of each list item and the exact last line of each value (PyYAML's block-collection end
marks run on to the next key, over trailing comments). Lines here are 0-based.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..flow.yamlpos import (YamlError, check_depth, check_expansion, check_size, construct_scalar,
                            maybe_deep)

_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_constructor = yaml.constructor.SafeConstructor()
_STR = "tag:yaml.org,2002:str"
_tags: dict = {}


_FIRST = set(_Base.yaml_implicit_resolvers)   # first characters an implicit tag can start with
_FAST = None not in _FIRST and not _Base.yaml_path_resolvers
_SEQ, _MAP = "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"
_MERGE = "tag:yaml.org,2002:merge"
_Scalar = yaml.ScalarNode
_NONE: tuple = ()      # the (never changed) keys/items of a scalar's Span
_EMPTY: dict = {}


class _Loader(_Base):
    """Tag resolution is Python code run for every node, with regexes: most plain scalars start
    with a letter no implicit tag starts with, flows repeat values a lot, and there are no path
    resolvers, so answer those cases directly (PyYAML's logic otherwise)."""

    def resolve(self, kind, value, implicit):
        if not _FAST:
            return _Base.resolve(self, kind, value, implicit)
        if kind is yaml.ScalarNode:
            if not implicit[0] or (value and value[0] not in _FIRST):
                return _STR
            key = (value, implicit)
            tag = _tags.get(key)
            if tag is None:
                tag = _tags[key] = _Base.resolve(self, kind, value, implicit)
                if len(_tags) > 100_000:
                    _tags.clear()
            return tag
        return _SEQ if kind is yaml.SequenceNode else _MAP

    if _FAST:
        def descend_resolver(self, current_node, current_index):
            pass

        def ascend_resolver(self):
            pass


@dataclass(slots=True)
class Span:
    """A value in the text: a mapping child (`key: value`) or a sequence item (`- value`)."""

    start: int                 # first line of the unit: the key's line or the item's dash line
    col: int                   # column of the key or of the dash
    vline: int                 # where the value starts
    vcol: int
    end: int                   # last line holding the value's content
    kind: str                  # "map" | "seq" | "scalar"
    flow: bool = False         # written in flow style ({...} / [...]) or a scalar
    keys: list = field(default_factory=list)       # map: keys in text order
    children: dict = field(default_factory=dict)   # map: key -> Span
    items: list = field(default_factory=list)      # seq: item Spans
    value: Any = None                              # the parsed value
    own_lines: bool = True     # False inside a {...}/[...]: its lines are shared with siblings
    alias: bool = False        # an alias (*name): its position is not known exactly

    @property
    def block(self) -> bool:
        """A block mapping/sequence whose children sit on their own lines (we can splice inside)."""
        return self.kind in ("map", "seq") and not self.flow and bool(self.keys or self.items)


@dataclass
class Style:
    """Indentation to write new YAML in: mapping indent, dash offset under a key, key offset after a dash."""

    map_indent: int = 2
    seq_indent: int = 0
    seq_offset: int = 2


@dataclass
class Layout:
    text: str
    lines: list                # text lines without line ends
    data: Any
    root: Span | None          # None when the document is empty
    style: Style
    final_newline: bool = True
    aliases: bool = False      # the text uses an alias: its lines depend on an anchor elsewhere

    def chunk(self, a: int, b: int) -> list:
        return self.lines[a:b + 1]


def parse(text: str, cache: dict | None = None) -> Layout:
    """Parse YAML text (already decoded, LF line ends). Raises YamlError.

    validate's limits hold here too: size, and aliases expanding to too many values (the merge
    walks the data expanded). `cache`: shared by the versions of one merge, so a big file's node
    texts they share are parsed once (nodewise.py; same result)."""
    check_size(text)
    lines = text.split("\n")
    final_newline = not text or text.endswith("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if cache is not None:
        from .nodewise import parse_nodewise

        lay = parse_nodewise(text, lines, cache)
        if lay is not None:
            return lay
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise YamlError(" ".join(filter(None, [e.context, e.problem])) or "invalid YAML",
                        mark.line + 1 if mark else None) from None
    except (yaml.YAMLError, RecursionError) as e:
        raise YamlError(" ".join(str(e).split()) or "invalid YAML") from None
    if node is None:
        return Layout(text, lines, None, None, Style(), final_newline)
    b = _Builder(lines)
    b.merge_keys = "<<" in text   # `<<: *anchor` merge keys are rare; skip looking for them
    aliases = False
    try:
        if maybe_deep(text):
            check_depth(node)
        if "*" in text:           # no '*' anywhere: no alias (a cheap test, no false negatives)
            aliases = check_expansion(node)
        data, span = b.build(node, node.start_mark.line, node.start_mark.column)
    except yaml.YAMLError as e:
        raise YamlError(" ".join(str(getattr(e, "problem", None) or e).split())) from None
    except RecursionError:
        raise YamlError("YAML nested too deeply") from None
    if b.duplicates:
        raise YamlError(f"duplicate key '{b.duplicates[0][0]}'", b.duplicates[0][1] + 1)
    if b.overrides:
        raise YamlError(f"key '{b.overrides[0][0]}' overrides a YAML merge key ('<<: *anchor'), which "
                        "pfgit does not merge node by node", b.overrides[0][1] + 1)
    lay = Layout(text, lines, data, span, b.style(), final_newline)
    lay.aliases = aliases
    return lay


class _Builder:
    def __init__(self, lines: list):
        self.lines = lines
        self.seen: dict = {}
        self.merge_keys = True
        self.duplicates: list = []
        self.overrides: list = []    # (key, line) given again after a `<<` merge key
        self.map_steps: Counter = Counter()
        self.seq_steps: Counter = Counter()
        self.seq_offsets: Counter = Counter()

    def style(self) -> Style:
        s = Style()
        if self.map_steps:
            s.map_indent = self.map_steps.most_common(1)[0][0]
        if self.seq_steps:
            s.seq_indent = self.seq_steps.most_common(1)[0][0]
        if self.seq_offsets:
            s.seq_offset = self.seq_offsets.most_common(1)[0][0]
        return s

    def build(self, node, start: int, col: int, parent_col: int | None = None,
              in_seq: bool = False, in_flow: bool = False) -> tuple:
        sm = node.start_mark
        vline, vcol = sm.line, sm.column
        if node.__class__ is _Scalar:  # most nodes: kept lean, they are most of the time spent
            value = node.value if node.tag == _STR else construct_scalar(node)
            if vline < start:   # an alias of an anchored scalar (its marks are the anchor's)
                return value, Span(start, col, start, col, start, "scalar", True, _NONE, _EMPTY,
                                   _NONE, value, False, True)
            if node.style in ("|", ">"):
                end = self._scalar_end(node)
            else:
                em = node.end_mark
                end = em.line - 1 if em.column == 0 and em.line > vline else em.line
            return value, Span(start, col, vline, vcol, end, "scalar", True, _NONE, _EMPTY, _NONE, value,
                               not in_flow)
        if id(node) in self.seen:  # alias: same data, no own layout worth splicing
            # the node's marks are its anchor's (PyYAML composes an alias as the anchored node):
            # the alias itself is taken to sit on the unit's first line, and is never copied alone
            v = self.seen[id(node)]
            return v, Span(start, col, start, col, start, "scalar", True, value=v, own_lines=False,
                           alias=True)
        flow = bool(node.flow_style)
        if isinstance(node, yaml.SequenceNode):
            out: list = []
            self.seen[id(node)] = out
            span = Span(start, col, vline, vcol, vline, "seq", flow, value=out, own_lines=not in_flow)
            if not flow and parent_col is not None and node.value and not in_seq:
                self.seq_steps[vcol - parent_col] += 1
            for item in node.value:
                il, ic = item.start_mark.line, item.start_mark.column
                if not flow and span.items and il <= span.items[-1].end:
                    # an alias (its marks are its anchor's): it follows the previous item
                    prev = span.items[-1]
                    v, s = self.build(item, prev.end + 1, prev.col, in_seq=True, in_flow=True)
                    s.alias = True
                    out.append(v)
                    span.items.append(s)
                    continue
                dl, dc = (il, ic) if flow else self._dash(il, ic)
                if not flow and isinstance(item, yaml.MappingNode) and il == dl:
                    self.seq_offsets[ic - dc] += 1
                v, s = self.build(item, dl, dc, in_seq=True, in_flow=flow or in_flow)
                out.append(v)
                span.items.append(s)
            span.end = span.items[-1].end if span.items and not flow else self._mark_end(node)
            return out, span
        own = len(node.value)
        if self.merge_keys:
            own = sum(1 for k, _ in node.value if k.tag != _MERGE)
            _constructor.flatten_mapping(node)
        merged = len(node.value) - own   # `<<: *anchor` entries, first after flattening
        out_d: dict = {}
        self.seen[id(node)] = out_d
        span = Span(start, col, vline, vcol, vline, "map", flow, value=out_d, own_lines=not in_flow)
        if not flow and parent_col is not None and node.value and not in_seq:
            self.map_steps[vcol - parent_col] += 1
        for i, (knode, vnode) in enumerate(node.value):
            if knode.tag == _STR and knode.__class__ is _Scalar:
                key = knode.value
            else:
                try:
                    key = construct_scalar(knode) if knode.__class__ is _Scalar else \
                        _constructor.construct_object(knode, deep=True)
                    hash(key)
                except YamlError:
                    raise
                except Exception:
                    raise YamlError("mapping key is not a scalar", knode.start_mark.line + 1) from None
            if key in out_d and i >= merged:
                if key in span.keys[merged:]:   # twice among the mapping's own keys
                    self.duplicates.append((key, knode.start_mark.line))
                else:   # YAML's override of a merged key: valid, but no text of its own to splice
                    self.overrides.append((key, knode.start_mark.line))
            kl, kc = knode.start_mark.line, knode.start_mark.column
            v, s = self.build(vnode, kl, kc, parent_col=kc, in_flow=flow or in_flow)
            out_d[key] = v
            span.keys.append(key)
            span.children[key] = s
        span.end = span.children[span.keys[-1]].end if span.keys and not flow else self._mark_end(node)
        return out_d, span

    def _dash(self, line: int, col: int) -> tuple:
        """The '-' introducing a block sequence item whose value starts at (line, col)."""
        text = self.lines[line][:col] if line < len(self.lines) else ""
        while True:
            j = len(text.rstrip()) - 1
            if j >= 0 and text[j] == "-":
                return line, j
            if j >= 0 or line == 0:
                return line, col  # not found: treat the value start as the item start
            line -= 1
            text = self.lines[line]

    def _mark_end(self, node) -> int:
        m = node.end_mark
        return m.line - 1 if m.column == 0 and m.line > node.start_mark.line else m.line

    def _scalar_end(self, node) -> int:
        end = self._mark_end(node)
        if node.style in ("|", ">"):  # block scalars' end mark runs over trailing blank lines
            while end > node.start_mark.line and (end >= len(self.lines) or not self.lines[end].strip()):
                end -= 1
        return end
