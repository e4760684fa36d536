"""`${...}` references: in node inputs, activate.when and outputs, and the graph they make.

Rules as promptflow's executor applies them (executor/flow_validator.py): a node reference must
name an existing node and use the `output` section, a flow-input reference an existing input, an
output needs a reference, and the nodes must have an execution order (no cycle).
"""

from __future__ import annotations

from ..flow.model import execution_order
from ..flow.refs import embedded_refs, is_ref_text, iter_values, parse_ref
from .context import Context, variant_note, where


def check_node_refs(ctx: Context) -> None:
    flow = ctx.flow
    for node in flow.nodes:
        for body in flow.bodies(node):
            for path, ref in body.refs():
                what = where(path, body.base_path) + variant_note(path)
                if ref.kind == "input":
                    if ref.name not in flow.inputs:
                        ctx.add("unknown-input", f"{what} references unknown flow input "
                                f"'{ref.name}'", path, node.name)
                elif ref.name not in ctx.nodes:
                    ctx.add("dangling-ref", f"{what} references unknown node '{ref.name}'",
                            path, node.name)
                elif ref.section != "output":
                    ctx.add("bad-ref-section", f"{what} references '{ref.name}.{ref.section}'; "
                            f"only '{ref.name}.output' is supported", path, node.name)
            _embedded(ctx, body.inputs, body.base_path + ("inputs",), node.name)
            act = body.activate
            if act is not None:
                _embedded(ctx, {"when": act.get("when")}, body.base_path + ("activate",), node.name)


def _embedded(ctx: Context, values: dict, base: tuple, node: str | None) -> None:
    for sub, v in iter_values(values):
        if not isinstance(v, str) or "${" not in v:
            continue
        if len(sub) == 1 and is_ref_text(v) and v.count("${") == 1:
            continue  # a whole-string reference at the top: what promptflow resolves
        frags = embedded_refs(v) or [v]
        path = base + sub
        what = ".".join(str(s) for s in path[path.index("inputs") + 1:]) if "inputs" in path else "when"
        nested = len(sub) > 1 and is_ref_text(v)
        reason = ("is inside a nested value" if nested else "is inside a longer string")
        ctx.add("embedded-ref", f"'{frags[0]}' in '{what}'{variant_note(path)} {reason}; promptflow "
                "passes it as plain text (only a whole-string ${...} is a reference)", path, node)


def check_outputs(ctx: Context) -> None:
    flow = ctx.flow
    for name, d in flow.outputs.items():
        if not isinstance(d, dict):
            continue
        p = ("outputs", name)
        value = d.get("reference")
        if value is None or value == "":
            ctx.add("empty-output-ref", f"output '{name}' has no reference", p)
            continue
        if not isinstance(value, str):
            continue  # bad-type reported by structure
        ref = parse_ref(value)
        p = p + ("reference",)
        if ref is None:
            if "${" in value:
                ctx.add("embedded-ref", f"output '{name}' reference '{value}' is not a whole-string "
                        "${...}; promptflow returns it as plain text", p)
            continue
        if ref.kind == "input":
            if ref.name not in flow.inputs:
                ctx.add("unknown-input", f"output '{name}' references unknown flow input "
                        f"'{ref.name}'", p)
        elif ref.name not in ctx.nodes:
            ctx.add("dangling-ref", f"output '{name}' references unknown node '{ref.name}'", p)
        elif ref.section != "output":
            # promptflow resolves an output by node and property and ignores the section
            # (flow_executor.py::_extract_outputs): it works, but the same text fails in a node input
            fixed = "${" + ".".join(filter(None, (ref.name, "output", ref.prop))) + "}"
            ctx.add("output-ref-section", f"output '{name}' reference '{value}' has section "
                    f"'{ref.section}', which promptflow ignores here; write '{fixed}'", p)


def dependency_map(ctx: Context) -> dict:
    """node name -> names it depends on (inputs and activate.when, all variants)."""
    return {name: ctx.flow.dependencies(node) for name, node in ctx.nodes.items()}


def check_cycles(ctx: Context) -> None:
    names = list(ctx.nodes)
    deps = dependency_map(ctx)
    _, left = execution_order(names, deps)
    if not left:
        return
    pos = {n: i for i, n in enumerate(names)}
    for comp in _cycles(left, deps):
        comp.sort(key=pos.__getitem__)
        start = comp[0]
        loop = _loop_from(start, set(comp), deps)
        members = _abbrev([f"'{n}'" for n in sorted(comp)], ", ")  # promptflow sorts them
        chain = _abbrev(loop, " -> ")
        path = _ref_path(ctx, start, loop[1])
        ctx.add("cycle", f"circular dependency among {len(comp)} nodes {members}: {chain} "
                "(each uses the output of the next)", path, start)


def _abbrev(items: list, sep: str, keep: int = 8) -> str:
    """items joined by sep; a long list keeps its ends (one readable line for 5,000 nodes)."""
    if len(items) <= 2 * keep:
        return sep.join(items)
    return sep.join(items[:keep] + [f"... {len(items) - 2 * keep} more ..."] + items[-keep:])


def _cycles(names: list, deps: dict) -> list:
    """Strongly connected components of `names` that contain a cycle, in flow order.

    networkx is imported here, only once a cycle is known to exist, so validating a sound flow
    (and every git hook) never pays for its import."""
    import networkx as nx

    inside = set(names)
    graph = nx.DiGraph()
    graph.add_nodes_from(names)
    graph.add_edges_from((n, d) for n in names for d in deps.get(n, ()) if d in inside)
    pos = {n: i for i, n in enumerate(names)}
    comps = [sorted(c, key=pos.__getitem__) for c in nx.strongly_connected_components(graph)]
    return sorted((c for c in comps if len(c) > 1 or graph.has_edge(c[0], c[0])),
                  key=lambda c: pos[c[0]])


def _loop_from(start: str, comp: set, deps: dict) -> list:
    """A shortest dependency loop start -> ... -> start inside one component (BFS)."""
    prev = {start: None}
    queue = [start]
    for v in queue:
        for d in deps.get(v, ()):
            if d == start:
                chain = [v]
                while prev[chain[-1]] is not None:
                    chain.append(prev[chain[-1]])
                return list(reversed(chain)) + [start]
            if d in comp and d not in prev:
                prev[d] = v
                queue.append(d)
    return [start, start]  # pragma: no cover - a component always has a loop


def _ref_path(ctx: Context, node_name: str, target: str) -> tuple:
    """Path of the first reference in `node_name` to `target` (for the line)."""
    node = ctx.nodes[node_name]
    for body in ctx.flow.bodies(node):
        for path, ref in body.refs():
            if ref.kind == "node" and ref.name == target:
                return path
    return node.base_path


def check(ctx: Context) -> None:
    check_node_refs(ctx)
    check_outputs(ctx)
    check_cycles(ctx)
