"""`pfgit metrics diff A B`: each side is a run name or a revision (then the newest run of that
commit's flow tree that has metrics, optionally of one flow)."""

from __future__ import annotations

from ..errors import UsageError
from . import query
from .db import RunIndex


def _revision(idx: RunIndex, spec: str) -> bytes | None:
    """The commit `spec` names as a revision (a run's own ref does not count), or None."""
    from ..git import runrefs
    from ..git.repo import resolve

    try:
        commit = resolve(idx.repo, spec)
    except UsageError:
        return None
    if commit == runrefs.get_run(idx.repo, spec) and not _is_ref_or_sha(idx, spec) and \
            not commit.decode().startswith(spec.lower()):
        return None  # resolve() found refs/pfgit/runs/<spec>: that is the run, not a revision
    return commit


def _is_ref_or_sha(idx: RunIndex, spec: str) -> bool:
    refs = idx.repo.refs
    return any(r in refs for r in (f"refs/heads/{spec}".encode(), f"refs/tags/{spec}".encode(),
                                   f"refs/remotes/{spec}".encode())) or spec.upper() == "HEAD"


def resolve_side(idx: RunIndex, spec: str, flow: str | None = None) -> dict:
    """A run (`run:NAME` or a run's name) or a revision (`rev:REV` or anything git resolves).
    A bare name that is both is taken as the run, and the side's `note` says so."""
    want_run = spec.startswith("run:")
    want_rev = spec.startswith("rev:")
    name = spec[4:] if want_run or want_rev else spec
    r = None if want_rev else query.get_run(idx, name)
    if r is not None:
        r = query.attach_metrics(idx, [r])[0]
        out = {"spec": spec, "run": r["name"], "commit": r.get("flow_commit"), "flow": r["flow"],
               "metrics": r["effective_metrics"]}
        if not want_run and _revision(idx, name) is not None:
            out["note"] = (f"'{name}' is both a run and a revision: used the run (write "
                           f"rev:{name} for the revision's runs, run:{name} to say the run)")
        return out
    if want_run:
        raise UsageError(f"unknown run '{name}'")
    commit = _revision(idx, name)
    if commit is None:
        raise UsageError(f"'{name}' is neither a run nor a revision")
    runs = query.attach_metrics(idx, query.list_runs(idx, flow=flow, commit=commit))
    with_metrics = [r for r in runs if r["effective_metrics"]]
    if not with_metrics:
        raise UsageError(f"no run with metrics for {name} ({commit.decode()[:8]})"
                         + (f" of flow {flow}" if flow else ""))
    flows = sorted({r["flow"] for r in with_metrics})
    if len(flows) > 1:
        raise UsageError(f"{name} has runs of several flows ({', '.join(flows)}): choose one with --flow")
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
