"""Where flow files come from: a folder on disk here; git trees and the index in pfgit.git.

A reader maps POSIX relative paths ("flows/a/flow.dag.yaml") to bytes, so the same loader and
validator judge the worktree, a commit, or what is staged.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from typing import Iterator, Protocol

SKIP_DIRS = {".git", ".venv", "node_modules", ".promptflow", "__pycache__", ".runs"}


class Reader(Protocol):
    def read_bytes(self, rel: str) -> bytes: ...          # FileNotFoundError if absent
    def exists(self, rel: str) -> bool: ...               # file or folder
    def is_dir(self, rel: str) -> bool: ...
    def list_dir(self, rel: str) -> list: ...             # names of entries in a folder
    def walk_files(self, rel: str) -> Iterator[str]: ...  # all files below, skipping SKIP_DIRS
    def display(self, rel: str) -> str: ...               # how a path is shown to users


def join(*parts: str) -> str:
    """Join POSIX relative paths, dropping '.' and empty parts, resolving '..' lexically."""
    out: list = []
    for part in parts:
        for seg in part.replace("\\", "/").split("/"):
            if seg in ("", "."):
                continue
            if seg == ".." and out and out[-1] != "..":
                out.pop()
            else:
                out.append(seg)
    return "/".join(out) or "."


def path_outside(reader, rel: str) -> bool:
    """Does the reader path `rel` lie outside the repository: above the reader's top (`..`
    left after lexical resolution), or resolved outside by the reader (a symlink on disk)?"""
    r = join(rel)
    if r == ".." or r.startswith("../") or in_git_dir(r):   # .git: see DirReader.outside
        return True
    check = getattr(reader, "outside", None)
    return bool(check and check(r))


# a PATH given on the command line inside a repository that resolves outside it: the user named
# `flows/g`, a pull request made it a symlink to ~/.ssh or another checkout
OUTSIDE_ARGUMENT = "resolves outside the repository (a symbolic link out, or its .git folder); not read"


def outside_repository(path: str, start: str, argument: bool = False) -> bool:
    """Does the file system `path` (absolute, or relative to the cwd) resolve outside the git
    repository holding `start` (`path_outside` on a reader bounded by it)? False when `start` is
    in no repository: there is no boundary then. `argument`: `start` is a PATH the user named
    while working in a repository (OUTSIDE_ARGUMENT): a `.git` reached through a symbolic link in
    that repository (`flows/g -> /elsewhere/other-checkout`) is the link's target, not a
    repository holding the path, so the boundary stays the working repository's."""
    top = git_top(start, resolve=False)
    if top is None:
        return False
    if argument:
        here = git_top(os.getcwd(), resolve=False)
        if here is not None and top != here and within(top, here) and _linked_below(top, here):
            top = here
    rel = os.path.relpath(os.path.abspath(path), top).replace(os.sep, "/")
    return path_outside(DirReader(top, boundary=top), rel)


def _linked_below(path: str, top: str) -> bool:
    """Is a folder from `path` up to (not including) `top` a symbolic link?"""
    d = path
    while d != top and within(d, top):
        if os.path.islink(d):
            return True
        d = os.path.dirname(d)
    return False


class OutsideRepositoryError(PermissionError):
    """A path that resolves (lexically or through a symlink) outside the reader's boundary."""


def within(path: str, top: str) -> bool:
    """Is the absolute `path` `top` or below it (both already resolved)?"""
    return path == top or path.startswith(top.rstrip(os.sep) + os.sep)


def git_top(path: str, resolve: bool = True) -> str | None:
    """The worktree top of the git repository holding `path` (symlinks resolved unless
    `resolve=False`: then as the path was written), or None outside any repository."""
    d = os.path.realpath(path) if resolve else os.path.abspath(path)
    if not os.path.isdir(d):
        d = os.path.dirname(d)
    while True:
        if os.path.exists(os.path.join(d, ".git")):
            return d
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


def is_nested_repository(folder: str) -> bool:
    """Does `folder` hold a repository of its own (a `.git` folder with a HEAD, or a `.git` file
    naming an existing git dir, as a submodule's does)? git adds such a folder as one gitlink,
    never its files; a stray `.git` file naming nothing leaves it a plain folder, as for git."""
    dotgit = os.path.join(folder, ".git")
    if os.path.isdir(dotgit) and not os.path.islink(dotgit):
        return os.path.exists(os.path.join(dotgit, "HEAD"))
    try:
        with open(dotgit, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    if not head.startswith(b"gitdir:"):
        return False
    target = os.fsdecode(head[7:].strip())
    return os.path.isdir(os.path.join(folder, target))


def in_git_dir(rel: str) -> bool:
    """Does the path `rel` (either separator) pass through a `.git` entry (any case: git refuses
    `.GIT` in trees for case-insensitive file systems)?"""
    return any(seg.lower() == ".git" for seg in rel.replace("\\", "/").split("/"))


class DirReader:
    """Files under a folder on disk. With a `boundary` (the repository's top), nothing that
    resolves outside it, through `..` or a symlink, is read, listed or said to exist
    (docs/security.md): a flow from a pull request must not make pfgit print /etc/passwd.
    With a boundary, `walk_files` does not enter a folder below its start that is a repository of
    its own (a submodule, a nested clone: git tracks none of its files) and lists it in
    `nested_repositories`, so every "all flows below" search leaves submodules out."""

    def __init__(self, root: str, display_root: str | None = None, boundary: str | None = None):
        self.root = root
        self.display_root = display_root if display_root is not None else root
        self.boundary = os.path.realpath(boundary) if boundary else None
        self._real_dirs: dict = {}  # folder -> its realpath (folders do not move during a command)
        self.nested_repositories: list = []   # reader paths of the folders walk_files skipped

    def _realpath(self, path: str) -> str:
        """os.path.realpath with the parent folder's answer cached (realpath lstat()s every
        component: 20% of `pfgit validate` on a deep checkout before the cache)."""
        parent, name = os.path.split(path)
        if name in ("", ".", ".."):
            return os.path.realpath(path)
        real_parent = self._real_dirs.get(parent)
        if real_parent is None:
            real_parent = self._real_dirs[parent] = os.path.realpath(parent)
        full = os.path.join(real_parent, name)
        return os.path.realpath(full) if os.path.islink(full) else full

    def _abs(self, rel: str) -> str:
        return os.path.join(self.root, rel) if rel not in ("", ".") else self.root

    def outside(self, rel: str) -> bool:
        """Does `rel` resolve outside the boundary (always False without one)? A git folder
        below it counts as outside: `.git/config` holds remote URLs with tokens (CI checkouts
        keep their credentials there), and `pfgit diff` output ends up in PR comments."""
        if self.boundary is None:
            return False
        try:
            real = self._realpath(self._abs(rel))
        except (OSError, ValueError, RuntimeError):  # a symlink loop: not inside
            return True
        if not within(real, self.boundary):
            return True
        return in_git_dir(real[len(self.boundary):])

    def read_bytes(self, rel: str) -> bytes:
        if "\0" in rel:   # `source.path: "a\0b.py"` in a flow: os.open raises ValueError
            raise FileNotFoundError(errno.ENOENT, "no such file (a NUL in its name)", rel)
        if self.outside(rel):
            raise OutsideRepositoryError(errno.EACCES, "outside the repository", rel)
        # O_NONBLOCK: opening a FIFO without a writer would block a hook forever; only regular
        # files are read (a FIFO, socket or device raises, a folder IsADirectoryError)
        fd = os.open(self._abs(rel), os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            mode = os.fstat(fd).st_mode
            if stat.S_ISDIR(mode):
                raise IsADirectoryError(errno.EISDIR, "Is a directory", rel)
            if not stat.S_ISREG(mode):
                raise OSError(errno.EINVAL, "not a regular file (a FIFO, socket or device)", rel)
            return f.read()

    def size(self, rel: str) -> int:
        if "\0" in rel:
            raise FileNotFoundError(errno.ENOENT, "no such file (a NUL in its name)", rel)
        if self.outside(rel):
            raise OutsideRepositoryError(errno.EACCES, "outside the repository", rel)
        return os.path.getsize(self._abs(rel))

    def oversized(self, rel: str, cap: int) -> tuple | None:
        """(size, git blob id) of a file over `cap` bytes, hashed in chunks instead of read whole
        (pfgit.diff.tree.read_capped); None for a smaller one."""
        size = self.size(rel)
        if size <= cap:
            return None
        import hashlib

        h = hashlib.sha1(b"blob %d\0" % size)
        with open(self._abs(rel), "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return size, h.hexdigest()

    def link_text(self, rel: str) -> bytes | None:
        """The path a symbolic link names, as git stores it (the link is not followed), or None
        when `rel` is not a link (or lies below a folder outside the boundary)."""
        full = self._abs(rel)
        if "\0" in rel or not os.path.islink(full) or self.outside(posixpath.dirname(join(rel)) or "."):
            return None
        try:
            return os.fsencode(os.readlink(full))
        except OSError:
            return None

    def exists(self, rel: str) -> bool:
        return os.path.exists(self._abs(rel)) and not self.outside(rel)

    def is_dir(self, rel: str) -> bool:
        return os.path.isdir(self._abs(rel)) and not self.outside(rel)

    def list_dir(self, rel: str) -> list:
        if self.outside(rel):
            return []
        try:
            return sorted(os.listdir(self._abs(rel)))
        except (OSError, ValueError):   # ValueError: a NUL in the name
            return []

    def walk_files(self, rel: str) -> Iterator[str]:
        if self.outside(rel):
            return
        base = self._abs(rel)
        for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
            sub = os.path.relpath(dirpath, base)
            if self.boundary is not None and dirpath != base and \
                    (".git" in dirnames or ".git" in filenames) and is_nested_repository(dirpath):
                dirnames[:] = []
                if join(rel, sub) not in self.nested_repositories:
                    self.nested_repositories.append(join(rel, sub))
                continue
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
            for f in sorted(filenames):
                if self.boundary is None or not self.outside(join(rel, sub, f)):
                    yield join(rel, sub, f)

    def display(self, rel: str) -> str:
        if self.display_root in ("", "."):
            return join(rel) if rel else "."
        return os.path.normpath(os.path.join(self.display_root, rel))


class MappingReader:
    """Files given as a mapping {POSIX path: value} (no folders of their own: a folder exists when
    a file is below it); `_data(value)` gives a file's bytes. Subclasses: the git index, and
    in-memory flow folders (a zip's content)."""

    def __init__(self, files: dict, display_prefix: str = ""):
        self.files = files
        self.dirs: set = {"."}
        for p in files:
            d = posixpath.dirname(p)
            while d and d not in self.dirs:
                self.dirs.add(d)
                d = posixpath.dirname(d)
        self.display_prefix = display_prefix

    def _data(self, value) -> bytes:
        return value

    def read_bytes(self, rel: str) -> bytes:
        rel = join(rel)
        if rel not in self.files:
            raise FileNotFoundError(rel)
        return self._data(self.files[rel])

    def exists(self, rel: str) -> bool:
        rel = join(rel)
        return rel in self.files or rel in self.dirs

    def is_dir(self, rel: str) -> bool:
        return join(rel) in self.dirs

    def list_dir(self, rel: str) -> list:
        rel = join(rel)
        prefix = "" if rel == "." else rel + "/"
        return sorted({p[len(prefix):].split("/", 1)[0] for p in list(self.files) + list(self.dirs)
                       if p != "." and p.startswith(prefix)})

    def walk_files(self, rel: str) -> Iterator[str]:
        rel = join(rel)
        prefix = "" if rel == "." else rel + "/"
        for p in sorted(self.files):
            if p.startswith(prefix) and not any(seg in SKIP_DIRS for seg in p.split("/")[:-1]):
                yield p

    def display(self, rel: str) -> str:
        return self.display_prefix + join(rel)
