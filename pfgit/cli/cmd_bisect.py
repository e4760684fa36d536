"""`pfgit bisect`: the first commit where a flow's metric crossed a threshold (docs/ci.md)."""

from __future__ import annotations

import sys
from typing import Optional

import typer

from ..errors import UsageError


def register(app: typer.Typer) -> None:
    @app.command("bisect")
    def bisect(
        good: Optional[str] = typer.Argument(None, metavar="[GOOD]",
                                             help="A commit that meets the threshold (default: the flow's first commit)."),
        bad: Optional[str] = typer.Argument(None, metavar="[BAD]", help="A commit that does not (default: HEAD)."),
        metric: str = typer.Option(..., "--metric", metavar="NAME", help="The metric to judge."),
        min_: Optional[float] = typer.Option(None, "--min", metavar="X", help="Good when the metric is >= X."),
        max_: Optional[float] = typer.Option(None, "--max", metavar="X", help="Good when the metric is <= X."),
        flow: Optional[str] = typer.Option(None, "--flow", metavar="PATH",
                                           help="The flow folder (needed when HEAD has several)."),
        config: Optional[str] = typer.Option(None, "--config", metavar="FILE",
                                             help="Checks file with the flow's run settings (default: pfgit.yaml)."),
        json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Find the first commit where METRIC crossed the threshold: recorded runs where they exist,
        the flow run (pfgit.yaml's settings) where not; `git bisect` driven in a temporary worktree.

        Exit 0 when found, 1 when GOOD/BAD do not straddle the threshold, 2 for bad arguments.
        """
        from ..check.bisect import Threshold
        from ..check.config import load_config
        from ..flow.load import find_flows
        from ..git.repo import TreeReader, open_repo, resolve
        from ..git.sides import repo_relative
        from ..integrate.bisect import render_text, run_bisect
        from ..output import emit_json

        if (min_ is None) == (max_ is None):
            raise UsageError("give one of --min X or --max X")
        import math

        for opt, v in (("--min", min_), ("--max", max_)):
            if v is not None and not math.isfinite(v):   # nan: every commit judged good
                raise UsageError(f"{opt} must be a finite number, got {v}")
        repo = open_repo(".")
        cfg = load_config(repo.path, config)
        if flow is None:
            # the one flow at BAD, else the one flow pfgit.yaml runs
            head = resolve(repo, bad or "HEAD")
            found = [loc.dir for loc in find_flows(TreeReader(repo, repo[head].tree), ".")]
            if len(found) != 1 and cfg is not None and len(cfg.flows) == 1:
                found = [cfg.flows[0].flow]
            if len(found) != 1:
                raise UsageError("choose the flow with --flow PATH" if found else "no flow at HEAD")
            flow = found[0]
        else:
            flow = repo_relative(repo, flow)
        fc = cfg.for_flow(flow) if cfg is not None else None
        res = run_bisect(repo, flow, Threshold(metric, min_, max_), good, bad, fc)
        if json_out:
            emit_json(res)
        else:
            sys.stdout.write(render_text(res))
