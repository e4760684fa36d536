"""Fast entry for git hooks: `python -m pfgit.index.hook <hook-name>` (also `pfgit index
update-commits`). Records the commits that HEAD gained in the index's commit<->flow-tree table.

Start-up is what makes a hook noticeable, so this module uses only the standard library and the
git binary (git is running us anyway): no dulwich, no typer, no sqlite-utils. Without an index it
does nothing (the next pfgit command builds one). It never fails the git command.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys


def _git(args: list, **kw) -> subprocess.Popen:
    return subprocess.Popen(["git", *args], stdout=subprocess.PIPE, stdin=kw.get("stdin"),
                            stderr=subprocess.DEVNULL)


def git_dir() -> str | None:
    p = subprocess.run(["git", "rev-parse", "--git-common-dir", "HEAD"], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, text=True)
    if p.returncode:
        return None
    lines = p.stdout.split()
    return os.path.abspath(lines[0]) + "\0" + (lines[1] if len(lines) > 1 else "")


def new_commits(conn: sqlite3.Connection, head: str) -> list:
    """(sha, parents, root tree, time, summary) of commits reachable from `head` and not yet in
    the index, stopping at known ones (the usual case: one new commit, one line read)."""
    known = conn.execute
    needed = {head}
    seen: dict = {}
    out = []
    # user config must not add lines (signatures, decorations, colour) to what is parsed
    proc = _git(["-c", "log.showSignature=false", "log", "--no-color", "--no-decorate",
                 "--format=%H%x00%P%x00%T%x00%ct%x00%s", head])

    def take(sha: str, rec: tuple) -> None:
        needed.discard(sha)
        if known("SELECT 1 FROM commit_info WHERE commit_sha=?", (sha,)).fetchone():
            return
        out.append(rec)
        for p in rec[1]:
            if p in seen:  # listed earlier (clock skew): handle it now
                take(p, seen.pop(p))
            else:
                needed.add(p)

    try:
        for raw in proc.stdout:
            if not needed:
                break
            parts = raw.decode("utf-8", "replace").rstrip("\n").split("\x00")
            if len(parts) < 5:
                continue
            sha, parents, tree, ts, summary = parts[0], parts[1].split(), parts[2], parts[3], parts[4]
            rec = (sha, parents, tree, int(ts or 0), summary)
            if sha in needed:
                take(sha, rec)
            else:
                seen[sha] = rec
    finally:
        proc.kill()
        proc.wait()
    return out


def flow_trees(commits: list, paths: list) -> list:
    """(commit, path, tree) for each commit and tracked flow path, in one `git cat-file` call."""
    # one query a line: a path holding a newline (kept by an index made before paths were
    # checked) would shift every answer after it onto the wrong commit and path
    paths = [p for p in paths if "\n" not in p]
    if not commits or not paths:
        return []
    queries = [(c[0], p) for c in commits for p in paths]
    inp = "".join(f"{c}:{p}\n" for c, p in queries).encode()
    p = subprocess.run(["git", "cat-file", "--batch-check=%(objectname) %(objecttype)"], input=inp,
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    rows = []
    for (c, path), line in zip(queries, p.stdout.decode().splitlines()):
        parts = line.split()
        if len(parts) == 2 and parts[1] == "tree":
            rows.append((c, path, parts[0]))
    return rows


def update(git_common_dir: str, head: str) -> int:
    path = os.path.join(git_common_dir, "pfgit", "index.sqlite")
    if not os.path.exists(path):
        return 0
    conn = sqlite3.connect(path, timeout=10, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout=10000")
        row = conn.execute("SELECT value FROM state WHERE key='head'").fetchone()
        if row and row[0] == head:
            return 0
        commits = new_commits(conn, head)
        paths = [r[0] for r in conn.execute("SELECT path FROM flow_paths")]
        trees = flow_trees(commits, paths)
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT OR REPLACE INTO commit_info VALUES (?,?,?,?,?,?)",
                         [(c[0], c[1][0] if c[1] else None, json.dumps(c[1]), c[2], c[3], c[4])
                          for c in commits])
        conn.executemany("INSERT OR REPLACE INTO commits VALUES (?,?,?)", trees)
        conn.execute("INSERT OR REPLACE INTO state(key, value) VALUES ('head', ?)", (head,))
        conn.execute("COMMIT")
        return len(commits)
    finally:
        conn.close()


def main(argv: list | None = None) -> int:
    try:
        gd = git_dir()
        if gd is None:
            return 0
        common, head = gd.split("\0")
        if head:
            n = update(common, head)
            if os.environ.get("PFGIT_HOOK_VERBOSE"):
                print(f"pfgit: indexed {n} new commit(s)", file=sys.stderr)
    except Exception as e:  # a hook must never break the user's git command
        if os.environ.get("PFGIT_DEBUG") == "1":
            raise
        print(f"pfgit: index update skipped: {type(e).__name__}: {e}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
