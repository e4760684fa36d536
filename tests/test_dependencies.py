"""Every declared runtime dependency is imported for what it does best, and the heavy ones only
when needed (git hooks start pfgit on every commit)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import flows

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMPORT_NAME = {"pyyaml": "yaml", "sqlite-utils": "sqlite_utils"}


def _declared() -> list:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import pytest

        tomllib = pytest.importorskip("tomli")
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        deps = tomllib.load(f)["project"]["dependencies"]
    return [re.split(r"[<>=!~;\[ ]", d, maxsplit=1)[0].lower() for d in deps]


def test_every_declared_dependency_is_imported():
    source = ""
    for d, _, files in os.walk(os.path.join(ROOT, "pfgit")):
        for f in files:
            if f.endswith(".py"):
                source += open(os.path.join(d, f), encoding="utf-8").read()
    for dep in _declared():
        mod = IMPORT_NAME.get(dep, dep.replace("-", "_"))
        # a plain import, or one through pfgit.lazyimport (which hides pandas/numpy from it)
        pattern = rf"^\s*(import|from) {re.escape(mod)}\b|import_without\(\"{re.escape(mod)}\"\)"
        assert re.search(pattern, source, re.M), f"{dep} is never imported"


def _modules_after_validate(path) -> set:
    code = ("import sys; from pfgit.validate.command import main; main([sys.argv[1]]); "
            "print(' '.join(sorted(m.split('.')[0] for m in sys.modules)), file=sys.stderr)")
    p = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    return set(p.stderr.split()), p.stdout


def test_networkx_finds_cycles_and_loads_only_when_a_flow_has_one(tmp_path):
    d = flows.write(tmp_path / "f", flows.IF_ELSE)
    mods, out = _modules_after_validate(d)
    assert out.endswith("no problems\n") and "networkx" not in mods
    dag = d / "flow.dag.yaml"
    dag.write_text(dag.read_text().replace("text: ${inputs.question}", "text: ${generate_result.output}"))
    mods, out = _modules_after_validate(d)
    assert "networkx" in mods
    assert ("error cycle [content_safety_check] circular dependency among 4 nodes 'content_safety_check', "
            "'default_result', 'generate_result', 'llm_result'") in out
