"""Problems in the formats CI systems read: GitHub workflow commands and SARIF 2.1.0.

Shared by `pfgit validate --format` and (later) `pfgit check --format`. A problem is any object
with `code`, `severity` ("error" | "warning"), `message`, `file`, `line` and `node`; `rules` maps
each code to (severity, description), as pfgit.validate.problems.CODES does.

Paths: CI annotates files relative to the repository root, while pfgit prints them relative to
the current folder, so both formats re-root each path at the repository holding it (found by
walking up to `.git`, without importing git libraries: validate runs in hooks).
"""

from __future__ import annotations

import os

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
FORMATS = ("text", "json", "github", "sarif")


def repo_root(start: str | None = None) -> str | None:
    """The worktree holding `start` (default: the current folder), or None outside any."""
    d = os.path.abspath(start or os.getcwd())
    while True:
        if os.path.exists(os.path.join(d, ".git")):
            return d
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


def repo_path(file: str, root: str | None) -> str:
    """`file` (relative to the current folder, or absolute) as a '/'-path below `root`; files
    outside the repository keep the path pfgit printed."""
    if not root:
        return file.replace(os.sep, "/")
    rel = os.path.relpath(os.path.abspath(file), root)
    return file.replace(os.sep, "/") if rel.startswith("..") else rel.replace(os.sep, "/")


def _escape_data(s: str) -> str:
    # GitHub's workflow-command escaping (actions/toolkit command.ts)
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(s: str) -> str:
    return _escape_data(s).replace(":", "%3A").replace(",", "%2C")


def github_lines(problems, root: str | None = None) -> list:
    """One `::error file=...,line=...,title=...::message` line per problem."""
    out = []
    for p in problems:
        level = "error" if p.severity == "error" else "warning"
        props = [f"file={_escape_property(repo_path(p.file, root))}"]
        if p.line:
            props.append(f"line={int(p.line)}")
        title = f"pfgit {p.code}" + (f" [{p.node}]" if p.node is not None else "")
        props.append(f"title={_escape_property(title)}")
        out.append(f"::{level} {','.join(props)}::{_escape_data(p.message)}")
    return out


def sarif_log(problems, rules: dict, version: str, root: str | None = None) -> dict:
    """A SARIF 2.1.0 log with one run: every registered code as a rule, one result per problem."""
    codes = sorted(rules)
    index = {c: i for i, c in enumerate(codes)}
    driver = {
        "name": "pfgit",
        "version": version,
        "rules": [{"id": c,
                   "shortDescription": {"text": rules[c][1]},
                   "defaultConfiguration": {"level": "error" if rules[c][0] == "error" else "warning"}}
                  for c in codes],
    }
    results = []
    for p in problems:
        region = {"startLine": int(p.line)} if p.line else {}
        loc = {"physicalLocation": {"artifactLocation": {"uri": repo_path(p.file, root),
                                                         "uriBaseId": "%SRCROOT%"}}}
        if region:
            loc["physicalLocation"]["region"] = region
        if p.node is not None:
            loc["logicalLocations"] = [{"name": str(p.node), "kind": "member"}]
        res = {"ruleId": p.code, "level": "error" if p.severity == "error" else "warning",
               "message": {"text": p.message}, "locations": [loc]}
        if p.code in index:
            res["ruleIndex"] = index[p.code]
        results.append(res)
    run = {"tool": {"driver": driver}, "results": results, "columnKind": "unicodeCodePoints"}
    if root:
        run["originalUriBaseIds"] = {"%SRCROOT%": {"uri": "file://" + root.rstrip("/") + "/"}}
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
