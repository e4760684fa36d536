"""`pfgit validate [PATH...] [--json] [--strict] [--staged]` (docs/cli.md, docs/validation.md).

Thin: finds the flows for the PATHs (worktree, or the index with --staged), calls
pfgit.validate, prints. Exit 0 no errors, 1 errors (or warnings with --strict), 2 bad PATH.
"""

from __future__ import annotations

import os
import sys
import typer

from ..errors import EXIT_NO, EXIT_OK, UsageError


def register(app: typer.Typer) -> None:
    # Start-up matters for git hooks. typer coerces every non-bool parameter through pydantic,
    # whose import costs ~90 ms, and its own --help option is such a parameter. So PATHs come from
    # ctx.args and --help is a plain bool flag: validate never imports pydantic.
    @app.command("validate", context_settings={"allow_extra_args": True},
                 options_metavar="[PATH]... [OPTIONS]", add_help_option=False)
    def validate(
        ctx: typer.Context,
        _help: bool = typer.Option(False, "--help", "-h", is_eager=True, callback=_show_help,
                                   help="Show this message and exit."),
        json_out: bool = typer.Option(False, "--json", help="Print one JSON object (docs/cli.md)."),
        strict: bool = typer.Option(False, "--strict", help="Warnings fail too."),
        staged: bool = typer.Option(
            False, "--staged",
            help="Check what is staged in the git index (for pre-commit hooks): the flows holding "
                 "staged changes, or those at PATHs."),
    ) -> None:
        """Check Prompt flow folders: references, cycles, sources, variants, Jinja2 and Python syntax.

        PATH: flow folders, flow files, files inside flows, or folders to search (default: .).
        """
        paths = list(ctx.args)
        reports = _staged_reports(paths or []) if staged else _worktree_reports(paths or ["."])
        _print(reports, json_out, strict)
        from ..validate.render import summary

        raise typer.Exit(EXIT_OK if summary(reports, strict)["ok"] else EXIT_NO)


def _show_help(ctx: typer.Context, value: bool) -> None:
    if value:
        typer.echo(ctx.get_help())
        raise typer.Exit(EXIT_OK)


def _worktree_reports(paths: list) -> list:
    from ..flow.readers import DirReader, join
    from ..validate.api import locate, validate_locations

    class FsReader(DirReader):
        """The whole file system: reader paths are absolute paths without the leading '/', so
        additional_includes may reach anywhere. Shown relative to the current folder when below it
        (as git and linters show paths), else absolute."""

        def display(self, rel: str) -> str:
            full = "/" + join(rel) if join(rel) != "." else "/"
            shown = os.path.relpath(full)
            return full if shown.startswith("..") else shown

    reader = FsReader("/")
    locs = []
    for p in paths:
        try:
            os.stat(p)
        except FileNotFoundError:
            raise UsageError("no such file or folder", file=p) from None
        except OSError as e:  # a symlink loop, no permission
            raise UsageError(f"cannot read: {e.strerror or e}", file=p) from None
        locs.extend(locate(reader, os.path.abspath(p).lstrip("/") or "."))
    return validate_locations(reader, locs)


def _staged_reports(paths: list) -> list:
    from ..flow.readers import join
    from ..gitio.repo import IndexReader, TreeReader, open_repo, resolve
    from ..validate.api import locate, validate_locations
    from ..validate.staged import LinkFollowingReader, index_symlinks, touched_flows

    repo = open_repo(".")
    top = os.path.realpath(repo.path)
    staged = IndexReader(repo)
    staged.display = lambda rel: os.path.relpath(os.path.join(top, rel))  # as git shows paths
    links = index_symlinks(repo, staged)
    index = LinkFollowingReader(staged, links) if links else staged
    if paths:
        locs = []
        for p in paths:
            rel = os.path.relpath(os.path.realpath(p), top)
            if rel.startswith(".."):
                raise UsageError("outside the repository", file=p)
            locs.extend(locate(index, join(rel.replace(os.sep, "/"))))
        return validate_locations(index, locs)
    try:
        head = TreeReader(repo, repo[resolve(repo, "HEAD")].tree)
    except UsageError:  # no commit yet: everything staged is new
        head = None
    return validate_locations(index, touched_flows(index, head))


def _print(reports: list, json_out: bool, strict: bool) -> None:
    from ..validate.render import text_lines, to_json
    from .output import emit_json, use_color

    if json_out:
        emit_json(to_json(reports, strict))
        return
    sys.stdout.write("\n".join(text_lines(reports, strict, color=use_color())) + "\n")
