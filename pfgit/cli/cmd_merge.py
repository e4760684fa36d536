"""`pfgit merge-file`, `pfgit merge-driver`, `pfgit merge BRANCH`, `pfgit conflicts` (docs/merge.md).

Thin: argument parsing and printing around pfgit.merge. Options of merge-file are parsed by hand
(like `git merge-file`: repeated -L) because typed list options pull pydantic into start-up, and
the merge driver runs once per conflicted flow file inside `git merge`.
"""

from __future__ import annotations

import sys

import typer

from ..errors import EXIT_NO, EXIT_OK, UsageError, no_such

_MERGE_FILE_USAGE = "usage: pfgit merge-file [-L LABEL]... [--diff3] [-p] [-q] [--json] CURRENT BASE OTHER"
MERGE_FILE_OPTIONS = ["-L", "--diff3", "-p", "--stdout", "-q", "--quiet", "--json", "-h", "--help"]


def register(app: typer.Typer) -> None:
    loose = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": ["-h", "--help"]}

    @app.command("merge-file", context_settings=loose, options_metavar="[OPTIONS] CURRENT BASE OTHER",
                 add_help_option=True)
    def merge_file(ctx: typer.Context) -> None:
        """Three-way merge of flow files like `git merge-file`: the result goes to CURRENT.

        Options: -L LABEL (up to 3: current, base, other), --diff3 (show the base, also taken from
        merge.conflictStyle), -p/--stdout (print instead of writing CURRENT), -q (no conflict
        report), --json (decisions and conflicts). Exit 0 clean, 1 conflicts, 2 error (CURRENT
        untouched).
        """
        raise typer.Exit(_merge_file(list(ctx.args)))

    @app.command("merge-driver", hidden=True)
    def merge_driver(base: str, ours: str, theirs: str, path: str = typer.Argument("")) -> None:
        """git merge driver (`merge=pfgit`): %O %A %B %P; the result goes to %A."""
        from ..integrate.mergedriver import main

        raise typer.Exit(main([base, ours, theirs] + ([path] if path else [])))

    @app.command("merge")
    def merge(
        branch: str = typer.Argument(..., help="The branch (or commit) to merge into the current one."),
        no_commit: bool = typer.Option(False, "--no-commit", help="Stop before committing the merge."),
        message: str = typer.Option(None, "-m", "--message", help="Merge commit message."),
        json_out: bool = typer.Option(False, "--json", help="Print the flow report as JSON."),
    ) -> None:
        """`git merge BRANCH` with the pfgit merge driver guaranteed, then a report by flow and node.

        Works without `pfgit install` (the driver is passed to git for this merge only), which is
        what the PR workflow needs: merge the target branch into the PR branch, push. Exit codes
        are git merge's (0 merged, 1 conflicts left).
        """
        from ..integrate.gitmerge import run_merge
        from ..merge.report import print_report

        outcome = run_merge(".", branch, commit=not no_commit, message=message,
                            quiet=json_out)
        print_report(outcome, json_out)
        raise typer.Exit(outcome.exit_code)

    @app.command("conflicts", context_settings={"allow_extra_args": True},
                 options_metavar="[PATH]... [OPTIONS]")
    def conflicts(ctx: typer.Context,
                  json_out: bool = typer.Option(False, "--json", help="Print JSON (docs/merge.md).")
                  ) -> None:
        """List the merge conflicts left in the flows under PATH (default .), by node.

        Exit 0 when there are none, 1 when conflicts remain.
        """
        from ..merge.report import find_conflicts, print_conflicts

        found = find_conflicts(list(ctx.args) or ["."])
        print_conflicts(found, json_out)
        raise typer.Exit(EXIT_NO if any(f["conflicts"] for f in found) else EXIT_OK)


def _merge_file(args: list) -> int:
    from ..merge.files import merge_bytes, read, summary_lines, write_atomic
    from ..git.textmerge import conflict_style

    labels: list = []
    diff3 = stdout = quiet = json_out = False
    files: list = []
    it = iter(args)
    for a in it:
        if a == "-L":
            label = next(it, None)
            if label is None:
                raise UsageError(f"-L needs a label; {_MERGE_FILE_USAGE}")
            labels.append(label)
        elif a.startswith("-L") and len(a) > 2:
            labels.append(a[2:])
        elif a == "--diff3":
            diff3 = True
        elif a in ("-p", "--stdout"):
            stdout = True
        elif a in ("-q", "--quiet"):
            quiet = True
        elif a == "--json":
            json_out = True
        elif a.startswith("-") and a != "-":
            raise no_such("option", a, MERGE_FILE_OPTIONS)
        else:
            files.append(a)
    if len(files) != 3 or len(labels) > 3:
        raise UsageError(_MERGE_FILE_USAGE)
    current, base, other = files
    labels = tuple(labels + files[len(labels):])  # git merge-file: the file names, unless -L says otherwise
    diff3 = diff3 or conflict_style() in ("diff3", "zdiff3")
    try:
        data = [read(p) for p in (base, current, other)]
    except OSError as e:
        raise UsageError(f"cannot read: {e.strerror or e}", file=getattr(e, "filename", None)) from None
    res = merge_bytes(*data, diff3=diff3, labels=labels)
    if stdout:
        sys.stdout.buffer.write(res.data)
        sys.stdout.flush()
    else:
        try:
            write_atomic(current, res.data)
        except OSError as e:
            raise UsageError(f"cannot write: {e.strerror or e}", file=current) from None
    if json_out:
        from ..output import emit_json

        emit_json({"file": current, "clean": res.clean, "fallback": res.fallback,
                   "conflicts": [{"path": list(c.path), "reason": c.reason} for c in res.conflicts],
                   "text_conflicts": res.text_conflicts,
                   "decisions": [d.to_json() for d in res.decisions]})
    elif not quiet:
        for line in summary_lines(res, current):
            print(line, file=sys.stderr)
    return res.exit_code
