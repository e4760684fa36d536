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


class DirReader:
    """Files under a folder on disk."""

    def __init__(self, root: str, display_root: str | None = None):
        self.root = root
        self.display_root = display_root if display_root is not None else root

    def _abs(self, rel: str) -> str:
        return os.path.join(self.root, rel) if rel not in ("", ".") else self.root

    def read_bytes(self, rel: str) -> bytes:
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
        return os.path.getsize(self._abs(rel))

    def exists(self, rel: str) -> bool:
        return os.path.exists(self._abs(rel))

    def is_dir(self, rel: str) -> bool:
        return os.path.isdir(self._abs(rel))

    def list_dir(self, rel: str) -> list:
        try:
            return sorted(os.listdir(self._abs(rel)))
        except OSError:
            return []

    def walk_files(self, rel: str) -> Iterator[str]:
        base = self._abs(rel)
        for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
            sub = os.path.relpath(dirpath, base)
            for f in sorted(filenames):
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
