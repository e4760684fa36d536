"""`pfgit index rebuild | status | update-commits`: the SQLite run index (a cache of the refs)."""

from __future__ import annotations

import sys

import typer


def register(app: typer.Typer) -> None:
    index = typer.Typer(help="The run index (.git/pfgit/index.sqlite), a cache of refs/pfgit/runs/*.",
                        no_args_is_help=True)
    app.add_typer(index, name="index")

    @index.command("rebuild")
    def rebuild(json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Recreate the index from the refs alone."""
        from ..git.repo import open_repo
        from ..index.db import rebuild as do_rebuild
        from ..output import emit_json

        res = do_rebuild(open_repo("."))
        if json_out:
            emit_json(res)
        else:
            print(f"rebuilt {res['path']}: {res['runs']} run{'s' * (res['runs'] != 1)}, {res['commits']} commit{'s' * (res['commits'] != 1)}, "
                  f"{len(res['flow_paths'])} flow folder(s) in {res['seconds']:.2f} s")

    @index.command("status")
    def status(json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Refresh the index if stale and show what it holds."""
        from ..git.repo import open_repo
        from ..index.db import index_path, with_index
        from ..output import emit_json

        repo = open_repo(".")

        def go(idx):
            q = idx.conn.execute
            return {"path": index_path(repo), "created": idx.created,
                    "runs": q("SELECT count(*) FROM runs").fetchone()[0],
                    "commits": q("SELECT count(*) FROM commit_info").fetchone()[0],
                    "flow_paths": idx.tracked_paths(), "head": idx.state("head")}

        res = with_index(repo, go)
        if json_out:
            emit_json(res)
        else:
            print(f"{res['path']}: {res['runs']} run{'s' * (res['runs'] != 1)}, {res['commits']} commit{'s' * (res['commits'] != 1)}, "
                  f"flows {', '.join(res['flow_paths']) or '-'}")

    @index.command("update-commits", hidden=True)
    def update_commits() -> None:
        """What the git hooks run: record the commits HEAD gained (fast, never fails)."""
        from ..index.hook import main

        sys.exit(main([]))
