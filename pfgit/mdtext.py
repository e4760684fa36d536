"""Untrusted text in the Markdown pfgit prints for pull-request comments (`check --markdown`,
`diff --markdown`, `log --markdown`, `metrics diff --markdown`).

Node names, paths, messages, metric names and line outputs come from pull requests and fetched
runs; pasted into a bot's comment they must read as the text they are, never as HTML (an image
that tracks readers), a link, a mention that notifies someone, emphasis, or a table cell border.
`md_code` makes a value an inline code span (literal by Markdown's rules); `md_text` escapes
prose that mixes pfgit's words with such values.
"""

from __future__ import annotations

import re

_TICKS = re.compile("`+")
_PUNCT = re.compile(r"([\\`*_\[\]|~#!])")
_LINK = re.compile(r"(?i)(://|www\.)")
_JOIN = "\u2060"   # WORD JOINER: invisible, and breaks GitHub's @mention and URL autolinking


def _one_line(value) -> str:
    return " ".join(str(value).splitlines()).strip("\n")


def md_code(value, cell: bool = True) -> str:
    """`value` as a code span: a fence longer than any run of backticks inside, `|` escaped
    where the span sits in a table cell (GFM reads `\\|` there as `|`); empty -> empty."""
    s = _one_line(value)
    if not s.strip():
        return ""
    fence = "`" * (max((len(t) for t in _TICKS.findall(s)), default=0) + 1)
    pad = " " if s[0] in "` " or s[-1] in "` " else ""
    if cell:
        s = s.replace("|", "\\|")
    return f"{fence}{pad}{s}{pad}{fence}"


def md_text(value) -> str:
    """`value` as plain text in a paragraph or table cell: HTML characters as entities,
    Markdown punctuation backslash-escaped, mentions and bare URLs broken invisibly."""
    s = _one_line(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = _PUNCT.sub(r"\\\1", s)
    s = s.replace("@", "@" + _JOIN)
    return _LINK.sub(lambda m: m.group(1)[:-1] + _JOIN + m.group(1)[-1], s)
