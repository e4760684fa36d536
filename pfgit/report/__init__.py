"""`pfgit report`: one self-contained HTML page of a repository's flows — each metric over the
flow's history, its runs, two runs side by side, and the flow's DAG with the changed nodes marked.

- data.py      what the page shows, gathered from the index, the store and git (a dict)
- charts.py    metric history as inline SVG (no script, no network)
- dag.py       the flow's DAG laid out with networkx, as inline SVG
- html.py      rendering the Jinja2 template (templates/report.html.j2)
"""
