"""`pfgit runs diff A B`: two runs' per-line outputs joined by line number, compared field by field."""

from __future__ import annotations

import json
import subprocess

import pytest

from pfgit.store.linediff import compare_streams, field_changes
from runs_helpers import git, run_cli

FLOW = """\
inputs:
  q: {type: string}
outputs:
  answer: {type: object, reference: '${a.output}'}
nodes:
- name: a
  type: python
  source: {type: code, path: a.py}
  inputs: {q: '${inputs.q}'}
"""


@pytest.fixture
def repo(tmp_path):
    r = tmp_path / "repo"
    (r / "qa").mkdir(parents=True)
    git(r, "init", "-q", "-b", "main")
    (r / "qa" / "flow.dag.yaml").write_text(FLOW)
    (r / "qa" / "a.py").write_text("from promptflow.core import tool\n\n@tool\ndef a(q: str):\n    return q\n")
    git(r, "add", "-A")
    git(r, "commit", "-q", "-m", "qa")
    return r


def record(repo, monkeypatch, capsys, name, lines):
    out = repo.parent / f"{name}.jsonl"
    out.write_text("".join(json.dumps(x) + "\n" for x in lines))
    code, _, err = run_cli(monkeypatch, capsys, repo, "runs", "record", "--flow", "qa",
                           "--outputs", str(out), "--name", name)
    assert code == 0, err


def test_runs_diff_reports_nested_field_changes_by_line(repo, monkeypatch, capsys):
    record(repo, monkeypatch, capsys, "r1", [
        {"line_number": 0, "answer": {"text": "Paris", "cites": [{"url": "a"}, {"url": "b"}]}},
        {"line_number": 1, "answer": {"text": "Rome", "score": 1}},
        {"line_number": 2, "answer": {"text": "Oslo"}}])
    record(repo, monkeypatch, capsys, "r2", [
        {"line_number": 0, "answer": {"text": "Paris", "cites": [{"url": "a"}, {"url": "c"}]}},
        {"line_number": 1, "answer": {"text": "Rome", "score": 1.0}},   # same number in JSON
        {"line_number": 3, "answer": {"text": "Bern", "new": True}}])
    code, out, err = run_cli(monkeypatch, capsys, repo, "runs", "diff", "r1", "r2")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[2] == "4 lines: 1 same, 1 changed, 1 only in a, 1 only in b"
    assert lines[3:] == [
        "line 0:",
        "  ~ answer.cites[1].url: 'b' -> 'c'",
        "line 2: only in a: {\"answer\": {\"text\": \"Oslo\"}}",
        "line 3: only in b: {\"answer\": {\"text\": \"Bern\", \"new\": true}}",
    ]

    code, out, _ = run_cli(monkeypatch, capsys, repo, "runs", "diff", "r1", "r2", "--json")
    res = json.loads(out)
    assert res["a"]["run"] == "r1" and res["b"]["run"] == "r2" and res["a"]["flow"] == "qa"
    assert res["summary"] == {"lines": 4, "same": 1, "changed": 1, "only_a": 1, "only_b": 1, "shown": 3}
    assert res["lines"][0] == {"line": 0, "status": "changed", "changes": [
        {"path": "answer.cites[1].url", "old": "b", "new": "c"}]}

    code, out, _ = run_cli(monkeypatch, capsys, repo, "runs", "diff", "r1", "r2", "--exit-code",
                           "-n", "1")
    assert code == 1
    assert out.splitlines()[-1] == "... 2 more differing lines (--max-lines 0 shows all)"
    code, _, _ = run_cli(monkeypatch, capsys, repo, "runs", "diff", "r1", "r1", "--exit-code")
    assert code == 0


def test_runs_diff_unknown_run_is_exit_2(repo, monkeypatch, capsys):
    record(repo, monkeypatch, capsys, "r1", [{"line_number": 0, "x": 1}])
    code, _, err = run_cli(monkeypatch, capsys, repo, "runs", "diff", "r1", "nope")
    assert code == 2 and err.strip() == "pfgit: unknown run 'nope'"


def test_field_changes_added_removed_and_types():
    assert field_changes({"a": 1, "line_number": 0}, {"a": 1.0, "line_number": 5}) == []
    assert field_changes({"a": 1}, {"b": 2}) == [{"path": "a", "old": 1}, {"path": "b", "new": 2}]
    assert field_changes({"a": [1, 2]}, {"a": [1]}) == [{"path": "a[1]", "old": 2}]
    assert field_changes({"a": "1"}, {"a": 1}) == [{"path": "a", "old": "1", "new": 1}]
    assert field_changes({"a": float("nan")}, {"a": float("nan")}) == []


def test_compare_streams_out_of_order_lines_are_joined_in_memory():
    a = [b'{"line_number": 1, "x": 1}\n', b'{"line_number": 0, "x": 0}\n']
    b = [b'{"line_number": 0, "x": 0}\n', b'{"line_number": 1, "x": 2}\n']
    res = compare_streams(iter(a), iter(b), restart=lambda: (iter(a), iter(b)))
    assert res["summary"]["same"] == 1 and res["summary"]["changed"] == 1
    assert res["lines"] == [{"line": 1, "status": "changed",
                             "changes": [{"path": "x", "old": 1, "new": 2}]}]


def test_compare_streams_bad_json_line_is_compared_as_text():
    a = [b'{"line_number": 0, "x": 1}\n', b"not json\n"]
    b = [b'{"line_number": 0, "x": 1}\n', b'{"line_number": 1, "x": 1}\n']
    res = compare_streams(iter(a), iter(b))
    assert res["summary"]["changed"] == 1
    assert res["lines"][0]["changes"] == [{"path": "(whole line)", "old": "not json",
                                           "new": {"x": 1}}]
