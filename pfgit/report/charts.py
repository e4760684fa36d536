"""Line charts of a metric over a flow's commits, as inline SVG (pure: points in, markup out).

Drawn server-side so the page opens offline and instantly: 1,000 commits x 10 metrics is 10 small
SVGs, no charting script. Each point carries a <title> (commit, run, value) for hover, and data-*
attributes the browser tests read."""

from __future__ import annotations

from html import escape

W, H = 540, 170
PAD_L, PAD_R, PAD_T, PAD_B = 56, 12, 12, 28


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def line_chart(metric: str, points: list) -> str:
    """points: [{"x": commit index (oldest 0), "value": number, "commit", "run", "branch": bool}]"""
    if not points:
        return ""
    xs = [p["x"] for p in points]
    vs = [p["value"] for p in points]
    x0, x1 = min(xs), max(xs)
    v0, v1 = min(vs), max(vs)
    if v0 == v1:
        v0, v1 = v0 - 1 if v0 == 0 else v0 - abs(v0) * 0.1, v1 + 1 if v1 == 0 else v1 + abs(v1) * 0.1
    span_x = (x1 - x0) or 1

    def sx(x):
        return PAD_L + (x - x0) / span_x * (W - PAD_L - PAD_R) if x1 != x0 else (W + PAD_L) / 2

    def sy(v):
        return PAD_T + (v1 - v) / (v1 - v0) * (H - PAD_T - PAD_B)

    out = [f'<svg class="chart" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" '
           f'aria-label="{escape(metric)} over commits" data-metric="{escape(metric)}">']
    for v in (v0, (v0 + v1) / 2, v1):
        y = sy(v)
        out.append(f'<line class="grid" x1="{PAD_L}" y1="{y:.1f}" x2="{W - PAD_R}" y2="{y:.1f}"/>')
        out.append(f'<text class="tick" x="{PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end">'
                   f'{escape(_fmt(v))}</text>')
    path = " ".join(f"{'M' if i == 0 else 'L'}{sx(p['x']):.1f},{sy(p['value']):.1f}"
                    for i, p in enumerate(points))
    out.append(f'<path class="series" d="{path}"/>')
    for p in points:
        cls = "pt branch" if p.get("branch") else "pt"
        title = f"{p['commit'][:8]} {p.get('run') or ''}: {metric} = {_fmt(p['value'])}"
        out.append(f'<circle class="{cls}" cx="{sx(p["x"]):.1f}" cy="{sy(p["value"]):.1f}" r="3.5" '
                   f'data-commit="{escape(p["commit"])}" data-value="{p["value"]!r}">'
                   f'<title>{escape(title)}</title></circle>')
    out.append(f'<text class="axis" x="{PAD_L}" y="{H - 8}">oldest</text>')
    out.append(f'<text class="axis" x="{W - PAD_R}" y="{H - 8}" text-anchor="end">newest</text>')
    out.append("</svg>")
    return "".join(out)
