"""`pfgit check`: the pull-request gate (docs/ci.md). Thin over pfgit.check.api."""

from __future__ import annotations

import os
import sys
from typing import List, Optional

import typer

from ..errors import UsageError


def register(app: typer.Typer) -> None:
    @app.command("check")
    def check(
        baseline: Optional[str] = typer.Option(
            None, "--baseline", metavar="REV",
            help="Compare with REV (default: the branch's upstream, else origin/main)."),
        flows: Optional[List[str]] = typer.Option(
            None, "--flow", metavar="PATH", help="Only this flow folder (repeatable)."),
        metric: Optional[List[str]] = typer.Option(
            None, "--metric", metavar="NAME",
            help="A metric to gate (repeatable), with the bounds below; adds to (and overrides) pfgit.yaml's gates."),
        min_: Optional[float] = typer.Option(None, "--min", metavar="X", help="Head value >= X."),
        max_: Optional[float] = typer.Option(None, "--max", metavar="X", help="Head value <= X."),
        max_drop: Optional[float] = typer.Option(
            None, "--max-drop", metavar="X", help="Baseline - head <= X."),
        max_rise: Optional[float] = typer.Option(
            None, "--max-rise", metavar="X", help="Head - baseline <= X."),
        config: Optional[str] = typer.Option(
            None, "--config", metavar="FILE", help="Checks file (default: pfgit.yaml at the repository root)."),
        markdown: Optional[str] = typer.Option(
            None, "--markdown", metavar="FILE", help="Also write the report as Markdown to FILE."),
        fetch: bool = typer.Option(True, "--fetch/--no-fetch",
                                   help="Fetch refs/pfgit/* from the baseline's remote first."),
        run: bool = typer.Option(True, "--run/--no-run",
                                 help="Run flows that have no recorded run (pfgit.yaml's settings)."),
        jobs: int = typer.Option(1, "--jobs", "-j", metavar="N", min=1,
                                 help="Runs to make at once (processes)."),
        json_out: bool = typer.Option(False, "--json", help="Print JSON (the same as --format json)."),
        fmt: Optional[str] = typer.Option(
            None, "--format", metavar="FORMAT",
            help="text, json, github (workflow-command annotations) or sarif (SARIF 2.1.0)."),
    ) -> None:
        """Gate a pull request: validate the flows it changed and compare their metrics with the baseline.

        Exit 0 when every gate passes, 1 when a gate fails or a changed flow does not validate,
        2 for a bad checks file or arguments.
        """
        from ..check.api import CheckOptions, run_check
        from ..check.config import cli_gates, load_config
        from ..check.report import render_markdown, render_text
        from ..git.repo import open_repo
        from ..git.sides import repo_relative
        from ..output import emit_json

        if fmt not in (None, "text", "json", "github", "sarif"):
            raise UsageError(f"unknown format {fmt!r} (choose from text, json, github, sarif)")
        repo = open_repo(".")
        gates = cli_gates(metric or [], min_, max_, max_drop, max_rise)
        cfg = load_config(repo.path, config)
        opts = CheckOptions(baseline=baseline, flows=[repo_relative(repo, p) for p in flows or []],
                            gates=gates, config=cfg, fetch=fetch, jobs=jobs)
        if run:
            from ..check.runs import run_at_commit

            opts.run_missing = run_at_commit
        res = run_check(repo, opts)
        for sk in res["skipped_runs"]:  # judged without them: said once each, on stderr
            print(f"pfgit: warning: {sk['reason']} (run skipped)", file=sys.stderr)
        md = render_markdown(res) if markdown or os.environ.get("GITHUB_STEP_SUMMARY") else None
        if markdown:
            from ..fsutil import write_output

            write_output(markdown, md.encode("utf-8"))
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary:
            with open(summary, "a", encoding="utf-8") as f:  # GitHub's contract: append
                f.write(md)
        fmt = fmt or ("json" if json_out else "text")
        if fmt == "json":
            emit_json(res)
        elif fmt in ("github", "sarif"):
            from .. import __version__
            from ..annotations import github_lines, repo_root, sarif_log
            from ..check.report import GATE_RULE, annotations
            from ..validate.problems import CODES

            root = repo_root(repo.path)
            found = annotations(res, root)
            if fmt == "sarif":
                emit_json(sarif_log(found, dict(CODES, **{"gate-failed": GATE_RULE}), __version__, root))
            else:
                from ..output import ci_commands

                with ci_commands():   # our own `::error file=...::` lines (their data escaped)
                    sys.stdout.write("".join(line + "\n" for line in github_lines(found, root)))
        else:
            sys.stdout.write(render_text(res))
        raise typer.Exit(0 if res["ok"] else 1)
