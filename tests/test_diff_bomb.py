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
