"""Merging three versions of a flow file (bytes in, bytes out): the library behind the driver.

decode (BOM, CRLF) -> parse -> decide + post-merge check -> render in ours' format -> encode.
Anything pfgit cannot read as a flow mapping falls back to git's own text merge, with the reason,
so no content is ever lost and a half-written result never escapes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..flow.yamlpos import YamlError, decode
from ..gcpause import gc_paused
from .apply import RenderError, render
from .check import merge_checked
from .conflicts import has_markers
from .decide import walk_conflicts
from .layout import parse

BOM = b"\xef\xbb\xbf"
LABELS = ("ours", "base", "theirs")


@dataclass
class FileMerge:
    data: bytes                       # the merged file
    conflicts: list = field(default_factory=list)   # Conflict objects (semantic merges)
    decisions: list = field(default_factory=list)
    fallback: str | None = None       # why git's text merge was used instead
    text_conflicts: int = 0           # conflicts left by the text merge

    @property
    def clean(self) -> bool:
        return not self.conflicts and not self.text_conflicts

    @property
    def exit_code(self) -> int:
        return 0 if self.clean else 1


class _Side:
    def __init__(self, raw: bytes, name: str, cache: dict | None = None):
        self.bom = raw.startswith(BOM)
        try:
            text = decode(raw)
        except YamlError as e:
            raise YamlError(f"{name}: {e.message}", e.line) from None
        self.crlf = text.count("\r\n") * 2 > text.count("\n")
        text = text.replace("\r\n", "\n")
        if has_markers(text):
            raise YamlError(f"{name}: it holds conflict markers")
        try:
            self.layout = parse(text, cache)
        except YamlError as e:
            raise YamlError(f"{name}: {e.message}" + (f" (line {e.line})" if e.line else ""),
                            e.line) from None
        except Exception as e:  # a reader bug must not lose the merge either
            raise YamlError(f"{name}: internal error {type(e).__name__}: {e}") from None
        if self.layout.data is not None and not isinstance(self.layout.data, dict):
            raise YamlError(f"{name}: it is not a mapping of keys")


def _duplicate_node(data) -> str | None:
    """The first node name that appears twice in a flow's `nodes`, or None."""
    nodes = data.get("nodes") if isinstance(data, dict) else None
    seen: set = set()
    for n in nodes if isinstance(nodes, list) else ():
        name = n.get("name") if isinstance(n, dict) else None
        if isinstance(name, str):
            if name in seen:
                return name
            seen.add(name)
    return None


def merge_bytes(base: bytes, ours: bytes, theirs: bytes, diff3: bool = False,
                labels: tuple = LABELS, relayout: bool = False) -> FileMerge:
    """Three-way merge of flow file contents; never raises for bad content (falls back).
    `relayout`: when only theirs changed, still render their edits in ours' layout (a studio
    zip re-formats the whole file)."""
    try:
        with gc_paused():
            return _merge(base, ours, theirs, diff3, labels, relayout)
    except Exception as e:  # a bug anywhere must not cost the user the merge
        if os.environ.get("PFGIT_DEBUG") == "1":
            raise
        return _fallback(base, ours, theirs, diff3, labels,
                         f"merge failed (internal error {type(e).__name__}: {e})")


def _merge(base: bytes, ours: bytes, theirs: bytes, diff3: bool, labels: tuple,
           relayout: bool = False) -> FileMerge:
    if ours == theirs or base == theirs:
        return FileMerge(ours)
    if base == ours and not relayout:
        return FileMerge(theirs)
    # node texts the versions share are parsed once; ours first, as its whole text is written
    # back from its layout (the others' items are moved to their lines only when read)
    cache: dict = {}
    parsed: dict = {}
    for raw, name in ((ours, "ours"), (base, "base"), (theirs, "theirs")):
        try:
            parsed[name] = _Side(raw, name, cache)
        except YamlError as e:
            parsed[name] = e
    for name in ("base", "ours", "theirs"):   # the first unreadable one in this order is named
        if isinstance(parsed[name], YamlError):
            return _fallback(base, ours, theirs, diff3, labels, f"cannot read {parsed[name].message}")
    sides = [parsed["base"], parsed["ours"], parsed["theirs"]]
    for side, name in zip(sides, ("base", "ours", "theirs")):
        dup = _duplicate_node(side.layout.data)
        if dup is not None:
            return _fallback(base, ours, theirs, diff3, labels,
                             f"cannot merge by node: {name} has two nodes named '{dup}'")
    b, o, t = sides
    try:
        result = merge_checked(b.layout.data, o.layout.data, t.layout.data)
        text = render(result, o.layout, t.layout, b.layout, diff3=diff3, labels=labels, cache=cache)
    except (RenderError, RecursionError) as e:
        return _fallback(base, ours, theirs, diff3, labels, f"semantic merge failed: {e}")
    except Exception as e:  # a bug must not cost the user the merge: git's line merge instead
        if os.environ.get("PFGIT_DEBUG") == "1":
            raise
        return _fallback(base, ours, theirs, diff3, labels,
                         f"semantic merge failed (internal error {type(e).__name__}: {e})")
    if o.crlf:
        text = text.replace("\n", "\r\n")
    data = (BOM if o.bom else b"") + text.encode("utf-8")
    # the tree holds a conflict only where result.conflicts lists one (walking it costs ~0.1 s per
    # 10,000 nodes)
    conflicts = walk_conflicts(result.merged) if result.conflicts else []
    if not conflicts and not relayout:
        data = _text_merge_if_same(base, ours, theirs, labels, data, cache)
    return FileMerge(data, conflicts, result.decisions)


LINE_MERGE_MAX = 1 << 20   # bytes: above, the semantic result is written as it is (no 2nd parse)


def _text_merge_if_same(base: bytes, ours: bytes, theirs: bytes, labels: tuple,
                        merged: bytes, cache: dict | None = None) -> bytes:
    """git's own line merge when it is clean and reads as exactly the same flow (same keys in the
    same order, same values) as the semantic merge: then every line both sides wrote stays,
    their comments included (the semantic merge keeps ours' lines where the data did not change,
    so a comment only theirs added was dropped). Otherwise `merged`."""
    if max(len(ours), len(theirs)) > LINE_MERGE_MAX:
        return merged
    from ..git.textmerge import git_merge_file

    try:
        text, n = git_merge_file(base, ours, theirs, labels, False)
        if n or text == merged or not _same_encoding(text, merged):
            return merged
        same = _same(_Side(text, "text merge", cache).layout.data,
                     _Side(merged, "merge", cache).layout.data)
    except Exception:  # no git, unreadable text merge: the semantic result stands
        return merged
    return text if same else merged


def _same_encoding(text: bytes, merged: bytes) -> bool:
    """The same BOM and line ends, every line: the semantic merge writes ours' (a BOM or a CRLF
    line only theirs has would otherwise come through the line merge, or not, depending on
    whether git's lines happened to read as the same flow)."""
    if text.startswith(BOM) != merged.startswith(BOM):
        return False
    crlf = text.count(b"\r\n")
    return crlf == text.count(b"\n") if b"\r\n" in merged else crlf == 0


def _same(a, b) -> bool:
    """Equal data, mapping keys in the same order and values of the same types (1 is not 1.0)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_same, a, b))
    return type(a) is type(b) and a == b


def _fallback(base: bytes, ours: bytes, theirs: bytes, diff3: bool, labels: tuple,
              why: str) -> FileMerge:
    from ..git.textmerge import git_merge_file

    try:
        data, n = git_merge_file(base, ours, theirs, labels, diff3)
    except Exception as e:  # no usable git: both sides whole between markers, nothing lost
        return FileMerge(whole_file_conflict(base, ours, theirs, diff3, labels),
                         fallback=f"{why}; git merge-file failed too ({e})", text_conflicts=1)
    return FileMerge(data, fallback=why, text_conflicts=n)


def whole_file_conflict(base: bytes, ours: bytes, theirs: bytes, diff3: bool = False,
                        labels: tuple = LABELS) -> bytes:
    """Ours and theirs (and base with diff3) whole, between git's markers: the last resort."""
    def part(b: bytes) -> bytes:
        return b if not b or b.endswith(b"\n") else b + b"\n"

    out = f"<<<<<<< {labels[0]}\n".encode() + part(ours)
    if diff3:
        out += f"||||||| {labels[1]}\n".encode() + part(base)
    return out + b"=======\n" + part(theirs) + f">>>>>>> {labels[2]}\n".encode()


def read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def write_atomic(path: str, data: bytes) -> None:
    """Replace `path` with `data` (temp file + rename in the same folder, mode kept)."""
    from ..fsutil import write_atomic as write

    write(path, data, prefix=".pfgit-merge-")


def merge_paths(current: str, base: str, other: str, diff3: bool = False, labels: tuple = LABELS,
                write: bool = True) -> FileMerge:
    """`git merge-file` semantics: merge into CURRENT (OSError if a file cannot be read).

    Any failure of the merge itself (a bug included) ends in git's line merge with the reason:
    returning without writing would leave git ours' bytes, losing theirs."""
    b, o, t = read(base), read(current), read(other)
    try:
        res = merge_bytes(b, o, t, diff3=diff3, labels=labels)
    except Exception as e:
        if os.environ.get("PFGIT_DEBUG") == "1":
            raise
        res = _fallback(b, o, t, diff3, labels, f"merge failed (internal error {type(e).__name__}: {e})")
    if write:
        write_atomic(current, res.data)
    return res


def summary_lines(res: FileMerge, path: str) -> list:
    """One line per conflict (or the fallback reason) for stderr."""
    out = []
    if res.fallback:
        out.append(f"pfgit: {path}: {res.fallback}; used git's line merge"
                   + (f" ({res.text_conflicts} conflict(s))" if res.text_conflicts else ""))
    for c in res.conflicts:
        out.append(f"pfgit: {path}: conflict: {c.reason}")
    return [ln.replace("\n", "\\n") for ln in out]   # one line each, whatever a name holds
