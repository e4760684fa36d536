"""Text, Markdown and porcelain renderings of `pfgit blame` and `pfgit log --node` (JSON is the
data itself; docs/history.md)."""

from __future__ import annotations

import time

from ..index.render import fmt_value, table
from ..mdtext import md_code, md_text

REASONS = {"shallow": "shallow clone", "missing": "parent commit missing"}


def day(t: int, tz: int = 0) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(t + tz))


def minute(t: int, tz: int = 0) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(t + tz))


def _clip(s: str, n: int) -> str:
    s = " ".join(str(s).split())
    return s if len(s) <= n else s[:n - 1] + "…"


def _sha(rec: dict) -> str:
    return ("^" if rec.get("boundary") else "") + rec["commit"][:8]


def _stops(res: dict) -> str:
    s = res.get("history_stops")
    if not s:
        return ""
    return (f"history stops at {s['commit'][:8]} ({REASONS.get(s['reason'], s['reason'])}): "
            "what is marked ^ may be older\n")


def blame_text(res: dict) -> str:
    out = [f"flow {res['flow']} at {res['commit'][:8]}"
           + (" (all parents)" if res.get("all_parents") else " (first-parent history)")]
    rows = [[r["field"], _clip(r["value"], 32), _sha(r), _clip(r["author"], 16),
             day(r["time"], r["tz"]), _clip(r["summary"], 50)
             + (f" (as {r['renamed_from']})" if r.get("renamed_from") else "")]
            for r in res["fields"]]
    text = "\n".join(out) + "\n" + table(rows, ["FIELD", "VALUE", "COMMIT", "AUTHOR", "DATE", "SUMMARY"])
    for src in res.get("sources") or []:
        text += f"\n{src['field']} ({src['file']})\n"
        show_file = any(ln["orig_file"] != src["file"] for ln in src["lines"])
        aw = max((len(_clip(ln["author"], 16)) for ln in src["lines"]), default=0)
        fw = max((len(ln["orig_file"]) for ln in src["lines"]), default=0) if show_file else 0
        nw = len(str(len(src["lines"])))
        for ln in src["lines"]:
            f = f" {ln['orig_file'].ljust(fw)}" if show_file else ""
            text += (f"{_sha(ln).ljust(9)}{f} ({_clip(ln['author'], 16).ljust(aw)} "
                     f"{day(ln['time'], ln['tz'])} {str(ln['line']).rjust(nw)}) {ln['text']}\n")
    return text + _stops(res)


def _tsv(*cols) -> str:
    return "\t".join(str(c).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
                     for c in cols) + "\n"


def blame_porcelain(res: dict) -> str:
    """One record per line, tab-separated (docs/history.md "Porcelain")."""
    out = [_tsv("flow", res["flow"], res["commit"])]
    for r in res["fields"]:
        out.append(_tsv("field", r["field"], r["commit"], int(r["boundary"]), r["time"], r["tz"],
                        r["author"], r["author_email"], ".".join(r["path_then"]), r["value"]))
    for src in res.get("sources") or []:
        for ln in src["lines"]:
            out.append(_tsv("line", src["file"], ln["line"], ln["commit"], int(ln["boundary"]),
                            ln["orig_file"], ln["orig_line"], ln["time"], ln["tz"], ln["author"],
                            ln["author_email"], ln["text"]))
    s = res.get("history_stops")
    if s:
        out.append(_tsv("stops", s["commit"], s["reason"]))
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# log --node

def _delta(v) -> str:
    if v is None:
        return ""
    return f" ({v:+.6g})" if isinstance(v, float) else f" ({v:+d})"


def _metric_line(m: dict) -> str:
    vals = "  ".join(f"{r['name']} {fmt_value(r['old'])} -> {fmt_value(r['new'])}{_delta(r['delta'])}"
                     for r in m["values"])
    return vals + f"  (runs {m.get('before') or '-'} -> {m.get('after') or '-'})"


def _skipped(res: dict) -> str:
    n = res["formatting_only"]
    return f"{n} formatting-only commit{'s' if n != 1 else ''} skipped"


def log_text(res: dict) -> str:
    n = len(res["commits"])
    out = [f"node {res['node']} of flow {res['flow']}: {n} commit{'s' if n != 1 else ''} "
           f"changed it ({_skipped(res)})"]
    for e in res["commits"]:
        where = f"  {e['flow']}" if e["flow"] != res["flow"] else ""
        name = f"  [{e['node']}]" if e["node"] != res["node"] else ""
        out.append(f"commit {e['commit'][:8]}  {minute(e['time'], e['tz'])}  {e['author']}  "
                   f"{e['summary']}{where}{name}" + ("  (merge)" if e.get("merge") else ""))
        out.append(f"    {e['text']}")
        if e.get("metrics") and (e["metrics"]["before"] or e["metrics"]["after"]):
            out.append(f"    {_metric_line(e['metrics'])}")
    text = "\n".join(out) + "\n"
    return text + _stops(res).replace(": what is marked ^ may be older", "")


def log_markdown(res: dict) -> str:
    metrics = res.get("metrics") or []
    head = ["commit", "date", "author", "change"] + metrics
    out = [f"### Node {md_code(res['node'], False)} of flow {md_code(res['flow'], False)}", "",
           "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for e in res["commits"]:
        cells = [f"`{e['commit'][:8]}`", day(e["time"], e["tz"]), md_text(e["author"]), md_text(e["text"])]
        vals = {r["name"]: r for r in (e.get("metrics") or {}).get("values", [])}
        for m in metrics:
            r = vals.get(m)
            cells.append(f"{fmt_value(r['old'])} → {fmt_value(r['new'])}{_delta(r['delta'])}" if r else "")
        out.append("| " + " | ".join(cells) + " |")
    out += ["", _skipped(res).capitalize() + "."]
    return "\n".join(out) + "\n"


__all__ = ["blame_text", "blame_porcelain", "log_text", "log_markdown"]
