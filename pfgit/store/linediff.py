"""Per-line comparison of two runs' outputs (`pfgit runs diff A B`), field by field.

Lines are joined by their `line_number` (the field promptflow and pfgit write on every output
line), else by position. Nested JSON values are compared with deepdiff, so a change deep inside
an output reads as one path (`answer.citations[2].url`), not as a whole new object; 1 and 1.0 are
equal (JSON does not tell them apart) and so are two NaNs.

Both runs' outputs are streamed; when both are in line order (the usual case) they are joined as
they stream, so memory stays bounded by the differences kept, not the run size.
"""

from __future__ import annotations

import json
from typing import Iterable, Iterator

from dulwich.repo import Repo

from .read import load_run, stream_file


def _lines(raw: Iterable[bytes]) -> Iterator[tuple]:
    """(line number, output dict, bad text) per JSON line; numbers by position when absent."""
    for pos, b in enumerate(raw):
        try:
            obj = json.loads(b)
        except ValueError:
            yield pos, None, b.decode("utf-8", "replace").strip()
            continue
        ln = obj.get("line_number") if isinstance(obj, dict) else None
        if not isinstance(ln, int) or isinstance(ln, bool):
            ln = pos
        yield ln, obj, None


def _strip(obj):
    if isinstance(obj, dict):
        return {k: v for k, v in obj.items() if k != "line_number"}
    return obj


def _path(parts: list) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(whole line)"


def field_changes(a, b) -> list:
    """[{"path", "old", "new"}] from a to b; an added field has no "old", a removed one no "new"."""
    from ..lazyimport import import_without

    DeepDiff = import_without("deepdiff").DeepDiff  # it would import pandas and numpy: 0.5 s

    a, b = _strip(a), _strip(b)
    if a == b:
        return []
    # threshold_to_diff_deeper=0: compare key by key even when two objects share few keys
    dd = DeepDiff(a, b, ignore_numeric_type_changes=True, ignore_nan_inequality=True,
                  threshold_to_diff_deeper=0,
                  verbose_level=2, view="tree")
    out = []
    for kind, items in dd.items():
        for it in items:
            ch = {"path": _path(it.path(output_format="list"))}
            if kind not in ("dictionary_item_added", "iterable_item_added", "attribute_added"):
                ch["old"] = it.t1
            if kind not in ("dictionary_item_removed", "iterable_item_removed", "attribute_removed"):
                ch["new"] = it.t2
            out.append(ch)
    out.sort(key=lambda c: c["path"])
    return out


def _joined(a: Iterator[tuple], b: Iterator[tuple]) -> Iterator[tuple]:
    """(line, a_item, b_item) in line order, joined in memory (runs whose lines are out of order)."""
    da, db = {i[0]: i for i in a}, {i[0]: i for i in b}
    for ln in sorted(set(da) | set(db)):
        yield ln, da.get(ln), db.get(ln)


def _merge_sorted(a: Iterator[tuple], b: Iterator[tuple]) -> Iterator[tuple]:
    sentinel = (float("inf"), None, None)
    x, y = next(a, sentinel), next(b, sentinel)
    while x is not sentinel or y is not sentinel:
        if x[0] == y[0]:
            yield x[0], x, y
            x, y = next(a, sentinel), next(b, sentinel)
        elif x[0] < y[0]:
            yield x[0], x, None
            x = next(a, sentinel)
        else:
            yield y[0], None, y
            y = next(b, sentinel)


class _OutOfOrder(Exception):
    pass


def _checked(it: Iterator[tuple]) -> Iterator[tuple]:
    prev = None
    for item in it:
        if prev is not None and item[0] <= prev:
            raise _OutOfOrder
        prev = item[0]
        yield item


def compare_streams(a_raw, b_raw, limit: int = 20, restart=None) -> dict:
    """Compare two output streams. `restart()` returns fresh (a_raw, b_raw) streams, used when a
    run turns out not to be in line order (then both are joined in memory)."""
    try:
        return _compare(_merge_sorted(_checked(_lines(a_raw)), _checked(_lines(b_raw))), limit)
    except _OutOfOrder:
        if restart is None:
            raise ValueError("run outputs are not in line order") from None
        a2, b2 = restart()
        return _compare(_joined(_lines(a2), _lines(b2)), limit)


def _compare(joined: Iterable[tuple], limit: int) -> dict:
    counts = {"lines": 0, "same": 0, "changed": 0, "only_a": 0, "only_b": 0}
    shown = []
    for ln, x, y in joined:
        counts["lines"] += 1
        if x is None or y is None:
            counts["only_a" if y is None else "only_b"] += 1
            entry = {"line": ln, "status": "only_a" if y is None else "only_b",
                     "output": _strip((x or y)[1]) if (x or y)[2] is None else (x or y)[2]}
        else:
            a_obj = x[1] if x[2] is None else x[2]
            b_obj = y[1] if y[2] is None else y[2]
            changes = field_changes(a_obj, b_obj)
            if not changes:
                counts["same"] += 1
                continue
            counts["changed"] += 1
            entry = {"line": ln, "status": "changed", "changes": changes}
        if limit == 0 or len(shown) < limit:
            shown.append(entry)
    counts["shown"] = len(shown)
    return {"summary": counts, "lines": shown}


def diff_runs(repo: Repo, a: str, b: str, limit: int = 20) -> dict:
    """`pfgit runs diff A B` as data (schema in docs/runs.md)."""
    sa, sb = load_run(repo, a), load_run(repo, b)

    def streams():
        return stream_file(repo, sa), stream_file(repo, sb)

    res = compare_streams(*streams(), limit=limit, restart=streams)
    res["a"] = {"run": sa.name, "commit": sa.commit, "flow": sa.flow_path}
    res["b"] = {"run": sb.name, "commit": sb.commit, "flow": sb.flow_path}
    return {"a": res.pop("a"), "b": res.pop("b"), **res}


def pick_lines(repo: Repo, run: str, wanted: set, fname: str = "outputs.jsonl") -> dict:
    """{line number: object} of the `wanted` lines of one run's outputs (or inputs.jsonl),
    streamed; lines the run lacks are absent."""
    found: dict = {}
    if not wanted:
        return found
    snap = load_run(repo, run)
    for ln, obj, bad in _lines(stream_file(repo, snap, fname)):
        if ln in wanted:
            found[ln] = _strip(obj) if bad is None else bad
            if len(found) == len(wanted):
                break
    return found


def _short(v, width: int = 60) -> str:
    s = json.dumps(v, ensure_ascii=False, default=str) if not isinstance(v, str) else repr(v)
    return s if len(s) <= width else s[:width - 3] + "..."


def render_text(res: dict) -> str:
    s = res["summary"]
    out = [f"a: run {res['a']['run']} ({res['a']['commit'][:8]}, {res['a']['flow']})",
           f"b: run {res['b']['run']} ({res['b']['commit'][:8]}, {res['b']['flow']})",
           f"{s['lines']} lines: {s['same']} same, {s['changed']} changed, "
           f"{s['only_a']} only in a, {s['only_b']} only in b"]
    for e in res["lines"]:
        if e["status"] == "changed":
            out.append(f"line {e['line']}:")
            for c in e["changes"]:
                if "old" not in c:
                    out.append(f"  + {c['path']}: {_short(c['new'])}")
                elif "new" not in c:
                    out.append(f"  - {c['path']}: {_short(c['old'])}")
                else:
                    out.append(f"  ~ {c['path']}: {_short(c['old'])} -> {_short(c['new'])}")
        else:
            side = "a" if e["status"] == "only_a" else "b"
            out.append(f"line {e['line']}: only in {side}: {_short(e['output'])}")
    hidden = s["changed"] + s["only_a"] + s["only_b"] - s["shown"]
    if hidden > 0:
        out.append(f"... {hidden} more differing lines (--max-lines 0 shows all)")
    return "\n".join(out) + "\n"
