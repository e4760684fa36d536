"""Conflict markers left in a flow folder by an unfinished merge: `conflict-markers` errors.

A merge that stopped leaves git's `<<<<<<<` / `=======` / `>>>>>>>` lines in the flow file or in
any file the flow uses (a .py, a .jinja2 prompt, a .prompty, a data file). They are reported at
the `<<<<<<<` line of every complete region, so a half-resolved merge is never committed as a
"YAML syntax error" or, in a prompt, not at all.
"""

from __future__ import annotations

import posixpath

from ..flow.model import FLOW_FILES
from ..flow.yamlpos import MAX_YAML_BYTES
from .problems import problem

_OPEN = b"<<<<<<<"


def marker_lines(data: bytes) -> list:
    """1-based lines where a complete conflict region starts (none: [])."""
    if _OPEN not in data:  # the common case, without decoding
        return []
    from ..merge.conflicts import regions

    text = data.decode("utf-8", "replace").replace("\r\n", "\n")
    return [r.start for r in regions(text)]


def folder_files(reader, loc) -> list:
    """The files a flow owns: a .prompty alone; else every file under its folder except .prompty
    files (each is validated as a flow of its own) and nested flows' folders."""
    if loc.is_prompty:
        return [loc.file]
    files = list(reader.walk_files(loc.dir))
    top = posixpath.normpath(loc.dir)
    nested = {posixpath.dirname(f) for f in files
              if posixpath.basename(f) in FLOW_FILES and posixpath.dirname(f) != top}
    return [f for f in files if not f.endswith(".prompty") and not any(
        f.startswith(d + "/") for d in nested)]


def read_small(reader, rel: str) -> bytes | None:
    """The bytes of `rel` when it is readable and at most MAX_YAML_BYTES (big data: skipped)."""
    try:
        size = getattr(reader, "size", None)
        if size is not None and size(rel) > MAX_YAML_BYTES:
            return None
        data = reader.read_bytes(rel)
    except (OSError, KeyError):
        return None
    return data if len(data) <= MAX_YAML_BYTES else None


def check(reader, loc, flow_raw: bytes) -> list:
    """`conflict-markers` problems for every file of the flow at `loc` (flow file first)."""
    out = []
    for rel in folder_files(reader, loc):
        data = flow_raw if rel == loc.file else read_small(reader, rel)
        for line in marker_lines(data or b""):
            out.append(problem("conflict-markers", "conflict markers left by a merge: resolve "
                               "the conflict (`pfgit conflicts` lists them)", reader.display(rel),
                               line))
    return out
