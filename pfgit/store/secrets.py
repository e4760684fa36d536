"""Secrets policy: connection keys and environment variable values never enter a snapshot.

run.json stores connection NAMES and environment variable NAMES only; free-form settings lose keys
that look secret; known secret values (the run's environment variable values, values passed as
secrets, and secret-looking variables of the recording process) are replaced by `***` in outputs,
inputs, logs and settings before anything is written.
"""

from __future__ import annotations

import os
import re

SECRET_KEY = re.compile(r"(api[_-]?key|secret|token|passw|credential|private[_-]?key|"
                        r"access[_-]?key|connection[_-]?string|^key$|_key$|auth)", re.I)
MASK = "***"
MIN_SECRET_LEN = 4


def is_secret_key(key: str) -> bool:
    return bool(SECRET_KEY.search(str(key)))


def drop_secret_keys(obj):
    """A copy of a JSON-like value without secret-looking keys (recursively)."""
    if isinstance(obj, dict):
        return {k: drop_secret_keys(v) for k, v in obj.items() if not is_secret_key(k)}
    if isinstance(obj, list):
        return [drop_secret_keys(v) for v in obj]
    return obj


def connection_names(connections: dict) -> dict:
    """{"node.field": NAME}; a value given as a connection object/dict keeps only its name."""
    out = {}
    for k, v in (connections or {}).items():
        if isinstance(v, str):
            out[str(k)] = v
        elif isinstance(v, dict):
            out[str(k)] = str(v.get("name") or k)
        else:
            out[str(k)] = str(getattr(v, "name", None) or k)
    return out


def secret_values(environment: dict | None = None, extra: list | None = None,
                  connections: dict | None = None) -> list:
    """Every value that must be masked, longest first (so overlapping secrets mask fully)."""
    vals = set()
    for v in (environment or {}).values():
        vals.add(str(v))
    for v in extra or []:
        vals.add(str(v))
    for conn in (connections or {}).values():
        if isinstance(conn, dict):
            _collect(conn, vals)
    for k, v in os.environ.items():  # the recording process's own secrets (OPENAI_API_KEY, ...)
        if is_secret_key(k):
            vals.add(v)
    return sorted((v for v in vals if len(v) >= MIN_SECRET_LEN), key=len, reverse=True)


def _collect(d: dict, vals: set) -> None:
    for k, v in d.items():
        if isinstance(v, dict):
            _collect(v, vals)
        elif is_secret_key(k) and v is not None:
            vals.add(str(v))


class Redactor:
    def __init__(self, values: list):
        self.values = [v.encode("utf-8") for v in values]
        self.json_values = [v.encode("utf-8").replace(b"\\", b"\\\\").replace(b'"', b'\\"')
                            for v in values]

    def __bool__(self) -> bool:
        return bool(self.values)

    def bytes(self, data: bytes) -> bytes:
        for v, jv in zip(self.values, self.json_values):
            if v in data:
                data = data.replace(v, MASK.encode())
            if jv != v and jv in data:
                data = data.replace(jv, MASK.encode())
        return data

    def text(self, s: str) -> str:
        return self.bytes(s.encode("utf-8")).decode("utf-8")

    def value(self, obj):
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, dict):
            return {k: self.value(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self.value(v) for v in obj]
        return obj
