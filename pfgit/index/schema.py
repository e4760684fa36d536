"""The index's tables (docs/runs.md "Index schema"). Created with sqlite-utils; only when the index
is new, corrupted or of another schema version (sqlite-utils takes ~0.1-0.6 s to import, so the hot
paths - hooks, log, list - talk to sqlite3 directly)."""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = "5"

TABLES = {
    "runs": ({"name": str, "commit_sha": str, "flow_path": str, "flow_commit": str, "flow_tree": str,
              "dirty": int, "base_run": str, "base_commit": str, "status": str, "start_time": str,
              "end_time": str, "lines_total": int, "lines_completed": int, "lines_failed": int,
              "variant": str, "data_path": str, "data_sha256": str, "source": str,
              "commit_time": int}, "name"),
    "metrics": ({"run": str, "name": str, "value": float, "json": str}, ("run", "name")),
    "commits": ({"commit_sha": str, "flow_path": str, "tree": str}, ("commit_sha", "flow_path")),
    "commit_info": ({"commit_sha": str, "parent": str, "parents": str, "root_tree": str,
                     "time": int, "summary": str}, "commit_sha"),
    "flow_paths": ({"path": str}, "path"),
    "lines": ({"run": str, "line": int, "output": str}, ("run", "line")),
    "refs": ({"name": str, "sha": str}, "name"),
    "state": ({"key": str, "value": str}, "key"),
    # pfgit.history's cache (docs/history.md): a flow folder at a commit and the parents followed,
    # a flow version's summary, the semantic change between two flow versions
    "history_steps": ({"commit_sha": str, "flow_path": str, "file": str, "tree": str, "root": str,
                       "vkey": str, "parents": str, "author": str, "time": int, "tz": int,
                       "summary": str}, ("commit_sha", "flow_path")),
    "history_versions": ({"vkey": str, "readable": int, "summary": str}, "vkey"),
    "history_deltas": ({"old_vkey": str, "new_vkey": str, "delta": str}, ("old_vkey", "new_vkey")),
    "history_results": ({"key": str, "result": str}, "key"),
}

INDEXES = [
    ("runs", ["flow_path", "flow_tree"]), ("runs", ["flow_commit"]), ("runs", ["base_run"]),
    ("metrics", ["name"]), ("commits", ["flow_path", "tree"]), ("commit_info", ["parent"]),
]


def create_schema(conn: sqlite3.Connection) -> None:
    from ..lazyimport import import_without

    # sqlite-utils imports pandas/numpy when installed (0.5 s); it needs neither here
    db = import_without("sqlite_utils").Database(conn)
    for name, (columns, pk) in TABLES.items():
        db[name].create(columns, pk=pk, not_null=set(pk if isinstance(pk, tuple) else (pk,)),
                        if_not_exists=True)
    for table, cols in INDEXES:
        db[table].create_index(cols, if_not_exists=True)
    conn.execute("INSERT OR REPLACE INTO state(key, value) VALUES ('schema', ?)", (SCHEMA_VERSION,))
    conn.commit()
