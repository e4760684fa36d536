"""A commit checked out in a temporary linked worktree (`git worktree add --detach`): where pfgit
runs a flow as it was at a commit, or drives `git bisect`, without touching the user's worktree,
index or branch (a dirty worktree is fine). Removed on exit, and on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile

from ..errors import PfgitError

_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


def git(cwd: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    try:
        p = subprocess.run(["git", *args], cwd=cwd, text=True, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    except FileNotFoundError:
        raise PfgitError("git is not installed") from None
    if check and p.returncode:
        lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
        raise PfgitError(f"git {args[0]} failed: {lines[-1] if lines else p.returncode}")
    return p


def _lock_path(repo_path: str) -> str | None:
    """The lock file held around `git worktree add` and `remove`/`prune`: checks run side by side
    (`pfgit check --jobs`), and one process's `prune` removed the administrative folder another's
    `add` was still writing ("failed to read .git/worktrees/<name>/commondir"). It lies in the
    common git dir, so linked worktrees of one repository share it. None where there is no
    `fcntl` (not POSIX: git's own race stays)."""
    try:
        import fcntl  # noqa: F401
    except ImportError:
        return None
    common = git(repo_path, "rev-parse", "--git-common-dir").stdout.strip()
    common = os.path.join(repo_path, common) if not os.path.isabs(common) else common
    os.makedirs(os.path.join(common, "pfgit"), exist_ok=True)
    return os.path.join(common, "pfgit", "worktree.lock")


@contextlib.contextmanager
def _worktree_lock(lock_path: str | None):
    if lock_path is None:
        yield
        return
    import fcntl

    with open(lock_path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@contextlib.contextmanager
def checkout(repo_path: str, commit: bytes | str):
    """Yield the path of a temporary worktree at `commit` (a full hex id: never an option)."""
    sha = commit.decode() if isinstance(commit, bytes) else commit
    if not _SHA.match(sha):
        raise PfgitError(f"not a commit id: {sha!r}")
    lock = _lock_path(repo_path)
    parent = tempfile.mkdtemp(prefix="pfgit-checkout-")
    # a unique last component: git names the worktree after it, and checks may run side by side
    path = os.path.join(parent, os.path.basename(parent))
    try:
        with _worktree_lock(lock):
            git(repo_path, "worktree", "add", "--detach", "--quiet", path, sha)
        yield path
    finally:
        with _worktree_lock(lock):
            git(repo_path, "worktree", "remove", "--force", path, check=False)
            shutil.rmtree(parent, ignore_errors=True)
            git(repo_path, "worktree", "prune", check=False)
