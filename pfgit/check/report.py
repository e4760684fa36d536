"""`pfgit check`'s result as text (the console) and Markdown (the PR comment, the job summary)."""

from __future__ import annotations

import json

from ..index.render import fmt_value
from ..mdtext import md_code, md_text

MARK = {"pass": "pass", "fail": "FAIL", "no-baseline": "no baseline"}


def _diff_summary(d: dict) -> str:
    """`2 node fields, 1 node added`, as `pfgit diff --stat` says it."""
    from ..diff.render import plural

    if not d:
        return "formatting only"
    return ", ".join(f"{n} {plural(k, n)}" for k, n in d.items() if n) or "changed"


def _run_label(r: dict | None) -> str:
    if r is None:
        return "-"
    ev = f" (evaluated by {r['evaluation']})" if r.get("evaluation") else ""
    commit = (r.get("flow_commit") or "")[:8] or "-"
    return f"{r['run']} at {commit}{ev}"


def _delta(v) -> str:
    if v is None:
        return "-"
    s = fmt_value(v)
    return s if s.startswith("-") else "+" + s


def _short(v, width: int = 60) -> str:
    if v is None:
        return "-"
    s = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)
    return s if len(s) <= width else s[:width - 3] + "..."


def render_text(res: dict) -> str:
    b = res["baseline"]
    out = [f"baseline {b['spec']} ({b['commit'][:8]}), merge base {b['merge_base'][:8]}; "
           f"head {res['head']['commit'][:8]}"]
    if b.get("fetched") and b["fetched"].get("error"):
        out.append(f"note: could not fetch runs from {b['fetched']['remote']}: "
                   f"{b['fetched']['error']}")
    for r in (b.get("fetched") or {}).get("failed") or ():
        out.append(f"note: not fetched from {b['fetched']['remote']}: {r['ref']}: {r['reason']}")
    if not res["flows"]:
        out.append("no changed flow to check")
    for f in res["flows"]:
        out.append("")
        out.append(f"flow {f['path']}  ({f['status']}: {_diff_summary(f['diff'])})  "
                   f"{'ok' if f['ok'] else 'FAILED'}")
        for p in f["problems"]:
            out.append(f"  {p['file']}:{p['line'] or 1}: {p['severity']} {p['code']} {p['message']}")
        if f["head_run"] or f["baseline_run"]:
            out.append(f"  baseline run: {_run_label(f['baseline_run'])}")
            out.append(f"  head run:     {_run_label(f['head_run'])}")
        for g in f["gates"]:
            why = f"  ({'; '.join(g['reasons'])})" if g["reasons"] else ""
            out.append(f"  {MARK[g['status']]:<11} {g['metric']}: {fmt_value(g['baseline'])} -> "
                       f"{fmt_value(g['head'])} ({_delta(g['delta'])}), gate {g['gate']}{why}")
        fl = f.get("flipped")
        if fl and fl["lines"]:
            s = fl["summary"]
            n = s["changed"] + s["only_a"] + s["only_b"]
            out.append(f"  {n} line{'s' if n != 1 else ''} changed "
                       f"{'their' if n != 1 else 'its'} evaluation outcome")
        for n in f["notes"]:
            out.append(f"  note: {n}")
    out.append("")
    out.append("check passed" if res["ok"] else "check FAILED")
    return "\n".join(out) + "\n"


def render_markdown(res: dict) -> str:
    b = res["baseline"]
    icon = "✅" if res["ok"] else "❌"
    out = [f"## {icon} pfgit check: {'passed' if res['ok'] else 'failed'}", "",
           f"Baseline {md_code(b['spec'], cell=False)} ({b['commit'][:8]}), merge base `{b['merge_base'][:8]}`; "
           f"head `{res['head']['commit'][:8]}`.", ""]
    if not res["flows"]:
        out.append("No changed flow to check.")
    for f in res["flows"]:
        out.append(f"### {'✅' if f['ok'] else '❌'} {md_code(f['path'], cell=False)} ({f['status']})")
        out.append("")
        out.append(f"Change: {md_text(_diff_summary(f['diff']))}.")
        out.append("")
        if f["problems"]:
            out.append("| file | line | severity | code | message |")
            out.append("|---|---|---|---|---|")
            for p in f["problems"]:
                out.append(f"| {md_code(p['file'])} | {p['line'] or ''} | {p['severity']} | "
                           f"{p['code']} | {md_text(p['message'])} |")
            out.append("")
        if f["gates"]:
            out.append("| metric | baseline | head | delta | gate | result |")
            out.append("|---|---:|---:|---:|---|---|")
            for g in f["gates"]:
                res_cell = MARK[g["status"]] + (f": {md_text('; '.join(g['reasons']))}"
                                                if g["reasons"] else "")
                out.append(f"| {md_code(g['metric'])} | {fmt_value(g['baseline'])} | "
                           f"{fmt_value(g['head'])} | {_delta(g['delta'])} | {md_code(g['gate'])} | "
                           f"{'**' + res_cell + '**' if g['status'] == 'fail' else res_cell} |")
            out.append("")
        if f["head_run"] or f["baseline_run"]:
            out.append(f"Runs: baseline {md_text(_run_label(f['baseline_run']))}; "
                       f"head {md_text(_run_label(f['head_run']))}.")
            out.append("")
        fl = f.get("flipped")
        if fl and fl["lines"]:
            s = fl["summary"]
            n = s["changed"] + s["only_a"] + s["only_b"]
            out.append(f"<details><summary>{n} line{'s' if n != 1 else ''} changed "
                       f"{'their' if n != 1 else 'its'} evaluation outcome "
                       f"(first {len(fl['lines'])})</summary>")
            out.append("")
            out.append("| line | inputs | baseline | head | baseline output | head output |")
            out.append("|---:|---|---|---|---|---|")
            for e in fl["lines"]:
                if e["status"] == "changed":
                    old = "; ".join(f"{c['path']}={_short(c.get('old'))}" for c in e["changes"])
                    new = "; ".join(f"{c['path']}={_short(c.get('new'))}" for c in e["changes"])
                elif e["status"] == "only_a":
                    old, new = _short(e["output"]), "(missing)"
                else:
                    old, new = "(missing)", _short(e["output"])
                out.append(f"| {e['line']} | {md_code(_short(e.get('inputs')))} | {md_code(old)} | "
                           f"{md_code(new)} | {md_code(_short(e.get('baseline_output')))} | "
                           f"{md_code(_short(e.get('head_output')))} |")
            out.append("")
            out.append("</details>")
            out.append("")
        for n in f["notes"]:
            out.append(f"- {md_text(n)}")
        if f["notes"]:
            out.append("")
    return "\n".join(out).rstrip() + "\n"


GATE_RULE = ("error", "a metric gate of pfgit check failed (pfgit.yaml or --metric)")


def annotations(res: dict, root: str) -> list:
    """The check's findings as problems for `--format github|sarif` (pfgit.annotations): every
    validation problem of a changed flow, and each failed gate — on its pfgit.yaml line, or on the
    flow file when the gate came from the command line."""
    import os
    from types import SimpleNamespace

    out = []
    for f in res["flows"]:
        for p in f["problems"]:  # paths are repository-relative: anchor them at the root
            out.append(SimpleNamespace(**dict(p, file=os.path.join(root, p["file"]))))
        for g in f["gates"]:
            if g["status"] != "fail":
                continue
            line = g.get("config_line")
            out.append(SimpleNamespace(
                code="gate-failed", severity="error", node=None,
                file=os.path.join(root, "pfgit.yaml" if line else f"{f['path']}/flow.dag.yaml"),
                line=line,
                message=f"flow {f['path']}: {g['metric']} {g['gate']}: {'; '.join(g['reasons'])}"))
    return out
