"""A run in progress: `.git/pfgit/active/<name>/`, appended line by line while the run executes,
so a run interrupted by Ctrl-C (or a crash) can be finished with `pfgit run --resume NAME`, and
`pfgit runs stream NAME` can follow it from another shell. Removed once the run is recorded.

    state.json      the RunSpec, status (Running | Canceled), line count, times
    outputs.jsonl   succeeded lines, {outputs..., "line_number": n}, in completion order
    inputs.jsonl    every line's flow inputs, {inputs..., "line_number": n}
    errors.jsonl    failed lines, {"line_number", "type", "message", "node"}
    aggregation.jsonl  what aggregation nodes read from each succeeded line
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import threading
from dataclasses import asdict
from typing import Iterator

from .errors import RunError
from .spec import RunSpec

FILES = ("outputs", "inputs", "errors", "aggregation")


def active_root(repo) -> str:
    return os.path.join(repo.controldir(), "pfgit", "active")


def _dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, default=repr)


class ActiveRun:
    def __init__(self, repo, name: str):
        self.name = name
        self.dir = os.path.join(active_root(repo), name)
        self._lock = threading.Lock()
        self._files: dict = {}

    def exists(self) -> bool:
        return os.path.isfile(os.path.join(self.dir, "state.json"))

    # ---- state ---------------------------------------------------------------------------
    def create(self, spec: RunSpec, extra: dict) -> None:
        if os.path.exists(self.dir):
            raise RunError(f"run '{self.name}' is already in progress or was interrupted "
                           f"(finish it: pfgit run --resume {self.name})")
        os.makedirs(self.dir)
        self.save_state({"spec": asdict(spec), "status": "Running", **extra})

    def save_state(self, state: dict) -> None:
        if state.get("status") == "Running":   # who runs it: `runs stream` stops when it is gone
            state = {**state, "pid": os.getpid(), "host": platform.node()}
        tmp = os.path.join(self.dir, "state.json.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(state, f, indent=2, default=str)
        os.replace(tmp, os.path.join(self.dir, "state.json"))

    def state(self) -> dict:
        try:
            with open(os.path.join(self.dir, "state.json"), encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError):
            raise RunError(f"no interrupted run '{self.name}' to resume") from None

    def running(self) -> bool:
        """Is a process running this run now? Its state says Running and, on this machine, the
        process that said so is alive (a run whose process crashed or was killed reads Running
        for ever: `pfgit runs stream` waited on it without end)."""
        try:
            st = self.state()
        except RunError:
            return False
        if st.get("status") != "Running":
            return False
        pid = st.get("pid")
        if st.get("host") != platform.node() or not isinstance(pid, int) or isinstance(pid, bool):
            return True     # another machine's (a shared folder) or an older pfgit's: trust it
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except (PermissionError, OverflowError, ValueError):
            pass
        return True

    def update_state(self, **kw) -> None:
        st = self.state()
        st.update(kw)
        self.save_state(st)

    # ---- lines -----------------------------------------------------------------------------
    def open(self) -> None:
        for k in FILES:
            # a lone surrogate from the data (`"\\udcff"`) is kept as its escape (jsondata.utf8)
            self._files[k] = open(os.path.join(self.dir, f"{k}.jsonl"), "a", encoding="utf-8",
                                  errors="backslashreplace")

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files = {}

    def append(self, kind: str, obj: dict) -> None:
        with self._lock:
            f = self._files[kind]
            f.write(_dumps(obj) + "\n")
            f.flush()          # `pfgit runs stream` reads as we write

    def done_lines(self) -> set:
        """Line numbers already finished (succeeded or failed): skipped on resume."""
        done = set()
        for kind in ("outputs", "errors"):
            for obj in self.read(kind):
                done.add(obj.get("line_number"))
        return done

    def read(self, kind: str) -> Iterator[dict]:
        path = os.path.join(self.dir, f"{kind}.jsonl")
        if not os.path.exists(path):
            return
        with open(path, "rb") as f:
            for raw in f:
                if raw.endswith(b"\n"):     # a torn last line (crash mid-write) is dropped
                    try:
                        yield json.loads(raw)
                    except ValueError:
                        continue

    def sorted_lines(self, kind: str) -> Iterator[bytes]:
        """The file's lines ordered by line_number, read by offset (bounded memory)."""
        path = os.path.join(self.dir, f"{kind}.jsonl")
        if not os.path.exists(path):
            return iter(())
        index = []
        seen = set()
        with open(path, "rb") as f:
            off = 0
            for raw in f:
                if raw.endswith(b"\n"):
                    try:
                        ln = json.loads(raw).get("line_number")
                    except ValueError:
                        ln = None
                    if ln is not None and ln not in seen:   # a line re-run on resume: first wins
                        seen.add(ln)
                        index.append((ln, off, len(raw)))
                off += len(raw)
        index.sort()

        def gen():
            with open(path, "rb") as f:
                for _, off, n in index:
                    f.seek(off)
                    yield f.read(n)
        return gen()

    def remove(self) -> None:
        self.close()
        shutil.rmtree(self.dir, ignore_errors=True)
