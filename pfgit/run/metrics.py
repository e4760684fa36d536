"""log_metric's sink: metrics exist only while aggregation runs (promptflow-runner.md §3), so a
call from a per-line node is dropped, as promptflow drops it. Last value of a key wins."""

from __future__ import annotations

import contextlib
import threading

_lock = threading.Lock()
_sink: dict | None = None


def log_metric(key, value, variant_id=None) -> None:
    with _lock:
        if _sink is not None:
            _sink[str(key)] = value   # variant_id is ignored locally, as promptflow does


@contextlib.contextmanager
def collecting(into: dict):
    """Route log_metric (ours and, when loaded, promptflow's) into `into` for the block."""
    global _sink
    real = _real_logger_manager()
    with _lock:
        _sink = into
    if real is not None:
        real.add_metric_logger(log_metric)
    try:
        yield into
    finally:
        with _lock:
            _sink = None
        if real is not None:
            try:
                real.remove_metric_logger(log_metric)
            except ValueError:
                pass


def _real_logger_manager():
    import sys

    mod = sys.modules.get("promptflow._core.metric_logger")
    return mod.MetricLoggerManager.get_instance() if mod is not None else None
