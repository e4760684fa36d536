"""Aggregation nodes run once after all lines: who may reference them, and what they may wait on.

Rules from promptflow's executor (flow_validator.py::_ensure_nodes_order, _ensure_outputs_valid).
"""

from __future__ import annotations

from .context import Context, variant_note, where


def aggregation_names(ctx: Context) -> set:
    """Nodes that are aggregation nodes (for a node with variants: any of its variants)."""
    return {name for name, node in ctx.nodes.items()
            if any(b.aggregation for b in ctx.flow.bodies(node))}


def check(ctx: Context) -> None:
    flow = ctx.flow
    agg = aggregation_names(ctx)
    if not agg:
        return
    for node in flow.nodes:
        is_agg = node.name in agg
        for body in flow.bodies(node):
            for path, ref in body.refs():
                if ref.kind != "node" or ref.name not in ctx.nodes:
                    continue
                what = where(path, body.base_path) + variant_note(path)
                in_when = path[-2:] == ("activate", "when")
                if not is_agg and ref.name in agg:
                    ctx.add("aggregation-ref", f"{what} references aggregation node '{ref.name}', "
                            f"but '{node.name}' is not an aggregation node (it runs once per line, "
                            "before aggregation)", path, node.name)
                elif is_agg and in_when and ref.name not in agg:
                    ctx.add("aggregation-activate", f"activate.when{variant_note(path)} of aggregation "
                            f"node '{node.name}' references non-aggregation node '{ref.name}'",
                            path, node.name)
    for name, d in flow.outputs.items():
        ref = _output_ref(d)
        if ref is not None and ref.kind == "node" and ref.name in agg:
            ctx.add("output-aggregation-ref", f"output '{name}' references aggregation node "
                    f"'{ref.name}'; promptflow drops this output", ("outputs", name, "reference"))


def _output_ref(d):
    from ..flow.refs import parse_ref

    return parse_ref(d.get("reference")) if isinstance(d, dict) else None
