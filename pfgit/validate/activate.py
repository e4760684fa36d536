"""`activate: {when, is}` conditions: both keys are required (promptflow's FlowDefinitionError).

References inside `when` are checked with all other references (references.py), and aggregation
rules for `when` in aggregation.py.
"""

from __future__ import annotations

from .context import Context, variant_note


def check(ctx: Context) -> None:
    flow = ctx.flow
    for node in flow.nodes:
        for body in flow.bodies(node):
            act = body.activate
            if act is None:
                if "activate" in body.raw and body.raw["activate"] is None:  # `activate:` emptied
                    act = {}
                else:
                    continue
            missing = [k for k in ("when", "is") if k not in act]
            if missing:
                path = body.base_path + ("activate",)
                ctx.add("activate-incomplete", f"activate{variant_note(path)} has no "
                        f"{' and no '.join(repr(k) for k in missing)}; promptflow needs both "
                        "'when' and 'is'", path, node.name)
