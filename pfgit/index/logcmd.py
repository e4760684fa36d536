"""`pfgit log [PATH] [--metric NAME]... [-n N] [--rev REV] [--json]` as a function.

Both entry points call `run_log`: the typer command (pfgit/cli/cmd_runs.py) and `main` below, the
light entry pfgit.cli.main routes `pfgit log` to so the command skips typer's import (~50 ms of a
~200 ms run; docs/benchmarks.md).
"""

from __future__ import annotations

import os
import sys

from ..errors import EXIT_OK, UsageError

USAGE = """Usage: pfgit log [OPTIONS] [PATH]

  Commits of a flow (first-parent history) with their runs and metrics; with
  --node, the commits that changed one node, through its renames.

Arguments:
  [PATH]  Flow folder, or a folder holding flows (default: all).

Options:
  --metric NAME      Metric to show, repeatable.
  -n, --max-count N  At most N commits per flow.
  --rev REV          Start from this revision.  [default: HEAD]
  --json             Print JSON.
  --node NAME        Only the commits that changed this node
                     (docs/history.md).
  --all-parents      With --node: follow every parent of merges.
  --markdown         With --node: a Markdown table.
  -h, --help         Show this message and exit."""

_FLOW_FILES = (b"flow.dag.yaml", b"flow.dag.yml", b"flow.flex.yaml", b"flow.flex.yml")


def run_log(path: str | None, metrics: list | None, max_count: int | None, rev: str = "HEAD",
            json_out: bool = False, node: str | None = None, all_parents: bool = False,
            markdown: bool = False) -> int:
    if node is not None:
        from ..history.command import run_log_node

        return run_log_node(path, node, metrics, max_count, rev, all_parents, json_out, markdown)
    if all_parents or markdown:
        raise UsageError("--all-parents and --markdown go with --node")
    from ..git.repo import open_repo, resolve
    from ..git.runrefs import use_fast_packed_refs
    from . import query, render
    from .db import with_index

    repo = use_fast_packed_refs(open_repo("."))  # packed-refs may hold 100,000 run refs
    head = resolve(repo, rev)
    paths = log_paths(repo, head, path)

    gone = path is not None and not os.path.exists(path)

    def go(idx):
        if metrics:
            query.check_metric_names(idx, metrics)
        out = {p: query.flow_log(idx, head, p, max_count, metrics) for p in paths}
        if gone and all(idx.forget_unseen_path(p) for p in paths):
            # neither on disk nor in any commit of the history: a mistyped path, not a deleted flow
            raise UsageError(f"no such flow in the worktree or in the history of {rev}", file=path)
        return out

    res = with_index(repo, go)
    if json_out:
        from ..output import emit_json

        emit_json({"flows": [{"path": p, "commits": res[p]} for p in paths]})
    else:
        sys.stdout.write("".join(render.log_text(res[p], metrics) for p in paths) or "no flows\n")
    return EXIT_OK


def log_paths(repo, head: bytes, path: str | None) -> list:
    """Flow folders to show: those at `path` in the starting commit (or `path` itself)."""
    from ..git.objects import tree_at
    from ..git.repo import worktree_prefix

    if path is None:
        rel = worktree_prefix(repo, ".")
    elif os.path.exists(path):
        rel = worktree_prefix(repo, os.path.dirname(os.path.abspath(path)) if os.path.isfile(path) else path)
    else:
        rel = path.strip("/") or "."
    if path is not None:  # a flow folder itself: no need to load the YAML machinery
        t = tree_at(repo, repo[head].tree, rel)
        if t is not None and any(e.path in _FLOW_FILES or e.path.endswith(b".prompty") for e in repo[t].iteritems()):
            return [rel]   # a .prompty flow's runs are recorded against its folder too
    from ..flow.load import find_flows
    from ..git.repo import TreeReader

    found = [loc.dir for loc in find_flows(TreeReader(repo, repo[head].tree), rel)]
    if found:
        import sys

        from ..git.repo import utf8_flows

        return utf8_flows(sorted(set(found)), lambda why: print(f"pfgit: warning: {why}", file=sys.stderr))
    if path is None:
        return []
    if os.path.exists(path) or tree_at(repo, repo[head].tree, rel) is not None:
        # checked before the index is opened: a wrong PATH writes nothing
        if _flow_on_disk(path):   # said as it is: the folder does hold a flow, not yet committed
            raise UsageError("not in the history: the flow here is not committed yet (pfgit log "
                             "lists the commits of a flow; its runs: pfgit runs list)", file=path)
        raise UsageError("no flow here (no flow.dag.yaml, flow.flex.yaml or .prompty file in it or below it)",
                         file=path)
    return [rel]  # gone from the worktree and the revision: the history of a deleted flow


def _flow_on_disk(path: str) -> bool:
    """Is `path` a flow file, or a folder holding one, on disk?"""
    names = [os.path.basename(path)] if os.path.isfile(path) else (
        os.listdir(path) if os.path.isdir(path) else [])
    return any(os.fsencode(n) in _FLOW_FILES or n.endswith(".prompty") for n in names)


def parse_args(argv: list) -> dict | None:
    """The options of `pfgit log` (None for --help). Raises UsageError like the CLI does."""
    from ..lightargs import parse

    opts: dict = {"path": None, "metrics": [], "max_count": None, "rev": "HEAD", "json_out": False,
                  "node": None, "all_parents": False, "markdown": False}
    options = {"--metric": ("metrics", list), "-n": ("max_count", int), "--max-count": ("max_count", int),
               "--rev": ("rev", str), "--node": ("node", str), "--json": ("json_out", bool),
               "--all-parents": ("all_parents", bool), "--markdown": ("markdown", bool)}
    if parse(argv, opts, options, {"max_count": "'-n' / '--max-count'"}) is None:
        return None
    opts["metrics"] = opts["metrics"] or None
    return opts


def main(argv: list) -> int:
    """`pfgit log ...` without the CLI framework: same arguments, output and exit codes.

    Called by pfgit.cli.main, whose handler turns PfgitError into one line and an exit code."""
    opts = parse_args(argv)
    if opts is None:
        print(USAGE)
        return EXIT_OK
    return run_log(**opts)
