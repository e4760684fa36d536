"""Rendering the report page: one HTML file, styles and SVG inline, no script from the network
(Jinja2 autoescapes every value taken from flows and runs: they are untrusted)."""

from __future__ import annotations

import os


def render(data: dict) -> str:
    import jinja2

    from .charts import line_chart
    from .dag import dag_svg
    from .data import dumps

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(os.path.join(os.path.dirname(__file__), "templates")),
        autoescape=True, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters["json"] = dumps
    env.globals["line_chart"] = lambda m, pts: jinja2.utils.markupsafe.Markup(line_chart(m, pts))
    env.globals["dag_svg"] = lambda d: jinja2.utils.markupsafe.Markup(
        dag_svg(d["names"], d["edges"], set(d["changed"]), d["kinds"])) if d else ""
    return env.get_template("report.html.j2").render(**data)
