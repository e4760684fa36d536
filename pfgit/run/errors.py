"""Errors of a run: a run-level one stops the run before any line; a line error fails one line."""

from __future__ import annotations

from ..errors import PfgitError


class RunError(PfgitError):
    """The run cannot start (bad flow, mapping, data, variant ...): exit 2, nothing executed."""


class LineError(Exception):
    """One line failed: `kind` is promptflow's error class name, `node` the failing node."""

    def __init__(self, message: str, kind: str = "UserError", node: str | None = None):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.node = node

    def as_dict(self) -> dict:
        return {"type": self.kind, "message": self.message, "node": self.node}
