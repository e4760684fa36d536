"""Regressions from a fourth review (attacker and new user) of what landed on main in session 17:
each test fails without its fix."""

from __future__ import annotations

import io
import json

from runs_helpers import run_cli
from secure_helpers import make_flow_repo


def test_runs_stream_to_a_pipe_writes_no_ci_command(tmp_path, monkeypatch, capsys):
    """A CI job reads the step's stdout through a pipe: `pfgit runs stream RUN` of a fetched run
    wrote an output value '##vso[task.setvariable ...]' as it was (SafeBytes neutralised only for
    a terminal), and Azure Pipelines set the variable. Written '\\u0023#vso[', the same JSON value."""
    repo = make_flow_repo(tmp_path)
    value = "##vso[task.setvariable variable=X]evil"
    (tmp_path / "o.jsonl").write_text(json.dumps({"a": value, "line_number": 0}) + "\n")
    code, out, err = run_cli(monkeypatch, capsys, repo, "runs", "record", "--flow", "flow",
                             "--outputs", str(tmp_path / "o.jsonl"), "--name", "evil")
    assert code == 0, err
    code, out, err = run_cli(monkeypatch, capsys, repo, "runs", "stream", "evil")
    assert code == 0, err
    assert "##vso[" not in out, out
    assert json.loads(out.splitlines()[0])["a"] == value   # the same JSON value


def test_safe_bytes_keeps_other_bytes_as_they_are():
    from pfgit.output import SafeBytes

    buf = io.BytesIO()
    raw = b'{"a": "x::y ## \\u001b \xff"}\r\n'
    SafeBytes(buf, False).write(raw)
    assert buf.getvalue() == raw


def test_runs_record_says_1_line(tmp_path, monkeypatch, capsys):
    repo = make_flow_repo(tmp_path)
    (tmp_path / "o.jsonl").write_text('{"a": "x", "line_number": 0}\n')
    code, out, err = run_cli(monkeypatch, capsys, repo, "runs", "record", "--flow", "flow",
                             "--outputs", str(tmp_path / "o.jsonl"), "--name", "one")
    assert code == 0 and "recorded run one: 1 line, flow flow at " in out, (out, err)
