"""Post-merge validation: problems the merge itself created become conflicts (pure).

A merge of two valid edits can still break the flow: one side removes a node the other side
starts to use, or each side adds one half of a cycle. Only problems absent from both ours and
theirs count (a flow that was already broken is not the merge's fault). Each such problem names
the unit a person has to decide on — the removed node or input, or the input that closes the
cycle — and the merge is run again with that unit forced to a conflict.
"""

from __future__ import annotations

from typing import Any, Iterator

from ..flow.model import execution_order
from ..flow.refs import parse_ref
from .decide import MISSING, MergeResult, merge, resolve
from .decide import get_path as _get


def _nodes(data: dict) -> list:
    nodes = data.get("nodes") if isinstance(data, dict) else None
    return [n for n in nodes if isinstance(n, dict)] if isinstance(nodes, list) else []


def _bodies(data: dict, node: dict) -> Iterator[tuple[tuple, dict]]:
    name = node.get("name")
    yield ("nodes", name), node
    nv = data.get("node_variants")
    if node.get("use_variants") and isinstance(nv, dict) and isinstance(nv.get(name), dict):
        for vid, v in (nv[name].get("variants") or {}).items():
            if isinstance(v, dict) and isinstance(v.get("node"), dict):
                yield ("node_variants", name, "variants", vid, "node"), v["node"]


def references(data: dict) -> list:
    """(holder path, node name of the holder or None, Ref) for every reference in the flow."""
    out = []
    for node in _nodes(data):
        for base, body in _bodies(data, node):
            inputs = body.get("inputs")
            for k, v in (inputs.items() if isinstance(inputs, dict) else ()):
                r = parse_ref(v)
                if r is not None:
                    out.append((base + ("inputs", k), node.get("name"), r))
            act = body.get("activate")
            if isinstance(act, dict):
                r = parse_ref(act.get("when"))
                if r is not None:
                    out.append((base + ("activate", "when"), node.get("name"), r))
    outs = data.get("outputs") if isinstance(data, dict) else None
    for k, o in (outs.items() if isinstance(outs, dict) else ()):
        r = parse_ref(o.get("reference")) if isinstance(o, dict) else None
        if r is not None:
            out.append((("outputs", k, "reference"), None, r))
    return out


def _names(data: dict) -> set:
    return {n.get("name") for n in _nodes(data)}


def _inputs(data: dict) -> set:
    i = data.get("inputs") if isinstance(data, dict) else None
    return set(i) if isinstance(i, dict) else set()


def dangling(data: dict, refs: list | None = None) -> list:
    """(holder path, holder node, kind, target) of references to unknown nodes or inputs."""
    names, inputs = _names(data), _inputs(data)
    out = []
    for path, holder, r in (references(data) if refs is None else refs):
        if r.kind == "node" and r.name not in names and r.name not in ("inputs", "flow"):
            out.append((path, holder, "node", r.name))
        elif r.kind == "input" and r.name not in inputs:
            out.append((path, holder, "input", r.name))
    return out


def cycle_nodes(data: dict, refs: list | None = None) -> list:
    names = [n.get("name") for n in _nodes(data)]
    deps: dict = {}
    for _, holder, r in (references(data) if refs is None else refs):
        if holder is not None and r.kind == "node":
            deps.setdefault(holder, []).append(r.name)
    _, left = execution_order(names, deps)
    return left


def problems(result: MergeResult) -> dict:
    """New problems of the merged flow as {unit path: reason} to force into conflicts."""
    # without conflicts the tree is already plain data (resolve would copy it whole)
    merged = resolve(result.merged, "local") if result.conflicts else result.merged
    ours, theirs, base = (result.sides.get(s, {}) for s in ("local", "remote", "base"))
    forced: dict = {}
    refs = references(merged)
    new_dangling = dangling(merged, refs)
    # by holder too: a new use of a target that is already dangling elsewhere is still new
    old = {(path, kind, target) for d in (ours, theirs) for path, _, kind, target in dangling(d)} \
        if new_dangling else set()
    for path, holder, kind, target in new_dangling:
        if (path, kind, target) in old:
            continue
        who = f"node '{holder}'" if holder else f"output '{path[1]}'"
        user = "ours" if _get(ours, path) is not MISSING and _get(ours, path) == _get(merged, path) \
            else "theirs"
        if kind == "node":
            unit = ("nodes", target)
            had = [s for s, d in (("ours", ours), ("theirs", theirs), ("base", base)) if target in _names(d)]
        else:
            unit = ("inputs", target)
            had = [s for s, d in (("ours", ours), ("theirs", theirs), ("base", base)) if target in _inputs(d)]
        what = f"node '{target}'" if kind == "node" else f"flow input '{target}'"
        if any(s in had for s in ("ours", "theirs")):
            remover = "theirs" if user == "ours" else "ours"
            forced.setdefault(unit, f"{what} removed by {remover} but {who} uses it (changed by {user})")
        else:
            forced.setdefault(_holder_unit(path, ours), f"{who} references unknown {what}")
    if not forced:
        left = cycle_nodes(merged, refs)
        if left and not cycle_nodes(ours) and not cycle_nodes(theirs):
            names = _on_cycles(set(left), refs)
            for path, holder, r in refs:
                if holder in names and r.kind == "node" and r.name in names and \
                        _get(ours, path) != _get(merged, path):
                    unit = _holder_unit(path, ours)
                    loop = " -> ".join(_cycle_through(holder, r.name, refs, names))
                    forced.setdefault(unit, f"cycle {loop}: node '{holder}' now reads {r.name}")
    if not forced:
        forced.update(_validator_problems(merged, ours, theirs))
    return forced


def _cycle_through(holder: str, target: str, refs: list, names: set) -> list:
    """[holder, target, ..., holder]: the cycle the edge holder -> target closes (shortest)."""
    deps: dict = {}
    for _, h, r in refs:
        if h in names and r.kind == "node" and r.name in names:
            deps.setdefault(h, []).append(r.name)
    prev = {target: None}
    todo = [target]
    while todo:
        n = todo.pop(0)
        if n == holder:
            path = [n]
            while prev[path[-1]] is not None:
                path.append(prev[path[-1]])
            return [holder] + path[::-1]
        for d in deps.get(n, ()):
            if d not in prev:
                prev[d] = n
                todo.append(d)
    return [holder, target]


def _on_cycles(left: set, refs: list) -> set:
    """The nodes of `left` (not orderable) that lie on a cycle, not merely after one."""
    deps: dict = {}
    for _, holder, r in refs:
        if holder in left and r.kind == "node" and r.name in left:
            deps.setdefault(holder, set()).add(r.name)
    on = set()
    for n in left:
        todo, seen = list(deps.get(n, ())), set()
        while todo:
            d = todo.pop()
            if d == n:
                on.add(n)
                break
            if d not in seen:
                seen.add(d)
                todo += deps.get(d, ())
    return on


def _errors(data: dict) -> list:
    """pfgit.validate's errors for flow data (file checks skipped: there is no folder here)."""
    from ..flow.model import build
    from ..flow.yamlpos import Document
    from ..validate.api import validate_flow

    flow = build(Document(data=data), "dag", ".", "flow.dag.yaml")
    return [p for p in validate_flow(flow) if p.severity == "error"]


def _validator_problems(merged: dict, ours: dict, theirs: dict) -> dict:
    """Errors the full validator finds in the merged flow and in neither side (an unknown
    default variant, a node's variants removed, ...), as conflicts on the node's unit that the
    two sides disagree on."""
    new = _errors(merged)
    if not new:
        return {}
    old = {(p.code, p.message) for d in (ours, theirs) for p in _errors(d)}
    forced: dict = {}
    for p in new:
        if (p.code, p.message) in old or not p.node:
            continue
        for unit in (("node_variants", p.node), ("nodes", p.node)):
            if _get(ours, unit) != _get(theirs, unit):
                forced.setdefault(unit, f"the merged flow would be invalid: {p.message}")
                break
    return forced


def _holder_unit(path: tuple, ours: dict) -> tuple:
    """The input itself when its node is on ours' side, else the whole (new) node."""
    if path[0] == "nodes" and _get(ours, path[:2]) is MISSING:
        return path[:2]
    if path[0] == "node_variants" and _get(ours, path[:4]) is MISSING:
        return path[:4]
    return path


def merge_checked(base: Any, ours: Any, theirs: Any) -> MergeResult:
    """merge() then post-merge validation; units whose merge breaks the flow become conflicts."""
    forced: dict = {}
    result = merge(base, ours, theirs)
    for _ in range(3):
        new = {p: r for p, r in problems(result).items() if p not in forced}
        if not new:
            break
        forced.update(new)
        result = merge(base, ours, theirs, forced=forced)
    return result
