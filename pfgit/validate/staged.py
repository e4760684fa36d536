"""Which flows a commit touches: compare what is staged with HEAD, through readers only.

`index` is a pfgit.gitio.repo.IndexReader (its `files` maps path -> blob id) and `head` a
TreeReader of HEAD (None before the first commit). A flow is touched when a file in its folder
was added, changed or deleted, or when its flow file names a changed file and it has
additional_includes (its sources may live elsewhere).
"""

from __future__ import annotations

import posixpath

from ..flow.load import FlowLocation, find_flows
from ..flow.readers import join
from .api import containing_flow


def owner(reader, path: str) -> FlowLocation | None:
    """The flow folder `path` lies in (nearest ancestor holding a flow file)."""
    return containing_flow(reader, posixpath.dirname(join(path)) or ".")


def changed_files(index, head) -> set:
    """Paths staged as added or modified relative to HEAD."""
    if head is None:
        return set(index.files)
    return {p for p, sha in index.files.items() if head.blob_id(p) != sha}


def deleted_files(index, head, dirs) -> set:
    """Files under `dirs` that HEAD has and the index no longer has."""
    if head is None:
        return set()
    out = set()
    for d in dirs:
        for f in head.walk_files(d):
            if f not in index.files:
                out.add(f)
    return out


def touched_flows(index, head) -> list:
    """Locations (in the index) of the flows this commit adds to or changes."""
    every = find_flows(index, ".")
    flows = [loc for loc in every if not loc.is_prompty]
    prompties = [loc for loc in every if loc.is_prompty]
    changed = changed_files(index, head)
    changed |= deleted_files(index, head, {loc.dir for loc in flows})
    if not changed:
        return []
    picked: dict = {}
    for path in changed:
        loc = owner(index, path)
        if loc is not None:
            picked.setdefault(loc.file, loc)
    for loc in prompties:
        if loc.file in changed:
            picked.setdefault(loc.file, loc)
    names = {posixpath.basename(p).encode() for p in changed}
    for loc in flows:
        if loc.file in picked:
            continue
        raw = index.read_bytes(loc.file)
        if b"additional_includes" in raw and any(n in raw for n in names):
            picked[loc.file] = loc
    return [picked[f] for f in sorted(picked)]
