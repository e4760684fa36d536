"""Conflict markers: writing them around one YAML unit, and finding them again in a file.

Markers are git's (`<<<<<<< ours`, `||||||| base` with merge.conflictStyle=diff3, `=======`,
`>>>>>>> theirs`) at column 0, so editors and `git diff` recognise them. pfgit puts the reason
after the opening label: `<<<<<<< ours (pfgit: node 'answer' inputs.style changed on both sides)`.
`scan` reads a file with markers back into conflicts by node, for `pfgit conflicts`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MARKERS = ("<<<<<<<", "|||||||", "=======", ">>>>>>>")
_REASON = re.compile(r"\(pfgit: (.*)\)\s*$")


def marker_block(ours: list, base: list | None, theirs: list, labels: tuple, reason: str = "") -> list:
    """Lines of one conflict: ours, optional base (diff3), theirs, between git-style markers."""
    head = f"<<<<<<< {labels[0]}" + (f" (pfgit: {reason})" if reason else "")
    out = [head] + list(ours)
    if base is not None:
        out += [f"||||||| {labels[1]}"] + list(base)
    return out + ["======="] + list(theirs) + [f">>>>>>> {labels[2]}"]


@dataclass
class ConflictRegion:
    start: int                      # 1-based line of `<<<<<<<`
    end: int                        # 1-based line of `>>>>>>>`
    ours: list = field(default_factory=list)
    base: list | None = None
    theirs: list = field(default_factory=list)
    reason: str = ""
    node: str | None = None         # node the conflict is in (None: flow level)
    path: list = field(default_factory=list)

    def to_json(self) -> dict:
        return {"line": self.start, "end_line": self.end, "node": self.node, "path": self.path,
                "reason": self.reason, "ours": "\n".join(self.ours),
                "base": None if self.base is None else "\n".join(self.base),
                "theirs": "\n".join(self.theirs)}


def has_markers(text: str) -> bool:
    return any(ln.startswith("<<<<<<< ") or ln == "<<<<<<<" for ln in text.split("\n"))


def regions(text: str) -> list:
    """Conflict regions of a text, in order (unterminated regions are ignored)."""
    out: list = []
    cur: ConflictRegion | None = None
    part = None
    # a conflict on a BOM file's first unit has its marker after the BOM (the file's first bytes)
    for i, ln in enumerate(text[text.startswith("\ufeff"):].split("\n"), 1):
        if ln.startswith("<<<<<<<") and cur is None:
            m = _REASON.search(ln)
            cur, part = ConflictRegion(i, i, reason=m.group(1) if m else ""), "ours"
        elif cur is not None and ln.startswith("|||||||") and part == "ours":
            cur.base, part = [], "base"
        elif cur is not None and ln.startswith("=======") and part in ("ours", "base"):
            part = "theirs"
        elif cur is not None and ln.startswith(">>>>>>>") and part == "theirs":
            cur.end = i
            out.append(cur)
            cur = part = None
        elif cur is not None:
            getattr(cur, part).append(ln) if part != "base" else cur.base.append(ln)
    return out


def take(text: str, side: str = "ours") -> tuple:
    """(text with every conflict resolved to `side`, {conflict start line: line in that text})."""
    lines = text.split("\n")
    out: list = []
    where: dict = {}
    regs = {r.start: r for r in regions(text)}
    i = 0
    while i < len(lines):
        r = regs.get(i + 1)
        if r is None:
            out.append(lines[i])
            i += 1
            continue
        where[r.start] = len(out) + 1
        chosen = getattr(r, side)
        out += chosen if chosen is not None else r.ours
        i = r.end
    return "\n".join(out), where


def scan(text: str) -> list:
    """Conflict regions with the node (and path) each one is in, found by reading both sides."""
    regs = regions(text)
    if not regs:
        return regs
    from ..flow.yamlpos import YamlError
    from .layout import parse

    located: dict = {}
    for side in ("ours", "theirs"):
        resolved, where = take(text, side)
        try:
            lay = parse(resolved)
        except YamlError:
            continue
        for r in regs:
            if r.start in located or lay.root is None:
                continue
            path = _path_at(lay, where[r.start] - 1, len(getattr(r, side) or []))
            if path is not None:
                located[r.start] = path
    for r in regs:
        path = located.get(r.start, [])
        r.path = [str(p) for p in path]
        if len(path) >= 2 and path[0] == "nodes":
            r.node = path[1]
        elif len(path) >= 2 and path[0] == "node_variants":
            r.node = path[1]
    return regs


def _path_at(lay, line0: int, nlines: int) -> list | None:
    """Path (nodes by name) of the deepest unit covering lines [line0, line0+nlines)."""
    if nlines == 0:
        return None
    last = line0 + nlines - 1
    span, path = lay.root, []
    while span is not None and span.kind in ("map", "seq") and not span.flow:
        nxt = None
        if span.kind == "map":
            for k in span.keys:
                c = span.children[k]
                if c.start <= last and line0 <= c.end:
                    if c.start <= line0 and last <= c.end:
                        nxt, key = c, k
                    break
        else:
            for i, c in enumerate(span.items):
                if c.start <= line0 and last <= c.end:
                    nxt = c
                    name = c.value.get("name") if isinstance(c.value, dict) else None
                    key = name if path == ["nodes"] and isinstance(name, str) else i
                    break
        if nxt is None:
            break
        path.append(key)
        span = nxt
    return path
