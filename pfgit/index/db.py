"""The SQLite run index (`.git/pfgit/index.sqlite`, WAL): a cache of the run refs and of which flow
folder tree each commit holds. Never the source of truth: `rebuild` recreates it from refs alone.

Freshness (checked by every command through `open_index`):
- run refs: a two-stat fingerprint of `refs/pfgit/runs/` and `packed-refs`; when it differs from the
  recorded one, the refs are listed and only added/changed/removed runs are (re)indexed. A
  fingerprint taken within 2 s of the last change is not trusted (like git's racy index).
- HEAD: when it differs from the recorded HEAD, new commits are walked back only until known ones.
- a missing, unreadable or other-version file is recreated.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import time
from collections import deque
from contextlib import contextmanager

from dulwich.repo import Repo

from ..git import objects as gobj
from ..git import runrefs
from ..store.jsondata import real
from .schema import SCHEMA_VERSION, create_schema

RACY_SECONDS = 2.0


def index_path(repo: Repo) -> str:
    return os.path.join(repo.commondir(), "pfgit", "index.sqlite")


def _connect(path: str) -> sqlite3.Connection:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def _remove_files(path: str) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            os.unlink(path + suffix)
        except FileNotFoundError:
            pass


class RunIndex:
    def __init__(self, repo: Repo, conn: sqlite3.Connection, created: bool = False):
        self.repo = repo
        self.conn = conn
        self.created = created
        self._memo: dict = {}

    # -- state -------------------------------------------------------------------------------
    def state(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM state WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_state(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO state(key, value) VALUES (?, ?)", (key, value))

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self):
        """A write transaction, taken at once (BEGIN IMMEDIATE) so concurrent writers queue."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # -- freshness ---------------------------------------------------------------------------
    def refresh(self) -> dict:
        """Bring the index up to date with the refs and HEAD. Returns what changed."""
        changed = self.sync_refs()
        self.sync_head()
        return changed

    def sync_refs(self, force: bool = False) -> dict:
        fp = runrefs.fingerprint(self.repo)
        if not force and fp == self.state("refs_fp"):
            return {"indexed": 0, "removed": 0}
        current = runrefs.list_runs(self.repo)
        indexed = dict(self.conn.execute("SELECT name, sha FROM refs"))
        todo = [(n, s) for n, s in current.items() if indexed.get(n) != s.decode()]
        gone = [n for n in indexed if n not in current]
        paths: dict = {}   # flow path -> the commits runs claim it at
        with self.transaction():
            for n in gone:
                self._delete_rows(n)
            for name, sha in todo:
                try:
                    p = self._index_run(name, sha, known=name in indexed)
                except (ValueError, TypeError, OverflowError, sqlite3.InterfaceError):
                    self._delete_rows(name)  # left out (and retried), the others still listed
                    continue
                if p:
                    paths.setdefault(p[0], set()).add(p[1])
            racy = time.time() - runrefs.newest_mtime(self.repo) < RACY_SECONDS
            self.set_state("refs_fp", "" if racy else fp)
        for p in sorted(paths):
            self._track_claimed(p, paths[p])
        return {"indexed": len(todo), "removed": len(gone)}

    def _track_claimed(self, path: str, commits) -> None:
        """Track a flow path a run claims, when it is a flow folder at one of the commits runs claim
        for it. Every tracked path costs a tree lookup per commit of the history: a remote's 500
        runs claiming 500 made-up paths made the next runs command take 10 s on a 500-commit
        repository (quadratic: hours on a big one)."""
        if self.conn.execute("SELECT 1 FROM flow_paths WHERE path=?", (path,)).fetchone():
            return
        if any(self._flow_folder_at(c, path) for c in sorted(commits)):
            self.track_path(path)

    def _flow_folder_at(self, commit: str, path: str) -> bool:
        from ..flow.model import FLOW_FILES
        from ..store.read import MAX_RUN_COMMIT_BYTES

        try:
            sha = commit.encode("ascii")
            if len(sha) not in (40, 64) or (gobj.object_size(self.repo, sha) or 0) > MAX_RUN_COMMIT_BYTES:
                return False
            c = self.repo[sha]
            t = gobj.tree_at(self.repo, c.tree, path, self._memo) if c.type_name == b"commit" else None
            names = [e.path for e in self.repo[t].iteritems()] if t is not None else []
        except (KeyError, ValueError, AttributeError, UnicodeError):
            return False
        return any(n.decode("utf-8", "replace") in FLOW_FILES or n.endswith(b".prompty") for n in names)

    def sync_head(self) -> None:
        try:
            head = self.repo.refs[b"HEAD"]
        except KeyError:
            return
        if self.state("head") == head.decode():
            return
        self.update_commits([head])
        self.conn.execute("INSERT OR REPLACE INTO state(key, value) VALUES ('head', ?)", (head.decode(),))

    # -- runs ----------------------------------------------------------------------------------
    def _delete_rows(self, name: str) -> None:
        for sql in ("DELETE FROM runs WHERE name=?", "DELETE FROM metrics WHERE run=?",
                    "DELETE FROM lines WHERE run=?", "DELETE FROM refs WHERE name=?"):
            self.conn.execute(sql, (name,))

    def _index_run(self, name: str, sha: bytes, known: bool = True) -> tuple | None:
        """(Re)index one run from its snapshot; a broken snapshot is skipped (kept out of the
        refs table so it is retried). Returns (its flow path, the commit it claims), or None."""
        from ..store.read import read_summary

        if known:
            self._delete_rows(name)
        try:
            snap = read_summary(self.repo, name, sha)
        except Exception:  # one bad run (hand-made or fetched ref) never blocks the others
            return None
        r = snap.run
        flow, lines, base, data = (_obj(r.get(k)) for k in ("flow", "lines", "base_run", "data"))
        self.conn.execute(
            "INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (name, snap.commit, _text(flow.get("path")), _text(flow.get("commit")),
             _text(flow.get("tree")), int(bool(flow.get("dirty"))), _text(base.get("name")),
             _text(base.get("commit")), _text(r.get("status")), _text(r.get("start_time")),
             _text(r.get("end_time")), _count(lines.get("total")), _count(lines.get("completed")),
             _count(lines.get("failed")), _text(r.get("variant")), _text(data.get("path")),
             _text(data.get("sha256")), _text(_obj(r.get("source")).get("tool")),
             snap.commit_time))
        self.conn.executemany("INSERT OR REPLACE INTO metrics VALUES (?,?,?,?)",
                              _metric_rows(name, snap.metrics))
        self.conn.execute("INSERT OR REPLACE INTO refs VALUES (?, ?)", (name, sha.decode()))
        if not flow.get("commit") or not _text(flow.get("path")):
            return None   # unlinked: no history
        return _text(flow.get("path")), _text(flow.get("commit"))

    def add_run(self, name: str, sha: bytes) -> None:
        """Index a run just recorded (the ref already exists)."""
        with self.transaction():
            path = self._index_run(name, sha)
        if path:
            self._track_claimed(path[0], {path[1]})

    def remove_run(self, name: str) -> None:
        with self.transaction():
            self._delete_rows(name)

    # -- commits <-> flow trees ------------------------------------------------------------------
    def tracked_paths(self) -> list:
        return [r[0] for r in self.conn.execute("SELECT path FROM flow_paths ORDER BY path")]

    def update_commits(self, starts: list) -> int:
        """Record new commits reachable from `starts`, walking back only to known commits."""
        paths = self.tracked_paths()
        known = self.conn.execute
        queue = deque(starts)
        seen: set = set()
        info_rows, tree_rows = [], []
        while queue:
            sha = queue.popleft()
            if sha in seen:
                continue
            seen.add(sha)
            if known("SELECT 1 FROM commit_info WHERE commit_sha=?", (sha.decode(),)).fetchone():
                continue
            try:
                c = self.repo[sha]
            except KeyError:  # shallow clone boundary or missing object
                continue
            if c.type_name != b"commit":
                continue
            summary = c.message.split(b"\n", 1)[0].decode("utf-8", "replace")
            info_rows.append((sha.decode(), c.parents[0].decode() if c.parents else None,
                              json.dumps([p.decode() for p in c.parents]), c.tree.decode(),
                              c.commit_time, summary))
            for p in paths:
                t = gobj.tree_at(self.repo, c.tree, p, self._memo)
                if t is not None:
                    tree_rows.append((sha.decode(), p, t.decode()))
            queue.extend(c.parents)
        if info_rows:
            with self.transaction():
                self.conn.executemany("INSERT OR REPLACE INTO commit_info VALUES (?,?,?,?,?,?)", info_rows)
                self.conn.executemany("INSERT OR REPLACE INTO commits VALUES (?,?,?)", tree_rows)
        return len(info_rows)

    def track_path(self, path: str) -> None:
        """Follow a flow folder path in the commits table (backfilling known commits once). A path
        that is not UTF-8 is not followed: no run can name it (git.repo.utf8_path)."""
        if _storable(path) != path or not _tree_path(path):
            return
        if self.conn.execute("SELECT 1 FROM flow_paths WHERE path=?", (path,)).fetchone():
            return
        rows = []
        for sha, root in self.conn.execute("SELECT commit_sha, root_tree FROM commit_info").fetchall():
            t = gobj.tree_at(self.repo, root.encode(), path, self._memo)
            if t is not None:
                rows.append((sha, path, t.decode()))
        with self.transaction():
            self.conn.execute("INSERT OR IGNORE INTO flow_paths VALUES (?)", (path,))
            self.conn.executemany("INSERT OR REPLACE INTO commits VALUES (?,?,?)", rows)

    def forget_unseen_path(self, path: str) -> bool:
        """Stop following `path` if no known commit holds it (a mistyped `pfgit log PATH` leaves
        nothing behind in the cache). True when it was forgotten."""
        if self.conn.execute("SELECT 1 FROM commits WHERE flow_path=? LIMIT 1", (path,)).fetchone():
            return False
        with self.transaction():
            self.conn.execute("DELETE FROM flow_paths WHERE path=?", (path,))
        return True

    def trees_of(self, commit: bytes) -> dict:
        """{flow path: tree} for a commit (from the table, else computed for tracked paths)."""
        rows = self.conn.execute("SELECT flow_path, tree FROM commits WHERE commit_sha=?",
                                 (commit.decode(),)).fetchall()
        if rows or self.conn.execute("SELECT 1 FROM commit_info WHERE commit_sha=?",
                                     (commit.decode(),)).fetchone():
            return dict(rows)
        c = self.repo[commit]
        out = {}
        for p in self.tracked_paths():
            t = gobj.tree_at(self.repo, c.tree, p, self._memo)
            if t is not None:
                out[p] = t.decode()
        return out

    # -- per-line outputs ----------------------------------------------------------------------
    def ensure_lines(self, name: str) -> None:
        """Fill the optional `lines` table for one run from its snapshot (on first use)."""
        if self.conn.execute("SELECT 1 FROM lines WHERE run=? LIMIT 1", (name,)).fetchone():
            return
        from ..store.read import load_run, stream_file

        snap = load_run(self.repo, name)
        with self.transaction():
            batch = []
            for i, raw in enumerate(stream_file(self.repo, snap)):
                text = raw.decode("utf-8", "replace").rstrip("\n")
                try:
                    ln = json.loads(text).get("line_number", i)
                    ln = ln if isinstance(ln, int) else i
                except (ValueError, AttributeError):
                    ln = i
                batch.append((name, ln, text))
                if len(batch) >= 5000:
                    self.conn.executemany("INSERT OR REPLACE INTO lines VALUES (?,?,?)", batch)
                    batch = []
            self.conn.executemany("INSERT OR REPLACE INTO lines VALUES (?,?,?)", batch)


def _obj(v) -> dict:
    return v if isinstance(v, dict) else {}


def _text(v) -> str | None:
    """A run.json field as the index stores it: text, or None (a fetched run.json may hold
    anything; a wrong type must not break listing)."""
    return _storable(v) if isinstance(v, str) else None


def _tree_path(path: str) -> bool:
    """Can `path` (a fetched run.json's flow path) name a folder of a commit's tree? Not when
    absolute, climbing (`..`) or holding a control character: a newline in it split the git hook's
    one-query-a-line `cat-file` input, filing later commits' trees under the wrong flow paths."""
    if path == ".":
        return True
    parts = path.split("/")
    return bool(path) and not any(p in ("", ".", "..") for p in parts) and \
        not any(ord(c) < 32 or ord(c) == 127 for c in path)


def _metric_rows(run: str, metrics: dict):
    """(run, name, value as REAL, value as JSON) rows, generated (a run with 1,000,000 metrics
    took 8 s and 340 MB to index at `pfgit fetch`): plain numbers skip json.dumps and real()."""
    isfinite = math.isfinite
    for k, v in metrics.items():
        t = type(v)
        if t is int and -(1 << 53) < v < (1 << 53):
            yield run, _storable(str(k)), float(v), str(v)   # as real() and json.dumps give them
        elif t is float and isfinite(v):
            yield run, _storable(str(k)), v, repr(v)                  # json.dumps' float text
        else:
            yield run, _storable(str(k)), real(v), json.dumps(v)


def _storable(s: str) -> str:
    """`s` as SQLite can hold it: a lone surrogate (JSON's `"\\udcff"`, a path that is not UTF-8)
    becomes its `\\udcff` escape (inserting it raw raised, and the run vanished from listings)."""
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-8", "backslashreplace").decode("utf-8")


def _count(v) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and abs(v) < 2 ** 63 else None


class _Recreate(Exception):
    pass


class _CreationLock:
    """Serialises creating/replacing the index file between processes (removing a database
    another process has just created and mapped would crash it)."""

    def __init__(self, path: str):
        self.path = path + ".lock"

    def __enter__(self):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self.f = open(self.path, "a+")
        try:
            import fcntl

            fcntl.flock(self.f, fcntl.LOCK_EX)
        except ImportError:  # not POSIX: best effort
            pass
        return self

    def __exit__(self, *exc):
        self.f.close()  # releases the lock


def _usable(path: str) -> sqlite3.Connection | None:
    """A connection to an existing index of our schema version, else None."""
    if not os.path.exists(path):
        return None
    conn = _connect(path)
    try:
        row = conn.execute("SELECT value FROM state WHERE key='schema'").fetchone()
    except sqlite3.DatabaseError:
        row = None
    if not row or row[0] != SCHEMA_VERSION:
        conn.close()
        return None
    return conn


def open_index(repo: Repo, refresh: bool = True) -> RunIndex:
    """The index, recreated if missing/corrupt/outdated, and refreshed unless `refresh=False`.
    When the file cannot be written (a read-only `.git`, a CI cache mounted read-only), an
    in-memory index built from the refs answers instead: slower, never wrong, never an error."""
    try:
        idx = _open_file_index(repo)
    except (OSError, sqlite3.OperationalError) as e:
        if "locked" in str(e):
            raise
        return _memory_index(repo, refresh)
    if refresh:
        try:
            idx.refresh()
        except sqlite3.OperationalError as e:
            if "locked" in str(e) or "readonly" not in str(e) and "unable to open" not in str(e) \
                    and "I/O" not in str(e):
                raise
            idx.close()
            return _memory_index(repo, refresh)
    return idx


def _memory_index(repo: Repo, refresh: bool) -> RunIndex:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    create_schema(conn)
    idx = RunIndex(repo, conn, True)
    _track_head_flows(idx)
    if refresh:
        idx.refresh()
    return idx


def _open_file_index(repo: Repo) -> RunIndex:
    path = index_path(repo)
    created = False
    try:
        conn = _usable(path)
    except sqlite3.DatabaseError:
        conn = None
    if conn is None:
        with _CreationLock(path):
            try:
                conn = _usable(path)       # another process may have made it meanwhile
            except sqlite3.DatabaseError:
                conn = None
            if conn is None:
                _remove_files(path)
                conn = _connect(path)
                create_schema(conn)
                created = True
    idx = RunIndex(repo, conn, created)
    if created:
        _track_head_flows(idx)
    return idx


def _track_head_flows(idx: RunIndex) -> None:
    """On a new index, follow every flow present at HEAD."""
    try:
        head = idx.repo.refs[b"HEAD"]
    except KeyError:
        return
    from ..flow.load import find_flows
    from ..git.repo import TreeReader

    for loc in find_flows(TreeReader(idx.repo, idx.repo[head].tree), "."):
        idx.track_path(loc.dir)


def rebuild(repo: Repo) -> dict:
    """Recreate the index from the refs alone (all run refs, HEAD and local branches)."""
    t0 = time.perf_counter()
    with _CreationLock(index_path(repo)):
        _remove_files(index_path(repo))
    idx = open_index(repo, refresh=False)
    try:
        res = idx.sync_refs(force=True)
        n = idx.update_commits(runrefs.local_heads(repo))
        idx.sync_head()
        idx.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # fold the bulk insert into the file
        return {"runs": res["indexed"], "commits": n,
                "flow_paths": idx.tracked_paths(), "seconds": round(time.perf_counter() - t0, 3),
                "path": index_path(repo)}
    finally:
        idx.close()


def index_recorded_run(repo: Repo, name: str, sha: bytes) -> None:
    idx = open_index(repo, refresh=False)
    try:
        idx.add_run(name, sha)
    finally:
        idx.close()


def with_index(repo: Repo, fn, refresh: bool = True):
    """Call fn(index); a corrupted index discovered mid-way is rebuilt and fn retried once."""
    for attempt in (0, 1):
        idx = None
        try:
            idx = open_index(repo, refresh=refresh)
            return fn(idx)
        except sqlite3.DatabaseError as e:
            if attempt or isinstance(e, sqlite3.OperationalError) and "locked" in str(e):
                raise
            if idx is not None:
                idx.close()
                idx = None
            with _CreationLock(index_path(repo)):
                _remove_files(index_path(repo))
        finally:
            if idx is not None:
                idx.close()
