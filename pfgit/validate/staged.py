"""Which flows a commit touches: compare what is staged with HEAD, through readers only.

`index` is a pfgit.git.repo.IndexReader (its `files` maps path -> blob id) and `head` a
TreeReader of HEAD (None before the first commit). A flow is touched when a file in its folder
was added, changed or deleted, or when its flow file names a changed file and it has
additional_includes (its sources may live elsewhere).
"""

from __future__ import annotations

import errno
import posixpath

from ..flow import yamlpos
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


def deleted_files(index, head, paths) -> set:
    """Files at or under `paths` that HEAD has and the index no longer has."""
    if head is None:
        return set()
    out = set()
    for d in paths:
        if not head.is_dir(d):
            if head.blob_id(d) is not None and d not in index.files:
                out.add(d)
            continue
        for f in head.walk_files(d):
            if f not in index.files:
                out.add(f)
    return out


def includes(index, flows: list) -> dict:
    """flow file -> (its bytes, the reader paths its additional_includes name), for the flows
    that have additional_includes."""
    out = {}
    for loc in flows:
        try:
            raw = index.read_bytes(loc.file)
        except OSError:
            continue
        if b"additional_includes" not in raw:
            continue
        try:
            data = yamlpos.parse(raw).data
        except yamlpos.YamlError:
            data = None
        incs = data.get("additional_includes") if isinstance(data, dict) else None
        out[loc.file] = (raw, [join(loc.dir, i) for i in incs if isinstance(i, str)]
                         if isinstance(incs, list) else [])
    return out


def touched_flows(index, head) -> list:
    """Locations (in the index) of the flows this commit adds to or changes."""
    flows = [loc for loc in find_flows(index, ".") if not loc.is_prompty]
    included = includes(index, flows)
    targets = {t for _, ts in included.values() for t in ts}
    changed = changed_files(index, head)
    # deletions in flow folders, and of what additional_includes name (it may lie anywhere)
    changed |= deleted_files(index, head, {loc.dir for loc in flows} | targets)
    if not changed:
        return []
    picked: dict = {}
    for path in changed:
        loc = owner(index, path)
        if loc is not None:
            picked.setdefault(loc.file, loc)
    for path in changed:  # every staged .prompty, also one inside a flex flow folder
        if path.endswith(".prompty") and index.exists(path):
            picked.setdefault(path, FlowLocation(posixpath.dirname(path) or ".", path))
    names = {posixpath.basename(p).encode() for p in changed}
    for loc in flows:
        if loc.file in picked or loc.file not in included:
            continue
        raw, ts = included[loc.file]
        if any(n in raw for n in names) or any(
                p == t or p.startswith(t + "/") for t in ts for p in changed):
            picked[loc.file] = loc
    return [picked[f] for f in sorted(picked)]


class LinkFollowingReader:
    """Wraps an index (or tree) reader so symlinks read as their targets, as in a checkout.

    Git stores a symlink as a blob holding the target path; read as a file it would look like
    broken Python. `links` maps each symlink's path to its target text.
    """

    def __init__(self, inner, links: dict):
        self.inner = inner
        self.links = links

    def _resolve(self, rel: str) -> str:
        rel = join(rel)
        for _ in range(40):  # like the kernel's ELOOP limit
            target = self.links.get(rel)
            if target is None:
                return rel
            rel = join(posixpath.dirname(rel), target) if not target.startswith("/") else target
        raise OSError(errno.ELOOP, "Too many levels of symbolic links", rel)

    def read_bytes(self, rel: str) -> bytes:
        return self.inner.read_bytes(self._resolve(rel))

    def outside(self, rel: str) -> bool:
        """A staged symlink (chain) pointing above the repository's top or to an absolute path."""
        rel = join(rel)
        for _ in range(40):
            target = self.links.get(rel)
            if target is None:
                break
            if target.startswith("/"):
                return True
            rel = join(posixpath.dirname(rel), target)
            if rel == ".." or rel.startswith("../"):
                return True
        return False

    def exists(self, rel: str) -> bool:
        try:
            return self.inner.exists(self._resolve(rel))
        except OSError:
            return False

    def is_dir(self, rel: str) -> bool:
        try:
            return self.inner.is_dir(self._resolve(rel))
        except OSError:
            return False

    def list_dir(self, rel: str) -> list:
        return self.inner.list_dir(rel)

    def walk_files(self, rel: str):
        return self.inner.walk_files(rel)

    def display(self, rel: str) -> str:
        return self.inner.display(rel)

    def __getattr__(self, name):  # files, blob_id, ... of the wrapped reader
        return getattr(self.inner, name)


def index_symlinks(index) -> dict:
    """path -> link target for the symlinks staged in `index` (an IndexReader)."""
    out = {}
    for rel in index.symlinks:
        try:
            out[rel] = index.read_bytes(rel).decode("utf-8", "replace")
        except OSError:
            continue
    return out
