"""`pfgit diff`, and the git entry points `pfgit diff-driver` / `pfgit diff-textconv`."""

from __future__ import annotations

import sys
from typing import List, Optional

import typer
from typer.core import TyperCommand

from ..errors import EXIT_NO, EXIT_OK, EXIT_USAGE, UsageError


class _DiffCommand(TyperCommand):
    """Keeps what follows `--` apart: those are paths even if they look like revisions."""

    def parse_args(self, ctx, args):
        if "--" in args:
            i = args.index("--")
            ctx.meta["pfgit_paths"] = args[i + 1:]
            args = args[:i]
        return super().parse_args(ctx, args)


def register(app: typer.Typer) -> None:
    @app.command("diff", cls=_DiffCommand)
    def diff(
        ctx: typer.Context,
        args: Optional[List[str]] = typer.Argument(
            None, metavar="[REV1 [REV2]] [PATH]...",
            help="[REV1 [REV2]] then [PATH...]; after -- only paths. With --no-index: A B."),
        json_out: bool = typer.Option(False, "--json", help="Print the changes as JSON."),
        markdown: bool = typer.Option(False, "--markdown", help="Markdown for a PR comment."),
        stat: bool = typer.Option(False, "--stat", help="One line per flow with counts."),
        exit_code: bool = typer.Option(False, "--exit-code", help="Exit 1 when there are changes."),
        no_index: bool = typer.Option(False, "--no-index", help="Compare two folders or files."),
        cached: bool = typer.Option(False, "--cached", "--staged", help="HEAD (or REV) vs the index."),
        color: str = typer.Option("auto", "--color", help="auto | always | never"),
    ) -> None:
        """Semantic diff of flows: worktree vs HEAD, REV vs worktree, REV1 vs REV2."""
        if sum([json_out, markdown, stat]) > 1:
            raise UsageError("choose one of --json, --markdown, --stat")
        if color not in ("auto", "always", "never"):
            raise UsageError(f"--color must be auto, always or never, not '{color}'")
        args = list(args or [])
        paths = ctx.meta.get("pfgit_paths")
        if no_index:
            diffs = _no_index(args + (paths or []))
        else:
            diffs = _in_repo(args, paths, cached)
        code = _print(diffs, json_out, markdown, stat, color)
        if code == EXIT_OK and exit_code and any(fd.changes or fd.text_diff or fd.old_path
                                                          for fd in diffs):
            code = EXIT_NO
        raise typer.Exit(code)

    @app.command("diff-driver", hidden=True, context_settings={"ignore_unknown_options": True})
    def diff_driver(args: List[str] = typer.Argument(..., help="git's 7 (or 9) external diff arguments")) -> None:
        """git's diff.pfgit.command: path old-file old-hex old-mode new-file new-hex new-mode."""
        from ..integrate.diffdriver import driver_text

        sys.stdout.write(driver_text(args))
        raise typer.Exit(0)  # a non-zero exit would make git stop the whole diff

    @app.command("diff-textconv", hidden=True)
    def diff_textconv(file: str = typer.Argument(..., help="flow file to print normalised")) -> None:
        """git's diff.pfgit.textconv: the flow as one line per value in a canonical order."""
        from ..integrate.diffdriver import textconv

        try:
            textconv(file)
        except OSError as e:
            raise UsageError(e.strerror or str(e), file=file) from None


def _in_repo(args: list, paths: list | None, cached: bool) -> list:
    import os

    from ..diff.tree import diff_trees
    from ..git.repo import open_repo
    from ..git.sides import is_revision, repo_relative, sides_for

    repo = open_repo(".")
    revs: list = []
    rest = list(args)
    if paths is None:
        # like git: leading arguments that name revisions are revisions, the rest paths
        paths = []
        while rest and len(revs) < 2 and is_revision(repo, rest[0]):
            revs.append(rest.pop(0))
        for p in rest:
            if not os.path.exists(p) and len(revs) == 2 and is_revision(repo, p):
                raise UsageError(f"'{p}': at most two revisions (REV1 REV2) can be compared")
            if not os.path.exists(p):
                raise UsageError(f"'{p}' is neither a revision nor a path "
                                 "(use -- to separate paths from revisions)")
        paths = rest
    else:
        revs = rest
    rel = [repo_relative(repo, p) for p in paths] or ["."]
    sides = sides_for(repo, revs, cached)
    for p in rel:
        if p != "." and not sides.old.exists(p) and not sides.new.exists(p):
            raise UsageError(f"no such path in {sides.old_label} or {sides.new_label}", file=p)
    return diff_trees(sides.old, sides.new, rel)


def _no_index(args: list) -> list:
    import os

    from ..diff.tree import diff_flow_pair, diff_trees
    from ..flow.load import FlowLocation
    from ..flow.readers import OUTSIDE_ARGUMENT, DirReader, git_top, outside_repository

    if len(args) != 2:
        raise UsageError("--no-index takes exactly two paths: A B")
    a, b = args
    for p in (a, b):
        if not os.path.exists(p):
            raise UsageError("no such file or folder", file=p)
        if outside_repository(p, p, argument=True):   # a pull request's symlink to ~/.ssh or /etc
            raise UsageError(OUTSIDE_ARGUMENT, file=p)
    # each side stays inside the git repository holding it (if any): docs/security.md
    if os.path.isdir(a) and os.path.isdir(b):
        return diff_trees(DirReader(a, a, git_top(a)), DirReader(b, b, git_top(b)))
    if os.path.isdir(a) or os.path.isdir(b):
        raise UsageError("--no-index compares two folders or two files, not a folder and a file")
    ra = DirReader(os.path.dirname(a) or ".", os.path.dirname(a) or ".", git_top(a))
    rb = DirReader(os.path.dirname(b) or ".", os.path.dirname(b) or ".", git_top(b))
    la = FlowLocation(".", os.path.basename(a))
    lb = FlowLocation(".", os.path.basename(b))
    fd = diff_flow_pair(ra, la, rb, lb, display=b)
    return [fd] if fd.status != "same" else []


def _print(diffs: list, json_out: bool, markdown: bool, stat: bool, color: str) -> int:
    from ..diff import render
    from ..output import emit_json, use_color

    for fd in diffs:
        for side, file, line, msg in fd.problems:
            where = f"{file}:{line}" if line else file
            print(f"pfgit: {where}: {msg} ({side} side; showing a text diff)"
                  if fd.shown else f"pfgit: {where}: {msg} ({side} side)", file=sys.stderr)
    if json_out:
        emit_json(render.render_json(diffs))
    elif markdown:
        sys.stdout.write(render.render_markdown(diffs))
    elif stat:
        sys.stdout.write(render.render_stat(diffs))
    else:
        on = color == "always" or (color == "auto" and use_color())
        sys.stdout.write(render.render_text(diffs, color=on))
    if any(not fd.shown for fd in diffs):
        return EXIT_USAGE
    return EXIT_OK
