"""`pfgit import-zip`, `pfgit export-zip`, `pfgit checkout-run`: the studio round trip and run
checkout (docs/studio.md). Thin: options and printing around pfgit.integrate.studio."""

from __future__ import annotations

import os
import sys

import typer

from ..errors import EXIT_NO, EXIT_OK

_VERB = {"add": "added", "update": "updated", "delete": "deleted", "merge": "merged",
         "keep": "kept", "restore": "restored", "conflict": "conflict", "studio": "studio"}


def _repo():
    from ..git.repo import open_repo

    return open_repo(".")


def _print_plan(plan, dry_run: bool) -> None:
    zf = f" (folder '{plan.top_folder}/' in the zip)" if plan.top_folder else ""
    print(f"{'would import' if dry_run else 'imported'} {plan.zip_path}{zf} into "
          f"{plan.flow_rel} ({plan.flow_file})")
    print(f"base: {plan.base.describe()}")
    if not plan.actions:
        print("  nothing to change")
    for a in plan.actions:
        note = f"  {a.note}" if a.note else ""
        print(f"  {_VERB[a.action]:<9} {a.path}{note}")
    if plan.skipped:
        print("left out of the zip: " + ", ".join(f"{p} ({w})" for p, w in plan.skipped))
    if plan.flow_merge is not None:
        from ..merge.files import summary_lines

        for line in summary_lines(plan.flow_merge, os.path.join(plan.flow_rel, plan.flow_file)):
            print(line, file=sys.stderr)


def register(app: typer.Typer) -> None:
    @app.command("import-zip")
    def import_zip(
        zip_file: str = typer.Argument(..., metavar="FLOW.zip", help="The flow zip from the studio."),
        into: str = typer.Option(None, "--into", help="The flow folder to merge into (default: "
                                 "the zip's folder name, in the current folder)."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the semantic diff it would "
                                     "apply; write nothing."),
        json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ) -> None:
        """Merge a flow zip from the studio into the worktree, three-way.

        Base: the last import of the flow (refs/pfgit/imports/<flow>), else the commit that last
        matched the zip. Exit 0 merged, 1 conflicts left, 2 refused zip or bad input.
        """
        from ..integrate.studio.zipimport import apply_import, plan_import, semantic_diff

        repo = _repo()
        plan = plan_import(repo, zip_file, into)
        out = plan.to_json()
        out["dry_run"] = dry_run
        if dry_run:
            from ..diff import render

            diffs = semantic_diff(plan)
            if json_out:
                from ..output import emit_json

                emit_json(dict(out, diff=render.render_json(diffs)))
            else:
                _print_plan(plan, True)
                text = render.render_text(diffs)
                print("\n" + text.rstrip("\n") if text.strip() else "\nno semantic change")
                print("(dry run: nothing written)")
            raise typer.Exit(EXIT_NO if plan.conflicts else EXIT_OK)
        applied = apply_import(repo, plan)
        out.update(recorded=applied.recorded, import_commit=applied.import_commit,
                   import_ref=applied.import_ref,
                   backup_commit=applied.backup_commit,
                   backup_ref=applied.backup_ref if applied.backup_commit else None)
        if json_out:
            from ..output import emit_json

            emit_json(out)
        else:
            _print_plan(plan, False)
            if applied.recorded:
                print(f"recorded on {applied.import_ref} ({applied.import_commit[:12]})")
            if applied.backup_commit:
                print(f"the worktree before the import: {applied.backup_ref} "
                      f"({applied.backup_commit[:12]}; git checkout {applied.backup_ref} -- "
                      f"{plan.flow_rel})")
            if plan.conflicts:
                print(f"{plan.conflicts} conflict(s) left: resolve them, then commit "
                      f"(`pfgit conflicts {plan.flow_rel}` lists those in the flow file)")
        raise typer.Exit(EXIT_NO if plan.conflicts else EXIT_OK)

    @app.command("export-zip")
    def export_zip(
        path: str = typer.Argument(None, metavar="PATH", help="The flow folder (or its flow file)."),
        output: str = typer.Option(None, "-o", "--output", help="The zip to write "
                                   "(default: <flow folder>.zip)."),
        rev: str = typer.Option(None, "--rev", help="Export the flow as committed in REV."),
        run: str = typer.Option(None, "--run", help="Export the exact flow run NAME used."),
        force: bool = typer.Option(False, "--force", help="Replace an existing, different zip."),
        json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ) -> None:
        """Zip a flow folder as the studio takes it (reproducible: same files, same bytes)."""
        from ..integrate.studio.zipexport import export_zip as export

        ex, out, size = export(_repo(), path, output, rev, run, force)
        if json_out:
            from ..output import emit_json

            emit_json({"zip": out, "flow": ex.flow_rel, "source": ex.source, "commit": ex.commit,
                       "run": ex.run, "files": sorted(ex.files), "bytes": size,
                       "skipped": [{"path": p, "why": w} for p, w in ex.skipped]})
        else:
            src = {"worktree": "the worktree", "revision": f"commit {(ex.commit or '')[:12]}",
                   "run": f"run {ex.run} (flow commit {(ex.commit or 'none')[:12]})"}[ex.source]
            print(f"wrote {out}: {ex.flow_rel} from {src}, {len(ex.files)} file{'s' * (len(ex.files) != 1)}, {size} bytes")
            if ex.skipped:
                print("left out: " + ", ".join(f"{p} ({w})" for p, w in ex.skipped))

    @app.command("checkout-run")
    def checkout_run(
        name: str = typer.Argument(..., help="The run."),
        dest: str = typer.Argument(None, metavar="[DIR]", help="A new or empty folder "
                                   "(default: ./<run name>)."),
        json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ) -> None:
        """Write the exact flow folder a run used into DIR, with .pfgit-run.json (provenance)."""
        from ..integrate.studio.checkout import checkout_run as checkout

        res = checkout(_repo(), name, dest)
        if json_out:
            from ..output import emit_json

            emit_json(res)
        else:
            fc = res["flow_commit"][:12] if res["flow_commit"] else "none (an unlinked run)"
            print(f"wrote {res['dir']}: the flow {res['flow_path']} of run {name} "
                  f"(flow commit {fc}, {res['files']} file{'s' * (res['files'] != 1)})")
            if res["skipped"]:
                print("not written: " + ", ".join(f"{s['path']} ({s['why']})" for s in res["skipped"]))
