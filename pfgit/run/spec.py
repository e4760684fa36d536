"""RunSpec: everything a run is asked to do, from `pfgit run` options or a run.yml (runfile.py).

One value object shared by both engines (the built-in one in pfgit.run.engine and the promptflow
one in pfgit.run.engine.promptflow): the CLI and the run file build it, `pfgit.run.batch.run_batch`
executes it, the snapshot records it. Paths are as given (relative to the cwd, or to the run file's
folder once runfile.py resolved them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ENGINES = ("auto", "builtin", "promptflow")
LLM_MODES = ("record", "replay", "auto")   # --llm-mode (pfgit.run.llm.cache)
DEFAULT_WORKERS = 16   # lines in flight: LLM nodes spend their time waiting on HTTP, not the CPU


@dataclass
class RunSpec:
    flow: str                                         # flow folder, flow file or .prompty
    data: str | None = None                           # .jsonl / .csv / .json / folder
    column_mapping: dict = field(default_factory=dict)  # input -> "${data.x}" | "${run.outputs.y}" | literal
    run: str | None = None                            # base run name (evaluation runs)
    variant: str | None = None                        # "${node.variant_id}"
    connections: dict = field(default_factory=dict)   # node -> {"connection": NAME, "deployment_name": X, "model": Y}
    environment_variables: dict | str = field(default_factory=dict)  # map, or path to a .env file
    name: str | None = None
    display_name: str | None = None
    description: str | None = None
    tags: dict = field(default_factory=dict)
    properties: dict = field(default_factory=dict)
    init: dict | None = None                          # flex class flows: __init__ kwargs
    workers: int | None = None                        # None: DEFAULT_WORKERS (capped by the line count)
    processes: int | None = None                      # worker processes sharing them (None: one)
    engine: str = "auto"                              # auto | builtin | promptflow
    resume: str | None = None                         # name of an interrupted run to finish
    resume_from: str | None = None                    # a recorded run: new run of its failed/missing lines
    llm_cache: str | None = None                      # record/replay folder (pfgit.run.llm)
    llm_mode: str | None = None                       # record | replay | auto
    line_timeout: float | None = None                 # seconds; PF_LINE_TIMEOUT_SEC (600) otherwise
    run_file: str | None = None                       # the run.yml it came from
    ignored: list = field(default_factory=list)       # run-file keys accepted but not used (cloud only)

    def settings(self) -> dict:
        """What run.json keeps of the request (no secrets: connection NAMES only, env var names)."""
        out: dict[str, Any] = {"engine": self.engine}
        for k in ("display_name", "description", "run_file"):
            if getattr(self, k):
                out[k] = getattr(self, k)
        if self.tags:
            out["tags"] = dict(self.tags)
        if self.properties:
            out["properties"] = dict(self.properties)
        if self.init:
            out["init"] = sorted(self.init)
        if self.llm_mode:
            out["llm_mode"] = self.llm_mode
        if self.resume_from:
            out["resume_from"] = self.resume_from
        return out
