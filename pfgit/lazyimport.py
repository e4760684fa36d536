"""Importing a library without the heavy optional packages it would pull in.

sqlite-utils and deepdiff import pandas and numpy when they are installed (promptflow installs
them), which costs ~0.5 s of a command's start; neither needs them for what pfgit asks of it."""

from __future__ import annotations

import importlib
import sys

HEAVY = ("pandas", "numpy")


def import_without(name: str, heavy: tuple = HEAVY):
    """`importlib.import_module(name)` with `heavy` hidden (unless already imported)."""
    blocked = [m for m in heavy if m not in sys.modules]
    for m in blocked:
        sys.modules[m] = None  # makes `import m` raise ImportError: the library's fallback runs
    try:
        return importlib.import_module(name)
    finally:
        for m in blocked:
            sys.modules.pop(m, None)
