"""What a bisect step decides: a flow's metric at one commit (a recorded run of that flow tree,
else a run made with pfgit.yaml's settings) and whether it meets the threshold (pure but for the
look-ups). Driving `git bisect` is pfgit.integrate.bisect's job."""

from __future__ import annotations

import math
from dataclasses import dataclass

from dulwich.repo import Repo

GOOD, BAD, SKIP = "good", "bad", "skip"


@dataclass
class Threshold:
    metric: str
    min: float | None = None      # good when value >= min
    max: float | None = None      # good when value <= max

    def describe(self) -> str:
        return f"{self.metric} >= {self.min:g}" if self.min is not None else f"{self.metric} <= {self.max:g}"

    def verdict(self, value) -> str:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                isinstance(value, float) and not math.isfinite(value)):  # NaN, or an overflowed 1e999
            return SKIP
        if self.min is not None and value < self.min:
            return BAD
        if self.max is not None and value > self.max:
            return BAD
        return GOOD


def recorded_value(repo: Repo, commit: bytes, flow: str, metric: str) -> tuple:
    """(value, run name) of the newest run of `flow` at `commit` that has `metric`, else (None, None)."""
    from ..index import query
    from ..index.db import with_index

    def go(idx):
        runs = query.attach_metrics(idx, query.list_runs(idx, flow=flow, commit=commit))
        for r in runs:
            if r.get("base_run"):
                continue
            v = r["effective_metrics"].get(metric)
            if v is not None:
                return v, r["name"]
        return None, None

    return with_index(repo, go)


def judge_commit(repo: Repo, commit: bytes, flow: str, th: Threshold, fc=None,
                 worktree: str | None = None) -> dict:
    """{commit, value, run, made, verdict}: a recorded run's metric, else one run made now (in
    `worktree` when the caller has the commit checked out, else in a temporary one)."""
    value, run = recorded_value(repo, commit, flow, th.metric)
    made = False
    if value is None and fc is not None and fc.run is not None:
        from .runs import run_at_commit, run_configured

        run = run_configured(worktree, fc) if worktree else run_at_commit(repo, commit, fc)
        made = True
        value, _ = recorded_value(repo, commit, flow, th.metric)
    return {"commit": commit.decode(), "value": value, "run": run, "made": made,
            "verdict": th.verdict(value)}
