"""Questions asked of the run index: runs of a flow or commit, a flow's history with metrics,
a run's metrics (with those of the evaluation runs that evaluated it)."""

from __future__ import annotations

from ..store.jsondata import loads
from .db import RunIndex

RUN_COLS = ("name, commit_sha, flow_path, flow_commit, flow_tree, dirty, base_run, status, "
            "start_time, end_time, lines_total, lines_completed, lines_failed, variant, data_path, "
            "source")


def _run_dict(row) -> dict:
    (name, commit, path, fc, ft, dirty, base, status, start, end, total, done, failed, variant,
     data, source) = row
    return {"name": name, "status": status, "flow": path, "flow_commit": fc, "flow_tree": ft,
            "dirty": bool(dirty), "linked": bool(fc), "base_run": base, "start_time": start,
            "end_time": end, "lines": {"total": total, "completed": done, "failed": failed},
            "variant": variant, "data": data, "source": source, "snapshot": commit}


def metrics_for(idx: RunIndex, names: list, only: list | None = None) -> dict:
    """{run: {metric: value}} for the given runs."""
    out: dict = {n: {} for n in names}
    for i in range(0, len(names), 500):
        chunk = names[i:i + 500]
        sql = f"SELECT run, name, json FROM metrics WHERE run IN ({','.join('?' * len(chunk))})"
        args = list(chunk)
        if only:
            sql += f" AND name IN ({','.join('?' * len(only))})"
            args += list(only)
        rows = idx.conn.execute(sql, args).fetchall()
        for (run, name, _), value in zip(rows, _values([js for _, _, js in rows])):
            out[run][name] = value
    return out


def _values(texts: list) -> list:
    """The JSON values `texts`, parsed in one call (a run with 1,000,000 metrics: 6 s one by
    one); one by one when one of them is not JSON."""
    if len(texts) > 1:
        try:
            values = loads("[" + ",".join(texts) + "]")
            if len(values) == len(texts):
                return values
        except (ValueError, RecursionError, TypeError):
            pass
    out = []
    for js in texts:
        try:
            out.append(loads(js))
        except (ValueError, RecursionError, TypeError):
            out.append(None)
    return out


def evaluations_for(idx: RunIndex, names: list) -> dict:
    """{run: [evaluation run names, newest first]} (runs whose base run it is)."""
    out: dict = {n: [] for n in names}
    for i in range(0, len(names), 500):
        chunk = names[i:i + 500]
        for base, name in idx.conn.execute(
                f"SELECT base_run, name FROM runs WHERE base_run IN ({','.join('?' * len(chunk))}) "
                "ORDER BY end_time DESC, name", chunk):
            out[base].append(name)
    return out


def attach_metrics(idx: RunIndex, runs: list, only: list | None = None) -> list:
    """Add `metrics` (own) and `evaluations` [{name, metrics}] to run dicts, and `effective`:
    own metrics completed by those of its newest evaluation runs."""
    names = [r["name"] for r in runs]
    evals = evaluations_for(idx, names)
    eval_names = sorted({e for v in evals.values() for e in v})
    m = metrics_for(idx, names + [e for e in eval_names if e not in names], only)
    for r in runs:
        r["metrics"] = m.get(r["name"], {})
        r["evaluations"] = [{"name": e, "metrics": m.get(e, {})} for e in evals[r["name"]]]
        set_effective_metrics(r)
    return runs


def set_effective_metrics(run: dict) -> dict:
    """`effective_metrics` of a run dict from its own `metrics` and its `evaluations` (newest first)."""
    eff = {}
    for ev in reversed(run["evaluations"]):  # newest evaluation wins
        eff.update(ev["metrics"])
    eff.update(run["metrics"])
    run["effective_metrics"] = eff
    return run


def list_runs(idx: RunIndex, flow: str | None = None, commit: bytes | None = None,
              limit: int | None = None) -> list:
    """Runs, newest first; of one flow path and/or of one commit (same flow tree or recorded on
    it); the `limit` newest when given."""
    where, args = [], []
    if flow is not None:
        where.append("flow_path = ?")
        args.append(flow)
    if commit is not None:
        trees = idx.trees_of(commit)
        conds = ["flow_commit = ?"]
        args.append(commit.decode())
        for p, t in trees.items():
            conds.append("(flow_path = ? AND flow_tree = ?)")
            args += [p, t]
        where.append("(" + " OR ".join(conds) + ")")
    sql = f"SELECT {RUN_COLS} FROM runs"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY COALESCE(end_time, start_time) DESC, name"
    if limit is not None:
        sql += " LIMIT ?"
        args.append(int(limit))
    return [_run_dict(r) for r in idx.conn.execute(sql, args)]


def get_run(idx: RunIndex, name: str) -> dict | None:
    row = idx.conn.execute(f"SELECT {RUN_COLS} FROM runs WHERE name=?", (name,)).fetchone()
    return _run_dict(row) if row else None


def flow_log(idx: RunIndex, head: bytes, path: str, limit: int | None = None,
             metrics: list | None = None) -> list:
    """First-parent history of `path` from `head`: the commits that changed the flow folder
    (like `git log --first-parent -- PATH`), each with the runs of its flow tree."""
    idx.track_path(path)
    if not idx.conn.execute("SELECT 1 FROM commit_info WHERE commit_sha=?", (head.decode(),)).fetchone():
        idx.update_commits([head])  # e.g. `--rev` of a branch HEAD never reached
    sql = """
    WITH RECURSIVE chain(sha, depth) AS (
      SELECT ?, 0
      UNION ALL
      SELECT ci.parent, chain.depth + 1 FROM chain JOIN commit_info ci ON ci.commit_sha = chain.sha
      WHERE ci.parent IS NOT NULL
    )
    SELECT chain.sha, ci.time, ci.summary, c.tree FROM chain
      JOIN commit_info ci ON ci.commit_sha = chain.sha
      JOIN commits c ON c.commit_sha = chain.sha AND c.flow_path = ?
      LEFT JOIN commits p ON p.commit_sha = ci.parent AND p.flow_path = ?
    WHERE p.tree IS NULL OR p.tree != c.tree
    """  # no ORDER BY: rows come in walk order, and LIMIT then stops the walk early
    args: list = [head.decode(), path, path]
    if limit is not None and limit >= 0:  # like git log: -n 0 shows nothing, a negative N no limit
        sql += " LIMIT ?"
        args.append(limit)
    commits = idx.conn.execute(sql, args).fetchall()
    if not commits:
        return []
    trees = sorted({t for _, _, _, t in commits})
    by_tree: dict = {t: [] for t in trees}
    for i in range(0, len(trees), 500):
        chunk = trees[i:i + 500]
        for row in idx.conn.execute(
                f"SELECT {RUN_COLS} FROM runs WHERE flow_path = ? AND flow_tree IN "
                f"({','.join('?' * len(chunk))}) ORDER BY COALESCE(end_time, start_time) DESC, name",
                [path] + chunk):
            by_tree[row[4]].append(_run_dict(row))
    all_runs = [r for rs in by_tree.values() for r in rs]
    attach_metrics(idx, all_runs, metrics)
    out = []
    for sha, t, summary, tree in commits:
        out.append({"commit": sha, "time": t, "summary": summary, "flow": path, "tree": tree,
                    "runs": by_tree[tree]})
    return out


def metric_names(idx: RunIndex) -> list:
    """Every metric name recorded in any run, sorted."""
    return [r[0] for r in idx.conn.execute("SELECT DISTINCT name FROM metrics ORDER BY name")]


def check_metric_names(idx: RunIndex, wanted: list) -> None:
    """UsageError naming the known metrics when one of `wanted` is recorded in no run (a typo
    would otherwise show as an empty column)."""
    known = metric_names(idx)
    unknown = [m for m in wanted if m not in known]
    if unknown and known:
        from ..errors import UsageError

        raise UsageError(f"unknown metric {', '.join(map(repr, unknown))} (known: {', '.join(known)})")


def run_metrics(idx: RunIndex, name: str) -> dict:
    """A run's effective metrics (own, completed by its newest evaluations')."""
    r = get_run(idx, name)
    if r is None:
        return {}
    return attach_metrics(idx, [r])[0]["effective_metrics"]


def tree_runs(idx: RunIndex, path: str, tree: str, metrics: list | None = None) -> list:
    """Runs of one flow folder tree (newest first) with their metrics attached: the runs of the
    flow as some commit holds it (pfgit log --node: before and after a commit)."""
    rows = idx.conn.execute(f"SELECT {RUN_COLS} FROM runs WHERE flow_path = ? AND flow_tree = ? "
                            "ORDER BY COALESCE(end_time, start_time) DESC, name", (path, tree))
    return attach_metrics(idx, [_run_dict(r) for r in rows], metrics)
