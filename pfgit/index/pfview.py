"""Runs in the shape promptflow's CLI prints them (`pf run list`: a JSON list of run objects), so
scripts written for pf (`pf run list -r 10 | jq '.[] | select(.name | contains("x")) | .name'`)
read pfgit's runs unchanged. Built from the index's run rows and each run's run.json."""

from __future__ import annotations

import os

from ..errors import PfgitError
from .db import RunIndex
from .query import metrics_for

TOKENS = "__pfgit__.tokens."   # pfgit's token counts (pfgit.run.llm.usage): pf's system metrics


def _text(v) -> str | None:
    return v if isinstance(v, str) else None


def _abs(top: str, path) -> str | None:
    """pf prints absolute paths; pfgit stores repo-relative ones (absolute for data outside)."""
    if not isinstance(path, str) or not path:
        return None
    return path if os.path.isabs(path) else os.path.normpath(os.path.join(top, path))


def _seconds(start, end) -> float | None:
    from datetime import datetime

    try:
        return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 6)
    except (TypeError, ValueError):
        return None


def pf_run(row: dict, run_json: dict, metrics: dict, top: str) -> dict:
    """One run as `pf run list` / `pf run show` print it: name, created_on, status, display_name
    (the name when none was given, as pf), description, tags, properties (flow_path,
    system_metrics), flow_name, data and, for an evaluation run, run (its base run). pfgit's own
    fields are under `pfgit` (flow, flow_commit, snapshot ref)."""
    settings = run_json.get("settings") or {}
    source = run_json.get("source") or {}
    system = {k[len(TOKENS):] + "_tokens": v for k, v in metrics.items()
              if k.startswith(TOKENS) and isinstance(v, (int, float)) and not isinstance(v, bool)}
    duration = _seconds(row.get("start_time"), row.get("end_time"))
    if duration is not None:
        system["duration"] = duration
    tags = settings.get("tags") if isinstance(settings.get("tags"), dict) else source.get("tags")
    flow = row.get("flow")
    flow_path = _abs(top, flow)
    out = {
        "name": row["name"],
        "created_on": row.get("start_time"),
        "status": row.get("status"),
        "display_name": _text(settings.get("display_name")) or _text(source.get("display_name")) or row["name"],
        "description": _text(settings.get("description")) or _text(source.get("description")),
        "tags": tags if isinstance(tags, dict) else {},
        "properties": {"flow_path": flow_path, "system_metrics": system},
        "flow_name": os.path.basename(flow_path) if flow_path else None,   # a flow at the top: the repo's
        "data": _abs(top, row.get("data")),
    }
    if row.get("base_run"):
        out["run"] = row["base_run"]
    out["pfgit"] = {"flow": flow, "flow_commit": row.get("flow_commit"),
                    "snapshot": f"refs/pfgit/runs/{row['name']}"}
    return out


def pf_runs(idx: RunIndex, rows: list) -> list:
    """`pf_run` for each index row (newest first, as given). A snapshot whose run.json cannot be
    read is listed from its index row alone: one bad fetched run never hides the others."""
    from ..store.read import read_summary

    top = idx.repo.path
    names = [r["name"] for r in rows]
    tokens = metrics_for(idx, names, [TOKENS + k for k in ("prompt", "completion", "total")])
    out = []
    for r in rows:
        try:
            run_json = read_summary(idx.repo, r["name"], r["snapshot"].encode()).run
        except (PfgitError, AttributeError):
            run_json = {}
        out.append(pf_run(r, run_json, tokens.get(r["name"], {}), top))
    return out
