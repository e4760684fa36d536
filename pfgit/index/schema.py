"""The index's tables (docs/runs.md "Index schema"), created with plain SQL when the index is new,
corrupted or of another schema version (the tables sqlite-utils made before, without its 0.2 s
import: a first pfgit command on a repository pays for it)."""

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


_TYPES = {str: "TEXT", int: "INTEGER", float: "FLOAT"}


def create_schema(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN")
    for name, (columns, pk) in TABLES.items():
        keys = pk if isinstance(pk, tuple) else (pk,)
        cols = [f"[{c}] {_TYPES[t]}" + (" NOT NULL" if c in keys else "") for c, t in columns.items()]
        cols.append("PRIMARY KEY (" + ", ".join(f"[{k}]" for k in keys) + ")")
        conn.execute(f"CREATE TABLE IF NOT EXISTS [{name}] ({', '.join(cols)})")
    for table, cols in INDEXES:
        conn.execute(f"CREATE INDEX IF NOT EXISTS [idx_{table}_{'_'.join(cols)}] ON [{table}] "
                     f"({', '.join(f'[{c}]' for c in cols)})")
    conn.execute("INSERT OR REPLACE INTO state(key, value) VALUES ('schema', ?)", (SCHEMA_VERSION,))
    conn.execute("COMMIT")
