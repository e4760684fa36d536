"""A repeated `pfgit blame` / `pfgit log --node` answered from the index alone: one `git rev-parse`
and one SQLite read, without importing dulwich, YAML, sqlite-utils or typer (a warm call is then
mostly Python's start-up; bench/history.py).

The walk that answers a question stores its answer by commit, flow and node
(FlowHistory.answer) and, under a request key - what the user typed, resolved here - a pointer to
it. A request key holds the commit id, the path relative to the repository's top and whether it
exists as a file or folder (which decides the flow and, for a source file, the node), and the
options. Anything unusual (an unknown revision, a bare repository, no index, another schema)
returns None and the full path answers, with its checks and messages.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess

ANSWER_FORMAT = 2  # part of every cached answer's key: bump when an answer's shape changes
_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


def locate(rev: str) -> tuple | None:
    """(git common dir, commit id, top of the worktree) of `rev` here, or None."""
    if not rev or rev.startswith("-"):
        return None
    try:
        p = subprocess.run(["git", "rev-parse", "--git-common-dir", "--show-toplevel", rev + "^{commit}", "--"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    except OSError:
        return None
    lines = p.stdout.decode("utf-8", "surrogateescape").splitlines()
    if p.returncode or len(lines) < 3 or not _SHA.match(lines[2]):
        return None
    return os.path.abspath(lines[0]), lines[2], lines[1]


def request_key(kind: str, commit: str, top: str, path: str | None, node: str | None,
                all_parents: bool, limit: int | None = None) -> str:
    where = None
    if path is not None:
        rel = os.path.relpath(os.path.realpath(path), os.path.realpath(top)).replace(os.sep, "/")
        where = [rel, os.path.isdir(path), os.path.isfile(path)]
    else:
        where = [os.path.relpath(os.path.realpath("."), os.path.realpath(top)).replace(os.sep, "/")]
    return json.dumps(["request", ANSWER_FORMAT, kind, commit, where, node, bool(all_parents), limit],
                      separators=(",", ":"))


def request(kind: str, rev: str, path: str | None, node: str | None, all_parents: bool,
            limit: int | None = None) -> tuple | None:
    """(git common dir, commit id, request key, top of the worktree) of a question, or None."""
    loc = locate(rev)
    if loc is None:
        return None
    common, commit, top = loc
    return common, commit, request_key(kind, commit, top, path, node, all_parents, limit), top


def lookup(req: tuple | None) -> dict | None:
    """The cached answer to the question `req` (from `request`), or None."""
    from ..index.schema import SCHEMA_VERSION

    if req is None:
        return None
    common, _, key, _ = req
    db = os.path.join(common, "pfgit", "index.sqlite")
    if not os.path.isfile(db):
        return None
    try:
        conn = sqlite3.connect(db, timeout=5)
        try:
            row = conn.execute("SELECT value FROM state WHERE key='schema'").fetchone()
            if not row or row[0] != SCHEMA_VERSION:
                return None
            row = conn.execute("SELECT r.result FROM history_results a JOIN history_results r "
                               "ON r.key = a.result WHERE a.key = ?", (key,)).fetchone()
        finally:
            conn.close()
        return json.loads(row[0]) if row else None
    except (sqlite3.Error, ValueError):
        return None


__all__ = ["ANSWER_FORMAT", "lookup", "request", "request_key", "locate"]
