"""Output helpers shared by commands: JSON with a stable shape, TTY detection, progress."""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


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
