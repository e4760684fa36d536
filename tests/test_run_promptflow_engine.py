"""The promptflow engine's conversions, without running promptflow: line records and errors read
from a promptflow run folder, and an evaluation run's base run joined into the data."""

from __future__ import annotations

import json

from pfgit.run.batch import Console, run_batch
from pfgit.run.engine import promptflow as pfe
from pfgit.run.spec import RunSpec
from run_flows import BASIC, EVAL, make_repo, write_jsonl


def test_lines_and_errors_from_a_run_folder(tmp_path):
    art = tmp_path / "flow_artifacts"
    art.mkdir()
    err = {"message": "Execution failure in 'up': (ValueError) bad line", "messageParameters": {"node_name": "up"},
           "code": "UserError", "innerError": {"code": "ToolExecutionError", "innerError": None},
           "additionalInfo": [{"type": "ToolExecutionErrorDetails", "info": {"type": "ValueError", "message": "bad line"}}]}
    recs = [{"line_number": 0, "run_info": {"status": "Completed", "inputs": {"text": "a", "line_number": 0},
                                            "output": {"out": "A"}, "error": None}},
            {"line_number": 1, "run_info": {"status": "Failed", "inputs": {"text": "bad", "line_number": 1},
                                            "output": None, "error": err}}]
    (art / "000000000_000000001.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs) + "{broken\n")
    assert pfe._lines(str(tmp_path)) == {
        0: ({"text": "a"}, {"out": "A"}, None),
        1: ({"text": "bad"}, None, {"type": "ValueError", "node": "up",
                                    "message": "Execution failure in 'up': (ValueError) bad line"})}
    assert pfe._error({"message": "m", "code": "UserError", "innerError": {"code": "InputNotFound"}}, "Failed") == \
        {"type": "InputNotFound", "message": "m", "node": None}


def test_eval_base_run_joined_into_data(tmp_path, monkeypatch):
    r = make_repo(tmp_path, {"flows/basic": BASIC, "flows/eval": EVAL})
    write_jsonl(r / "data.jsonl", [{"text": "a", "expected": "A"}, {"text": "boom", "expected": "X"},
                                   {"text": "bc", "expected": "cb"}])
    monkeypatch.chdir(r)
    quiet = Console(quiet=True)
    assert run_batch(RunSpec(flow="flows/basic", data="data.jsonl", name="b1"), quiet).failed == 1
    spec = RunSpec(flow=str(r / "flows/eval"), data=str(r / "data.jsonl"), run="b1",
                   column_mapping={"prediction": "${run.outputs.shout}", "groundtruth": "${data.expected}"})
    path, mapping, failed = pfe._data_and_mapping(spec, str(tmp_path))
    assert list(failed) == [1]  # recorded as a failed line of the eval run
    assert mapping == {"prediction": "${data.__run_outputs.shout}", "groundtruth": "${data.expected}"}
    rows = [json.loads(x) for x in open(path)]
    # the failed base line is not run (as promptflow), numbering follows the base run
    assert [(x["line_number"], x["expected"], x["__run_outputs.shout"]) for x in rows] == [(0, "A", "A"), (2, "cb", "BC")]
    assert rows[0]["__run_inputs.text"] == "a"
