"""Text and Markdown renderings of runs, flow history and metric diffs (JSON is the data itself)."""

from __future__ import annotations

import time

from ..mdtext import md_code, md_text


def short(sha: str | None, n: int = 8) -> str:
    return sha[:n] if sha else "-"


def fmt_value(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 10 ** 15:
        return _sci(v)
    if v is None:
        return "-"
    return str(v)


def _sci(v: int, sign: str = "") -> str:
    """A huge int as 1.00000e+400 (format() would convert it to a float and overflow)."""
    s = str(abs(v))
    lead = "-" if v < 0 else ("+" if sign else "")
    return f"{lead}{s[0]}.{s[1:6].ljust(5, '0')}e+{len(s) - 1}"


def fmt_time(iso: str | None) -> str:
    return iso[:16].replace("T", " ") if iso else "-"


def _lines(r: dict) -> str:
    ln = r.get("lines") or {}
    return f"{ln.get('completed') if ln.get('completed') is not None else '?'}/" \
           f"{ln.get('total') if ln.get('total') is not None else '?'}"


def _cell(v) -> str:
    """A table cell on one line: a fetched run's flow path 'a\\nb' would break its row (and could
    print a line that looks like another run's)."""
    s = str(v)
    return s if "\n" not in s and "\r" not in s else s.replace("\r", "\\r").replace("\n", "\\n")


def table(rows: list, header: list) -> str:
    rows = [[_cell(c) for c in row] for row in rows]
    widths = [max(len(x) for x in col) for col in zip(header, *rows)]
    out = []
    for row in [header] + rows:
        out.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    return "\n".join(out) + "\n"


def runs_table(runs: list) -> str:
    if not runs:
        return "no runs\n"
    rows = []
    for r in runs:
        commit = short(r.get("flow_commit")) + ("*" if r.get("dirty") else "") if r.get("linked") else "-"
        rows.append([r["name"], r.get("status") or "-", _lines(r), r.get("flow") or "-", commit,
                     fmt_time(r.get("start_time"))])
    return table(rows, ["NAME", "STATUS", "LINES", "FLOW", "COMMIT", "STARTED"])


def metrics_inline(m: dict, only: list | None = None) -> str:
    keys = only if only else sorted(m)
    return "  ".join(f"{k}={fmt_value(m.get(k))}" for k in keys if only or k in m)


def run_details(r: dict, run_json: dict) -> str:
    out = [f"run       {r['name']}",
           f"status    {r.get('status') or '-'}",
           f"flow      {r.get('flow')}",
           f"commit    {r.get('flow_commit') or '- (not linked to a commit)'}"
           + (" (uncommitted worktree)" if r.get("dirty") else ""),
           f"tree      {r.get('flow_tree')}",
           f"snapshot  {r.get('snapshot')}  (refs/pfgit/runs/{r['name']})",
           f"lines     {_lines(r)} completed, {(r.get('lines') or {}).get('failed') or 0} failed",
           f"started   {r.get('start_time')}",
           f"ended     {r.get('end_time')}"]
    if r.get("base_run"):
        out.append(f"base run  {r['base_run']}")
    data = run_json.get("data") or {}
    if data:
        out.append(f"data      {data.get('path')} (sha256 {short(data.get('sha256'), 12)})")
    if run_json.get("variant"):
        out.append(f"variant   {run_json['variant']}")
    for k, v in (run_json.get("column_mapping") or {}).items():
        out.append(f"mapping   {k}={v}")
    for k, v in (run_json.get("connections") or {}).items():
        out.append(f"connection {k}={v}")
    if r.get("metrics"):
        out.append("metrics   " + metrics_inline(r["metrics"]))
    for ev in r.get("evaluations") or []:
        out.append(f"evaluated by {ev['name']}: " + metrics_inline(ev["metrics"]))
    return "\n".join(out) + "\n"


def outputs_table(lines: list, inputs: dict | None = None) -> str:
    """Per-line inputs and outputs as a table, like `pf run show-details` (`inputs.*` then
    `outputs.*`; a failed line has inputs only). `lines`: [(line, outputs)]; `inputs`: {line: inputs}."""
    inputs = inputs or {}
    if not lines and not inputs:
        return "no outputs\n"

    def obj_of(o):   # a fetched run's jsonl may hold lines that are not objects ([1, 2], 42, null)
        return o if isinstance(o, dict) else {"(not an object)": o}

    outs = {ln: obj_of(o) for ln, o in lines}
    ins = {ln: obj_of(o) for ln, o in inputs.items()}

    def keys_of(objs) -> list:
        keys: list = []
        for obj in objs:
            for k in obj:
                if k != "line_number" and k not in keys:
                    keys.append(k)
        return keys

    in_keys, out_keys = keys_of(ins.values()), keys_of(outs.values())
    rows = []
    for ln in sorted(set(outs) | set(ins), key=lambda x: (not isinstance(x, int), x if isinstance(x, int) else 0)):
        i, o = ins.get(ln, {}), outs.get(ln, {})
        rows.append([ln] + [_clip(i.get(k)) if k in i else "" for k in in_keys]
                    + [_clip(o.get(k)) if k in o else "" for k in out_keys])
    return table(rows, ["line"] + [f"inputs.{k}" for k in in_keys] + [f"outputs.{k}" for k in out_keys])


def _clip(v, n: int = 60) -> str:
    s = fmt_value(v) if not isinstance(v, (dict, list)) else str(v)
    s = " ".join(s.split())
    return s if len(s) <= n else s[:n - 1] + "…"


def log_text(entries: list, metrics: list | None) -> str:
    if not entries:
        return "no commits of this flow\n"
    out = []
    for e in entries:
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(e["time"])) if e.get("time") else "-"
        out.append(f"commit {short(e['commit'])}  {when}  {e['flow']}  {e['summary']}")
        if not e["runs"]:
            out.append("    (no runs)")
        for r in e["runs"]:
            m = metrics_inline(r.get("effective_metrics") or {}, metrics)
            out.append(f"    {r['name']}  {r.get('status') or '-'}  {_lines(r)}" + (f"  {m}" if m else ""))
    return "\n".join(out) + "\n"


def _delta(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:+.6g}"
    if abs(v) >= 10 ** 15:
        return _sci(v, "+")
    return f"{v:+d}"


def metrics_diff_text(res: dict) -> str:
    a, b = res["a"], res["b"]
    head = f"a: {a['spec']} -> run {a['run']}\nb: {b['spec']} -> run {b['run']}\n"
    if not res["metrics"]:
        return head + "no metrics\n"
    rows = [[m["name"], fmt_value(m["old"]), fmt_value(m["new"]), _delta(m["delta"])]
            for m in res["metrics"]]
    return head + table(rows, ["METRIC", "OLD", "NEW", "DELTA"])


def metrics_diff_markdown(res: dict) -> str:
    a, b = res["a"], res["b"]
    out = [f"**Metrics**: {md_code(a['run'], False)} ({md_text(a['spec'])}) → "
           f"{md_code(b['run'], False)} ({md_text(b['spec'])})", "",
           "| metric | old | new | delta |", "|---|---:|---:|---:|"]
    for m in res["metrics"]:
        out.append(f"| {md_code(m['name'])} | {fmt_value(m['old'])} | {fmt_value(m['new'])} | {_delta(m['delta'])} |")
    return "\n".join(out) + "\n"
