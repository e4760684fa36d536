"""Errors that end a command with a documented exit code and a one-line message.

Exit codes (docs/cli.md): 0 success, 1 "no" (problems, conflicts, gate failed), 2 usage error or
unreadable input.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_NO = 1
EXIT_USAGE = 2


class PfgitError(Exception):
    """A user-facing error: rendered as `pfgit: <file>[:<line>]: <message>`."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, file: str | None = None, line: int | None = None,
                 exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        if exit_code is not None:
            self.exit_code = exit_code

    def one_line(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        msg = " ".join(str(self.message).split())
        return f"pfgit: {where}{msg}"

    def report(self, debug: bool = False) -> int:
        """Print the one-line message to stderr (after the traceback with --debug / PFGIT_DEBUG=1)
        and return the exit code: --debug shows more, it never changes the exit code."""
        import sys

        if debug:
            import traceback

            traceback.print_exc(file=sys.stderr)
        print(self.one_line(), file=sys.stderr)
        return self.exit_code


class UsageError(PfgitError):
    """Bad arguments or a path that does not exist."""


class ReadError(PfgitError):
    """A file that cannot be read or parsed at all."""


def no_such(kind: str, word: str, known) -> UsageError:
    """`no such option: --metirc (did you mean --metric?)`: one wording, with the near names, for
    typer's commands and the light entries' own parsers alike."""
    return UsageError(f"no such {kind}: {word}{near_hint(word.split('=', 1)[0], known)}")


def near_hint(word: str, known) -> str:
    """` (did you mean a or b?)` for the names of `known` close to `word`, else ''."""
    import difflib

    near = difflib.get_close_matches(word, sorted(set(known)), n=3, cutoff=0.6)
    return f" (did you mean {' or '.join(near)}?)" if near else ""


def unknown_inputs(given, declared, what: str = "input") -> str | None:
    """The warning for names in `given` that are not among `declared` (the flow's inputs), or
    None: promptflow ignores such names without a word, pfgit runs the same and says so."""
    declared = list(declared)
    bad = [k for k in given if k not in declared and k != "line_number"]
    if not bad:
        return None
    hints = "".join(near_hint(k, declared) for k in bad[:1]) if len(bad) == 1 else ""
    return (f"{what}{'s' if len(bad) > 1 else ''} {', '.join(repr(k) for k in bad)} "
            f"{'are' if len(bad) > 1 else 'is'} not an input of the flow{hints}, ignored "
            f"(inputs: {', '.join(declared) or 'none'})")
