"""`pfgit runs stream NAME` on a run still in progress: print its output lines as they are
written (completion order), until the run is recorded or interrupted. Bounded memory."""

from __future__ import annotations

import os
import time

from .runstate import ActiveRun


def follow(repo, name: str, out, what: str = "outputs", poll: float = 0.2, timeout: float | None = None) -> bool:
    """Stream `<what>.jsonl` of the active run `name` to the binary stream `out`. Returns False
    when no such run is in progress (the caller then reads the recorded snapshot)."""
    active = ActiveRun(repo, name)
    if not active.exists():
        return False
    path = os.path.join(active.dir, f"{what}.jsonl")
    t0 = time.monotonic()
    while not os.path.exists(path):
        if not active.running():
            return _ended(active, name)
        time.sleep(poll)
    with open(path, "rb") as f:
        pending = b""
        while True:
            chunk = f.readline()
            if chunk:
                pending += chunk
                if pending.endswith(b"\n"):
                    out.write(pending)
                    out.flush()
                    pending = b""
                continue
            if not active.running():
                rest = f.read()          # anything written just before the end
                if rest:
                    out.write(pending + rest)
                    out.flush()
                return _ended(active, name)
            if timeout is not None and time.monotonic() - t0 > timeout:
                return True
            time.sleep(poll)


def _ended(active, name: str) -> bool:
    """True; says so when the run's process died without recording it (state still Running)."""
    import sys

    try:
        status = active.state().get("status")
    except Exception:
        return True
    if status == "Running":
        from ..output import neutralise

        print(f"pfgit: run '{neutralise(name)}' stopped without finishing (its process is gone): "
              f"finish it with pfgit run --resume {neutralise(name)}", file=sys.stderr)
    return True
