"""Metric gates: the rules a pull request's metrics must meet, and judging them (pure, no I/O).

A gate names a metric and any of:
    min: X        head >= X                       (an accuracy floor)
    max: X        head <= X                       (a latency or cost ceiling)
    max_drop: X   baseline - head <= X            (accuracy may fall by at most X)
    max_rise: X   head - baseline <= X            (a metric that must not rise: max_rise: 0)
plus, per flow, `max_failed_lines: N` over the head's runs. Each judged gate is one row:
pass / fail, or `no-baseline` when a relative bound has nothing to compare with (the metric is new,
or the baseline never ran): that does not fail the check, and the report says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

BOUNDS = ("min", "max", "max_drop", "max_rise")


class GateError(ValueError):
    """A gate that cannot be understood (bad bound, not a number)."""


@dataclass
class Gate:
    metric: str
    bounds: dict = field(default_factory=dict)   # bound name -> number
    line: int | None = None                      # its line in pfgit.yaml (None: command line)

    def describe(self) -> str:
        parts = []
        for b in BOUNDS:
            if b in self.bounds:
                parts.append(f"{b.replace('_', ' ')} {_fmt(self.bounds[b])}")
        return ", ".join(parts)


def _number(v) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return None if isinstance(v, float) and math.isnan(v) else v


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return "-" if v is None else str(v)


def parse_gate(metric: str, spec) -> Gate:
    """`accuracy: {min: 0.8, max_drop: 0.02}` -> Gate. Raises GateError naming what is wrong."""
    if not isinstance(spec, dict) or not spec:
        raise GateError(f"gate '{metric}' must be a mapping of bounds ({', '.join(BOUNDS)})")
    bounds = {}
    for k, v in spec.items():
        if k not in BOUNDS:
            raise GateError(f"gate '{metric}': unknown bound '{k}' (known: {', '.join(BOUNDS)})")
        if _number(v) is None or (isinstance(v, float) and math.isinf(v)):
            raise GateError(f"gate '{metric}': {k} must be a number, got {v!r}")
        if k in ("max_drop", "max_rise") and v < 0:
            raise GateError(f"gate '{metric}': {k} must be 0 or more, got {v!r}")
        bounds[k] = v
    return Gate(metric, bounds)


def judge(gate: Gate, baseline: dict | None, head: dict | None) -> dict:
    """One row: {metric, gate, baseline, head, delta, status, reasons}. status: pass | fail |
    no-baseline (relative bounds not judged; absolute bounds still are)."""
    b = _number((baseline or {}).get(gate.metric))
    h_raw = (head or {}).get(gate.metric)
    h = _number(h_raw)
    row = {"metric": gate.metric, "gate": gate.describe(), "baseline": b, "head": h,
           "delta": None if b is None or h is None else _round(h - b), "status": "pass",
           "reasons": []}
    if h is None:
        row["status"] = "fail"
        row["reasons"].append("no value in the head's runs" if h_raw is None
                              else f"not a number: {h_raw!r}")
        return row
    if isinstance(h, float) and math.isinf(h):
        # an overflowed evaluation or a hand-made run's 1e999: it met every min and max_drop bound
        row["status"] = "fail"
        row["reasons"].append(f"not a finite number: {_fmt(h)}")
        return row
    fails, unjudged = [], []
    if "min" in gate.bounds and h < gate.bounds["min"]:
        fails.append(f"{_fmt(h)} < min {_fmt(gate.bounds['min'])}")
    if "max" in gate.bounds and h > gate.bounds["max"]:
        fails.append(f"{_fmt(h)} > max {_fmt(gate.bounds['max'])}")
    for bound, sign, word in (("max_drop", -1, "dropped"), ("max_rise", 1, "rose")):
        if bound not in gate.bounds:
            continue
        if b is None:
            unjudged.append(bound)
            continue
        moved = _round(sign * (h - b))
        if moved > gate.bounds[bound]:
            fails.append(f"{word} by {_fmt(moved)} (> {bound.replace('_', ' ')} "
                         f"{_fmt(gate.bounds[bound])})")
    if fails:
        row["status"], row["reasons"] = "fail", fails
    elif unjudged:
        row["status"] = "no-baseline"
        row["reasons"] = [f"{', '.join(u.replace('_', ' ') for u in unjudged)} not judged: "
                          "no baseline value"]
    return row


def judge_failed_lines(ceiling: int, failed: int | None) -> dict:
    """The `max_failed_lines` row, in the same shape as metric rows."""
    row = {"metric": "failed lines", "gate": f"max {ceiling}", "baseline": None, "head": failed,
           "delta": None, "status": "pass", "reasons": []}
    if failed is None:
        row["status"], row["reasons"] = "fail", ["the head's runs do not say how many lines failed"]
    elif failed > ceiling:
        row["status"], row["reasons"] = "fail", [f"{failed} failed lines > max {ceiling}"]
    return row


def _round(x):
    return round(x, 12) if isinstance(x, float) else x
