"""Large and pathological (but legal) flows: what grew faster than the flow, or crashed."""

from __future__ import annotations

import gc

import pytest

from pfgit.gcpause import gc_paused
from pfgit.merge.files import merge_bytes


def test_gc_is_paused_inside_and_restored_after_even_on_error():
    assert gc.isenabled()
    with pytest.raises(ValueError):
        with gc_paused():
            assert not gc.isenabled()
            with gc_paused():   # nested: the outer pause decides
                pass
            assert not gc.isenabled()
            raise ValueError
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()   # a caller's own choice is left alone
    finally:
        gc.enable()


def test_a_merge_leaves_the_collector_on():
    base = b"inputs: {}\nnodes:\n- name: a\n  type: python\n"
    merge_bytes(base, base.replace(b"python", b"llm"), base + b"outputs: {}\n")
    assert gc.isenabled()
