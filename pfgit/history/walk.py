"""A flow's history read from git and cached in the run index, and the walk that passes
"suspects" (fields, lines) from a commit to its parents until the commit that changed them.

Three tables of the index (pfgit/index/schema.py) cache what a walk computes, so a second call
reads rows instead of git objects and YAML: `history_steps` (a flow folder at a commit and the
folder it had in each parent), `history_versions` (a flow version's summary, by version key) and
`history_deltas` (the semantic change between two versions). Steps at a history boundary
(shallow clone) are not cached: `git fetch --unshallow` moves the boundary. The index is a cache:
`pfgit index rebuild` drops these rows and the next query recomputes them.

A version whose flow file does not parse stands for its first parent's version (recursively), so
the changes made around a broken commit show up in the commit that repaired it.
"""

from __future__ import annotations

import heapq
import json

from . import delta as deltas
from .cached import ANSWER_FORMAT
from .steps import Step, compute_step

HISTORY_CACHE = "2"  # the rows' meaning (summaries, deltas): other rows are dropped, not read
_TABLES = ("history_steps", "history_versions", "history_deltas", "history_results")
_STEP_COLS = "commit_sha, flow_path, file, tree, root, vkey, parents, author, time, tz, summary"


class FlowHistory:
    def __init__(self, repo, conn, all_parents: bool = False):
        self.repo = repo
        self.conn = conn
        self.all_parents = all_parents
        self._versions = None
        self.shallow = {s.decode() for s in repo.get_shallow()}
        self._steps: dict = {}
        self._summaries: dict = {}
        self._readable: dict = {}
        self._deltas: dict = {}
        self._new: dict = {"steps": [], "versions": {}, "deltas": []}
        self.computed = 0  # deltas computed rather than read from the cache (tests, bench)
        self.stops: dict | None = None  # where history stopped (shallow clone), if it mattered
        self._cold = False  # nothing of this walk is cached: skip the lookups that would miss
        self._prefetched = False
        self._check_cache()

    def _check_cache(self) -> None:
        """Drop the history rows an older pfgit computed differently (the index is a cache)."""
        row = self.conn.execute("SELECT value FROM state WHERE key='history_cache'").fetchone()
        if row is not None and row[0] == HISTORY_CACHE:
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            for t in _TABLES:
                self.conn.execute(f"DELETE FROM {t}")
            self.conn.execute("INSERT OR REPLACE INTO state(key, value) VALUES ('history_cache', ?)",
                              (HISTORY_CACHE,))
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    @property
    def versions(self):
        """Reading flow versions from git (imported on first use: a cached answer needs none)."""
        if self._versions is None:
            from .versions import Versions

            self._versions = Versions(self.repo)
        return self._versions

    def close(self) -> None:
        if self._versions is not None:
            self._versions.close()

    # -- cached reads ------------------------------------------------------------------------
    def step(self, commit: str, path: str) -> Step | None:
        key = (commit, path)
        if key in self._steps:
            return self._steps[key]
        row = None if self._cold else self.conn.execute(
            f"SELECT {_STEP_COLS} FROM history_steps WHERE commit_sha=? AND flow_path=?", key).fetchone()
        if row is not None:
            st = Step.from_row(row)
        else:
            st = compute_step(self.repo, self.versions, commit, path, self.shallow)
            if st is not None and st.boundary is None:
                self._new["steps"].append(st.row())
        self._steps[key] = st
        return st

    def _chain(self, commit: str, path: str) -> list:
        return self.conn.execute(f"""
            WITH RECURSIVE chain(c, p, n) AS (
              SELECT ?, ?, 0
              UNION ALL
              SELECT json_extract(s.parents, '$[0][0]'), json_extract(s.parents, '$[0][1]'), n + 1
              FROM chain JOIN history_steps s ON s.commit_sha = chain.c AND s.flow_path = chain.p
              WHERE json_extract(s.parents, '$[0][1]') IS NOT NULL
            )
            SELECT {', '.join('s.' + c.strip() for c in _STEP_COLS.split(','))} FROM chain
            JOIN history_steps s ON s.commit_sha = chain.c AND s.flow_path = chain.p""",
                                 (commit, path)).fetchall()

    def prefetch(self, start: Step) -> None:
        """Load the cached first-parent chain below `start` in one query (the warm path). When
        nothing of it is cached (a first query), later lookups skip the cache: it has none."""
        if self._prefetched:
            return
        self._prefetched = True
        rows = self._chain(start.commit, start.path)
        if not rows and start.parents and start.parents[0][1] is not None:
            rows = self._chain(*start.parents[0])  # a new commit on a known history
        if not rows:
            self._cold = True
            self.versions.preload(start.commit, start.path, first_parent=not self.all_parents)
            return
        steps = [Step.from_row(r) for r in rows]
        for st in steps:
            self._steps.setdefault((st.commit, st.path), st)
        keys = sorted({st.vkey for st in steps})
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            marks = ",".join("?" * len(chunk))
            for k, ok, s in self.conn.execute(
                    f"SELECT vkey, readable, summary FROM history_versions WHERE vkey IN ({marks})", chunk):
                self._readable.setdefault(k, bool(ok))
                if s is not None:
                    self._summaries.setdefault(k, s)  # parsed on use: most walks need few
            for o, n, d in self.conn.execute(
                    f"SELECT old_vkey, new_vkey, delta FROM history_deltas WHERE old_vkey IN ({marks})",
                    chunk):
                self._deltas.setdefault((o, n), d)  # parsed on use

    def summary(self, st: Step) -> dict:
        s = self._summaries.get(st.vkey)
        if isinstance(s, str):
            s = self._summaries[st.vkey] = json.loads(s)
        if s is None:
            row = self.conn.execute("SELECT summary FROM history_versions WHERE vkey=?",
                                    (st.vkey,)).fetchone()
            if row is not None and row[0] is not None:
                s = json.loads(row[0])
            else:
                s = self.versions.summarize(st)
                self._new["versions"][st.vkey] = (int(s["readable"]), json.dumps(s))
            self._summaries[st.vkey] = s
        self._readable[st.vkey] = s["readable"]
        return s

    def body_source(self, st: Step, body: tuple) -> tuple | None:
        """(repo-relative source file, blob id) of one node or variant body of a version, from its
        summary when known, else read for that body alone (summaries cost every body's file)."""
        s = self._summaries.get(st.vkey)
        if s is None and not self._cold:
            row = self.conn.execute("SELECT summary FROM history_versions WHERE vkey=?",
                                    (st.vkey,)).fetchone()
            if row is not None and row[0] is not None:
                s = self._summaries[st.vkey] = row[0]
        if s is not None:
            s = self.summary(st)
            return next(((rel, bid) for b, rel, bid in s.get("sources") or [] if tuple(b) == body), None)
        return self.versions.body_source(st, body)

    def readable(self, st: Step) -> bool:
        """Whether the flow file parses (without summarising the version: a walk needs only this
        of most versions)."""
        ok = self._readable.get(st.vkey)
        if ok is None:
            row = None if self._cold else self.conn.execute(
                "SELECT readable FROM history_versions WHERE vkey=?", (st.vkey,)).fetchone()
            if row is not None:
                ok = bool(row[0])
            else:
                ok = self.versions.data(st)[1] is None
                self._new["versions"].setdefault(st.vkey, (int(ok), None))
            self._readable[st.vkey] = ok
        return ok

    def effective(self, st: Step) -> Step:
        """`st`, or when its flow file does not parse, its first parent's effective version."""
        seen = 0
        while not self.readable(st) and seen < 10_000:
            seen += 1
            ps = self.parent_steps(st)
            if not ps or ps[0] is None:
                return st
            st = ps[0]
        return st

    def parent_steps(self, st: Step, all_parents: bool | None = None) -> list:
        """Steps of the parents followed (None for a parent without the flow)."""
        every = self.all_parents if all_parents is None else all_parents
        out = []
        for sha, path in (st.parents if every else st.parents[:1]):
            out.append(self.step(sha, path) if path is not None else None)
        return out

    def delta(self, parent: Step | None, st: Step) -> dict:
        """The semantic change from `parent` (None: the flow did not exist) to `st`."""
        new = self.effective(st)
        old = self.effective(parent) if parent is not None else None
        if old is not None and old.vkey == new.vkey:
            return deltas.EMPTY
        if not self.readable(new):  # nothing readable at or below it
            return deltas.EMPTY if old is not None else {"changes": [], "flow_file": False, "added": True}
        key = (old.vkey if old is not None else "", new.vkey)
        d = self._deltas.get(key)
        if isinstance(d, str):
            d = self._deltas[key] = json.loads(d)
        if d is None:
            row = None if self._cold else self.conn.execute(
                "SELECT delta FROM history_deltas WHERE old_vkey=? AND new_vkey=?", key).fetchone()
            if row is not None:
                d = json.loads(row[0])
            else:
                d = deltas.compute(self.versions, old, new)
                self.computed += 1
                self._new["deltas"].append((key[0], key[1], json.dumps(d, separators=(",", ":"))))
            self._deltas[key] = d
        return d

    # -- whole answers ---------------------------------------------------------------------------
    def answer(self, key: list, compute, request: str | None = None):
        """`compute()`'s result, cached by `key` (a question about fixed commits has one answer;
        answers that hit a history boundary are not kept: it moves with `git fetch --unshallow`)
        and pointed to by `request` (pfgit.history.cached: the question as the user typed it)."""
        k = json.dumps([ANSWER_FORMAT] + list(key), separators=(",", ":"))
        row = self.conn.execute("SELECT result FROM history_results WHERE key=?", (k,)).fetchone()
        if row is not None:
            self.flush()  # what finding the question's start computed (its summary)
            res = json.loads(row[0])
        else:
            res = compute()
            self.flush()
            if res.get("history_stops"):
                return res
            self.conn.execute("INSERT OR REPLACE INTO history_results VALUES (?, ?)",
                              (k, json.dumps(res, separators=(",", ":"))))
        if request is not None:
            self.conn.execute("INSERT OR REPLACE INTO history_results VALUES (?, ?)", (request, k))
        return res

    # -- writing the cache -------------------------------------------------------------------------
    def flush(self) -> None:
        """Store what this walk computed (one transaction; a concurrent writer's rows win)."""
        new = self._new
        if not (new["steps"] or new["versions"] or new["deltas"]):
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self.conn.executemany(f"INSERT OR IGNORE INTO history_steps ({_STEP_COLS}) VALUES "
                                  "(?,?,?,?,?,?,?,?,?,?,?)", new["steps"])
            self.conn.executemany("INSERT OR IGNORE INTO history_versions VALUES (?, ?, ?)",
                                  [(k, ok, s) for k, (ok, s) in new["versions"].items() if s is None])
            self.conn.executemany("INSERT OR REPLACE INTO history_versions VALUES (?, ?, ?)",
                                  [(k, ok, s) for k, (ok, s) in new["versions"].items() if s is not None])
            self.conn.executemany("INSERT OR IGNORE INTO history_deltas VALUES (?, ?, ?)", new["deltas"])
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")
        self._new = {"steps": [], "versions": {}, "deltas": []}

    # -- the walk ------------------------------------------------------------------------------
    def propagate(self, start: Step, payload, pass_to_parent, blame) -> None:
        """Pass `payload` from commit to parent while `pass_to_parent(parent, step, payload)`
        returns (passed on, kept); what a commit keeps - changed against every parent followed,
        or at a flow's first commit or a history boundary - goes to `blame(step, kept)`.
        Newest commits first, each (commit, folder) once per payload that reaches it."""
        pending = {(start.commit, start.path): payload}
        steps = {(start.commit, start.path): start}
        heap = [(-start.time, start.commit, start.path)]
        while heap:
            _, c, p = heapq.heappop(heap)
            st = steps[(c, p)]
            kept = pending.pop((c, p), None)
            if kept is None:
                continue
            for pst in self.parent_steps(st):
                if not kept:
                    break
                if pst is None:
                    continue
                passed, kept = pass_to_parent(pst, st, kept)
                if passed:
                    k = (pst.commit, pst.path)
                    if k in pending:
                        pending[k].merge(passed)
                    else:
                        pending[k] = passed
                        steps[k] = pst
                        heapq.heappush(heap, (-pst.time, pst.commit, pst.path))
            if kept:
                if st.boundary is not None and self.stops is None:
                    self.stops = {"commit": st.commit, "reason": st.boundary}
                blame(st, kept)


__all__ = ["FlowHistory"]
