"""The `pfgit` command: a thin typer layer over the library.

Each command lives in its own module `pfgit/cli/cmd_<name>.py` exposing `register(app)`; modules
import their heavy dependencies inside the command function so start-up stays fast for git hooks.
Errors become one line on stderr and a documented exit code (docs/cli.md); `--debug` (or
PFGIT_DEBUG=1) shows the traceback instead.
"""

from __future__ import annotations

import importlib
import os
import sys

from ..errors import EXIT_USAGE, PfgitError

# command name -> module defining it; only that module is imported when the command runs, so a
# git hook pays for one command's imports, not all of them (`pfgit --help` imports all).
COMMANDS = {
    "validate": "validate",
    "diff": "diff", "diff-driver": "diff", "diff-textconv": "diff",
    "merge-file": "merge", "merge-driver": "merge", "merge": "merge", "conflicts": "merge",
    "install": "install",
    "log": "runs", "push": "runs", "fetch": "runs", "runs": "runs", "metrics": "runs",
    "index": "index",
    "check": "check",
    "report": "report",
}
COMMAND_MODULES = list(dict.fromkeys(COMMANDS.values()))

# Commands with a light entry point of their own (same arguments, output and exit codes, tested
# for parity): they skip typer's import, which is most of a git hook's run time.
LIGHT = {"validate": "pfgit.validate.command", "log": "pfgit.index.logcmd"}


def make_app():
    """A fresh typer app (built per call so repeated in-process calls never re-register)."""
    import typer

    app = typer.Typer(
        name="pfgit",
        help="Git-native versioning and collaboration for Prompt flow folders.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def _root(debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors.")):
        if debug:
            os.environ["PFGIT_DEBUG"] = "1"

    return app


def _command_word(argv: list) -> str | None:
    for a in argv:
        if a == "--debug":
            continue
        return a if a in COMMANDS else None
    return None


def _register(app, argv: list) -> None:
    word = _command_word(argv)
    for name in ([COMMANDS[word]] if word else COMMAND_MODULES):
        importlib.import_module(f"pfgit.cli.cmd_{name}").register(app)


def main(argv: list | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = os.environ.get("PFGIT_DEBUG") == "1" or "--debug" in args
    word = _command_word(args)
    try:
        if word in LIGHT:
            if debug:
                os.environ["PFGIT_DEBUG"] = "1"
            return importlib.import_module(LIGHT[word]).main(args[args.index(word) + 1:])
        app = make_app()
        _register(app, args)
        rv = app(args=args, prog_name="pfgit", standalone_mode=False)
        return rv if isinstance(rv, int) else 0  # typer.Exit(n) comes back as n
    except PfgitError as e:
        if debug:
            raise
        print(e.one_line(), file=sys.stderr)
        return e.exit_code
    except SystemExit as e:  # commands exit with their result code
        return e.code if isinstance(e.code, int) else (0 if e.code is None else EXIT_USAGE)
    except KeyboardInterrupt:
        print("pfgit: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # click usage errors and anything unexpected: one line, exit 2
        import click

        try:  # typer >= 0.20 raises its vendored click's exceptions
            from typer import _click as tclick
        except ImportError:  # pragma: no cover
            tclick = click
        usage = (click.exceptions.ClickException, tclick.exceptions.ClickException)
        if isinstance(e, usage):
            print(f"pfgit: {e.format_message()}", file=sys.stderr)
            return EXIT_USAGE
        aborts = (click.exceptions.Abort, getattr(tclick.exceptions, "Abort", click.exceptions.Abort))
        if isinstance(e, aborts):  # typer 0.27's vendored click has no Abort
            print("pfgit: aborted", file=sys.stderr)
            return EXIT_USAGE
        if debug:
            raise
        print(f"pfgit: internal error: {type(e).__name__}: {' '.join(str(e).split())} "
              "(run with --debug for a traceback)", file=sys.stderr)
        return EXIT_USAGE


def run() -> None:  # console-script entry point
    code = main()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        pass
    sys.exit(code)
