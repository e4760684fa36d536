"""What a finished run hands to the store: one record shared by `pfgit runs record`, promptflow
imports and (later) pfgit's own runner, all of which call `pfgit.store.record_result`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable


@dataclass
class RunResult:
    flow: str                                  # flow folder (path on disk, or repo-relative)
    outputs: Iterable = ()                     # per-line outputs: JSON text/bytes lines or dicts, streamed
    metrics: dict = field(default_factory=dict)
    name: str | None = None                    # None: <flow>_<timestamp>
    data: str | None = None                    # data file path (hashed when it exists)
    column_mapping: dict = field(default_factory=dict)
    variant: str | None = None                 # e.g. "${summarize.variant_1}"
    base_run: str | None = None                # run evaluated by this one (2nd parent)
    status: str = "Completed"
    start_time: str | None = None              # ISO-8601
    end_time: str | None = None
    lines_failed: int | None = None
    lines_total: int | None = None             # None: the number of output lines + failed
    connections: dict = field(default_factory=dict)   # "node.field" -> connection NAME (never its keys)
    environment: dict = field(default_factory=dict)   # env vars given to the run: only NAMES are stored
    secrets: list = field(default_factory=list)       # further values that must never be stored
    logs: dict = field(default_factory=dict)   # file name -> str | bytes | path of a file | its lines (bytes)
    inputs: Iterable | None = None             # per-line resolved inputs (optional)
    tools: dict = field(default_factory=dict)  # tool -> version ("promptflow": "1.18.5")
    source: dict = field(default_factory=dict) # where the run came from ({"tool": "promptflow", ...})
    extra: dict[str, Any] = field(default_factory=dict)  # free-form settings (secret-looking keys dropped)
    flow_commit: str | None = None             # record against this commit's flow instead of the worktree
    flow_source: tuple | None = None           # (commit, tree, dirty) hex, captured when the run started
    flow_rel: str | None = None                # repo-relative flow folder, when `flow` is elsewhere (a checkout)
