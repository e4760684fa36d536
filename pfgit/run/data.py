"""Input data for batch runs: JSONL, CSV/TSV, JSON arrays, or a folder of them, read as rows.

Values stay exactly as the file has them (JSON types kept, CSV cells strings, a UTF-8 BOM dropped).
promptflow reads data with pandas, which coerces JSONL columns (a key absent on some lines becomes
NaN -> "nan", an int column with gaps becomes float -> "1.0", date-like columns become Timestamps;
promptflow-runner.md §1.6). pfgit does not: `scan()` reports, per column, where promptflow would
have changed the values, and the run prints it.
"""

from __future__ import annotations

import csv
import json
import os
import re
from dataclasses import dataclass, field
from typing import Iterator

from .errors import RunError

DATE_COLUMN = re.compile(r"^(date|datetime|modified|timestamp.*|.*_at|.*_time)$")
_DATE_VALUE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def data_files(path: str) -> list:
    if os.path.isdir(path):
        out = []
        for d, dirs, files in os.walk(path):
            dirs.sort()
            out += [os.path.join(d, f) for f in sorted(files)]
        return out
    if not os.path.exists(path):
        raise RunError("data file not found", file=path)
    return [path]


def _jsonl_rows(path: str) -> Iterator[tuple[int, dict]]:
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            if n == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
            except ValueError as e:
                raise RunError(f"malformed JSON line: {e}", file=path, line=n) from None
            if not isinstance(row, dict):
                raise RunError("a JSONL line must be a JSON object", file=path, line=n)
            yield n, row


def _csv_rows(path: str, delimiter: str) -> Iterator[tuple[int, dict]]:
    with open(path, encoding="utf-8-sig", newline="") as f:   # -sig: drop a BOM from the first header
        reader = csv.DictReader(f, delimiter=delimiter)
        try:
            for row in reader:
                yield reader.line_num, {k: ("" if v is None else v) for k, v in row.items() if k is not None}
        except csv.Error as e:
            raise RunError(f"malformed CSV: {e}", file=path, line=reader.line_num) from None
        except UnicodeDecodeError as e:
            raise RunError(f"not UTF-8: {e.reason}", file=path) from None


def _json_rows(path: str) -> Iterator[tuple[int, dict]]:
    try:
        with open(path, encoding="utf-8-sig") as f:
            data = json.load(f)
    except ValueError as e:
        raise RunError(f"malformed JSON: {e}", file=path, line=getattr(e, "lineno", None)) from None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise RunError("a JSON data file must hold an array of objects", file=path)
    for i, row in enumerate(data, 1):
        yield i, row


def iter_rows(path: str) -> Iterator[dict]:
    """Rows of the data at `path`, in order (files of a folder concatenated)."""
    for fpath, _, row in iter_rows_located(path):
        yield row


def iter_rows_located(path: str) -> Iterator[tuple[str, int, dict]]:
    for f in data_files(path):
        low = f.lower()
        if low.endswith(".csv"):
            rows = _csv_rows(f, ",")
        elif low.endswith(".tsv"):
            rows = _csv_rows(f, "\t")
        elif low.endswith(".json"):
            rows = _json_rows(f)
        else:
            rows = _jsonl_rows(f)
        for n, row in rows:
            yield f, n, row


@dataclass
class DataInfo:
    path: str
    rows: int = 0
    columns: dict = field(default_factory=dict)     # column -> rows holding it
    numeric: dict = field(default_factory=dict)     # column -> {"int": n, "float": n, "other": n, "null": n}
    has_line_number: bool = False

    def coercion_notes(self) -> list:
        """Where promptflow's pandas loading would have changed values (pfgit keeps them)."""
        notes = []
        if self.path.lower().endswith((".csv", ".tsv")):
            return notes
        for col, n in self.columns.items():
            kinds = self.numeric.get(col, {})
            missing = self.rows - n
            if missing:
                notes.append(f"column '{col}' is absent on {missing} of {self.rows} lines: promptflow "
                             "would pass NaN there ('nan' to a string input); pfgit leaves the input "
                             "absent (its default applies, or the line fails with InputNotFound)")
            if kinds.get("int") and not kinds.get("other") and (missing or kinds.get("float") or kinds.get("null")):
                notes.append(f"column '{col}' holds integers: promptflow would turn them into floats "
                             "(1 -> 1.0); pfgit keeps them as written")
            if DATE_COLUMN.match(col) and kinds.get("date"):
                notes.append(f"column '{col}' holds dates: promptflow would turn them into Timestamps "
                             "('2024-01-02' -> '2024-01-02 00:00:00'); pfgit keeps the text")
        return notes


def scan(path: str) -> DataInfo:
    """One pass over the data: validates every line (errors name file and line), counts rows and
    columns, notes pandas coercions. Holds no rows."""
    info = DataInfo(path)
    for _, _, row in iter_rows_located(path):
        info.rows += 1
        for k, v in row.items():
            info.columns[k] = info.columns.get(k, 0) + 1
            kinds = info.numeric.setdefault(k, {})
            kind = ("null" if v is None else "int" if isinstance(v, int) and not isinstance(v, bool)
                    else "float" if isinstance(v, float) else "date" if isinstance(v, str) and _DATE_VALUE.match(v)
                    else "other")
            if kind == "date":
                kinds["other"] = kinds.get("other", 0) + 1
            kinds[kind] = kinds.get(kind, 0) + 1
        if "line_number" in row:
            info.has_line_number = True
    return info
