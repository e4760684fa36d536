"""`pfgit runs ...`, `pfgit log`, `pfgit metrics diff`, `pfgit push`, `pfgit fetch`: thin wrappers
over pfgit.store (snapshots) and pfgit.index (the SQLite cache). Schemas in docs/runs.md."""

from __future__ import annotations

import json
import sys
from typing import List, Optional

import typer

from ..errors import EXIT_OK, EXIT_USAGE, UsageError


def _repo():
    from ..git.repo import open_repo
    from ..git.runrefs import use_fast_packed_refs

    return use_fast_packed_refs(open_repo("."))  # packed-refs may hold 100,000 run refs


def _index(repo, fn):
    from ..index.db import with_index

    return with_index(repo, fn)


def _emit(obj) -> None:
    from ..output import emit_json

    emit_json(obj)


def _flow_arg(repo, flow: str | None) -> str | None:
    if flow is None:
        return None
    from ..store.snapshot import flow_rel_path

    return flow_rel_path(repo, flow)


def _pairs(items: list | None, what: str) -> dict:
    from ..run.argv import pairs

    return pairs(items, what)


def _read_metrics(path: str | None) -> dict:
    if not path:
        return {}
    from ..store.jsondata import loads

    try:
        with open(path, encoding="utf-8") as f:
            data = loads(f.read())
    except OSError as e:
        raise UsageError(e.strerror or str(e), file=path) from None
    except (ValueError, RecursionError) as e:
        raise UsageError(f"not JSON: {e}", file=path) from None
    if not isinstance(data, dict):
        raise UsageError("metrics must be a JSON object", file=path)
    return data


def _detail_inputs(repo, snap, max_lines: int) -> dict:
    """{line: inputs} of the first `max_lines` lines (0: all) of a run's inputs.jsonl, for
    `runs show --details` (pf's show-details lists inputs.* too, failed lines included)."""
    from ..store.read import stream_file

    out: dict = {}
    for raw in stream_file(repo, snap, "inputs.jsonl"):
        try:
            obj = json.loads(raw)
        except ValueError:
            continue   # one bad line never hides the others
        ln = obj.get("line_number") if isinstance(obj, dict) else None
        if isinstance(ln, int) and not isinstance(ln, bool):
            out[ln] = obj
            if max_lines and len(out) >= max_lines:
                break
    return out


def _line_value(text: str):
    """A stored output line as data; a line no JSON reader takes stays its text."""
    from ..store.jsondata import loads

    try:
        return loads(text)
    except (ValueError, RecursionError):
        return text


def _open_lines(path: str):
    try:
        f = open(path, "rb")
    except OSError as e:
        raise UsageError(e.strerror or str(e), file=path) from None

    class Lines:   # the file's lines; `name` lets the store's errors say file:line
        name = path

        def __iter__(self):
            with f:
                yield from f
    return Lines()


def import_and_report(paths: list, dry_run: bool, json_out: bool, overrides: dict | None = None) -> int:
    """`pfgit runs import PATHS` (and `pfgit run --source DIR`, cmd_run, whose `overrides` set
    the display name, description and tags): import, print, and return the exit code."""
    from ..store.pf_import import import_runs

    repo = _repo()
    res = _index(repo, lambda idx: import_runs(repo, idx, paths, dry_run, overrides))
    summary = {k: sum(1 for r in res if r["status"] == k)
               for k in ("linked", "unlinked", "exists", "name-taken", "error")}
    for r in res:  # symlinks out of a run folder, loops: skipped, said on stderr
        for w in r.get("warnings") or []:
            print(f"pfgit: {r['run']}: {w}", file=sys.stderr)
        if r["status"] == "error":   # the others were imported; this one is named, one line
            print(f"pfgit: {r['error']}; not imported", file=sys.stderr)
    code = EXIT_USAGE if summary["error"] else EXIT_OK
    if json_out:
        _emit({"runs": res, "summary": summary, "dry_run": dry_run})
        return code
    for r in res:
        what = {"linked": f"linked to {(r['commit'] or '')[:8]} ({r['flow']})",
                "unlinked": f"unlinked (no commit holds this flow; stored as {r['flow']})",
                "exists": "already imported", "name-taken": "skipped: a different run has this name",
                "error": "not imported (unreadable, see above)"}[r["status"]]
        print(f"{'would import' if dry_run and r['status'] in ('linked', 'unlinked') else 'run'} {r['name']}: {what}")
    if not res:
        print("no promptflow runs found")
    return code


def register(app: typer.Typer) -> None:
    runs = typer.Typer(help="Run snapshots: list, show, diff, stream, record, import, gc.",
                       no_args_is_help=True)
    app.add_typer(runs, name="runs")
    metrics_app = typer.Typer(help="Compare metrics of runs or revisions.", no_args_is_help=True)
    app.add_typer(metrics_app, name="metrics")

    @runs.command("list")
    def runs_list(flow: Optional[str] = typer.Option(None, "--flow", help="Only runs of this flow folder."),
                  commit: Optional[str] = typer.Option(None, "--commit", help="Only runs of this revision's flow trees."),
                  max_results: Optional[int] = typer.Option(None, "--max-results", "-r", metavar="N", min=1,
                                                            help="Only the N newest runs."),
                  json_out: bool = typer.Option(False, "--json", help="Print JSON (the same as --format json)."),
                  fmt: Optional[str] = typer.Option(None, "--format", metavar="FORMAT",
                                                    help="text, json, or pf (a JSON list of run objects, as `pf run list` prints).")) -> None:
        """Runs, newest first."""
        from ..git.repo import resolve
        from ..index import query, render

        fmt = fmt or ("json" if json_out else "text")
        if fmt not in ("text", "json", "pf"):
            raise UsageError(f"unknown format {fmt!r} (choose from text, json, pf)")
        repo = _repo()
        fl = _flow_arg(repo, flow)
        sha = resolve(repo, commit) if commit else None

        def get(idx):
            rows = query.list_runs(idx, flow=fl, commit=sha, limit=max_results)
            if fmt != "pf":
                return rows
            from ..index.pfview import pf_runs

            return pf_runs(idx, rows)

        res = _index(repo, get)
        if fmt == "pf":
            _emit(res)
        elif fmt == "json":
            _emit({"runs": res})
        else:
            sys.stdout.write(render.runs_table(res))

    @runs.command("show")
    def runs_show(name: str = typer.Argument(..., help="Run name."),
                  details: bool = typer.Option(False, "--details", help="Per-line outputs."),
                  metrics: bool = typer.Option(False, "--metrics", help="Only the metrics."),
                  max_lines: int = typer.Option(100, "--max-lines", "-r", help="Lines shown by --details (0: all)."),
                  json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """A run's settings and summary (like `pf run show`, `show-details`, `show-metrics`)."""
        from ..index import query, render
        from ..store.read import load_run

        repo = _repo()
        snap = load_run(repo, name)

        def get(idx):
            r = query.get_run(idx, name)
            if r is None:
                raise UsageError(f"unknown run '{name}'")
            r = query.attach_metrics(idx, [r])[0]
            lines = None
            if details:
                idx.ensure_lines(name)
                sql = "SELECT line, output FROM lines WHERE run=? ORDER BY line"
                if max_lines:
                    sql += f" LIMIT {int(max_lines)}"
                lines = [(ln, _line_value(o)) for ln, o in idx.conn.execute(sql, (name,))]
            return r, lines

        r, lines = _index(repo, get)
        if metrics:
            if json_out:
                _emit(snap.metrics)
            else:
                from ..output import standard_json

                sys.stdout.write(json.dumps(standard_json(snap.metrics), indent=2) + "\n")
            return
        ins: dict = {}
        if lines is not None:
            ins = _detail_inputs(repo, snap, max_lines)
            if max_lines:   # the first N lines of both files together, as pf's -r N
                keep = set(sorted({ln for ln, _ in lines} | set(ins))[:max_lines])
                lines, ins = [x for x in lines if x[0] in keep], {k: v for k, v in ins.items() if k in keep}
        if json_out:
            out = {"run": r, "settings": snap.run}
            if lines is not None:   # the same lines as the table: inputs too, a failed line's included
                out["outputs"] = [o for _, o in lines]
                out["inputs"] = [ins[k] for k in sorted(ins)]
            _emit(out)
            return
        sys.stdout.write(render.run_details(r, snap.run))
        if lines is not None:
            sys.stdout.write("\n" + render.outputs_table(lines, ins))

    @runs.command("diff")
    def runs_diff(a: str = typer.Argument(..., metavar="RUN_A", help="Run name."),
                  b: str = typer.Argument(..., metavar="RUN_B", help="Run name."),
                  max_lines: int = typer.Option(20, "--max-lines", "-n", metavar="N",
                                                help="Differing lines shown (0: all)."),
                  exit_code: bool = typer.Option(False, "--exit-code",
                                                 help="Exit 1 when any line differs."),
                  json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Per-line outputs of two runs, joined by line number and compared field by field."""
        from ..store.linediff import diff_runs, render_text

        if max_lines < 0:
            raise UsageError("--max-lines must be 0 or more")
        res = diff_runs(_repo(), a, b, max_lines)
        if json_out:
            _emit(res)
        else:
            sys.stdout.write(render_text(res))
        s = res["summary"]
        if exit_code and s["changed"] + s["only_a"] + s["only_b"]:
            raise typer.Exit(1)

    @runs.command("stream")
    def runs_stream(name: str = typer.Argument(..., help="Run name."),
                    inputs: bool = typer.Option(False, "--inputs", help="Stream inputs.jsonl instead.")) -> None:
        """Print a run's outputs.jsonl, line by line (bounded memory); a run still in progress
        (`pfgit run` in another shell) is followed until it ends."""
        from ..run.follow import follow
        from ..store.read import load_run, stream_file

        from ..output import SafeBytes

        repo = _repo()
        out = SafeBytes(sys.stdout.buffer, sys.stdout.isatty())
        if follow(repo, name, out, "inputs" if inputs else "outputs"):
            return
        snap = load_run(repo, name)
        for line in stream_file(repo, snap, "inputs.jsonl" if inputs else "outputs.jsonl"):
            out.write(line)
        out.flush()

    @runs.command("record")
    def runs_record(flow: str = typer.Option(..., "--flow", help="Flow folder (or its flow.dag.yaml)."),
                    outputs: str = typer.Option(..., "--outputs", help="Per-line outputs, JSON Lines."),
                    metrics: Optional[str] = typer.Option(None, "--metrics", help="Metrics, a JSON object."),
                    name: Optional[str] = typer.Option(None, "--name", help="Run name (default <flow>[_<variant>]_<time>, as pf)."),
                    data: Optional[str] = typer.Option(None, "--data", help="Data file the run read."),
                    base_run: Optional[str] = typer.Option(None, "--run", help="Base run (evaluation runs)."),
                    column_mapping: Optional[List[str]] = typer.Option(None, "--column-mapping", help="k=v, repeatable."),
                    variant: Optional[str] = typer.Option(None, "--variant", help="e.g. '${node.variant_1}'."),
                    connections: Optional[List[str]] = typer.Option(None, "--connections", help="node.connection=NAME, repeatable."),
                    status: str = typer.Option("Completed", "--status", help="Run status."),
                    inputs_file: Optional[str] = typer.Option(None, "--inputs", help="Per-line inputs, JSON Lines."),
                    log: Optional[List[str]] = typer.Option(None, "--log", help="Log file to keep, repeatable."),
                    commit: Optional[str] = typer.Option(None, "--commit", help="Record against this revision's flow, not the worktree."),
                    start_time: Optional[str] = typer.Option(None, "--start-time", help="ISO-8601."),
                    end_time: Optional[str] = typer.Option(None, "--end-time", help="ISO-8601."),
                    json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Record a run made by another tool (promptflow, a notebook) as a snapshot."""
        from ..run.result import RunResult
        from ..store.snapshot import record_result

        import os

        repo = _repo()
        logs = {}
        for p in log or []:
            if not os.path.isfile(p):
                raise UsageError("no such file", file=p)
            logs[os.path.basename(p)] = p
        res = RunResult(flow=flow, name=name, outputs=_open_lines(outputs), metrics=_read_metrics(metrics),
                        data=data, column_mapping=_pairs(column_mapping, "--column-mapping"),
                        variant=variant, base_run=base_run, status=status,
                        connections=_pairs(connections, "--connections"), logs=logs,
                        inputs=_open_lines(inputs_file) if inputs_file else None,
                        start_time=start_time, end_time=end_time, flow_commit=commit,
                        source={"tool": "pfgit runs record"})
        rec = record_result(repo, res)
        if json_out:
            _emit({"recorded": rec.as_dict()})
        else:
            where = rec.flow_commit[:8] + (" (uncommitted worktree captured)" if rec.dirty else "")
            print(f"recorded run {rec.name}: {rec.lines} line{'s' * (rec.lines != 1)}, flow {rec.flow_path} at {where}, "
                  f"snapshot {rec.commit[:8]} ({rec.ref})")

    @runs.command("import")
    def runs_import(paths: Optional[List[str]] = typer.Argument(None, help="promptflow home, .runs folder or run folders (default: $PF_HOME_DIRECTORY or ~/.promptflow)."),
                    dry_run: bool = typer.Option(False, "--dry-run", help="Only show what would be imported."),
                    json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Import promptflow's local run records, linked to the commits of their flows."""
        raise typer.Exit(import_and_report(list(paths or []), dry_run, json_out))

    @runs.command("rename")
    def runs_rename(old: str = typer.Argument(..., help="Current run name."),
                    new: str = typer.Argument(..., help="New run name."),
                    json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Rename a run, for example when a remote has a different run of the same name."""
        from ..store.rename import rename_run

        repo = _repo()
        res = _index(repo, lambda idx: rename_run(repo, old, new, idx))
        if json_out:
            _emit(res)
            return
        print(f"renamed run {old} to {new} (snapshot {res['snapshot'][:8]})")
        if res["evaluations"]:
            print(f"evaluation runs now naming {new} as their base: {', '.join(res['evaluations'])}")

    @runs.command("gc")
    def runs_gc(yes: bool = typer.Option(False, "--yes", help="Delete (default: only list)."),
                unlinked: bool = typer.Option(False, "--unlinked", help="Also unlinked imported runs."),
                json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Runs of flows that no longer exist on any local branch (dry run unless --yes)."""
        from ..index import query
        from ..store.gc import delete_runs, garbage

        repo = _repo()

        def go(idx):
            g = garbage(repo, query.list_runs(idx), unlinked)
            return g, (delete_runs(repo, idx, g) if yes else [])

        g, deleted = _index(repo, go)
        if json_out:
            _emit({"runs": [r["name"] for r in g], "deleted": deleted, "dry_run": not yes})
            return
        for r in g:
            print(f"{'deleted' if r['name'] in deleted else 'would delete'} {r['name']} (flow {r['flow']})")
        if not g:
            print("nothing to collect")
        elif not yes:
            print("(dry run: pass --yes to delete these run refs)")

    @app.command("log")
    def log(path: Optional[str] = typer.Argument(None, help="Flow folder, or a folder holding flows (default: all)."),
            metric: Optional[List[str]] = typer.Option(None, "--metric", help="Metric to show, repeatable."),
            max_count: Optional[int] = typer.Option(None, "-n", "--max-count", help="At most N commits per flow."),
            rev: str = typer.Option("HEAD", "--rev", help="Start from this revision."),
            json_out: bool = typer.Option(False, "--json", help="Print JSON."),
            node: Optional[str] = typer.Option(None, "--node", metavar="NAME", help="Only the commits that changed this node (docs/history.md)."),
            all_parents: bool = typer.Option(False, "--all-parents", help="With --node: follow every parent of merges."),
            markdown: bool = typer.Option(False, "--markdown", help="With --node: a Markdown table.")) -> None:
        """Commits of a flow (first-parent history) with their runs and metrics; with --node, the
        commits that changed one node, through its renames."""
        from ..index.logcmd import run_log

        raise typer.Exit(run_log(path, metric, max_count, rev, json_out, node, all_parents, markdown))

    @metrics_app.command("diff")
    def metrics_diff(a: str = typer.Argument(..., help="Run name or revision (run:NAME, rev:REV to choose)."),
                     b: str = typer.Argument(..., help="Run name or revision (run:NAME, rev:REV to choose)."),
                     flow: Optional[str] = typer.Option(None, "--flow", help="Flow, when a revision has runs of several."),
                     json_out: bool = typer.Option(False, "--json", help="Print JSON."),
                     markdown: bool = typer.Option(False, "--markdown", help="A Markdown table.")) -> None:
        """Per-metric old, new and delta between two runs (or the runs of two revisions)."""
        from ..index import compare, render

        if json_out and markdown:
            raise UsageError("choose one of --json, --markdown")
        repo = _repo()
        fl = _flow_arg(repo, flow)
        res = _index(repo, lambda idx: compare.metrics_diff(idx, a, b, fl))
        for side in (res["a"], res["b"]):
            if side.get("note"):
                print(f"pfgit: {side['note']}", file=sys.stderr)
        if json_out:
            _emit(res)
        elif markdown:
            sys.stdout.write(render.metrics_diff_markdown(res))
        else:
            sys.stdout.write(render.metrics_diff_text(res))

    def _share(kind: str, remote: str, force: bool, json_out: bool) -> None:
        from ..git import remote as gremote

        repo = _repo()
        res = (gremote.push if kind == "push" else gremote.fetch)(repo.path, remote, force)
        if kind == "fetch":
            _index(repo, lambda idx: None)  # index the fetched runs now
        if json_out:
            _emit(res)
        else:
            verb = "pushed" if kind == "push" else "fetched"
            print(f"{verb} {len(res['updated'])} ref(s) {'to' if kind == 'push' else 'from'} {remote} ({res['refspec']})")
            for r in res["rejected"]:
                print(f"rejected {r['ref']}: {r['reason']}")
                if r.get("hint"):
                    print(f"  {r['hint']}")
            for r in res.get("failed", ()):
                print(f"not fetched {r['ref']}: {r['reason']}")
            if kind == "fetch":
                _note_not_runs(res["updated"])
        raise typer.Exit(res["exit_code"] or EXIT_OK)

    def _note_not_runs(refs: list) -> None:
        """Fetched nested refs below refs/pfgit/runs/: git keeps them; pfgit lists and reads none
        of them, loose or packed (run names hold no '/')."""
        from ..git.runrefs import RUNS_PREFIX

        prefix = RUNS_PREFIX.decode()
        for ref in refs:
            if ref.startswith(prefix) and "/" in ref[len(prefix):]:
                print(f"pfgit: {ref} is not a run (a run name holds no '/'): fetched, not listed; to keep "
                      f"it, git update-ref {prefix}NEW_NAME {ref}", file=sys.stderr)

    @app.command("push")
    def push(remote: str = typer.Argument("origin", help="Remote name or URL."),
             force: bool = typer.Option(False, "--force", help="Overwrite differing runs of the same name."),
             json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Push run snapshots (refs/pfgit/*) to a git remote."""
        _share("push", remote, force, json_out)

    @app.command("fetch")
    def fetch(remote: str = typer.Argument("origin", help="Remote name or URL."),
              force: bool = typer.Option(False, "--force", help="Overwrite differing local runs of the same name."),
              json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Fetch run snapshots (refs/pfgit/*) from a git remote."""
        _share("fetch", remote, force, json_out)
