"""`pfgit blame`: a thin wrapper over pfgit.history (docs/history.md). `pfgit blame` normally runs
through the light entry pfgit.history.command.main; this typer command serves `pfgit --help` and
embedding apps, with the same options."""

from __future__ import annotations

from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("blame")
    def blame(path: str = typer.Argument(..., help="Flow folder or flow file (or a node's source file)."),
              node: Optional[str] = typer.Option(None, "--node", help="Also blame this node's prompt / code lines."),
              rev: str = typer.Option("HEAD", "--rev", help="Blame the flow as it is in this revision."),
              all_parents: bool = typer.Option(False, "--all-parents", help="Follow every parent of merge commits."),
              json_out: bool = typer.Option(False, "--json", help="Print JSON."),
              porcelain: bool = typer.Option(False, "--porcelain", help="Tab-separated records for editors.")) -> None:
        """The commit that last changed each field of a flow semantically (reformats skipped,
        renames followed); with --node, each line of the node's source files."""
        from ..history.command import run_blame

        raise typer.Exit(run_blame(path, node, rev, all_parents, json_out, porcelain))
