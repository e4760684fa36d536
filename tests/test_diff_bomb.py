"""`pfgit diff` (and everything built on its fast parse: the diff driver, history, import-zip's
base search) refuses an alias bomb as validate does, instead of walking 9**9 values for ever."""

from __future__ import annotations

import threading

import pytest

from pfgit.diff.parse import parse_data
from pfgit.diff.tree import diff_flow_bytes
from pfgit.flow.yamlpos import YamlError

LEVELS = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]'] + [
    f"{n}: &{n} [{', '.join(['*' + p] * 9)}]" for p, n in zip("abcdefgh", "bcdefghi")]
BOMB = "\n".join(LEVELS) + "\nnodes: []\n"


def test_the_fast_parse_refuses_an_alias_bomb_and_keeps_small_aliases():
    with pytest.raises(YamlError, match="alias bomb"):
        parse_data(BOMB, min_bytes=0)
    assert parse_data("a: &a [1, 2]\nb: *a\n") == {"a": [1, 2], "b": [1, 2]}


def test_diff_of_an_alias_bomb_is_a_text_diff_and_ends():
    got = []
    t = threading.Thread(daemon=True, target=lambda: got.append(
        diff_flow_bytes("f", "f/flow.dag.yaml", BOMB.encode(), (BOMB + "# x\n").encode())))
    t.start()
    t.join(60)   # milliseconds; walking the expanded values: hours
    assert got, "diff did not end"
    fd = got[0]
    assert fd.status == "unreadable" and "alias bomb" in fd.problems[0][3]
    assert "+# x" in fd.text_diff


def _apply(a: list, diff: list) -> list:
    """Apply unified diff lines to `a` (a check that a diff is valid, not only short)."""
    import re

    out, i = [], 0
    for line in diff[2:]:
        m = re.match(r"@@ -(\d+)(?:,(\d+))? ", line)
        if m:
            start = int(m.group(1)) - (0 if m.group(2) == "0" else 1)
            out += a[i:start]
            i = start
        elif line[0] in " -":
            assert a[i] == line[1:]
            i += 1
            if line[0] == " ":
                out.append(line[1:])
        else:
            out.append(line[1:])
    return out + a[i:]


def test_text_diffs_of_repetitive_files_are_bounded_and_valid(monkeypatch):
    # difflib's matcher is quadratic or worse on a few hundred distinct lines repeated (8,000
    # lines: 4.6 s): a pull request's tool file or unreadable flow file would hang the diff driver
    import difflib

    from pfgit.diff import textdiff
    from pfgit.diff.changes import file_change

    cases = [([], ["x\n"]), (["x\n"], []), (["a\n", "b\n"], ["a\n", "c\n"]),
             ([f"{i}\n" for i in range(50)], [f"{i}\n" for i in range(50) if i % 7]),
             ([f"{i}\n" for i in range(20)], ["new\n"] + [f"{i}\n" for i in range(20)] + ["end\n"])]
    for a, b in cases:   # under the bound: difflib's own output
        assert list(textdiff.unified_diff(a, b, "a/f", "b/f")) == list(difflib.unified_diff(a, b, "a/f", "b/f", n=3))
    monkeypatch.setattr(textdiff, "MAX_PRODUCT", 400)
    head, tail = [f"h{i}\n" for i in range(30)], [f"t{i}\n" for i in range(30)]
    a = head + [f"l{i % 15}\n" for i in range(60)] + tail
    b = head + [f"l{(i * 7) % 16}\n" for i in range(60)] + tail
    diff = file_change(["files", "t.py"], "t.py", "".join(a).encode(), "".join(b).encode()).detail["diff"]
    lines = diff.splitlines(keepends=True)
    assert lines[2] == "@@ -29,65 +29,65 @@\n"    # the middle (after 31 equal lines) replaced whole
    assert _apply(a, lines) == b
    for a2, b2 in cases + [(a, b), (a, list(reversed(b)))]:
        assert _apply(a2, list(textdiff.unified_diff(a2, b2, "a/f", "b/f"))) == b2
