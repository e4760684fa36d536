"""What one node execution sees besides its inputs (handed to tools' helpers and to the LLM client)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


class Usage:
    """Token counts summed over a run (thread-safe: lines run in parallel)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.totals: dict = {}

    def add(self, usage: dict | None) -> None:
        if not usage:
            return
        with self._lock:
            for k, v in usage.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    self.totals[k] = self.totals.get(k, 0) + v

    def total_tokens(self) -> int:
        return int(self.totals.get("total_tokens", 0))


@dataclass
class NodeContext:
    """Passed as `ctx` to pfgit.run.llm.call_llm."""
    node: str                                 # node name (for errors: "line 3, node 'chat': ...")
    line_number: int | None = None            # None in aggregation / `pfgit test`
    run_name: str | None = None
    llm_cache: str | None = None              # RunSpec.llm_cache
    llm_mode: str | None = None               # RunSpec.llm_mode
    usage: Usage | None = None                # add the response's token usage here (or return it)
    escapes: dict = field(default_factory=dict)  # placeholder -> original text (see nodes/prompt.py)
