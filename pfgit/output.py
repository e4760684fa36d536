"""Output helpers shared by commands: JSON with a stable shape, TTY detection, escapes from
untrusted text neutralised. (Run progress: pfgit.run.batch; rich only where a bar is drawn.)"""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Any


def standard_json(obj: Any) -> Any:
    """`obj` with the floats JSON has no token for (NaN, +/-Infinity) as the strings "NaN",
    "Infinity", "-Infinity" (protobuf's JSON mapping does the same), so output is standard JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return "NaN" if math.isnan(obj) else ("Infinity" if obj > 0 else "-Infinity")
    if isinstance(obj, dict):
        return {k: standard_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [standard_json(v) for v in obj]
    return obj


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(standard_json(obj), indent=2, ensure_ascii=False, default=str,
                                allow_nan=False) + "\n")


def is_tty(stream=None) -> bool:
    stream = stream or sys.stdout
    return hasattr(stream, "isatty") and stream.isatty() and os.environ.get("CI") is None


def use_color() -> bool:
    return is_tty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


# Names, messages, file contents and metric keys come from pull requests and fetched run refs: an
# escape sequence in them must not drive the terminal or a CI log viewer (clear the screen, set
# the title, write the clipboard, hide a line, reorder text with bidi overrides). Our own colours
# are SGR sequences with these parameters only, which are kept.
_OWN_SGR = {"", "0", "1", "31", "32", "33", "36"}
_UNSAFE = None


def neutralise(text: str, line_start: bool = True) -> str:
    """`text` with control characters (C0 but tab and newline, a CR not ending a line, DEL, C1),
    bidi overrides, lone surrogates and escape sequences other than our own colours written as `\\uXXXX` (the same
    value inside a JSON string, visible everywhere else), and CI runners' commands (below) too.
    `line_start`: `text` begins a line (False: it continues one written before)."""
    global _UNSAFE
    if _UNSAFE is None:
        import re

        # lone surrogates: a file name that is not UTF-8 (os.fsdecode), which stdout cannot encode
        _UNSAFE = re.compile("\x1b\\[([0-9;]*)m|\r(?!\n)|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
                             "\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
    if text.isascii() and text.isprintable() and "::" not in text and "#" not in text:
        return text  # the common case: nothing to look at

    def fix(m):
        s = m.group(0)
        if m.group(1) is not None and all(p in _OWN_SGR for p in m.group(1).split(";")):
            return s
        return "\\u%04x" % ord(s[0]) + s[1:]

    return _ci_commands(_UNSAFE.sub(fix, text), line_start)


# CI runners read commands from a job's output: GitHub Actions a line starting (after spaces) with
# `::` (`::add-mask::`, `::stop-commands::`, `::error file=...::`), Azure Pipelines `##[...]` at a
# line's start and `##vso[...]` anywhere in a line (`##vso[task.setvariable ...]` sets a variable
# later steps expand). A flow folder, node or metric name from a pull request or a fetched run
# printed at a line's start (`pfgit validate`, `pfgit metrics diff`) was such a command. Their first
# character is written `\\u003a` / `\\u0023`, as any other unsafe character; pfgit's own
# annotations (`--format github`) are written inside `ci_commands()`.
_CI = None
_OWN_COMMANDS = [False]


def _ci_commands(text: str, line_start: bool) -> str:
    global _CI
    if "::" not in text and "#" not in text:
        return text
    if _CI is None:
        import re

        _CI = re.compile(r"(?im)^([ \t]*)(::|##\[)|##vso\[")

    def fix(m):
        if m.group(2) is None:                       # ##vso[ anywhere, even in our own lines
            return "\\u0023" + m.group(0)[1:]
        if _OWN_COMMANDS[0] or (m.start() == 0 and not line_start):
            return m.group(0)
        return m.group(1) + "\\u%04x" % ord(m.group(2)[0]) + m.group(2)[1:]

    return _CI.sub(fix, text)


class ci_commands:
    """`with ci_commands(): ...`: pfgit's own workflow commands (`::error file=...::`) pass."""

    def __enter__(self):
        _OWN_COMMANDS[0] = True

    def __exit__(self, *exc):
        _OWN_COMMANDS[0] = False


class SafeText:
    """A text stream that neutralises what it is given (see `neutralise`); everything else
    (buffer, isatty, fileno, encoding, flush) is the wrapped stream's, so binary writes through
    `.buffer` (file contents on request: `merge-file -p`, `runs stream`) pass unchanged."""

    def __init__(self, stream):
        self._stream = stream
        self._line_start = True   # only spaces written since the last newline

    def write(self, text):
        if not isinstance(text, str):
            return self._stream.write(text)
        out = neutralise(text, self._line_start)
        if text:
            rest = text.rsplit("\n", 1)
            self._line_start = (len(rest) == 2 or self._line_start) and not rest[-1].strip(" \t")
        return self._stream.write(out)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def __getattr__(self, name):
        return getattr(self._stream, name)


class SafeBytes:
    """A binary stream for stored bytes printed on request (`runs stream`): a pipe or file gets
    them unchanged, a terminal gets them neutralised (a fetched run's outputs could otherwise
    drive it; valid JSON Lines never hold a raw control character, so only hostile or broken
    content changes)."""

    def __init__(self, stream, terminal: bool):
        self._stream = stream
        self._terminal = terminal

    def write(self, data: bytes):
        if self._terminal:
            data = neutralise(data.decode("utf-8", "surrogateescape")).encode("utf-8")
        elif b"::" in data or b"##" in data:
            # a CI job reads a pipe too: a fetched run's '##vso[task.setvariable ...]' in an output
            # value was obeyed. '\u0023' / '\u003a' inside a JSON string is the same value, and a
            # valid JSON line never starts with '::' or '##[', so only hostile content changes
            data = _ci_commands(data.decode("utf-8", "surrogateescape"), True).encode("utf-8", "surrogateescape")
        return self._stream.write(data)

    def flush(self):
        self._stream.flush()


class safe_streams:
    """`with safe_streams(): ...` wraps sys.stdout and sys.stderr in SafeText, then restores them
    (tests call command entry points in-process)."""

    def __enter__(self):
        self.saved = sys.stdout, sys.stderr
        sys.stdout = SafeText(sys.stdout) if not isinstance(sys.stdout, SafeText) else sys.stdout
        sys.stderr = SafeText(sys.stderr) if not isinstance(sys.stderr, SafeText) else sys.stderr
        return self

    def __exit__(self, *exc):
        sys.stdout, sys.stderr = self.saved
