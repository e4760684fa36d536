"""Printing merge outcomes and the conflicts left in a worktree, by flow and node."""

from __future__ import annotations

import os
import sys

from ..errors import UsageError


def find_conflicts(paths: list) -> list:
    """[{path, file, kind, conflicts: [ConflictRegion JSON]}] for every file of the flows under
    `paths` holding markers: the flow file (`kind` "flow", conflicts by node) and any other
    file of the flow folder (`kind` "file": a .py, a prompt, a .prompty, data)."""
    from ..flow.load import find_flows
    from ..flow.readers import DirReader, git_top
    from ..validate.api import with_prompties
    from ..validate.markers import folder_files, marker_lines, read_small
    from .conflicts import regions, scan

    out = []
    seen = set()
    for p in paths:
        if not os.path.exists(p):
            raise UsageError("no such file or folder", file=p)
        reader = DirReader(".", ".", git_top(p))  # a flow file linked from outside: not read
        rel = os.path.relpath(p)
        for loc in with_prompties(reader, find_flows(reader, rel)):
            for f in folder_files(reader, loc):
                if f in seen:
                    continue
                seen.add(f)
                data = read_small(reader, f)
                if not data or not marker_lines(data):
                    continue
                text = data.decode("utf-8", "replace").replace("\r\n", "\n")
                flow = f == loc.file and not loc.is_prompty
                found = scan(text) if flow else regions(text)
                out.append({"path": loc.dir, "file": f, "kind": "flow" if flow else "file",
                            "conflicts": [r.to_json() for r in found]})
    return out


def _conflict_line(c: dict, kind: str = "flow") -> str:
    # one line, whatever a node name holds (a "\n" in it would print a made-up line)
    return _one_conflict_line(c, kind).replace("\n", "\\n")


def _one_conflict_line(c: dict, kind: str) -> str:
    if kind == "file":
        return f"  line {c['line']}: conflict"
    if c.get("reason"):   # pfgit's reasons already name the node and the input
        return f"  line {c['line']}: {c['reason']}"
    where = f"node '{c['node']}'" if c.get("node") else "flow level"
    path = ".".join(c["path"][2:]) if c.get("node") and c["path"][:1] == ["nodes"] else ".".join(c["path"])
    return f"  line {c['line']}: {where}" + (f" {path}" if path else "")


def print_conflicts(found: list, json_out: bool) -> None:
    if json_out:
        from ..output import emit_json

        emit_json({"flows": found, "summary": {"flows": len({f["path"] for f in found}),
                                               "files": len(found),
                                               "conflicts": sum(len(f["conflicts"]) for f in found)}})
        return
    if not found:
        print("no conflicts")
        return
    for f in found:
        n = len(f["conflicts"])
        print(f"{f['file']}: {n} conflict{'s' if n != 1 else ''}")
        for c in f["conflicts"]:
            print(_conflict_line(c, f.get("kind", "flow")))


def print_report(outcome, json_out: bool) -> None:
    if json_out:
        from ..output import emit_json

        emit_json({"branch": outcome.branch, "exit_code": outcome.exit_code, "flows": outcome.flows,
                   "other_conflicts": outcome.other_conflicts,
                   "interrupted": outcome.interrupted})
        return
    if outcome.interrupted:
        print(f"pfgit: merge interrupted ({outcome.interrupted}); pfgit's temporary merge "
              "attributes were removed", file=sys.stderr)
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
