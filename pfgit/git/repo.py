"""Opening repositories, resolving revisions, and reading trees and the index as flow Readers."""

from __future__ import annotations

import os
import posixpath
import re
import stat
from typing import Iterator

from dulwich.errors import NotGitRepository
from dulwich.objects import Blob, Commit, Tree
from dulwich.repo import Repo

from ..errors import UsageError
from ..flow.readers import SKIP_DIRS, MappingReader, join

_SUFFIX = re.compile(r"(~\d*|\^\d*)")


def open_repo(path: str = ".") -> Repo:
    """The repository containing `path` (like git, searching upwards)."""
    try:
        return Repo.discover(path)
    except NotGitRepository:
        raise UsageError("not a git repository (or any parent up to /)", file=os.path.abspath(path)) from None


def worktree_prefix(repo: Repo, path: str = ".") -> str:
    """`path` relative to the repository's top, POSIX style ('.' for the top); a UsageError when
    it is not UTF-8 (see `utf8_path`)."""
    rel = os.path.relpath(os.path.realpath(path), os.path.realpath(repo.path))
    return utf8_path(join(rel.replace(os.sep, "/")))


def is_utf8(path: str) -> bool:
    try:
        path.encode("utf-8")
        return True
    except UnicodeEncodeError:   # a name that is not UTF-8, decoded with surrogateescape
        return False


def utf8_path(rel: str) -> str:
    """`rel` if it is UTF-8 text. A flow folder's path is a key of run refs' run.json, the run
    index and zips, which hold UTF-8 text; git's tree entries may be any bytes, so a folder named
    otherwise (in a pull request) gets this one-line error, not an internal one."""
    if not is_utf8(rel):   # printed through pfgit.output's neutralising streams, as every error
        raise UsageError(f"{rel}: the folder's name is not UTF-8; pfgit records and "
                         "looks up flows by UTF-8 paths: rename it")
    return rel


def utf8_flows(paths, warn=None) -> list:
    """The UTF-8 paths of `paths`; each other one is named through `warn` (commands over every
    flow skip it rather than fail for all)."""
    out = []
    for p in paths:
        if is_utf8(p):
            out.append(p)
        elif warn is not None:
            warn(f"{p}: flow skipped: its folder's name is not UTF-8")
    return out


def resolve(repo: Repo, rev: str) -> bytes:
    """Commit id (hex bytes) for a revision: names, short ids, and ~N / ^N suffixes like git."""
    m = re.match(r"^(.*?)((?:~\d*|\^\d*)*)$", rev)
    base, suffixes = (m.group(1), m.group(2)) if m else (rev, "")
    if base in ("", "@"):
        base = "HEAD"
    sha = _resolve_name(repo, base)
    if sha is None:
        unborn = base == "HEAD" and not repo.refs.as_dict(b"refs/heads/")
        raise UsageError(f"unknown revision '{rev}'" +
                         (": the current branch has no commit yet" if unborn else ""))
    for s in _SUFFIX.findall(suffixes):
        n = int(s[1:]) if len(s) > 1 else 1
        commit = repo[sha]
        if s[0] == "~":
            for _ in range(n):
                if not commit.parents:
                    raise UsageError(f"unknown revision '{rev}' (history too short)")
                sha = commit.parents[0]
                commit = repo[sha]
        elif n:
            if len(commit.parents) < n:
                raise UsageError(f"unknown revision '{rev}' (no parent {n})")
            sha = commit.parents[n - 1]
    return sha


def _resolve_name(repo: Repo, name: str) -> bytes | None:
    from dulwich.objectspec import parse_commit

    if name.startswith("run:"):  # a run snapshot, never a branch of that name (docs/runs.md)
        name = "refs/pfgit/runs/" + name[4:]
    candidates = [name]
    if not name.startswith("refs/"):
        candidates += [f"refs/heads/{name}", f"refs/tags/{name}", f"refs/remotes/{name}",
                       f"refs/pfgit/runs/{name}"]
    for c in candidates:
        try:
            obj = repo[c.encode()] if c.startswith("refs/") or c == "HEAD" else parse_commit(repo, c.encode())
        except (KeyError, ValueError, NotImplementedError):
            continue
        except Exception:
            continue
        while obj.type_name == b"tag":
            obj = repo[obj.object[1]]
        if isinstance(obj, Commit):
            return obj.id
    return None


def commit_tree(repo: Repo, sha: bytes) -> bytes:
    return repo[sha].tree


class TreeReader:
    """A git tree as a flow Reader (paths relative to the repository top)."""

    def __init__(self, repo: Repo, tree_id: bytes, label: str = ""):
        self.repo = repo
        self.tree_id = tree_id
        self.label = label  # e.g. "HEAD:" shown before paths in messages
        self._cache: dict = {}
        self._trees: dict = {}  # tree id -> Tree: each file's lookup needs its folder's tree, and
        #                         dulwich reads and parses the object again on every repo[id]

    def _tree(self, sha: bytes) -> Tree:
        tree = self._trees.get(sha)
        if tree is None:
            tree = self._trees[sha] = self.repo[sha]
        return tree

    def _lookup(self, rel: str):
        rel = join(rel)
        if rel in self._cache:
            return self._cache[rel]
        if rel == ".":
            res = (stat.S_IFDIR, self.tree_id)
        else:
            parent, name = posixpath.split(rel)
            p = self._lookup(parent or ".")
            res = None
            if p is not None and stat.S_ISDIR(p[0]):
                tree = self._tree(p[1])
                try:
                    res = tree[name.encode("utf-8", "surrogateescape")]  # as list_dir decodes
                except KeyError:
                    res = None
        self._cache[rel] = res
        return res

    def read_bytes(self, rel: str) -> bytes:
        e = self._lookup(rel)
        if e is None or stat.S_ISDIR(e[0]):
            raise FileNotFoundError(rel)
        return _blob_data(self.repo, e[1], rel)

    def oversized(self, rel: str, cap: int) -> tuple | None:
        """(size, blob id) of a file over `cap` bytes, from its object header (not inflated)."""
        e = self._lookup(rel)
        return None if e is None or stat.S_ISDIR(e[0]) else _oversized(self.repo, e[1], cap)

    def exists(self, rel: str) -> bool:
        e = self._lookup(rel)
        return e is not None and not _is_gitlink(e[0])

    def is_dir(self, rel: str) -> bool:
        e = self._lookup(rel)
        return e is not None and stat.S_ISDIR(e[0])

    def list_dir(self, rel: str) -> list:
        e = self._lookup(rel)
        if e is None or not stat.S_ISDIR(e[0]):
            return []
        tree = self._tree(e[1])
        return sorted(item.path.decode("utf-8", "surrogateescape") for item in tree.iteritems())

    def walk_files(self, rel: str) -> Iterator[str]:
        for name in self.list_dir(rel):
            p = join(rel, name)
            if self.is_dir(p):
                if name not in SKIP_DIRS:
                    yield from self.walk_files(p)
            elif self.exists(p):
                yield p

    def blob_id(self, rel: str) -> bytes | None:
        e = self._lookup(rel)
        return None if e is None or stat.S_ISDIR(e[0]) else e[1]

    def display(self, rel: str) -> str:
        return self.label + join(rel)


def _is_gitlink(mode: int) -> bool:
    return mode & 0o170000 == 0o160000


def _blob_data(repo: Repo, sha: bytes, rel: str) -> bytes:
    """A file's content; a submodule (gitlink) or a hand-made entry naming a tree or commit, or
    an object this clone lacks, is no file (FileNotFoundError), never an internal error."""
    try:
        obj = repo[sha]
    except KeyError:
        raise FileNotFoundError(rel) from None
    if not isinstance(obj, Blob):
        raise FileNotFoundError(rel)
    return obj.data


def _oversized(repo: Repo, sha: bytes, cap: int) -> tuple | None:
    from .objects import object_size

    size = object_size(repo, sha)
    return (size, sha.decode()) if size is not None and size > cap else None


def open_git_index(repo: Repo):
    """The index git is using now: `GIT_INDEX_FILE` when set (git sets it for hooks during
    `git commit -a` / `git commit PATH`, where the staged content lives in a temporary index)."""
    path = os.environ.get("GIT_INDEX_FILE")
    if path:
        from dulwich.index import Index

        if not os.path.isabs(path):
            path = os.path.abspath(path)
        if os.path.exists(path):
            return Index(path)
    return repo.open_index()


class IndexReader(MappingReader):
    """The content staged in the index (what the next commit will hold) as a flow Reader."""

    def __init__(self, repo: Repo, display_prefix: str = ""):
        self.repo = repo
        index = open_git_index(repo)
        files: dict = {}
        self.symlinks: set = set()   # staged paths whose mode is a symlink
        self.gitlinks: set = set()   # staged submodules (another repository: no files here)
        for path, entry in index.items():
            if _is_gitlink(getattr(entry, "mode", 0) or 0):   # a submodule: not a file here
                self.gitlinks.add(path.decode("utf-8", "replace"))
                continue
            if stat.S_ISLNK(getattr(entry, "mode", 0) or 0):
                self.symlinks.add(path.decode("utf-8", "replace"))
            sha = getattr(entry, "sha", None)
            if sha is None:  # a conflicted entry (merge in progress): take "ours" if present
                this = getattr(entry, "this", None) or getattr(entry, "ancestor", None)
                sha = getattr(this, "sha", None) if this else None
                if sha is None:
                    continue
            files[path.decode("utf-8", "replace")] = sha
        super().__init__(files, display_prefix)

    def _data(self, sha) -> bytes:
        return _blob_data(self.repo, sha, sha.decode() if isinstance(sha, bytes) else str(sha))

    def oversized(self, rel: str, cap: int) -> tuple | None:
        sha = self.files.get(join(rel))
        return _oversized(self.repo, sha, cap) if isinstance(sha, bytes) else None
