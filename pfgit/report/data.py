"""What the report page shows, as plain data: per flow its history with metrics, its runs, two runs
compared line by line, and its DAG with the nodes changed since the baseline."""

from __future__ import annotations

import json
import math
import time

from dulwich.repo import Repo

from ..errors import ReadError, UsageError

MAX_RUN_ROWS = 200
MAX_COMPARE_LINES = 200


def _num(v):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return None if isinstance(v, float) and (math.isnan(v) or math.isinf(v)) else v


def _author(repo: Repo, sha: str) -> str:
    try:
        a = repo[sha.encode()].author.decode("utf-8", "replace")
    except KeyError:
        return ""
    return a.split(" <", 1)[0]


def _branch_commits(repo: Repo, head: bytes, base: bytes | None) -> set:
    """Commits on the branch: reachable from HEAD, not from the merge base."""
    if base is None or base == head:
        return set()
    return {e.commit.id.decode() for e in repo.get_walker(include=[head], exclude=[base])}


def _metric_series(history: list) -> dict:
    """{metric: [points oldest first]} from flow_log rows (newest first)."""
    series: dict = {}
    for i, row in enumerate(reversed(history)):
        seen: set = set()
        for r in row["runs"]:  # newest run first: it gives the commit's value
            for k, v in (r.get("effective_metrics") or {}).items():
                v = _num(v)
                if v is None or k in seen:
                    continue
                seen.add(k)
                series.setdefault(k, []).append(
                    {"x": i, "value": v, "commit": row["commit"], "run": r["name"],
                     "branch": row.get("branch", False)})
    return dict(sorted(series.items()))


def _compare_runs(repo: Repo, a: str, b: str) -> dict:
    """Two runs' first lines side by side: inputs, both outputs, and whether they differ."""
    from ..store.linediff import field_changes, pick_lines

    wanted = set(range(MAX_COMPARE_LINES))
    out_a, out_b = pick_lines(repo, a, wanted), pick_lines(repo, b, wanted)
    ins = pick_lines(repo, b, wanted, "inputs.jsonl") or pick_lines(repo, a, wanted, "inputs.jsonl")
    rows = []
    for ln in sorted(set(out_a) | set(out_b)):
        x, y = out_a.get(ln), out_b.get(ln)
        differs = x is None or y is None or bool(field_changes(x, y))
        rows.append({"line": ln, "inputs": ins.get(ln), "a": x, "b": y, "differs": differs})
    return {"a": a, "b": b, "lines": rows, "differing": sum(r["differs"] for r in rows)}


def _dag(repo: Repo, head: bytes, since: bytes | None, path: str) -> dict | None:
    from ..diff.tree import diff_trees
    from ..flow.load import find_flows, load_flow
    from ..git.repo import TreeReader

    reader = TreeReader(repo, repo[head].tree)
    locs = [loc for loc in find_flows(reader, path) if loc.dir == path]
    if not locs:
        return None
    try:
        flow = load_flow(reader, locs[0])
    except Exception:  # an unreadable flow file has no graph to draw; validate says why
        return None
    if flow.kind != "dag":
        return None
    changed: set = set()
    if since is not None:
        for fd in diff_trees(TreeReader(repo, repo[since].tree), reader, [path]):
            for c in fd.changes:
                if c.path and c.path[0] in ("nodes", "node_variants") and len(c.path) > 1:
                    changed.add(c.new if c.op == "rename" else c.path[1])
    names = [n for n in flow.node_names() if n is not None]
    kinds = {n.name: n.type for n in flow.nodes if n.name is not None}
    return {"names": names, "edges": flow.edges(), "changed": sorted(changed & set(names)),
            "kinds": kinds, "since": since.decode() if since else None}


def gather(repo: Repo, paths: list | None = None, baseline: str | None = None,
           compare: tuple | None = None, max_commits: int = 1000) -> dict:
    from ..flow.load import find_flows
    from ..git.repo import TreeReader, resolve, utf8_flows
    from ..index import query
    from ..index.db import with_index
    from ..store.read import check_readable

    head = resolve(repo, "HEAD")
    base = None
    if baseline is not None:
        from ..check.changed import find_baseline

        base = find_baseline(repo, baseline).base
    reader = TreeReader(repo, repo[head].tree)
    flows = []
    for p in paths or ["."]:
        found = [loc.dir for loc in find_flows(reader, p)]
        if not found:
            raise UsageError("no flow at HEAD", file=p)
        flows += [f for f in found if f not in flows]
    skipped: list = []
    skipped_flows: list = []
    flows = utf8_flows(flows, skipped_flows.append)
    branch = _branch_commits(repo, head, base)

    def go(idx):
        out = []
        for path in flows:
            history = query.flow_log(idx, head, path, limit=max_commits)
            for row in history:
                row["author"] = _author(repo, row["commit"])
                row["date"] = time.strftime("%Y-%m-%d %H:%M", time.gmtime(row["time"] or 0))
                row["branch"] = row["commit"] in branch
            runs = query.attach_metrics(idx, query.list_runs(idx, flow=path))[:MAX_RUN_ROWS]
            top = [r for r in runs if not r.get("base_run")]
            pair = None
            if compare:
                pair = compare
            else:  # the two newest readable runs: a broken fetched run is left out, and said
                ok = []
                for r in top:
                    try:
                        check_readable(idx.repo, r["name"], r["snapshot"].encode())
                    except (UsageError, ReadError) as e:
                        skipped.append({"run": r["name"], "reason": e.message})
                        continue
                    ok.append(r)
                    if len(ok) == 2:
                        pair = (ok[1]["name"], ok[0]["name"])
                        break
            since = base
            if since is None and len(history) > 1:
                since = history[1]["commit"].encode()
            out.append({
                "path": path,
                "history": history,
                "series": _metric_series(history),
                "runs": runs,
                "compare": _compare_runs(idx.repo, *pair) if pair else None,
                "dag": _dag(repo, head, since, path),
            })
        return out

    return {"head": head.decode(), "baseline": baseline,
            "merge_base": base.decode() if base else None,
            "generated": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "flows": with_index(repo, go), "skipped_runs": skipped, "skipped_flows": skipped_flows}


def dumps(v) -> str:
    return json.dumps(v, ensure_ascii=False, default=str, sort_keys=True)
