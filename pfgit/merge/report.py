"""Printing merge outcomes and the conflicts left in a worktree, by flow and node."""

from __future__ import annotations

import os
import sys

from ..errors import UsageError


def find_conflicts(paths: list) -> list:
    """[{path, file, conflicts: [ConflictRegion JSON]}] for flows under `paths` holding markers."""
    from ..flow.load import find_flows
    from ..flow.readers import DirReader, git_top
    from .conflicts import scan

    out = []
    seen = set()
    for p in paths:
        if not os.path.exists(p):
            raise UsageError("no such file or folder", file=p)
        reader = DirReader(".", ".", git_top(p))  # a flow file linked from outside: not read
        rel = os.path.relpath(p)
        for loc in find_flows(reader, rel):
            if loc.file in seen or loc.is_prompty:
                continue
            seen.add(loc.file)
            try:
                text = reader.read_bytes(loc.file).decode("utf-8", "replace").replace("\r\n", "\n")
            except OSError:
                continue
            regions = scan(text)
            if regions:
                out.append({"path": loc.dir, "file": loc.file,
                            "conflicts": [r.to_json() for r in regions]})
    return out


def _conflict_line(c: dict) -> str:
    if c.get("reason"):   # pfgit's reasons already name the node and the input
        return f"  line {c['line']}: {c['reason']}"
    where = f"node '{c['node']}'" if c.get("node") else "flow level"
    path = ".".join(c["path"][2:]) if c.get("node") and c["path"][:1] == ["nodes"] else ".".join(c["path"])
    return f"  line {c['line']}: {where}" + (f" {path}" if path else "")


def print_conflicts(found: list, json_out: bool) -> None:
    if json_out:
        from ..output import emit_json

        emit_json({"flows": found, "summary": {"flows": len(found),
                                               "conflicts": sum(len(f["conflicts"]) for f in found)}})
        return
    if not found:
        print("no conflicts")
        return
    for f in found:
        n = len(f["conflicts"])
        print(f"{f['file']}: {n} conflict{'s' if n != 1 else ''}")
        for c in f["conflicts"]:
            print(_conflict_line(c))


def print_report(outcome, json_out: bool) -> None:
    if json_out:
        from ..output import emit_json

        emit_json({"branch": outcome.branch, "exit_code": outcome.exit_code, "flows": outcome.flows,
                   "other_conflicts": outcome.other_conflicts})
        return
    if not outcome.flows and not outcome.other_conflicts:
        return
    print("\npfgit: flows after the merge:")
    for f in outcome.flows:
        if f["conflicts"]:
            n = len(f["conflicts"])
            print(f"  {f['file']}: {n} conflict{'s' if n != 1 else ''} to resolve")
            for c in f["conflicts"]:
                print("  " + _conflict_line(c))
        elif f["problems"]:
            print(f"  {f['file']}: merged, but {len(f['problems'])} validation error(s):")
            for p in f["problems"]:
                print(f"      line {p.get('line')}: [{p['code']}] {p['message']}")
        else:
            print(f"  {f['file']}: {f['status']}" + (", no new validation errors" if f["status"] == "merged" else ""))
    if any(f["status"].startswith("conflict: ") for f in outcome.flows):
        print("Resolve the marked files, then `git commit`.")
    for rel in outcome.other_conflicts:
        print(f"  {rel}: conflict (not a flow file; resolve as usual)")
    if any(f["conflicts"] for f in outcome.flows):
        print("Resolve the marked units, then `git add` the files and `git commit` "
              "(`pfgit conflicts` lists what is left).")
    sys.stdout.flush()
