"""A flow's folder at a commit, and where its history continues in each parent.

A `Step` is (commit, flow folder in that commit): the folder's tree, its flow file, its version
key and, per parent, the folder the flow had there: the same folder; the folder it moved from
(like `git log --follow`: a flow gone from one folder and new in this one, with the same file or
mostly the same node names, pfgit.diff.tree.moved_flows); or None when the flow did not exist.
History stops at a shallow clone's boundary and at a missing parent object (`boundary`).

The version key is the folder's tree id; a flow with `additional_includes` reads files outside
its folder, so its key adds the commit's root tree.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field


SHALLOW = "shallow"
MISSING = "missing"


@dataclass
class Step:
    commit: str
    path: str
    file: str
    tree: str
    root: str
    vkey: str
    parents: list = field(default_factory=list)  # [[sha, folder or None]], first parent first
    author: str = ""
    time: int = 0
    tz: int = 0
    summary: str = ""
    boundary: str | None = None  # SHALLOW | MISSING: the parents are unknown

    def row(self) -> tuple:
        return (self.commit, self.path, self.file, self.tree, self.root, self.vkey,
                json.dumps(self.parents), self.author, self.time, self.tz, self.summary)

    @classmethod
    def from_row(cls, row) -> "Step":
        c, p, f, t, r, v, parents, a, tm, tz, s = row
        return cls(c, p, f, t, r, v, json.loads(parents), a, tm, tz, s)

    @property
    def author_name(self) -> str:
        return self.author.split(" <", 1)[0]


def _flow_at(reader, path: str):
    from ..flow.load import flow_file_in

    loc = flow_file_in(reader, path)
    return None if loc is None or loc.is_prompty else loc


def moved_from(preader, reader, loc) -> str | None:
    """The folder of the parent's flow that became the flow at `loc` (None: it is new)."""
    from ..diff.tree import moved_flows
    from ..flow.load import find_flows

    gone = [f for f in find_flows(preader, ".") if not f.is_prompty and _flow_at(reader, f.dir) is None]
    for old, new in moved_flows(preader, gone, reader, [loc]).items():
        if new == loc.dir:
            return old
    return None


def compute_step(repo, versions, commit: str, path: str, shallow: set) -> Step | None:
    """The Step of the flow at `path` in `commit` (None: no flow there, or no such commit)."""
    try:
        c = versions.commit(commit)
    except (KeyError, ValueError):
        return None
    root = c.tree
    found = versions.flow_file(root, path)
    if found is None:
        return None
    tree, file = found
    ent = versions.entries(tree).get(posixpath.basename(file).encode())
    raw = versions.blob(ent[1].decode()) if ent else b""
    vkey = tree if b"additional_includes" not in (raw or b"") else f"{tree}+{root}"
    st = Step(commit, path, file, tree, root, vkey, [], c.author, c.time, c.tz, c.summary)
    if commit in shallow:
        st.boundary = SHALLOW
        return st
    for p in c.parents:
        try:
            pc = versions.commit(p)
        except KeyError:  # object missing (a clone cut short): history stops here
            st.boundary, st.parents = MISSING, []
            return st
        proot = pc.tree
        if versions.flow_file(proot, path) is not None:
            st.parents.append([p, path])
        else:  # the flow's folder is new here: moved from elsewhere, or a new flow
            reader = versions.reader(root)
            st.parents.append([p, moved_from(versions.reader(proot), reader,
                                             _flow_at(reader, path))])
    return st


__all__ = ["Step", "compute_step", "moved_from", "SHALLOW", "MISSING"]
