"""The `pfgit` command: a thin typer layer over the library.

Each command lives in its own module `pfgit/cli/cmd_<name>.py` exposing `register(app)`; modules
import their heavy dependencies inside the command function so start-up stays fast for git hooks.
Errors become one line on stderr and a documented exit code (docs/cli.md); `--debug` (or
PFGIT_DEBUG=1) shows the traceback instead.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys

from ..errors import EXIT_USAGE, PfgitError, no_such
from ..gcpause import end_startup, pause_startup

# command name -> module defining it; only that module is imported when the command runs, so a
# git hook pays for one command's imports, not all of them (`pfgit --help` imports all).
COMMANDS = {
    "validate": "validate",
    "diff": "diff", "diff-driver": "diff", "diff-textconv": "diff",
    "merge-file": "merge", "merge-driver": "merge", "merge": "merge", "conflicts": "merge",
    "install": "install",
    "log": "runs", "push": "runs", "fetch": "runs", "runs": "runs", "metrics": "runs",
    "index": "index",
    "blame": "history",
    "check": "check",
    "report": "report",
    "bisect": "bisect",
    "run": "run", "test": "run",
    "connection": "connection",
    "import-zip": "studio", "export-zip": "studio", "checkout-run": "studio",
}
COMMAND_MODULES = list(dict.fromkeys(COMMANDS.values()))

# Commands with a light entry point of their own (same arguments, output and exit codes, tested
# for parity): they skip typer's import, which is most of a git hook's run time.
LIGHT = {"validate": "pfgit.validate.command", "log": "pfgit.index.logcmd",
         "blame": "pfgit.history.command"}


def make_app():
    """A fresh typer app (built per call so repeated in-process calls never re-register)."""
    import typer

    app = typer.Typer(
        name="pfgit",
        help="Git-native versioning and collaboration for Prompt flow folders.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    def _version(value: bool):
        if value:
            print(_version_line())
            raise typer.Exit(0)

    @app.callback()
    def _root(debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
              version: bool = typer.Option(False, "--version", is_eager=True, callback=_version,
                                           help="Print the version and exit.")):
        if debug:
            os.environ["PFGIT_DEBUG"] = "1"

    return app


def _version_line() -> str:
    from .. import __version__

    return f"pfgit {__version__}"


def _usage_error(e) -> tuple:
    """(stdout text, stderr line, exit code) for one of click's usage exceptions."""
    import re

    name = type(e).__name__
    if name == "NoArgsIsHelpError":  # `pfgit`, `pfgit runs`: the help, as `--help` prints it
        return e.format_message(), None, 0
    if name == "NoSuchOption":
        ctx = getattr(e, "ctx", None)
        known = [o for p in (ctx.command.params if ctx else []) for o in p.opts + p.secondary_opts]
        known += list(e.possibilities or ())
        return None, no_such("option", e.option_name, known).one_line(), EXIT_USAGE
    m = re.match(r"No such command '(.*)'\.", e.format_message())
    ctx = getattr(e, "ctx", None)
    if m and ctx is not None and hasattr(ctx.command, "commands"):
        return None, no_such("command", m.group(1), ctx.command.commands).one_line(), EXIT_USAGE
    return None, f"pfgit: {e.format_message()}", EXIT_USAGE


def _command_word(argv: list) -> str | None:
    for a in argv:
        if a == "--debug":
            continue
        return a if a in COMMANDS else None
    return None


def _pf_alias(argv: list) -> bool:
    """`pfgit run create|list|show...` and `pfgit flow test|validate`: promptflow's command lines
    with `pf` replaced (pfgit/cli/pfalias.py); the module is imported only for those."""
    if next((a for a in argv if a != "--debug"), None) not in ("run", "flow"):
        return False
    from .pfalias import is_alias

    return is_alias(argv)


def _register(app, argv: list) -> None:
    word = _command_word(argv)
    for name in ([COMMANDS[word]] if word else COMMAND_MODULES):
        importlib.import_module(f"pfgit.cli.cmd_{name}").register(app)


def _long_options(group, args) -> list:
    """The long options of the (sub)command `args` names (`connection create ...`)."""
    cmd = group
    for a in args:
        if a.startswith("-"):
            continue
        sub = getattr(cmd, "commands", {}).get(a)
        if sub is None:
            break
        cmd = sub
    return [o for p in getattr(cmd, "params", ()) for o in getattr(p, "opts", ()) if o.startswith("--")]


def main(argv: list | None = None) -> int:
    from ..output import safe_streams

    with safe_streams():  # no escape sequence from a name or message reaches the terminal
        try:
            return _main(argv)
        except BrokenPipeError:  # the reader left (`pfgit --help | head -1`): quietly, like git
            return 0


def _main(argv: list | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = os.environ.get("PFGIT_DEBUG") == "1" or "--debug" in args
    word = _command_word(args)
    if args == ["--version"]:  # without building the app: a quick answer for scripts
        print(_version_line())
        return 0
    try:
        if word in ("run", None) and _pf_alias(args):  # `pfgit run show -n X`: pf's spellings
            from .pfalias import translate

            args = translate(args)
            if args is None:   # it printed its help
                return 0
            debug = debug or "--debug" in args
            word = _command_word(args)
        if word in LIGHT:
            if debug:
                os.environ["PFGIT_DEBUG"] = "1"
            entry = importlib.import_module(LIGHT[word])
            end_startup()
            return entry.main(args[args.index(word) + 1:])
        app = make_app()
        _register(app, args)
        import typer

        from .style import restyle

        cmd = typer.main.get_command(app)
        if word in COMMANDS:  # a command module may rewrite its argv (pf's argparse spellings)
            rewrite = getattr(importlib.import_module(f"pfgit.cli.cmd_{COMMANDS[word]}"), "rewrite_argv", None)
            args = rewrite(args, _long_options(cmd, args)) if rewrite else args
        restyle(cmd)
        if word not in ("run", "test"):   # a batch turns collection back on when its lines start
            end_startup()                  # (pfgit.run.batch); `test` runs one line without it
        rv = cmd.main(args=args, prog_name="pfgit", standalone_mode=False)
        return rv if isinstance(rv, int) else 0  # typer.Exit(n) comes back as n
    except PfgitError as e:
        return e.report(debug)
    except SystemExit as e:  # commands exit with their result code
        if type(sys.stdout).__name__ == "PacifyFlushWrapper":
            # click met EPIPE (`pfgit --help | head -1`, the reader left) and exits 1 after
            # wrapping the streams: quietly 0, as the light entries and the usage handler do
            return 0
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
            out, err, code = _usage_error(e)
            if out:
                print(out.rstrip("\n"))
            if err:
                print(err, file=sys.stderr)
            return code
        aborts = (click.exceptions.Abort, getattr(tclick.exceptions, "Abort", click.exceptions.Abort))
        if isinstance(e, aborts):  # typer 0.27's vendored click has no Abort
            print("pfgit: aborted", file=sys.stderr)
            return EXIT_USAGE
        line = f"pfgit: internal error: {type(e).__name__}: {' '.join(str(e).split())}"
        if debug:   # the traceback, and still the documented exit code
            import traceback

            traceback.print_exc(file=sys.stderr)
        print(line if debug else f"{line} (run with --debug for a traceback)", file=sys.stderr)
        return EXIT_USAGE


def run() -> None:  # console-script entry point
    pause_startup()
    code = main()
    # The interpreter's last garbage collection walks every object still alive; after a run
    # imported the openai SDK's pydantic models that cost ~0.3 s of a one-second command. Frozen
    # objects are skipped by it; everything else about exit (atexit, flushing, module teardown)
    # happens as before.
    gc.freeze()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        # what is still buffered would fail again at exit ("Exception ignored ... BrokenPipeError")
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
    sys.exit(code)
