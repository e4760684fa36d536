"""A tiny self-contained flow repository for the security and run-store tests (no corpus needed)."""

from __future__ import annotations

import json
import pathlib

from runs_helpers import git  # noqa: F401  (re-exported for the security tests)

FLOW = """inputs:
  q: {type: string}
outputs:
  a: {type: string, reference: "${echo.output}"}
nodes:
- name: echo
  type: python
  source: {type: code, path: echo.py}
  inputs: {q: "${inputs.q}"}
"""
ECHO = "from promptflow.core import tool\n\n\n@tool\ndef echo(q: str) -> str:\n    return q\n"


def make_flow_repo(tmp_path: pathlib.Path, name: str = "repo") -> pathlib.Path:
    """`flow/` (one python node) committed on main."""
    repo = tmp_path / name
    (repo / "flow").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    (repo / "flow" / "flow.dag.yaml").write_text(FLOW)
    (repo / "flow" / "echo.py").write_text(ECHO)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "add flow")
    return repo


def lines(*objs) -> list:
    return [json.dumps(o) for o in objs]
