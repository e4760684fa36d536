"""The two sides of `pfgit diff` as flow Readers, chosen from revisions like `git diff` does.

no revision: HEAD vs worktree (tracked files and untracked ones git would add); one: REV vs worktree; two (or `A..B`): REV1 vs REV2;
`--cached`: HEAD (or REV) vs the index.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from ..flow.readers import DirReader
from .repo import IndexReader, TreeReader, resolve


class WorktreeReader(DirReader):
    """The worktree as `git add -A` would see it: tracked files, and untracked ones unless
    ignored; never an untracked `.env` or run artefacts (they may hold secrets, and a diff can
    end up in a PR comment)."""

    def __init__(self, repo):
        super().__init__(repo.path, "", boundary=repo.path)  # never read outside the repo
        from .worktree import NEVER_UNTRACKED_DIRS, is_nested_repository, is_secret_file

        self._never_dirs, self._secret_file = NEVER_UNTRACKED_DIRS, is_secret_file
        self._is_repository = is_nested_repository
        self._tracked, self._gitlinks = set(), set()
        try:
            for p, entry in repo.open_index().items():
                p = p.decode("utf-8", "surrogateescape")
                self._tracked.add(p)
                if (getattr(entry, "mode", 0) or 0) & 0o170000 == 0o160000:
                    self._gitlinks.add(p)
        except Exception:
            pass
        self._repo_dirs: dict = {}   # folder -> holds a `.git` (a submodule or nested repository)
        try:
            from dulwich.ignore import IgnoreFilterManager

            self._ignore = IgnoreFilterManager.from_repo(repo)
        except Exception:
            self._ignore = None

    def _in_other_repository(self, parts: list) -> bool:
        """Is the file below a submodule or a nested repository? git sees those as one gitlink
        (HEAD's side of a diff has no files there), not as files of this repository."""
        for i in range(1, len(parts)):
            d = "/".join(parts[:i])
            if d in self._gitlinks:
                return True
            if d not in self._repo_dirs:
                self._repo_dirs[d] = self._is_repository(self._abs(d))
            if self._repo_dirs[d]:
                return True
        return False

    def _shown(self, rel: str) -> bool:
        if rel in self._tracked:
            return True
        parts = rel.split("/")
        if self._secret_file(parts[-1]) or any(p in self._never_dirs for p in parts[:-1]):
            return False
        if self._in_other_repository(parts):
            return False
        try:
            return self._ignore is None or not self._ignore.is_ignored(rel)
        except Exception:
            return True

    def walk_files(self, rel: str):
        return (f for f in super().walk_files(rel) if self._shown(f))


@dataclass
class Sides:
    old: Any
    new: Any
    old_label: str
    new_label: str


def _tree_reader(repo, rev: str) -> Any:
    from ..diff.tree import EmptyReader

    if rev == "HEAD":
        try:
            sha = repo.head()
        except KeyError:  # unborn branch: everything is new
            return EmptyReader()
    else:
        sha = resolve(repo, rev)
    return TreeReader(repo, repo[sha].tree, label="")


def split_range(revs: list) -> list:
    """`A..B` -> [A, B] (an empty end means HEAD), like git diff."""
    if len(revs) == 1 and ".." in revs[0] and "..." not in revs[0]:
        a, b = revs[0].split("..", 1)
        return [a or "HEAD", b or "HEAD"]
    return list(revs)


def sides_for(repo, revs: list, cached: bool = False) -> Sides:
    revs = split_range(revs)
    if len(revs) > 2:
        raise UsageError("at most two revisions")
    if cached:
        if len(revs) > 1:
            raise UsageError("--cached takes at most one revision")
        rev = revs[0] if revs else "HEAD"
        return Sides(_tree_reader(repo, rev), IndexReader(repo), rev, "index")
    if len(revs) == 2:
        return Sides(_tree_reader(repo, revs[0]), _tree_reader(repo, revs[1]), revs[0], revs[1])
    rev = revs[0] if revs else "HEAD"
    return Sides(_tree_reader(repo, rev), WorktreeReader(repo), rev, "worktree")


def is_revision(repo, text: str) -> bool:
    try:
        for r in split_range([text]):
            resolve(repo, r)
        return True
    except UsageError:
        return False


def repo_relative(repo, path: str) -> str:
    """A command-line path as a POSIX path relative to the repository top; error outside it."""
    from ..flow.readers import join

    top = os.path.realpath(repo.path)
    full = os.path.realpath(os.path.abspath(path))
    if full != top and not full.startswith(top + os.sep):
        raise UsageError(f"'{path}' is outside the repository at {top}")
    return join(os.path.relpath(full, top).replace(os.sep, "/"))


__all__ = ["Sides", "WorktreeReader", "sides_for", "is_revision", "repo_relative", "split_range"]
