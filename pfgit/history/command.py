"""`pfgit blame` and `pfgit log --node` as library calls, and blame's light CLI entry (no typer
import, like `pfgit log`: start-up is most of a warm call). The typer command in
pfgit/cli/cmd_history.py calls the same `run_blame` (it exists for `pfgit --help`)."""

from __future__ import annotations

import os
import sys

from ..errors import EXIT_OK, UsageError

USAGE = """usage: pfgit blame PATH [--node NAME] [--rev REV] [--all-parents] [--json | --porcelain]

For every input, output, node field and variant of the flow at PATH, the commit that last changed
it semantically (reformats skipped, node renames and flow moves followed), its author and date.
With --node, also each line of the node's source files (whitespace-insensitive, through renames).
  --node NAME      also blame the lines of this node's prompt / code
  --rev REV        blame the flow as it is in REV (default HEAD)
  --all-parents    follow every parent of merge commits (default: first parent only)
  --json           print JSON (docs/history.md)
  --porcelain      one tab-separated record per line, for editors (docs/history.md)"""


def _history(idx, all_parents: bool):
    from .walk import FlowHistory

    return FlowHistory(idx.repo, idx.conn, all_parents)


def resolve_flows(repo, head: bytes, path: str | None) -> list:
    """The DAG and flex flows at `path` (pfgit log lists .prompty flows too; these commands
    follow nodes and fields, which a .prompty has not)."""
    from ..git.objects import tree_at
    from ..index.logcmd import _FLOW_FILES, log_paths

    try:
        flows = log_paths(repo, head, path)
    except UsageError:
        flows = None
    root = repo[head].tree

    def dag_or_flex(d: str) -> bool:
        t = tree_at(repo, root, d)
        return t is not None and any(e.path in _FLOW_FILES for e in repo[t].iteritems())

    kept = None if flows is None else [d for d in flows if dag_or_flex(d)]
    prompty = _prompty_at(path)
    if prompty and not kept:
        # promptflow's third kind of flow: one file, no nodes, no folder of its own
        raise UsageError(f"{prompty} is a prompty flow: pfgit blame and log --node follow DAG and "
                         f"flex flows (nodes, fields, source files); for a .prompty file use "
                         f"`git log -p -- {prompty}` or `git blame -w -- {prompty}`") from None
    if flows is None:
        return log_paths(repo, head, path)   # raises its own UsageError again
    if not kept and flows and path is not None:
        raise UsageError("no DAG or flex flow here (only .prompty flows, which have no nodes)", file=path)
    return kept


def _prompty_at(path: str | None) -> str | None:
    """The .prompty file `path` names or (alone) holds, as given, else None."""
    if path is None:
        return None
    if path.endswith(".prompty"):
        return path
    try:
        names = [n for n in os.listdir(path) if n.endswith(".prompty")] if os.path.isdir(path) else []
    except OSError:
        return None
    return os.path.join(path, names[0]) if len(names) == 1 else None


def start_step(hist, head: bytes, flow: str, shown: str | None = None):
    st = hist.step(head.decode(), flow)
    if st is None:
        raise UsageError(f"no flow at {shown or flow} in {head.decode()[:8]}")
    return st


def _one_flow(flows: list, path: str | None) -> str:
    if len(flows) > 1:
        raise UsageError(f"{path or '.'} holds {len(flows)} flows ({', '.join(flows[:5])}"
                         f"{', ...' if len(flows) > 5 else ''}): name one")
    if not flows:
        raise UsageError(f"no flow at {path or '.'}")
    return flows[0]


def _body_for_source(hist, st, path: str | None) -> list | None:
    """`pfgit blame flow/x.py`: the body that runs x.py - ["nodes", node, ...], or ["entry"] for a
    flex flow's module (None: not a source file of the flow)."""
    from ..git.repo import worktree_prefix

    if not path or not os.path.isfile(path):
        return None
    rel = worktree_prefix(hist.repo, path)
    for body, src, _ in hist.summary(hist.effective(st)).get("sources") or []:
        if src == rel:
            return body
    return None


def _request(req: tuple | None, head: bytes) -> str | None:
    """The request key of a pfgit.history.cached question, when it names this commit."""
    return req[2] if req is not None and req[1] == head.decode() else None


def blame(repo, path: str | None, node: str | None = None, rev: str = "HEAD",
          all_parents: bool = False, request: tuple | None = None) -> dict:
    from ..git.repo import resolve
    from ..index.db import with_index
    from .nodelog import check_node

    head = resolve(repo, rev)
    flow = _one_flow(resolve_flows(repo, head, path), path)

    def go(idx):
        hist = _history(idx, all_parents)
        try:
            return walk(hist)
        finally:
            hist.close()

    def walk(hist):
        st = start_step(hist, head, flow, path)
        body = None if node else _body_for_source(hist, st, path)
        who = node or (body[1] if body and len(body) > 1 else None)
        entry = body == ["entry"]  # a flex flow's module: its lines
        if who is not None:
            check_node(hist, st, who)

        def compute():
            from .blame import blame_fields, blame_lines

            hist.prefetch(st)
            res = {"flow": flow, "file": st.file, "commit": st.commit, "all_parents": all_parents,
                   "fields": blame_fields(hist, st), "node": who}
            if who is not None or entry:
                res["sources"] = blame_lines(hist, st, who)
            res["history_stops"] = hist.stops
            return res

        key = ["blame", st.commit, flow, who, all_parents] + (["entry"] if entry else [])
        return hist.answer(key, compute, _request(request, head))

    return with_index(repo, go, refresh=False)


def log_node(repo, path: str | None, node: str, rev: str = "HEAD", all_parents: bool = False,
             metrics: list | None = None, limit: int | None = None, request: tuple | None = None) -> dict:
    from ..git.repo import resolve
    from ..index.db import with_index
    from .nodelog import attach_metrics, node_log

    head = resolve(repo, rev)
    flows = resolve_flows(repo, head, path)

    def go(idx):
        hist = _history(idx, all_parents)
        try:
            return walk(idx, hist)
        finally:
            hist.close()

    def walk(idx, hist):
        starts = [s for s in (hist.step(head.decode(), f) for f in flows) if s is not None]
        if not starts:
            raise UsageError(f"no flow at {path or '.'}")
        having = [s for s in starts if node in (hist.summary(hist.effective(s)).get("nodes") or [])]
        if len(having) > 1:
            raise UsageError(f"node '{node}' is in {len(having)} flows "
                             f"({', '.join(s.path for s in having)}): give the flow's folder")
        st = having[0] if having else starts[0]
        if not having and len(starts) > 1:
            raise UsageError(f"no node '{node}' in the flows below {path or '.'} "
                             f"({', '.join(s.path for s in starts[:5])}): give the flow's folder")

        def compute():
            hist.prefetch(st)
            return node_log(hist, st, node, limit)

        res = hist.answer(["log", st.commit, st.path, node, all_parents, limit], compute,
                          None if metrics else _request(request, head))
        if metrics:
            attach_metrics(idx, res, metrics)
        return res

    return with_index(repo, go, refresh=bool(metrics))


# ---------------------------------------------------------------------------------------------
# CLI

def _print(res: dict, json_out: bool, render_text) -> None:
    if json_out:
        from ..output import emit_json

        emit_json(res)
    else:
        sys.stdout.write(render_text(res))


def _read_ahead(req: tuple | None, path: str | None, all_parents: bool) -> None:
    """Start reading the history from git (pfgit.history.readahead) while the rest of pfgit is
    imported, when PATH is (a file in) a folder holding a flow file: most likely the flow's."""
    if req is None or path is None:
        return
    folder = path if os.path.isdir(path) else os.path.dirname(path) or "."
    try:
        if not any(n.startswith("flow.") and n.endswith((".yaml", ".yml")) for n in os.listdir(folder)):
            return
    except OSError:
        return
    common, commit, _, top = req
    rel = os.path.relpath(os.path.realpath(folder), os.path.realpath(top)).replace(os.sep, "/")
    if rel != ".." and not rel.startswith("../"):
        from . import readahead

        readahead.start(common, commit, rel, not all_parents)


def _drop_read_ahead() -> None:
    if "pfgit.history.readahead" in sys.modules:
        sys.modules["pfgit.history.readahead"].drop()


def run_blame(path: str | None, node: str | None = None, rev: str = "HEAD", all_parents: bool = False,
              json_out: bool = False, porcelain: bool = False) -> int:
    from . import cached, render

    if json_out and porcelain:
        raise UsageError("choose one of --json, --porcelain")
    if path is None:
        raise UsageError("Missing argument 'PATH'.")
    req = cached.request("blame", rev, path, node, all_parents)   # one git rev-parse for both
    res = cached.lookup(req)
    if res is None:
        from ..git.repo import open_repo

        _read_ahead(req, path, all_parents)
        try:
            res = blame(open_repo("."), path, node, rev, all_parents, req)
        finally:
            _drop_read_ahead()
    _print(res, json_out, render.blame_porcelain if porcelain else render.blame_text)
    return EXIT_OK


def run_log_node(path: str | None, node: str, metrics: list | None, max_count: int | None,
                 rev: str = "HEAD", all_parents: bool = False, json_out: bool = False,
                 markdown: bool = False) -> int:
    from . import cached, render

    if json_out and markdown:
        raise UsageError("choose one of --json, --markdown")
    req = None if metrics else cached.request("log", rev, path, node, all_parents, max_count)
    res = cached.lookup(req)
    if res is None:
        from ..git.repo import open_repo

        _read_ahead(req, path, all_parents)
        try:
            res = log_node(open_repo("."), path, node, rev, all_parents, metrics, max_count, req)
        finally:
            _drop_read_ahead()
    res["metrics"] = metrics or []
    _print(res, json_out, render.log_markdown if markdown else render.log_text)
    return EXIT_OK


def parse_args(argv: list) -> dict | None:
    """Options of `pfgit blame` (None for --help); raises UsageError like the CLI does."""
    from ..lightargs import parse

    opts: dict = {"path": None, "node": None, "rev": "HEAD", "all_parents": False,
                  "json_out": False, "porcelain": False}
    return parse(argv, opts, {"--node": ("node", str), "--rev": ("rev", str),
                              "--all-parents": ("all_parents", bool), "--json": ("json_out", bool),
                              "--porcelain": ("porcelain", bool)})


def main(argv: list) -> int:
    """`pfgit blame ...` without typer; pfgit.cli.main renders PfgitError as one line."""
    opts = parse_args(argv)
    if opts is None:
        print(USAGE)
        return EXIT_OK
    return run_blame(**opts)


__all__ = ["blame", "log_node", "run_blame", "run_log_node", "parse_args", "main"]
