"""A flow's DAG as inline SVG: nodes in layers by dependency depth (networkx's topological
generations and multipartite layout), edges as lines, changed nodes marked."""

from __future__ import annotations

from html import escape

NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 150, 30, 40, 26, 16


def layout(names: list, edges: list) -> dict:
    """{node: (column, row)}: column = dependency depth; a cycle's nodes go in a last column."""
    import networkx as nx

    g = nx.DiGraph()
    g.add_nodes_from(names)
    g.add_edges_from(edges)
    pos: dict = {}
    try:
        gens = list(nx.topological_generations(g))
    except nx.NetworkXUnfeasible:  # a cycle (validate reports it): draw it all the same
        acyclic = g.copy()
        cyclic = {n for c in nx.simple_cycles(g) for n in c}
        acyclic.remove_nodes_from(cyclic)
        gens = list(nx.topological_generations(acyclic)) + [sorted(cyclic, key=names.index)]
    for col, gen in enumerate(gens):
        for row, n in enumerate(sorted(gen, key=names.index)):
            pos[n] = (col, row)
    return pos


def dag_svg(names: list, edges: list, changed: set, kinds: dict | None = None) -> str:
    if not names:
        return ""
    pos = layout(names, edges)
    cols = max(c for c, _ in pos.values()) + 1
    rows = max(r for _, r in pos.values()) + 1
    w = PAD * 2 + cols * NODE_W + (cols - 1) * GAP_X
    h = PAD * 2 + rows * NODE_H + (rows - 1) * GAP_Y

    def box(n):
        c, r = pos[n]
        return PAD + c * (NODE_W + GAP_X), PAD + r * (NODE_H + GAP_Y)

    out = [f'<svg class="dag" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
           f'aria-label="flow graph"><defs><marker id="arrow" viewBox="0 0 10 10" refX="10" '
           f'refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
           f'<path d="M 0 0 L 10 5 L 0 10 z" fill="#8c959f"/></marker></defs>']
    for a, b in edges:
        if a not in pos or b not in pos:
            continue
        ax, ay = box(a)
        bx, by = box(b)
        out.append(f'<line class="edge" x1="{ax + NODE_W}" y1="{ay + NODE_H / 2}" x2="{bx}" '
                   f'y2="{by + NODE_H / 2}" marker-end="url(#arrow)"/>')
    for n in names:
        x, y = box(n)
        cls = "node changed" if n in changed else "node"
        label = n if len(n) <= 20 else n[:19] + "…"
        kind = (kinds or {}).get(n) or ""
        out.append(f'<g class="{cls}" data-node="{escape(n)}"><title>{escape(n)} '
                   f'{escape(kind)}{" (changed)" if n in changed else ""}</title>'
                   f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="6"/>'
                   f'<text x="{x + NODE_W / 2}" y="{y + NODE_H / 2 + 4}" text-anchor="middle">'
                   f'{escape(label)}</text></g>')
    out.append("</svg>")
    return "".join(out)
