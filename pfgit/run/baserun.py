"""The base run of an evaluation run, read from its snapshot: its output and input lines by line
number (streamed in order), which lines failed, and its columns for the column mapping."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from .errors import RunError


@dataclass
class BaseRun:
    name: str
    repo: object
    snap: object
    total: int = 0
    output_columns: set = field(default_factory=set)
    input_columns: set = field(default_factory=set)
    line_numbers: list = field(default_factory=list)     # every line the base run had, ascending
    failed: dict = field(default_factory=dict)           # line -> error message
    notes: list = field(default_factory=list)            # what could not be read of it

    def outputs(self):
        return self._stream("outputs.jsonl")

    def inputs(self):
        return self._stream("inputs.jsonl")

    def _stream(self, fname):
        from ..store.read import stream_file

        for raw in stream_file(self.repo, self.snap, fname):
            try:
                obj = json.loads(raw)
            except ValueError:
                continue
            ln = obj.get("line_number") if isinstance(obj, dict) else None
            # a fetched snapshot's line without an integer line number cannot be joined to the
            # data (and a "x" among ints made sorting them an internal error): left out
            if isinstance(ln, int) and not isinstance(ln, bool):
                yield ln, obj


def load_base(repo, name: str) -> BaseRun:
    from ..errors import PfgitError
    from ..store.read import load_run

    try:
        snap = load_run(repo, name)
    except PfgitError:
        raise RunError(f"base run '{name}' not found (pfgit runs list)") from None
    b = BaseRun(name, repo, snap)
    outs = set()
    for ln, obj in b.outputs():
        outs.add(ln)
        b.output_columns.update(obj)
    ins = []
    for ln, obj in b.inputs():
        ins.append(ln)
        b.input_columns.update(obj)
    b.line_numbers = sorted(set(ins) | outs) if ins else sorted(outs)
    failed = [ln for ln in b.line_numbers if ln not in outs]
    errs = _error_messages(repo, snap, set(failed), b.notes) if failed else {}
    b.failed = {ln: errs.get(ln, "failed") for ln in failed}
    b.total = (snap.run.get("lines") or {}).get("total") or len(b.line_numbers)
    b.output_columns.discard("line_number")
    b.input_columns.discard("line_number")
    b.output_columns.add("line_number")      # ${run.outputs.line_number} is mappable
    return b


MAX_MESSAGE = 2000


def _error_messages(repo, snap, wanted: set, notes: list) -> dict:
    """{line: message} of the base run's failed lines `wanted`, from its logs/errors.jsonl read
    line by line until each is found (a fetched run's log may be gigabytes: one too big, or a
    line too long, is left out with a note; messages are cut)."""
    from ..store.read import LogTooBig, log_lines

    errs: dict = {}
    skipped = 0
    try:
        for line in log_lines(repo, snap, "errors.jsonl"):
            if line is None:
                skipped += 1
                continue
            try:
                e = json.loads(line)
            except ValueError:
                continue
            ln = e.get("line_number") if isinstance(e, dict) else None
            if isinstance(ln, int) and ln in wanted and ln not in errs:
                msg = e.get("message")
                msg = msg if isinstance(msg, str) else json.dumps(msg)
                errs[ln] = msg if len(msg) <= MAX_MESSAGE else msg[:MAX_MESSAGE] + "..."
                if len(errs) == len(wanted):
                    break
    except LogTooBig as e:
        notes.append(f"{e.message}; its failed lines say only 'failed'")
    if skipped:
        from ..store.read import MAX_LOG_LINE

        notes.append(f"base run '{snap.name}': {skipped} line(s) of logs/errors.jsonl over "
                     f"{MAX_LOG_LINE >> 20} MB left out, unread (a failed line they name says only 'failed')")
    return errs


class SortedLookup:
    """Random access by line number over a stream sorted by line number (falls back to a dict)."""

    def __init__(self, stream):
        self._it = iter(stream)
        self._buf: dict = {}
        self._last = None
        self._all = None

    def get(self, ln):
        if self._all is not None:
            return self._all.get(ln)
        if ln in self._buf:
            return self._buf.pop(ln)
        if self._last is not None and ln is not None and ln < self._last:
            self._all = dict(self._it)   # not in order: index the rest
            return self._all.get(ln)
        for k, v in self._it:
            self._last = k
            if k == ln:
                return v
            if k is not None and ln is not None and k > ln:
                self._buf[k] = v
                return None
        return None
