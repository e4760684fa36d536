"""JSON as run data holds it: any number is accepted, none breaks a command.

Python reads `NaN`, `Infinity` and `-Infinity` (promptflow writes them for failed metrics), and an
integer of any size up to 4,300 digits exactly; a longer integer and a float beyond the double
range are read as +/-Infinity, as floats are everywhere. `--json` output turns the non-finite
ones into the strings "NaN", "Infinity", "-Infinity" (pfgit.output.standard_json), so what pfgit
prints is standard JSON. See docs/runs.md "Numbers".
"""

from __future__ import annotations

import json
import math

MAX_INT_DIGITS = 4300  # Python's int<->str conversion limit


def _int(text: str):
    digits = len(text) - (text[:1] == "-")
    return int(text) if digits <= MAX_INT_DIGITS else float(text[0] + "inf" if text[0] == "-" else "inf")


def utf8(obj, **kw) -> bytes:
    """json.dumps(obj, ensure_ascii=False, **kw) as UTF-8. A lone surrogate (a data line's
    `"\\udcff"` escape, a file name that is not UTF-8) is written as its `\\uXXXX` escape: the same
    JSON value, valid UTF-8 (encoding it raw failed a run after its lines had executed)."""
    return json.dumps(obj, ensure_ascii=False, **kw).encode("utf-8", "backslashreplace")


def loads(data):
    """json.loads accepting every number (see the module doc)."""
    return json.loads(data, parse_int=_int)


def check(data) -> object:
    """Parse only to validate (numbers are not converted: fast, and no size limit)."""
    return json.loads(data, parse_int=_skip, parse_float=_skip, parse_constant=_skip)


def _skip(_text):
    return 0


def real(v) -> float | None:
    """A metric as a SQL REAL: None for non-numbers and NaN, +/-inf beyond the double range."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    try:
        f = float(v)
    except OverflowError:
        f = math.inf if v > 0 else -math.inf
    return None if math.isnan(f) else f
