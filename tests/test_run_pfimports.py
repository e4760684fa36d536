"""Which `promptflow` python tools import (pfgit/run/pfimports.py): the compatibility layer when it
covers every import of the flow's sources, the installed package when it does not (or when asked:
PFGIT_PROMPTFLOW_IMPORTS), a clear error naming node, module and `pip install promptflow` without
it. "Not installed" is simulated by patching the installed-check; the real package is in the venv."""

from __future__ import annotations

import ast
import json
import os
import pathlib
import subprocess
import sys

import pytest

import corpus_finder
from pfgit.run import pfimports
from pfgit.run.engine import select
from pfgit.run.engine.dag import DagEngine
from pfgit.run.engine.plan import build_plan
from pfgit.run.errors import RunError
from run_flows import write_flow

ROOT = pathlib.Path(__file__).resolve().parent.parent

PROBE = {
    "flow.dag.yaml": """\
inputs:
  x: {type: string}
outputs:
  probe: {type: object, reference: "${probe.output}"}
nodes:
- name: probe
  type: python
  source: {type: code, path: probe.py}
  inputs: {conn: my_conn, x: "${inputs.x}"}
- name: agg
  type: python
  source: {type: code, path: agg.py}
  inputs: {xs: "${inputs.x}"}
  aggregation: true
""",
    "probe.py": """\
from promptflow.connections import CustomConnection
from promptflow.core import tool
import extra


@tool
def probe(conn: CustomConnection, x: str) -> dict:
    return {"tool": tool.__module__.split(".")[0], "conn": type(conn).__module__.split(".")[0],
            "isinstance": isinstance(conn, CustomConnection), "key": conn.secrets["k"], "x": x,
            "extra": extra.WHAT}
""",
    "extra.py": "WHAT = 'plain'\n",
    "agg.py": """\
from promptflow.core import log_metric, tool


@tool
def agg(xs: list):
    log_metric("n", len(xs))
""",
}
# a helper module the tool imports needs something the layer lacks: the whole flow gets the package
UNCOVERED_EXTRA = "from promptflow.contracts.types import Secret\n\nWHAT = Secret.__module__.split('.')[0]\n"


def _conn(name):
    if name != "my_conn":
        raise KeyError(name)
    return {"name": name, "type": "custom", "configs": {"base": "b"}, "secrets": {"k": "s3"}}


def _run(flow):
    eng = DagEngine(build_plan(str(flow), get_connection=_conn))
    try:
        res = eng.run_line({"x": "hi"}, 0)
        assert res.ok, res.error
        return res.outputs["probe"], eng.run_aggregation([res]), eng.plan.modules.real
    finally:
        eng.close()


def _scan(src: str):
    return pfimports.scan_module(ast.parse(src))[0]


def test_scan_tells_covered_imports_from_the_rest():
    covered = ("from promptflow.core import tool, log_metric\nfrom promptflow import tool\n"
               "from promptflow.connections import CustomConnection, AzureOpenAIConnection\n"
               "from promptflow.tracing import trace, start_trace\nimport promptflow.core as pfc\n"
               "x = pfc.tool\nif __name__ == '__main__':\n    from promptflow.client import PFClient\n")
    assert _scan(covered) == []
    assert _scan("from promptflow.tools.common import parse_chat\n") == [(1, "promptflow.tools.common")]
    assert _scan("from promptflow.core import tool, Prompty\n") == [(1, "promptflow.core.Prompty")]
    assert _scan("from promptflow.core import trace\n") == [(1, "promptflow.core.trace")]  # real lacks it too
    assert _scan("def f():\n    import promptflow.rag\n") == [(2, "promptflow.rag")]
    assert _scan("import promptflow\n\ny = promptflow.tools.common.render_jinja_template\n") == \
        [(3, "promptflow.tools")]
    assert _scan("from promptflow.connections import *\n") == [(1, "promptflow.connections")]


CORPUS_FLOW = "examples/tools/use-cases/custom-strong-type-connection-script-tool-showcase"


def _corpus_conn(name):
    assert name == "normal_custom_connection"
    return {"name": name, "type": "custom", "configs": {"api_base": "test"}, "secrets": {"api_key": "k"}}


def _modes(tmp: str, corpus: str) -> dict:
    """Run in a child process (importing promptflow there keeps it out of the test process)."""
    flow = write_flow(pathlib.Path(tmp) / "covered", PROBE)
    out = {}
    for mode in ("real", "compat"):     # compat after real: the imported package is set aside
        os.environ["PFGIT_PROMPTFLOW_IMPORTS"] = mode
        out[mode] = _run(flow)
    out["compat_left_real_loaded"] = pfimports.real_loaded()
    os.environ["PFGIT_PROMPTFLOW_IMPORTS"] = "auto"
    out["auto_uncovered"] = _run(write_flow(pathlib.Path(tmp) / "uncovered",
                                            dict(PROBE, **{"extra.py": UNCOVERED_EXTRA})))
    if corpus:  # its tool imports promptflow.contracts.types; a strong-typed connection parameter
        eng = DagEngine(build_plan(os.path.join(corpus, CORPUS_FLOW), get_connection=_corpus_conn))
        try:
            out["corpus"] = [eng.plan.modules.real, eng.run_line({"text": "C Hello World!"}, 0).outputs]
        finally:
            eng.close()
    return out


def test_compat_real_and_auto(tmp_path, monkeypatch):
    flow = write_flow(tmp_path / "covered", PROBE)
    monkeypatch.setattr(pfimports, "real_loaded", lambda: False)   # as in a fresh pfgit process
    monkeypatch.setenv("PFGIT_PROMPTFLOW_IMPORTS", "auto")
    out, metrics, real = _run(flow)      # every import covered: the layer, nothing else printed
    assert not real and out["tool"] == out["conn"] == "pfgit" and out["isinstance"] and out["key"] == "s3"
    assert metrics == ({"n": 1}, None)
    monkeypatch.setenv("PFGIT_PROMPTFLOW_IMPORTS", "sometimes")
    with pytest.raises(RunError, match="PFGIT_PROMPTFLOW_IMPORTS='sometimes'"):
        build_plan(str(flow), get_connection=_conn)

    corpus = corpus_finder.locate()
    code = ("import json, sys, test_run_pfimports as t; "
            "print(json.dumps(t._modes(sys.argv[1], sys.argv[2]), default=list))")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]))
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path), str(corpus or "")], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    real_out, real_metrics, real = got["real"]
    assert real and real_out == {"tool": "promptflow", "conn": "promptflow", "isinstance": True, "key": "s3",
                                 "x": "hi", "extra": "plain"}
    assert real_metrics == [{"n": 1}, None]   # the real log_metric reaches the run's metrics
    compat_out, _, real = got["compat"]
    assert not real and compat_out["tool"] == compat_out["conn"] == "pfgit" and compat_out["isinstance"]
    assert got["compat_left_real_loaded"]      # set aside while the flow ran, then put back
    auto_out, _, real = got["auto_uncovered"]  # decided by the helper module's import, before running
    assert real and auto_out["tool"] == auto_out["conn"] == auto_out["extra"] == "promptflow"
    assert auto_out["isinstance"]
    if corpus is not None:   # a corpus flow importing promptflow.contracts: the package, and it runs
        assert got["corpus"] == [True, {"my_output": "Hello C Hello World!"}]


def test_without_promptflow_installed(tmp_path, monkeypatch):
    monkeypatch.setattr(select, "promptflow_installed", lambda: False)
    monkeypatch.setattr(pfimports, "real_loaded", lambda: False)
    monkeypatch.delenv("PFGIT_PROMPTFLOW_IMPORTS", raising=False)
    flow = write_flow(tmp_path / "uncovered", dict(PROBE, **{"extra.py": UNCOVERED_EXTRA}))
    with pytest.raises(RunError) as e:
        build_plan(str(flow), get_connection=_conn)
    assert e.value.message == ("node 'probe' imports promptflow.contracts.types, which pfgit's promptflow "
                               "compatibility layer does not provide; promptflow is not installed: "
                               "pip install promptflow")
    assert e.value.file.endswith("extra.py") and e.value.line == 1
    monkeypatch.setenv("PFGIT_PROMPTFLOW_IMPORTS", "real")
    with pytest.raises(RunError, match="PFGIT_PROMPTFLOW_IMPORTS=real but promptflow is not installed"):
        build_plan(str(flow), get_connection=_conn)
    # an import no scan can see fails its line, naming the node and what to install
    monkeypatch.setenv("PFGIT_PROMPTFLOW_IMPORTS", "auto")
    dyn = "import importlib\n\nWHAT = 'x'\n\ndef load():\n    return importlib.import_module('promptflow.' + 'rag')\n"
    probe = PROBE["probe.py"].replace('"extra": extra.WHAT', '"extra": extra.load()')
    flow = write_flow(tmp_path / "dynamic", dict(PROBE, **{"extra.py": dyn, "probe.py": probe}))
    eng = DagEngine(build_plan(str(flow), get_connection=_conn))
    try:
        err = eng.run_line({"x": "hi"}, 0).error
    finally:
        eng.close()
    assert err.node == "probe" and "No module named 'promptflow.rag' in pfgit's promptflow compatibility " \
        "layer (pip install promptflow" in err.message
