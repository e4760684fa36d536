"""Writing new YAML lines in a given indentation style (for values neither side's text holds).

Block style throughout, like real flows; scalars are quoted exactly as PyYAML would (so `'256'`
stays a string). `${...}` is plain in block context but always quoted inside `{...}`/`[...]`, where
unquoted braces do not parse. Conflicts met inside a value are written by the caller's hook.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable

import yaml

from .layout import Style


@lru_cache(maxsize=4096)
def _plain(value_type: type, value: Any) -> str:
    text = yaml.safe_dump(value, width=float("inf"), allow_unicode=True, default_flow_style=False)
    if text.endswith("\n...\n"):
        text = text[:-5]
    return text.rstrip("\n")


def _flow_scalar(value: Any) -> str:
    text = yaml.safe_dump([value], width=float("inf"), allow_unicode=True, default_flow_style=True)
    return text.strip()[1:-1]


def scalar(value: Any) -> str | None:
    """One-line YAML for a scalar in block context, or None when it needs several lines."""
    if isinstance(value, str) and "\n" in value:
        return None
    try:
        text = _plain(type(value), value)
    except TypeError:  # unhashable cannot happen for scalars; be safe
        text = yaml.safe_dump(value, width=float("inf"), allow_unicode=True).rstrip("\n")
    return None if "\n" in text else text


def _literal(value: str, col: int) -> list | None:
    """A multi-line string as a `|` block scalar, if it can be written that way."""
    if "\r" in value or any(not (c.isprintable() or c in "\n\t") for c in value):
        return None
    body = value.rstrip("\n")
    trailing = len(value) - len(body)
    if not body or body[0] in " \t" or any(ln != ln.rstrip(" \t") for ln in body.split("\n")):
        return None
    head = "|" + {0: "-", 1: ""}.get(trailing, "+")
    pad = " " * col
    return [head] + [pad + ln if ln else "" for ln in body.split("\n")] + [""] * max(0, trailing - 1)


class Emitter:
    def __init__(self, style: Style, conflict_hook: Callable | None = None):
        self.style = style
        self.conflict_hook = conflict_hook  # (conflict, key_or_None, col, as_item) -> lines

    def key_value(self, key: Any, value: Any, col: int) -> list:
        """Lines for `key: value` with the key at `col`."""
        from .decide import Conflict

        pad = " " * col
        k = scalar(key) or _flow_scalar(key)
        if isinstance(value, Conflict):
            return self.conflict_hook(value, key, col, False)
        if isinstance(value, dict) and value:
            return [f"{pad}{k}:"] + self.mapping(value, col + self.style.map_indent)
        if isinstance(value, list) and value:
            return [f"{pad}{k}:"] + self.sequence(value, col + self.style.seq_indent)
        return self._scalar_lines(f"{pad}{k}: ", value, col + self.style.map_indent)

    def _scalar_lines(self, prefix: str, value: Any, content_col: int) -> list:
        """`prefix` + a scalar (or empty collection): one line, or a `|` block at content_col."""
        one = self._inline(value)
        if one is not None:
            return [prefix + one]
        lit = _literal(value, content_col)
        if lit is not None:
            return [prefix + lit[0]] + lit[1:]
        return [prefix + _flow_scalar(value)]

    def mapping(self, value: dict, col: int) -> list:
        out: list = []
        for k, v in value.items():
            out += self.key_value(k, v, col)
        return out

    def item(self, value: Any, dash_col: int) -> list:
        """Lines for one sequence item `- value` with the dash at `dash_col`."""
        from .decide import Conflict

        if isinstance(value, Conflict):
            return self.conflict_hook(value, None, dash_col, True)
        pad = " " * dash_col
        if isinstance(value, dict) and value:
            lines = self.mapping(value, dash_col + self.style.seq_offset)
            return [pad + "-" + lines[0][dash_col + 1:]] + lines[1:]
        if isinstance(value, list) and value:
            return [pad + "-"] + self.sequence(value, dash_col + self.style.seq_offset)
        return self._scalar_lines(f"{pad}- ", value, dash_col + self.style.seq_offset)

    def sequence(self, value: list, dash_col: int) -> list:
        out: list = []
        for v in value:
            out += self.item(v, dash_col)
        return out

    def _inline(self, value: Any) -> str | None:
        if isinstance(value, dict) and not value:
            return "{}"
        if isinstance(value, list) and not value:
            return "[]"
        if isinstance(value, (dict, list)):
            return None
        return scalar(value)


def flow_inline(value: Any) -> str | None:
    """A small mapping/list of scalars as one `{a: 1, b: "${x.output}"}` line, else None."""
    if isinstance(value, dict):
        if any(isinstance(v, (dict, list)) for v in value.values()):
            return None
        return "{" + ", ".join(f"{_flow_key(k)}: {_flow_scalar(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        if any(isinstance(v, (dict, list)) for v in value):
            return None
        return "[" + ", ".join(_flow_scalar(v) for v in value) + "]"
    return None


def _flow_key(key: Any) -> str:
    return _flow_scalar(key)
