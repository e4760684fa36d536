"""pf command lines of the corpus READMEs, and parsing a pfgit command line without running it
(tests/test_pf_command_lines.py, tests/test_pf_aliases.py)."""

from __future__ import annotations

import re
import shlex


def readme_command_lines(corpus, pattern: str):
    """(README, pf's subcommand words, the rest of the line as argv) for every match of `pattern`
    (group 1: the subcommand words after `pf `, group 2: the rest) in the corpus READMEs. Line
    continuations are joined, `$name` / `${name}` become `name`, a comment or pipe ends the line;
    a line shlex cannot split is skipped."""
    pat = re.compile(r"pf (" + pattern + r")((?:[^`\n\\]|\\\n)*)")
    for md in sorted(corpus.rglob("*.md")):
        for m in pat.finditer(md.read_text(encoding="utf-8", errors="replace")):
            rest = re.sub(r"\$\{?(\w+)\}?(?!\w*\.)", r"\1", m.group(2).replace("\\\n", " "))
            try:
                words = shlex.split(rest.split("#")[0].split("|")[0])
            except ValueError:
                continue
            yield md, m.group(1), words


def parse_error(group, args: list) -> str | None:
    """click's parse of the pfgit argv `args` by the (sub)command it names in `group` (nothing
    runs): None when it parses, else click's message."""
    args = list(args)
    sub, path = group, []
    while args and args[0] in getattr(sub, "commands", {}):
        path.append(args[0])
        sub = sub.commands[args.pop(0)]
    try:
        sub.make_context(" ".join(path), args, resilient_parsing=False)
    except Exception as e:              # click's UsageError: an option pfgit does not take
        return str(e)
    return None
