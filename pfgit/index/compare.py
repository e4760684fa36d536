"""`pfgit metrics diff A B`: each side is a run name or a revision (then the newest run of that
commit's flow tree that has metrics, optionally of one flow)."""

from __future__ import annotations

from ..errors import UsageError
from . import query
from .db import RunIndex


def resolve_side(idx: RunIndex, spec: str, flow: str | None = None) -> dict:
    r = query.get_run(idx, spec)
    if r is not None:
        r = query.attach_metrics(idx, [r])[0]
        return {"spec": spec, "run": r["name"], "commit": r.get("flow_commit"), "flow": r["flow"],
                "metrics": r["effective_metrics"]}
    from ..git.repo import resolve

    try:
        commit = resolve(idx.repo, spec)
    except UsageError:
        raise UsageError(f"'{spec}' is neither a run nor a revision") from None
    runs = query.attach_metrics(idx, query.list_runs(idx, flow=flow, commit=commit))
    with_metrics = [r for r in runs if r["effective_metrics"]]
    if not with_metrics:
        raise UsageError(f"no run with metrics for {spec} ({commit.decode()[:8]})"
                         + (f" of flow {flow}" if flow else ""))
    flows = sorted({r["flow"] for r in with_metrics})
    if len(flows) > 1:
        raise UsageError(f"{spec} has runs of several flows ({', '.join(flows)}): choose one with --flow")
    r = with_metrics[0]  # newest first
    return {"spec": spec, "run": r["name"], "commit": commit.decode(), "flow": r["flow"],
            "metrics": r["effective_metrics"]}


def _num(v):
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def diff_metrics(a: dict, b: dict) -> list:
    names = list(a["metrics"]) + [k for k in b["metrics"] if k not in a["metrics"]]
    rows = []
    for n in sorted(names):
        old, new = a["metrics"].get(n), b["metrics"].get(n)
        d = None
        if _num(old) is not None and _num(new) is not None:
            d = new - old
            if isinstance(d, float):
                d = round(d, 12)
        rows.append({"name": n, "old": old, "new": new, "delta": d})
    return rows


def metrics_diff(idx: RunIndex, a: str, b: str, flow: str | None = None) -> dict:
    sa, sb = resolve_side(idx, a, flow), resolve_side(idx, b, flow)
    return {"a": sa, "b": sb, "metrics": diff_metrics(sa, sb)}
