"""`pfgit report`: one self-contained HTML page of the flows' metric history (docs/ci.md)."""

from __future__ import annotations

from typing import List, Optional

import typer

from ..errors import UsageError


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report(
        paths: Optional[List[str]] = typer.Argument(None, metavar="[PATH]...",
                                                    help="Flow folders, or folders holding flows (default: all)."),
        output: str = typer.Option("pfgit-report.html", "--output", "-o", metavar="FILE",
                                   help="The HTML file to write."),
        baseline: Optional[str] = typer.Option(
            None, "--baseline", metavar="REV",
            help="Mark the commits not on REV, and the nodes changed since the merge base."),
        compare: Optional[List[str]] = typer.Option(
            None, "--compare", metavar="RUN",
            help="The two runs to show side by side (give it twice; default: the flow's two newest)."),
        max_commits: int = typer.Option(1000, "--max-commits", "-n", metavar="N",
                                        help="Commits of each flow's history shown."),
        json_out: bool = typer.Option(False, "--json", help="Print what the page shows as JSON instead."),
    ) -> None:
        """Write one HTML page (opens offline): each metric over each flow's commits, the runs, two
        runs side by side, and the flow's graph with the changed nodes marked."""
        import sys

        from ..fsutil import write_output
        from ..git.repo import open_repo
        from ..git.sides import repo_relative
        from ..output import emit_json
        from ..report.data import gather

        if compare and len(compare) != 2:
            raise UsageError("--compare takes two runs: --compare A --compare B")
        repo = open_repo(".")
        rel = [repo_relative(repo, p) for p in paths or []]
        data = gather(repo, rel or None, baseline, tuple(compare) if compare else None, max_commits)
        for sk in data["skipped_runs"]:  # not compared side by side: said once each
            print(f"pfgit: warning: {sk['reason']} (run skipped)", file=sys.stderr)
        for why in data.get("skipped_flows", []):
            print(f"pfgit: warning: {why}", file=sys.stderr)
        if json_out:
            emit_json(data)
            return
        from ..report.html import render

        write_output(output, render(data).encode("utf-8", "backslashreplace"))   # lone surrogates
        n = len(data["flows"])
        print(f"wrote {output}: {n} flow{'s' if n != 1 else ''}", file=sys.stderr)
