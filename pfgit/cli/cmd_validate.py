"""`pfgit validate [PATH...] [--json] [--strict] [--staged]` (docs/cli.md, docs/validation.md).

Thin: the work is pfgit.validate.command.run (shared with `python -m pfgit.validate`).
`pfgit validate` itself is routed to that light entry by pfgit.cli.main (LIGHT) to skip typer's
start-up; this definition is what `pfgit --help` lists and what an embedding typer app would run.
"""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    # typer coerces every non-bool parameter through pydantic (~90 ms to import): PATHs come from
    # ctx.args and --help is a plain bool flag, so this command itself never needs pydantic.
    @app.command("validate", context_settings={"allow_extra_args": True},
                 options_metavar="[PATH]... [OPTIONS]", add_help_option=False)
    def validate(
        ctx: typer.Context,
        _help: bool = typer.Option(False, "--help", "-h", is_eager=True, callback=_show_help,
                                   help="Show this message and exit."),
        json_out: bool = typer.Option(False, "--json", help="Print one JSON object (docs/cli.md)."),
        fmt: str = typer.Option(None, "--format", metavar="FORMAT",
                                help="text, json, github (workflow-command annotations) or sarif "
                                     "(SARIF 2.1.0)."),
        strict: bool = typer.Option(False, "--strict", help="Warnings fail too."),
        staged: bool = typer.Option(
            False, "--staged",
            help="Check what is staged in the git index (for pre-commit hooks): the flows holding "
                 "staged changes, or those at PATHs."),
        quiet: bool = typer.Option(False, "--quiet", "-q",
                                   help="Print nothing when there is no problem (for hooks)."),
    ) -> None:
        """Check Prompt flow folders: references, cycles, sources, variants, Jinja2 and Python syntax.

        PATH: flow folders, flow files, files inside flows, or folders to search (default: .).
        """
        from ..validate.command import run

        raise typer.Exit(run(list(ctx.args), json_out, strict, staged, quiet, fmt))


def _show_help(ctx: typer.Context, value: bool) -> None:
    if value:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
