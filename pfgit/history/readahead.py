"""A cold question's reads from git, begun while Python is still starting.

A first question on a long history reads every commit, the flow folder in each and the folder's
files (pfgit.history.versions.preload) in a few bulk git requests: git's work, on the other core.
The light path (pfgit.history.command.run_blame / run_log_node, after pfgit.history.cached found
no answer) knows the commit and, when PATH is a folder holding a flow file, most likely the flow's
folder: `start` then runs the reads in a thread (waiting on git releases the GIL) while the main
thread imports dulwich, YAML and the diff machinery and opens the index. `Versions.preload` takes
them when its commit, folder and parent mode are the ones guessed, else reads them itself; reads
nobody takes are only git's time. Only object ids and the folder (a literal pathspec after `--`,
`<tree>:<folder>` names on stdin) reach git, through pfgit.git.batch.
"""

from __future__ import annotations

import atexit
import os
import threading

from ..git.batch import CatFile, FolderBlobs, log_commits

PRELOAD_BYTES = 64 << 20  # read ahead at most this much of a history's flow folder files

_STARTED: dict = {}  # (git dir, commit, folder, first_parent) -> _Reader


def read_history(git_dir: str, head: str, path: str, first_parent: bool) -> dict | None:
    """{"commits": {sha: CommitInfo} in git log's order, "folders": {root tree: (type, id, raw) |
    None}, "sizes": {blob id: size} | None (git could not list them), "blobs": {blob id: raw}};
    None when git could not read the folders."""
    listing = FolderBlobs(git_dir, head, path, first_parent)  # runs meanwhile
    cat = CatFile(git_dir)
    try:
        commits = log_commits(git_dir, head, first_parent)
        roots = list(dict.fromkeys(c.tree for c in commits.values()))
        names = roots if path == "." else [f"{r}:{path}" for r in roots]
        got = cat.read_all(names)  # each root's flow folder (its tree, read in one request)
        sizes = listing.result()
        if got is None:
            return None
        budget, fetch = PRELOAD_BYTES, []
        for bid, size in (sizes or {}).items():
            if size <= budget:
                fetch.append(bid)
                budget -= size
        blobs = {bid: raw for bid, (kind, _, raw) in (cat.read_all(fetch) or {}).items() if kind == "blob"}
        return {"commits": commits, "folders": {r: got.get(n) for r, n in zip(roots, names)},
                "sizes": sizes, "blobs": blobs}
    finally:
        cat.close()


class _Reader(threading.Thread):
    def __init__(self, args: tuple):
        super().__init__(daemon=True, name="pfgit-readahead")
        self.args = args
        self.res: dict | None = None

    def run(self) -> None:
        try:
            self.res = read_history(*self.args)
        except Exception:  # the walk reads them itself
            self.res = None


def _key(git_dir: str, commit: str, path: str, first_parent: bool) -> tuple:
    # the repository is part of the question: another one (a shallow clone) has other parents
    return os.path.realpath(git_dir), commit, path, first_parent


def start(git_dir: str, commit: str, path: str, first_parent: bool) -> None:
    """Begin reading the history of folder `path` from `commit` in a thread."""
    key = _key(git_dir, commit, path, first_parent)
    if key not in _STARTED:
        r = _STARTED[key] = _Reader((git_dir, commit, path, first_parent))
        r.start()


def take(git_dir: str, commit: str, path: str, first_parent: bool) -> dict | None:
    """What `start` read for this history (waiting for it), or None when it was not started."""
    r = _STARTED.pop(_key(git_dir, commit, path, first_parent), None)
    if r is None:
        return None
    r.join()
    return r.res


@atexit.register
def drop() -> None:
    """Forget the reads nobody took (the question was answered from the index, or failed first),
    once git has ended: the next question may be about another state of the repository."""
    while _STARTED:
        _STARTED.popitem()[1].join(timeout=10)


__all__ = ["read_history", "start", "take", "drop", "PRELOAD_BYTES"]
