"""Writing the merged flow as text that keeps ours' formatting (pure, no I/O).

The merged tree is walked next to ours' text layout: a value equal to ours' is copied as ours'
lines (comments, quoting, blank lines and all); a block mapping or the `nodes` list that changed
inside is rebuilt key by key / node by node; a value equal to theirs' is copied from their text
when their file uses the same indentation; anything else is written fresh in ours' style. So
`git diff` after a merge shows only their changes. The result is parsed again and must equal the
merged data, or the whole file is written fresh (still correct, less faithful).
"""

from __future__ import annotations

from typing import Any

from .conflicts import MARKERS, marker_block
from .decide import MISSING, Conflict, MergeResult, merged_order, resolve, same, walk_conflicts
from .emit import Emitter, flow_inline
from .layout import Layout, Span, Style, parse


class RenderError(Exception):
    """The merged data could not be written as YAML that reads back the same."""


def _blank_prefix(line: str, col: int) -> str:
    """`line` with whatever precedes column `col` (an item's dash) turned into spaces."""
    return " " * col + line[col:] if len(line) >= col else line


def _shift(lines: list, delta: int) -> list | None:
    """Lines moved right (or left) by `delta` columns; None when a line cannot move left."""
    if delta == 0:
        return list(lines)
    if delta > 0:
        pad = " " * delta
        return [pad + ln if ln else ln for ln in lines]
    out = []
    for ln in lines:
        if ln[:-delta].strip():
            return None
        out.append(ln[-delta:])
    return out


def _is_content(line: str) -> bool:
    s = line.strip()
    return bool(s) and not s.startswith("#") and not line.startswith(MARKERS)


def _put_dash(lines: list, dash_col: int) -> list:
    """One '-' at `dash_col`, on the item's first content line (a copied first key brings its own)."""
    out = []
    for ln in lines:
        if len(ln) > dash_col and ln[dash_col] == "-" and not ln[:dash_col].strip() and \
                ln[dash_col + 1:dash_col + 2] in (" ", ""):
            ln = ln[:dash_col] + " " + ln[dash_col + 1:]
        out.append(ln)
    for i, ln in enumerate(out):
        if _is_content(ln):
            ln = ln.ljust(dash_col + 1)
            out[i] = (ln[:dash_col] + "-" + ln[dash_col + 1:]).rstrip() if not ln[dash_col + 1:].strip() \
                else ln[:dash_col] + "-" + ln[dash_col + 1:]
            break
    return out


class Renderer:
    def __init__(self, result: MergeResult, ours: Layout, theirs: Layout, base: Layout,
                 diff3: bool = False, labels: tuple = ("ours", "base", "theirs"),
                 expand_aliases: bool = False, cache: dict | None = None):
        self.r = result
        self.cache = cache   # the versions' parse cache: a spliced value's unchanged parts read back from it
        self.expand_aliases = expand_aliases
        self.sides = {"local": ours, "remote": theirs, "base": base}
        self.ours = ours
        self.style = next((s.style for s in (ours, theirs, base) if s.root is not None), Style())
        # their text is worth copying only when written in the same indentation as ours
        self.theirs_ok = ours.root is None or theirs.style == ours.style
        self.diff3 = diff3
        self.labels = labels
        self.emitter = Emitter(self.style, self._conflict_hook)
        self.sep = self._node_separator()
        self.verbatim: set = set()       # merged paths written as ours' own lines
        self.top: list | None = None     # (key, lines) of each top-level key, for verify()
        self.items: list | None = None   # (path, lines) of each `nodes` item, for verify()
        self.head: list = []
        self.tail: list = []
        self._positions: dict = {}       # id(mapping Span) -> (it, {key: index})

    # -- locating a merged path in one side's text ----------------------------------------------
    def span_at(self, side: str, path: tuple) -> Span | None:
        span = self.sides[side].root
        for i, k in enumerate(path):
            if span is None:
                return None
            if span.kind == "map":
                span = span.children.get(k)
            elif span.kind == "seq":
                if path[:i] == ("nodes",):
                    idx = self.r.node_index[side].get(k)
                else:
                    idx = k if isinstance(k, int) else None
                span = span.items[idx] if idx is not None and idx < len(span.items) else None
            else:
                return None
        return span

    def _leading(self, side: str, parent: Span | None, key: Any, index: int | None = None) -> list:
        """Comment and blank lines between a unit and the sibling before it in `side`'s text."""
        if parent is None:
            return []
        lay = self.sides[side]
        if parent.kind == "map":
            if key not in parent.children:
                return []
            i = self._key_index(parent, key)
            if i == 0:
                return []
            return lay.lines[parent.children[parent.keys[i - 1]].end + 1:parent.children[key].start]
        if index is None or index == 0 or index >= len(parent.items):
            return []
        return lay.lines[parent.items[index - 1].end + 1:parent.items[index].start]

    def _key_index(self, parent: Span, key: Any) -> int:
        """Position of `key` among a mapping's keys (looked up per key: a list search was
        quadratic for a node with 10,000 inputs)."""
        got = self._positions.get(id(parent))
        if got is None or got[0] is not parent:
            got = self._positions[id(parent)] = (parent, {k: i for i, k in enumerate(parent.keys)})
        return got[1][key]

    def _node_separator(self) -> list:
        """Blank lines ours puts between nodes (copied for their new nodes)."""
        s = self.span_at("local", ("nodes",))
        if s is None or s.kind != "seq" or len(s.items) < 2:
            return []
        lead = self.ours.lines[s.items[0].end + 1:s.items[1].start]
        return [""] * sum(1 for ln in lead if not ln.strip()) if all(not ln.strip() for ln in lead) else []

    # -- whole document -------------------------------------------------------------------------
    def render(self) -> str:
        merged = self.r.merged
        root = self.ours.root
        if root is not None and root.kind == "map" and root.block and isinstance(merged, dict) and merged:
            first = root.children[root.keys[0]]
            self.head, self.tail = self.ours.lines[:first.start], self.ours.lines[root.end + 1:]
            self.top = []
            lines = self.head + self.map_children(merged, (), root, first.col) + self.tail
        else:
            lines = self.emitter.mapping(merged, 0) if isinstance(merged, dict) else []
        end = "\n" if self.ours.final_newline or self.ours.root is None else ""
        return "\n".join(lines) + end if lines else ""

    @staticmethod
    def _key_order(merged: dict, so: Span | None) -> list:
        """Ours' key order (a value taken whole from theirs comes in their order, which may be
        a reformat's sorted keys); keys new to ours go after the key they follow in `merged`."""
        if so is None or so.kind != "map":
            return list(merged)
        return merged_order(list(so.keys), list(merged), merged)

    def map_children(self, merged: dict, path: tuple, so: Span | None, col: int) -> list:
        out: list = []
        st = self.span_at("remote", path)
        for k in self._key_order(merged, so):
            v = merged[k]
            p = path + (k,)
            oc = so.children.get(k) if so is not None and so.kind == "map" else None
            if oc is not None:
                out += self._leading("local", so, k)
            elif self.theirs_ok and st is not None and st.kind == "map" and k in st.children:
                lead = self._leading("remote", st, k)
                out += _shift(lead, col - st.children[k].col) or [] if lead else []
            start = len(out)
            out += self.unit(v, p, oc, key=k, col=col)
            if not path and self.top is not None:
                self.top.append((k, out[start:]))
        return out

    def node_items(self, merged: list, path: tuple, so: Span, dash_col: int) -> list:
        out: list = []
        st = self.span_at("remote", path)
        oidx, tidx = self.r.node_index["local"], self.r.node_index["remote"]
        self.items = []
        for key, v in zip(self.r.node_keys, merged):
            p = path + (key,)
            start = len(out)
            i = oidx.get(key)
            oc = so.items[i] if i is not None and i < len(so.items) else None
            if oc is not None:
                out += self._leading("local", so, None, i)
            elif out:
                j = tidx.get(key)
                lead = self._leading("remote", st, None, j) if (
                    self.theirs_ok and st is not None and st.kind == "seq" and j is not None) else None
                out += lead if lead is not None and all(not ln.strip() for ln in lead) else self.sep
            out += self.unit(v, p, oc, key=None, col=dash_col)
            self.items.append((p, out[start:]))
        return out

    # -- one unit: a mapping child (key given) or a sequence item (key None) --------------------
    def unit(self, v: Any, path: tuple, oc: Span | None, key: Any, col: int) -> list:
        item = key is None
        if isinstance(v, Conflict):
            return self.conflict(v, key, col, item)
        lay = self.ours
        if oc is not None and same(v, oc.value) and not (item and oc.alias) and \
                self._copyable(lay, oc):
            self.verbatim.add(path)
            lines = lay.lines[oc.start:oc.end + 1]
            return lines if item else [_blank_prefix(lines[0], col)] + lines[1:]
        if oc is not None and oc.block and oc.kind == "map" and isinstance(v, dict) and v:
            first_key = self._key_order(v, oc)[0]
            if item and isinstance(v[first_key], Conflict):
                return self.conflict(Conflict(path, *self._sides_at(path), v[first_key].reason),
                                     None, col, True)
            first = oc.children[oc.keys[0]]
            header = lay.lines[oc.start:first.start]
            if not item and header:
                header = [_blank_prefix(header[0], col)] + header[1:]
            lines = header + self.map_children(v, path, oc, first.col)
            return _put_dash(lines, col) if item else lines
        if oc is not None and oc.block and oc.kind == "seq" and path == ("nodes",) and \
                isinstance(v, list) and v and not item:
            header = lay.lines[oc.start:oc.items[0].start]
            header = [_blank_prefix(header[0], col)] + header[1:] if header else header
            return header + self.node_items(v, path, oc, oc.items[0].col)
        copied = self._copy_theirs(v, path, col, item)
        if copied is not None:
            return copied
        if oc is not None and not item and oc.flow and oc.kind in ("map", "seq") and \
                oc.vline == oc.start == oc.end and not walk_conflicts(v):
            inline = flow_inline(v)
            if inline is not None and len(inline) <= 100:
                return [" " * col + lay.lines[oc.start][col:oc.vcol] + inline]
        return self.emitter.item(v, col) if item else self.emitter.key_value(key, v, col)

    def _copy_theirs(self, v: Any, path: tuple, col: int, item: bool) -> list | None:
        if not self.theirs_ok:
            return None
        tc = self.span_at("remote", path)
        if tc is None or not tc.own_lines or not same(v, tc.value) or \
                not self._copyable(self.sides["remote"], tc):
            return None
        lines = self.sides["remote"].lines[tc.start:tc.end + 1]
        if not item:
            lines = [_blank_prefix(lines[0], tc.col)] + lines[1:]
        return _shift(lines, col - tc.col)

    def _copyable(self, lay: Layout, span: Span) -> bool:
        """False when aliases are being expanded and the unit's lines may hold an alias or an
        anchor (an anchor copied from theirs may repeat one of ours: PyYAML refuses that)."""
        return not (self.expand_aliases and lay.aliases and
                    any("*" in ln or "&" in ln for ln in lay.lines[span.start:span.end + 1]))

    def _sides_at(self, path: tuple) -> tuple:
        out = []
        for side in ("base", "local", "remote"):
            s = self.span_at(side, path)
            out.append(MISSING if s is None else s.value)
        return tuple(out)

    # -- conflicts ------------------------------------------------------------------------------
    def _conflict_hook(self, c: Conflict, key: Any, col: int, item: bool) -> list:
        return self.conflict(c, key, col, item)

    def side_lines(self, side: str, value: Any, path: tuple, key: Any, col: int, item: bool) -> list:
        if value is MISSING:
            return []
        s = self.span_at(side, path)
        lay = self.sides[side]
        if s is not None and s.own_lines and same(s.value, value) and (
                side == "local" or lay.style == self.style):
            lines = lay.lines[s.start:s.end + 1]
            if not item:
                lines = [_blank_prefix(lines[0], s.col)] + lines[1:]
            shifted = _shift(lines, col - s.col)
            if shifted is not None and self._copyable(lay, s):
                return shifted
        plain = Emitter(self.style, self._conflict_hook)
        return plain.item(value, col) if item else plain.key_value(key, value, col)

    def conflict(self, c: Conflict, key: Any, col: int, item: bool) -> list:
        sides = {}
        for side in ("local", "base", "remote"):
            value = getattr(c, side)
            sides[side] = self.side_lines(side, resolve(value, side) if value is not MISSING else value,
                                          c.path, key, col, item)
        return marker_block(sides["local"], sides["base"] if self.diff3 else None, sides["remote"],
                            self.labels, c.reason)


    # -- checking the text reads back as the merged data ---------------------------------------
    def verify(self) -> bool | None:
        """True/False when the spliced text is known to read back right/wrong; None: parse it all.

        Ours' lines copied for a value equal to ours' need no check. Every other top-level key,
        and every rebuilt `nodes` item, is parsed on its own: a block mapping's keys (a block
        sequence's items) are independent once each starts at its column and the rest of its
        lines are indented further, so the whole reads back as the parts do.
        """
        if self.top is None or any(_is_content(ln) for ln in self.head + self.tail):
            return None
        merged = self.r.merged
        for key, lines in self.top:
            if (key,) in self.verbatim:
                continue
            if not _starts_at(lines, 0, dashes=isinstance(merged[key], list)):
                return None
            if key == "nodes" and self.items is not None and ("nodes",) not in self.verbatim:
                if not self._verify_items(lines):
                    return False
            elif not _parses_to("\n".join(lines), {key: merged[key]}, self.cache):
                return False
        return True

    def _verify_items(self, lines: list) -> bool:
        body = [ln for piece in self.items for ln in piece[1]]
        header = lines[:len(lines) - len(body)]
        if lines[len(header):] != body or sum(_is_content(ln) for ln in header) != 1:
            return False
        values = dict(zip((p for p, _ in self.items), self.r.merged["nodes"]))
        for path, piece in self.items:
            if path in self.verbatim:
                continue
            first = next((ln for ln in piece if _is_content(ln)), None)
            if first is None:
                return False
            dash = len(first) - len(first.lstrip())
            if first[dash:dash + 1] != "-" or not _starts_at(piece, dash):
                return False
            text = "\n".join(ln[dash:] if ln[:dash].strip() == "" else ln.lstrip() for ln in piece)
            if not _parses_to(text, [values[path]]):
                return False
        return True


def _starts_at(lines: list, col: int, dashes: bool = False) -> bool:
    """The first content line starts at `col`; every later one is indented further (or, for a
    key whose value is a sequence not indented under it, is a `-` item at `col`)."""
    content = [ln for ln in lines if _is_content(ln)]
    if not content or len(content[0]) - len(content[0].lstrip()) != col:
        return False
    for ln in content[1:]:
        ind = len(ln) - len(ln.lstrip())
        if ind < col or ind == col and not (dashes and ln[col:col + 2] in ("- ", "-")):
            return False
    return True


def _parses_to(text: str, value: Any, cache: dict | None = None) -> bool:
    """`text` reads as `value`. With `cache`, the big blocks the merge's versions cut and parsed
    (node variants) are not parsed again: the same text reads as the same data."""
    try:
        lay = _cached_parse(text, cache) if cache else None
        data = (lay if lay is not None else parse(text)).data
    except Exception:
        return False
    return same(data, value)


def _cached_parse(text: str, cache: dict) -> Layout | None:
    """parse(text)'s Layout through the cache, or None. The node-by-node parse needs a final
    newline, which only changes the value of a block scalar (`|`, `>`) ending the text: then None."""
    from .nodewise import parse_nodewise

    lay = parse_nodewise(text + "\n", text.split("\n"), cache)
    s = lay.root if lay is not None else None
    while s is not None and s.kind != "scalar":   # down to the text's last value
        s = s.children[s.keys[-1]] if s.kind == "map" and s.keys else \
            s.items[-1] if s.kind == "seq" and s.items else None
    if s is not None and isinstance(s.value, str) and s.value.endswith("\n"):
        return None
    return lay


def render(result: MergeResult, ours: Layout, theirs: Layout, base: Layout,
           diff3: bool = False, labels: tuple = ("ours", "base", "theirs"),
           cache: dict | None = None) -> str:
    """The merged flow as text in ours' formatting (with conflict markers if any remain)."""
    aliases = ours.aliases or theirs.aliases or base.aliases
    problem = ""
    # an alias copied with its lines may have lost its anchor (or met another of that name, or
    # its anchor sits in a conflict section): only a whole re-read can tell; the second try
    # writes every unit holding an alias fresh, which expands it
    for expand in ((False, True) if aliases else (False,)):
        r = Renderer(result, ours, theirs, base, diff3, labels, expand_aliases=expand, cache=cache)
        text = r.render()
        if result.conflicts:
            problem = _sides_problem(text)
            if not problem:
                return text
            continue
        verified = None if aliases else r.verify()
        if verified or (verified is None and _reads_back(text, result.merged)):
            return text
    if result.conflicts:
        raise RenderError(problem)
    # splicing went wrong somewhere: write the whole file fresh in ours' indentation
    lines = r.emitter.mapping(result.merged, 0) if isinstance(result.merged, dict) else []
    text = "\n".join(lines) + "\n" if lines else ""
    if _reads_back(text, result.merged):
        return text
    raise RenderError("the merged flow could not be written back as the same YAML")


def _sides_problem(text: str) -> str:
    """Why keeping ours (or theirs) in every conflict would not leave YAML that reads, or ''."""
    from .conflicts import take

    for side in ("ours", "theirs"):
        try:
            parse(take(text, side)[0])
        except Exception as e:
            return f"keeping {side} in every conflict would not be valid YAML ({e})"
    return ""


def _reads_back(text: str, merged: Any) -> bool:
    try:
        lay = parse(text)
    except Exception:
        return False
    data = lay.data if lay.data is not None else {}
    return same(data, merged if merged is not None else {})
