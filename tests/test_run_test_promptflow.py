"""`pfgit test` through the installed promptflow (`--engine promptflow`, and `auto` when a node
needs it): same result shape as the built-in engine, on a temporary copy of the flow (nothing
written into the flow folder), in a child process with a throw-away HOME."""

from __future__ import annotations

import json
import shutil

import pytest

from pfgit.cli.main import main
from pfgit.run.engine import select
from pfgit.run.spec import RunSpec
from pfgit.run.testline import TestResult as LineTestResult, test_flow as run_test_flow
from run_flows import BASIC, FLEX_CLASS, FLEX_FUNC, files_under, write_flow

needs_pf = pytest.mark.skipif(not select.promptflow_installed(), reason="promptflow is not installed")


def _test_json(capsys, *args) -> tuple[int, dict]:
    code = main(["test", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def _same_shape(a: dict, b: dict) -> None:
    """Equal results apart from timings."""
    for d in (a, b):
        d.pop("duration")
        for n in d["nodes"]:
            n.pop("duration")
    assert a == b


@needs_pf
def test_promptflow_engine_same_output_as_builtin(tmp_path, capsys):
    flow = write_flow(tmp_path / "basic", BASIC)
    before = files_under(flow)
    code = main(["test", "--flow", str(flow), "--inputs", "text=yo", "y=1", "--engine", "promptflow", "--json"])
    cap = capsys.readouterr()
    pf = json.loads(cap.out)
    assert code == 0 and pf["outputs"] == {"shout": "YO", "joined": "YO YO"}
    assert cap.err == "pfgit: warning: input 'y' is not an input of the flow, ignored (inputs: text, n)\n"
    assert files_under(flow) == before            # promptflow tested a copy: no .promptflow/, __pycache__
    code, builtin = _test_json(capsys, "--flow", str(flow), "--inputs", "text=yo", "--engine", "builtin")
    assert code == 0
    assert [n["node"] for n in pf["nodes"]] == ["upper", "repeat"]
    _same_shape(pf, builtin)                      # outputs, node records, metrics {"n_lines": 1, ...}


@needs_pf
def test_promptflow_engine_on_a_corpus_flow(tmp_path, corpus, capsys):
    flow = tmp_path / "flow"
    shutil.copytree(corpus / "examples/flows/evaluation/eval-classification-accuracy", flow)
    before = files_under(flow)
    args = ["--flow", str(flow), "--inputs", "groundtruth=App", "prediction=APP"]
    code, pf = _test_json(capsys, *args, "--engine", "promptflow")
    assert code == 0 and files_under(flow) == before
    assert pf["outputs"] == {"grade": "Correct"} and pf["metrics"] == {"accuracy": 1.0}  # aggregation ran
    _, builtin = _test_json(capsys, *args, "--engine", "builtin")
    _same_shape(pf, builtin)


def test_auto_tests_through_promptflow_when_a_node_needs_it(tmp_path, monkeypatch):
    from pfgit.run.engine import promptflow as pfe

    flow = write_flow(tmp_path / "pkg", {"flow.dag.yaml": (
        "inputs:\n  text: {type: string}\noutputs:\n  o: {type: string, reference: '${lookup.output}'}\n"
        "nodes:\n- name: lookup\n  type: python\n  source:\n    type: package\n"
        "    tool: promptflow_vectordb.tool.common_index_lookup.search\n  inputs:\n    queries: ${inputs.text}\n")})
    seen = []
    monkeypatch.setattr(select, "promptflow_installed", lambda: True)
    monkeypatch.setattr(pfe, "test_line", lambda spec, inputs, node: seen.append((spec.engine, inputs, node)) or
                        {"outputs": {"o": "x"}, "error": None, "nodes": [], "metrics": {}})
    res = run_test_flow(RunSpec(flow=str(flow)), {"text": "q"})
    assert isinstance(res, LineTestResult) and res.ok and res.outputs == {"o": "x"}
    assert seen == [("auto", {"text": "q"}, None)]


def test_unknown_inputs_are_named_whatever_the_engine(tmp_path, monkeypatch, capsys):
    # the promptflow path has no built-in plan: the flow's inputs come from pfgit's flow loader
    from pfgit.run.engine import promptflow as pfe

    flow = write_flow(tmp_path / "basic", BASIC)
    monkeypatch.setattr(select, "promptflow_installed", lambda: True)
    monkeypatch.setattr(pfe, "test_line", lambda spec, inputs, node:
                        {"outputs": {"joined": "x"}, "error": None, "nodes": [], "metrics": {}})
    want = "pfgit: warning: input 'txet' is not an input of the flow (did you mean text?), ignored (inputs: text, n)\n"
    for engine in ("promptflow", "builtin"):
        assert main(["test", "--flow", str(flow), "--inputs", "text=hi", "txet=x", "--engine", engine]) == 0
        assert capsys.readouterr().err == want, engine
    assert run_test_flow(RunSpec(flow=str(flow), engine="promptflow"), {"text": "hi", "n": 2}).warnings == []
    prompty = write_flow(tmp_path / "p", {"p.prompty": "---\nmodel: {api: chat}\nsample: {question: q}\n---\nuser: {{question}}\n"})
    res = run_test_flow(RunSpec(flow=str(prompty), engine="promptflow"), {"question": "q", "qestion": "x"})
    assert res.warnings == ["input 'qestion' is not an input of the flow (did you mean question?), ignored "
                            "(inputs: question)"]


def test_flex_flows_without_declared_inputs_warn_alike_whatever_the_engine(tmp_path, monkeypatch, capsys):
    # the entry's signature is read from its source (not imported) for the promptflow engine
    from pfgit.run.engine import promptflow as pfe

    monkeypatch.setattr(select, "promptflow_installed", lambda: True)
    monkeypatch.setattr(pfe, "test_line", lambda spec, inputs, node:
                        {"outputs": {"x": 1}, "error": None, "nodes": [], "metrics": {}})
    func = write_flow(tmp_path / "func", FLEX_FUNC)
    cls = write_flow(tmp_path / "cls", FLEX_CLASS)
    for flow, args, want in (
            (func, ["text=hi", "txet=x"], "input 'txet' is not an input of the flow (did you mean "
                                          "text?), ignored (inputs: text, n)"),
            (cls, ["word=a", "wrod=b", "--init", "prefix=p"],
             "input 'wrod' is not an input of the flow (did you mean word?), ignored (inputs: word)")):
        for engine in ("promptflow", "builtin"):
            assert main(["test", "--flow", str(flow), "--inputs", *args, "--engine", engine]) == 0
            assert capsys.readouterr().err == f"pfgit: warning: {want}\n", (flow, engine)
    assert run_test_flow(RunSpec(flow=str(func), engine="promptflow"), {"text": "hi"}).warnings == []



def test_a_batch_run_through_promptflow_names_unknown_column_mappings_like_builtin(tmp_path, monkeypatch):
    # the built-in engine warns (mapping.py); the promptflow path said nothing
    from pfgit.run.batch import run_batch
    from pfgit.run.engine import promptflow as pfe
    from run_flows import make_repo, quiet_console, write_jsonl

    repo = make_repo(tmp_path, {"func": FLEX_FUNC})
    write_jsonl(repo / "d.jsonl", [{"text": "a"}])
    monkeypatch.chdir(repo)
    monkeypatch.setattr(select, "promptflow_installed", lambda: True)

    def fake_run(spec, writer):
        writer.line(0, {"text": "a"}, {"upper": "A"}, None)
        writer.metrics({})
        return pfe.PromptflowRun({}, [])

    monkeypatch.setattr(pfe, "run", fake_run)
    for engine in ("promptflow", "builtin"):
        con = quiet_console()
        run_batch(RunSpec(flow="func", data="d.jsonl", engine=engine, name=f"r-{engine}",
                          column_mapping={"text": "${data.text}", "txet": "${data.text}"}), con)
        assert ("column mapping of input 'txet' is not an input of the flow (did you mean text?), "
                "ignored (inputs: text, n)") in con.lines, engine
