"""pf's `k=v` options take several values after one flag (`--column-mapping a=x b=y`); click
takes one per flag. `expand_multi` rewrites argv so both spellings (and repeated flags) work:
`--column-mapping a=x b=y --name r` -> `--column-mapping a=x --column-mapping b=y --name r`."""

from __future__ import annotations

MULTI = ("--column-mapping", "--connections", "--environment-variables", "--inputs", "--tags", "--init")


def expand_multi(argv: list, flags=MULTI) -> list:
    out: list = []
    cur, used = None, False
    for tok in argv:
        if cur is not None and tok != "--" and not tok.startswith("-"):
            out += [cur, tok]
            used = True
            continue
        if cur is not None and not used:
            out.append(cur)     # a flag with no value: let click say so
        cur = None
        if tok in flags:
            cur, used = tok, False
            continue
        out.append(tok)
    if cur is not None and not used:
        out.append(cur)
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
