"""How validation results are shown: compiler-style text lines and the documented JSON shape."""

from __future__ import annotations


def problem_line(p, color: bool = False) -> str:
    """`file:line: severity code [node] message` (the `[node]` part only for node problems)."""
    sev = p.severity
    if color:
        sev = ("\033[31m" if sev == "error" else "\033[33m") + sev + "\033[0m"
    node = f" [{p.node}]" if p.node is not None else ""
    # one line per problem, whatever a node name or key holds: a name "a\n  - node ..." must not
    # print lines of its own (tools and CI logs read this output a line at a time)
    return f"{p.file}:{p.line or 1}: {sev} {p.code}{node} {p.message}".replace("\n", "\\n")


def summary(reports: list, strict: bool = False) -> dict:
    errors = sum(r.errors for r in reports)
    warnings = sum(r.warnings for r in reports)
    return {"flows": len(reports), "errors": errors, "warnings": warnings,
            "ok": all(r.ok(strict) for r in reports)}


def summary_line(reports: list, strict: bool = False) -> str:
    s = summary(reports, strict)
    if not reports:
        return "no flows found"
    flows = f"{s['flows']} flow{'s' if s['flows'] != 1 else ''} checked"
    if not s["errors"] and not s["warnings"]:
        return f"{flows}: no problems"
    parts = []
    if s["errors"]:
        parts.append(f"{s['errors']} error{'s' if s['errors'] != 1 else ''}")
    if s["warnings"]:
        parts.append(f"{s['warnings']} warning{'s' if s['warnings'] != 1 else ''}")
    failed = sum(not r.ok(strict) for r in reports)
    tail = f" ({failed} flow{'s' if failed != 1 else ''} failed)" if failed else ""
    return f"{flows}: {', '.join(parts)}{tail}"


def to_json(reports: list, strict: bool = False) -> dict:
    s = summary(reports, strict)
    return {"flows": [r.to_json(strict) for r in reports], "summary": s}


def text_lines(reports: list, strict: bool = False, color: bool = False) -> list:
    out = [problem_line(p, color) for r in reports for p in r.problems]
    out.append(summary_line(reports, strict))
    return out
