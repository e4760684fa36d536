"""promptflow's CLI is argparse; pfgit's is click. So that pf command lines work unchanged:

- pf's `k=v` options take several values after one flag (`--column-mapping a=x b=y`); click
  takes one per flag. `expand_multi` rewrites argv so both spellings (and repeated flags) work:
  `--column-mapping a=x b=y --name r` -> `--column-mapping a=x --column-mapping b=y --name r`.
  `--environment-variables` may have no value at all in pf (the `.env` file found from the
  current folder up): it becomes `--environment-variables=` (an empty value, see DEFAULT_DOTENV).
- argparse takes any unique prefix of a long option (`--env` for `--environment-variables`, as
  promptflow's own READMEs write it); `expand_abbreviations` spells them out for click."""

from __future__ import annotations

import os

MULTI = ("--column-mapping", "--connections", "--environment-variables", "--inputs", "--tags", "--init", "--set")
MAY_BE_EMPTY = ("--environment-variables",)   # pf's nargs="*": no value means the default .env
DEFAULT_DOTENV = ""                           # that empty value, as the CLI receives it


def expand_abbreviations(argv: list, longs) -> list:
    """argparse's allow_abbrev: a long option given by a prefix that only one of `longs` starts
    with is spelled out (`--env=x` too). Exact names, ambiguous or unknown prefixes, short
    options, values and everything after `--` are left as they are (click reports the bad ones)."""
    out: list = []
    rest = False
    for tok in argv:
        if rest or not tok.startswith("--") or tok == "--":
            rest = rest or tok == "--"
            out.append(tok)
            continue
        name, eq, value = tok.partition("=")
        if name not in longs:
            found = [o for o in longs if o.startswith(name)]
            if len(found) == 1:
                tok = found[0] + eq + value
        out.append(tok)
    return out


def expand_multi(argv: list, flags=MULTI) -> list:
    out: list = []
    cur, used = None, False
    for tok in argv:
        if cur is not None and tok != "--" and not tok.startswith("-"):
            out += [cur, tok]
            used = True
            continue
        if cur is not None and not used:
            # a flag with no value: the default .env for pf's nargs="*" one, else click says so
            out.append(f"{cur}={DEFAULT_DOTENV}" if cur in MAY_BE_EMPTY else cur)
        cur = None
        if tok in flags:
            cur, used = tok, False
            continue
        out.append(tok)
    if cur is not None and not used:
        out.append(f"{cur}={DEFAULT_DOTENV}" if cur in MAY_BE_EMPTY else cur)
    return out


def pairs(items, what: str) -> dict:
    """KEY=VALUE items -> dict (values stay strings, as pf's CLI gives them)."""
    from .errors import RunError

    out = {}
    for it in items or []:
        if "=" not in it:
            raise RunError(f"{what} must be KEY=VALUE, got '{it}'")
        k, v = it.split("=", 1)
        out[k.strip()] = v
    return out


def environment_option(items, cwd: str = ".") -> dict | str:
    """`--environment-variables` as promptflow reads it: KEY=VALUE pairs and `.env` files, mixed
    (later ones win); no value at all (DEFAULT_DOTENV) is the `.env` found in the current folder
    or the nearest parent, up to the repository's top. One file alone stays a path (read when
    the run starts)."""
    from .errors import RunError

    given: list = []          # ("file", path) and ("pair", (key, value)), in order
    for it in items or []:
        if it == DEFAULT_DOTENV:
            found = _nearest_dotenv(os.path.abspath(cwd))
            if found:
                given.append(("file", found))
        elif "=" in it:
            k, v = it.split("=", 1)
            given.append(("pair", (k.strip(), v)))
        elif it.endswith(".env"):
            if not os.path.isfile(it):
                raise RunError("--environment-variables: file not found", file=it)
            given.append(("file", it))
        else:
            raise RunError(f"--environment-variables expects KEY=VALUE or a .env file, got '{it}'")
    if len(given) == 1 and given[0][0] == "file":
        return given[0][1]
    from .environ import read_dotenv

    out: dict = {}
    for kind, v in given:
        if kind == "file":
            out.update(read_dotenv(v))
        else:
            out[v[0]] = v[1]
    return out


def _nearest_dotenv(start: str) -> str | None:
    """The `.env` in `start` or the nearest parent up to the repository's top; outside any
    repository only `start`'s own (climbing would read `/tmp/.env`, anyone's file). A `.env` that
    is a symlink resolving outside the repository is refused: it is a pull request's content."""
    from ..flow.readers import git_top, outside_repository
    from .errors import RunError

    top = git_top(start, resolve=False)
    d = start
    while True:
        p = os.path.join(d, ".env")
        if os.path.isfile(p):
            if top is not None and outside_repository(p, start):
                raise RunError("--environment-variables: the .env found resolves outside the "
                               "repository (give its path to use it)", file=p)
            return p
        parent = os.path.dirname(d)
        if top is None or d == top or parent == d:
            return None          # the repository's top (or no repository): no further up
        d = parent
