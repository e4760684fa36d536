"""Argument parsing for the light entries (`pfgit log`, `pfgit blame`): the subset of click's
behaviour those commands use, with click's messages, without importing it (start-up time)."""

from __future__ import annotations

from .errors import UsageError


def parse(argv: list, opts: dict, options: dict, labels: dict | None = None) -> dict | None:
    """Fill `opts` from `argv` (None for -h/--help). `options` maps an option name to (key, kind),
    kind one of bool (a flag), str, int, list (repeatable str); the one positional goes to
    opts["path"]. `-n5` works for a one-letter int option; `--name=value` for every valued one.
    `labels` names an option in messages (e.g. "'-n' / '--max-count')."""
    it = iter(argv)
    rest = False
    labels = labels or {}

    def value(name: str, inline: str | None) -> str:
        if inline is not None:
            return inline
        try:
            return next(it)
        except StopIteration:
            raise UsageError(f"Option '{name}' requires an argument.") from None

    for a in it:
        name, _, inline = a.partition("=") if a.startswith("--") and "=" in a else (a, "", None)
        short = a[:2] if len(a) > 2 and not a.startswith("--") and options.get(a[:2], (0, 0))[1] is int else None
        if rest or not a.startswith("-") or a == "-":
            if opts.get("path") is not None:
                raise UsageError(f"Got unexpected extra argument ({a})")
            opts["path"] = a
        elif a == "--":
            rest = True
        elif a in ("-h", "--help"):
            return None
        elif name in options or short:
            key, kind = options[short or name]
            if kind is bool:
                opts[key] = True
                continue
            raw = a[2:] if short else value(name, inline)
            if kind is int:
                try:
                    opts[key] = int(raw)
                except ValueError:
                    label = labels.get(key, f"'{name}'")
                    raise UsageError(f"Invalid value for {label}: '{raw}' is not a valid integer.") from None
            elif kind is list:
                opts[key].append(raw)
            else:
                opts[key] = raw
        else:
            from .errors import no_such

            raise no_such("option", a, list(options) + ["-h", "--help"])
    return opts
