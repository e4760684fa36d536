"""Where the real-flow corpus is, and which flows it holds (not a test module).

The corpus is optional: `$PFGIT_CORPUS`, else `../shared/corpus` beside the checkout. Any folder of
Prompt flow flows works, e.g. a checkout of microsoft/promptflow: flows are found by scanning, and
`history/` and `manifest.json` are optional (tests that need them skip on their own).
"""

from __future__ import annotations

import os
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
ENV = "PFGIT_CORPUS"
REQUIRE_ENV = "PFGIT_REQUIRE_CORPUS"  # CI sets it: a missing corpus fails the run instead
DEFAULT = ROOT.parent / "shared" / "corpus"
FLOW_FILES = ("flow.dag.yaml", "flow.dag.yml", "flow.flex.yaml", "flow.flex.yml")
# folders a scan never enters: VCS data, virtualenvs, caches, run records
_SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".runs", ".promptflow",
              ".mypy_cache", ".pytest_cache", ".tox"}

SKIP_REASON = "needs the real-flow corpus"


def configured() -> pathlib.Path:
    """The folder the corpus is looked for in (it may not exist)."""
    env = os.environ.get(ENV, "").strip()
    return pathlib.Path(env).expanduser().resolve() if env else DEFAULT.resolve()


def _walk(root: pathlib.Path):
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if x not in _SKIP_DIRS)
        yield pathlib.Path(d), sorted(files)


def flow_files(root: pathlib.Path) -> list:
    """Every flow file under `root`: DAG and flex flow files, and .prompty files, sorted."""
    out = []
    for d, files in _walk(root):
        out += [d / f for f in files if f in FLOW_FILES or f.endswith(".prompty")]
    return out


def dag_files(root: pathlib.Path) -> list:
    return [f for f in flow_files(root) if f.name in ("flow.dag.yaml", "flow.dag.yml")]


def _has_a_flow(root: pathlib.Path) -> bool:
    for d, files in _walk(root):
        if any(f in FLOW_FILES or f.endswith(".prompty") for f in files):
            return True
    return False


_FOUND: dict = {}


def locate() -> pathlib.Path | None:
    """The corpus folder, or None when it is absent or holds no flow (an empty folder)."""
    root = configured()
    if root not in _FOUND:
        _FOUND[root] = root if root.is_dir() and _has_a_flow(root) else None
    return _FOUND[root]


def how_to_enable() -> str:
    where = configured()
    return (f"no flows at {where}; set {ENV}=DIR (the corpus, or a checkout of "
            "microsoft/promptflow) to run them")


def part(corpus: pathlib.Path, rel: str) -> pathlib.Path:
    """`corpus/rel`, or skip the test when this corpus has no such part (e.g. a promptflow
    checkout has no `history/` or `manifest.json`)."""
    import pytest

    p = corpus / rel
    if not p.exists():
        pytest.skip(f"the corpus at {corpus} has no {rel}")
    return p
