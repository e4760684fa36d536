"""A flow folder in the worktree as git objects, and dirty worktrees captured as commits.

What is captured matches `git add -A <flow>`: tracked files with their current content, untracked
files unless ignored by .gitignore. Run artifacts (`__pycache__/`, `.runs/`, `.promptflow/`) and
files that hold secrets by convention (`.env*`, `.envrc`, key files: see `is_secret_file`) are
never captured when untracked; nor is anything named `.git` (any case) or that git's fsck refuses,
nor anything but regular files and symlinks (a FIFO would block the capture).
"""

from __future__ import annotations

import fnmatch
import os
import stat

from dulwich.objects import Blob
from dulwich.repo import Repo

from ..flow.readers import is_nested_repository  # noqa: F401  (here for its users in git/)
from .objects import (DIR_MODE, make_commit, make_tree, put_file, put_object, replace_subtree,
                      tree_at, unsafe_entry_name)

NEVER_UNTRACKED_DIRS = {"__pycache__", ".runs", ".promptflow", ".git"}
NEVER_UNTRACKED_FILES = {".env"}
# file names that hold secrets by convention (matched case-insensitively)
SECRET_FILE_PATTERNS = (".env", ".env.*", ".envrc", "*.env", "*.pem", "*.key", "*.p12", "*.pfx",
                        "*.jks", "*.keystore", "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519",
                        "id_rsa_*", ".netrc", ".pgpass", "credentials.json", "*.kdbx")


def is_secret_file(name: str) -> bool:
    n = name.lower()
    return any(fnmatch.fnmatchcase(n, p) for p in SECRET_FILE_PATTERNS)


GITLINK_MODE = 0o160000


def _tracked(repo: Repo, prefix: str) -> dict:
    """{path: (mode, sha)} of the index entries below `prefix`."""
    try:
        index = repo.open_index()
    except Exception:
        return {}
    p = b"" if prefix in (".", "") else prefix.encode() + b"/"
    return {k.decode("utf-8", "surrogateescape"): (getattr(e, "mode", 0) or 0, getattr(e, "sha", None))
            for k, e in index.items() if k.startswith(p)}


def _file_entry(repo: Repo, abspath: str):
    st = os.lstat(abspath)
    if stat.S_ISLNK(st.st_mode):  # stored as a link (its target text), never followed
        return 0o120000, put_object(repo, Blob.from_string(os.fsencode(os.readlink(abspath))))
    if not stat.S_ISREG(st.st_mode):
        raise OSError(f"not a regular file: {abspath}")
    mode = 0o100755 if st.st_mode & 0o111 else 0o100644
    return mode, put_file(repo, abspath)


def worktree_flow_tree(repo: Repo, flow_rel: str) -> bytes | None:
    """Write the worktree's flow folder as a tree (objects stored) and return its id."""
    top = repo.path
    tracked = _tracked(repo, flow_rel)
    ignore = None
    try:
        from dulwich.ignore import IgnoreFilterManager

        ignore = IgnoreFilterManager.from_repo(repo)
    except Exception:
        pass

    def build(rel: str) -> bytes | None:
        absdir = os.path.join(top, rel)
        entries = {}
        try:
            names = sorted(os.listdir(absdir))
        except OSError:
            return None
        for name in names:
            if unsafe_entry_name(name):  # `.git`, `.GIT`, `git~1`: git refuses such trees
                continue
            child = name if rel == "." else f"{rel}/{name}"
            abspath = os.path.join(absdir, name)
            is_dir = os.path.isdir(abspath) and not os.path.islink(abspath)
            if is_dir:
                mode, sha = tracked.get(child, (0, None))
                if mode & 0o170000 == GITLINK_MODE and sha is not None:
                    # a submodule is its commit, as `git add -A` records it (its files were
                    # captured instead: every run of such a flow looked uncommitted)
                    entries[name] = (GITLINK_MODE, sha)
                    continue
                if is_nested_repository(abspath):
                    continue   # a nested repository that is not a submodule: not this repo's files
                has_tracked = any(t.startswith(child + "/") for t in tracked)
                if not has_tracked and (name in NEVER_UNTRACKED_DIRS or
                                        (ignore is not None and ignore.is_ignored(child + "/"))):
                    continue
                if name == ".git":
                    continue
                sub = build(child)
                if sub is not None:
                    entries[name] = (DIR_MODE, sub)
            else:
                if child not in tracked and (name in NEVER_UNTRACKED_FILES or is_secret_file(name) or
                                             (ignore is not None and ignore.is_ignored(child))):
                    continue
                try:
                    entries[name] = _file_entry(repo, abspath)
                except OSError:
                    continue
        if not entries:
            return None  # git has no empty folders
        return make_tree(repo, entries)

    return build(flow_rel)


def head_commit(repo: Repo) -> bytes | None:
    try:
        return repo.refs[b"HEAD"]
    except KeyError:
        return None  # unborn branch


def flow_source(repo: Repo, flow_rel: str, run_name: str = "") -> tuple[bytes, bytes, bool]:
    """(flow commit, flow tree, dirty) for running the worktree's flow at `flow_rel`.

    Clean (worktree folder == HEAD's): HEAD and its tree objects. Dirty: a new commit, parent HEAD,
    whose tree is HEAD's with the flow folder replaced by the worktree's; no ref points to it
    (the run snapshot does)."""
    head = head_commit(repo)
    head_tree = repo[head].tree if head else None
    wt = worktree_flow_tree(repo, flow_rel)
    if wt is None:
        raise FileNotFoundError(flow_rel)
    if head_tree is not None and tree_at(repo, head_tree, flow_rel) == wt:
        return head, wt, False
    if flow_rel == ".":  # the flow is the whole repository
        root = wt
    else:
        root = replace_subtree(repo, head_tree or make_tree(repo, {}), flow_rel, wt)
    msg = f"pfgit: worktree of {flow_rel}" + (f" for run {run_name}" if run_name else "") + "\n\n" \
          "Uncommitted flow content captured for a run; not on any branch.\n"
    commit = make_commit(repo, root, [head] if head else [], msg)
    return commit, wt, True
