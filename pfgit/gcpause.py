"""Pausing Python's cyclic garbage collector while one flow is parsed, diffed or merged.

Reading a big flow allocates hundreds of thousands of objects that all stay alive; each collection
the allocations trigger walks every one of them again, so the collector's work grew faster than
the flow (a 10,000-node merge: 18 s of CPU, 6 s without it). The data built here holds no
reference cycles worth collecting early; whatever garbage there is is collected when the
collector runs again after the pause.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def gc_paused() -> Iterator[None]:
    """No automatic collection inside the block (nesting and an already disabled GC are fine)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


# ---- a command's start-up ----------------------------------------------------------------------
_startup = False


def pause_startup() -> None:
    """No automatic collection while a command starts (the `pfgit` entry point calls this first).
    Importing modules allocates mostly objects that live as long as the process, and a
    `pfgit run` of an LLM flow spent ~75 ms of its ~0.5 s start-up in ~130 collections of them
    (one full collection alone ~40 ms). `end_startup` turns collection back on."""
    global _startup
    if gc.isenabled():
        gc.disable()
        _startup = True


def end_startup(freeze: bool = False) -> None:
    """Collections back on, if `pause_startup` turned them off (else nothing changes: library
    callers keep their own settings). `freeze` first moves everything alive out of the
    collector's sight (gc.freeze): a batch's later full collections, in this process or in
    worker processes forked from it, walked the whole start-up (the openai SDK's models,
    ~40 ms holding the GIL) again, and forked workers keep those pages shared."""
    global _startup
    if _startup:
        _startup = False
        if freeze:
            gc.freeze()
        gc.enable()
