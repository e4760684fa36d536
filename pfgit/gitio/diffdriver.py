"""What git needs to call pfgit as a diff driver, and finding the trees a driver call is about.

`driver_config(python)` is the git config `pfgit install` writes (and removes on --uninstall):
- `diff.pfgit.command`: the semantic diff (`pfgit diff-driver`), used by `git diff` and by
  `git log -p --ext-diff` / `git show --ext-diff` (git runs external diff drivers for `log`/`show`
  only with `--ext-diff`);
- `diff.pfgit.textconv`: a normalised one-line-per-value form of the flow (`pfgit diff-textconv`),
  which plain `git log -p` / `git show` / `git diff --no-ext-diff` diff instead of the raw YAML, so
  formatting-only edits vanish there too.

Git passes a driver only the path and the two blobs. To show source-file changes under the nodes
that use them, `blob_context` looks for the trees those blobs come from: the worktree, the index,
HEAD, then commits reachable from HEAD whose tree has the new blob at that path and a parent
with the old one.
"""

from __future__ import annotations

import shlex
from typing import Iterator

NULL_HEX = "0" * 40
HISTORY_LIMIT = 2000  # commits searched for a blob pair; beyond that, YAML-level changes only


def driver_config(python_exe: str) -> dict:
    """git config entries (key -> value) that make `diff=pfgit` call this interpreter's pfgit."""
    py = shlex.quote(python_exe)
    return {
        "diff.pfgit.command": f"{py} -m pfgit diff-driver",
        "diff.pfgit.textconv": f"{py} -m pfgit diff-textconv",
    }


GITATTRIBUTES_LINES = ("flow.dag.yaml diff=pfgit", "flow.dag.yml diff=pfgit")


def _path_blob(repo, tree_id: bytes, path: str) -> bytes | None:
    from dulwich.object_store import tree_lookup_path

    try:
        _mode, sha = tree_lookup_path(repo.object_store.__getitem__, tree_id, path.encode())
        return sha
    except (KeyError, Exception):
        return None


def _walk(repo, limit: int) -> Iterator:
    try:
        head = repo.head()
    except KeyError:
        return
    seen = {head}
    todo = [head]
    n = 0
    while todo and n < limit:
        sha = todo.pop(0)
        try:
            commit = repo[sha]
        except KeyError:
            continue
        n += 1
        yield commit
        for p in commit.parents:
            if p not in seen:
                seen.add(p)
                todo.append(p)


def blob_context(repo, path: str, old_hex: str, new_hex: str, new_is_worktree: bool):
    """(old tree id | None, new tree id | "worktree" | None) the two blobs of `path` come from."""
    old_b = old_hex.encode() if old_hex and old_hex not in (NULL_HEX, ".") else None
    new_b = new_hex.encode() if new_hex and new_hex not in (NULL_HEX, ".") else None
    new_ctx = "worktree" if new_is_worktree else None
    old_ctx = None
    candidates = []
    try:
        index = repo.open_index()
        entry = index[path.encode()] if path.encode() in index else None
        idx_sha = getattr(entry, "sha", None)
        if idx_sha is not None:
            candidates.append(("index", idx_sha))
    except Exception:
        pass
    try:
        head_tree = repo[repo.head()].tree
        candidates.append((head_tree, _path_blob(repo, head_tree, path)))
    except KeyError:
        head_tree = None
    for ctx, sha in candidates:
        if old_b is not None and old_ctx is None and sha == old_b:
            old_ctx = ctx
        if new_b is not None and new_ctx is None and sha == new_b:
            new_ctx = ctx
    if (old_b is None or old_ctx is not None) and (new_b is None or new_ctx is not None):
        return old_ctx, new_ctx
    # a commit whose tree has the new blob and a parent with the old one: git log -p / git show
    for commit in _walk(repo, HISTORY_LIMIT):
        if new_b is not None and _path_blob(repo, commit.tree, path) != new_b:
            continue
        if new_b is None and _path_blob(repo, commit.tree, path) is not None:
            continue
        for p in commit.parents:
            ptree = repo[p].tree
            if _path_blob(repo, ptree, path) == old_b:
                return ptree, (new_ctx or commit.tree)
        if old_b is None and not commit.parents:
            return None, (new_ctx or commit.tree)
    return old_ctx, new_ctx


def driver_readers(path: str, old_hex: str, new_hex: str, new_file: str, cwd: str = "."):
    """(old Reader | None, new Reader | None) holding the flow folder at each blob's commit.

    git runs drivers at the worktree top; a new side read from the worktree is passed as the
    path itself with a null id.
    """
    import os

    from ..flow.readers import DirReader
    from .repo import IndexReader, TreeReader

    try:
        from dulwich.repo import Repo

        repo = Repo.discover(cwd)
    except Exception:
        return None, None
    new_is_worktree = new_hex in (NULL_HEX, ".") and new_file not in ("/dev/null", "") and \
        os.path.realpath(os.path.join(cwd, new_file)) == os.path.realpath(os.path.join(repo.path, path))
    old_ctx, new_ctx = blob_context(repo, path, old_hex, new_hex, new_is_worktree)

    def reader(ctx):
        if ctx is None:
            return None
        if ctx == "worktree":
            return DirReader(repo.path, "")
        if ctx == "index":
            return IndexReader(repo)
        return TreeReader(repo, ctx)
    return reader(old_ctx), reader(new_ctx)


__all__ = ["driver_config", "blob_context", "driver_readers", "GITATTRIBUTES_LINES", "NULL_HEX"]
