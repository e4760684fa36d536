"""Output helpers shared by commands: JSON with a stable shape, TTY detection, progress."""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Any


def standard_json(obj: Any) -> Any:
    """`obj` with the floats JSON has no token for (NaN, +/-Infinity) as the strings "NaN",
    "Infinity", "-Infinity" (protobuf's JSON mapping does the same), so output is standard JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return "NaN" if math.isnan(obj) else ("Infinity" if obj > 0 else "-Infinity")
    if isinstance(obj, dict):
        return {k: standard_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [standard_json(v) for v in obj]
    return obj


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(standard_json(obj), indent=2, ensure_ascii=False, default=str,
                                allow_nan=False) + "\n")


def is_tty(stream=None) -> bool:
    stream = stream or sys.stdout
    return hasattr(stream, "isatty") and stream.isatty() and os.environ.get("CI") is None


def use_color() -> bool:
    return is_tty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def progress(iterable, total: int | None = None, label: str = ""):
    """A rich progress bar on an interactive stderr; the plain iterable in CI and pipes."""
    if not is_tty(sys.stderr) or (total is not None and total < 20):
        return iterable
    from rich.progress import track

    return track(iterable, total=total, description=label, console=None, transient=True)
