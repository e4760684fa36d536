"""Token usage of LLM calls, summed over a run into its metrics (promptflow records 0)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

METRIC_PREFIX = "__pfgit__.tokens."


@dataclass
class Usage:
    prompt: int = 0
    completion: int = 0
    total: int = 0

    @classmethod
    def of(cls, response) -> "Usage":
        """From a reply: the endpoint's JSON (a dict) or an SDK response model."""
        if isinstance(response, dict):
            u = response.get("usage")
            get = (lambda k: u.get(k)) if isinstance(u, dict) else None
        else:
            u = getattr(response, "usage", None)
            get = (lambda k: getattr(u, k, 0)) if u is not None else None
        if get is None:
            return cls()
        p, c = _count(get("prompt_tokens")), _count(get("completion_tokens"))
        return cls(p, c, _count(get("total_tokens")) or p + c)

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(self.prompt + other.prompt, self.completion + other.completion, self.total + other.total)


def _count(v) -> int:
    """A token count from a reply (an endpoint's or a replayed file's): anything but a finite
    number >= 0 counts 0 (`"abc"` or `1e999` made int() raise out of a line)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 1e18:
        return 0
    return int(v)


class TokenCounter:
    """Thread-safe sum of Usage over a run's lines."""

    def __init__(self):
        self._lock = threading.Lock()
        self.usage = Usage()
        self.calls = 0

    def add(self, usage: Usage) -> None:
        with self._lock:
            self.usage = self.usage + usage
            self.calls += 1

    def counts(self) -> tuple:
        """(prompt, completion, total, calls): what a worker process sends and an interrupted
        run keeps, to be summed into another counter by `set_counts`."""
        with self._lock:
            u = self.usage
            return u.prompt, u.completion, u.total, self.calls

    def set_counts(self, counts) -> None:
        with self._lock:
            self.usage = Usage(int(counts[0]), int(counts[1]), int(counts[2]))
            self.calls = int(counts[3])

    def metrics(self) -> dict:
        u = self.usage
        return {METRIC_PREFIX + "prompt": u.prompt, METRIC_PREFIX + "completion": u.completion,
                METRIC_PREFIX + "total": u.total}
