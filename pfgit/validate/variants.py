"""node_variants: every node with `use_variants` has an entry, every entry is used, and
default_variant_id names one of its variants (promptflow silently runs a body-less node otherwise).

References inside variants are checked with all other references (references.py).
"""

from __future__ import annotations

from .context import Context


def check(ctx: Context) -> None:
    flow = ctx.flow
    for node in flow.nodes:
        if node.use_variants and node.name is not None and node.name not in flow.node_variants:
            ctx.add("missing-variants", f"node '{node.name}' has use_variants: true but no "
                    "node_variants entry", node.base_path + ("use_variants",), node.name)
    for name, vs in flow.node_variants.items():
        p = ("node_variants", name)
        node = ctx.nodes.get(name)
        if node is None:
            ctx.add("unused-variants", f"node_variants entry '{name}' names no node", p, name)
        elif not node.use_variants:
            ctx.add("unused-variants", f"node '{name}' has node_variants but no use_variants: "
                    "true, so they are ignored", p, name)
        default = vs.default_variant_id
        if default is None or default == "":
            ctx.add("unknown-default-variant", f"node_variants entry '{name}' has no "
                    "default_variant_id", p, name)
        elif str(default) not in vs.variants:
            known = ", ".join(f"'{v}'" for v in vs.variants) or "none"
            ctx.add("unknown-default-variant", f"default_variant_id '{default}' of node '{name}' "
                    f"names no variant (variants: {known})", p + ("default_variant_id",), name)
