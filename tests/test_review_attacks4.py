"""Regressions from a fourth review (attacker and new user) of what landed on main in session 17:
each test fails without its fix."""

from __future__ import annotations

import io
import os
import json

from fake_openai import fake_openai  # noqa: F401  (fixture)
from runs_helpers import run_cli
from secure_helpers import ECHO as ECHO_PY
from secure_helpers import FLOW as FLOW_DAG
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


def test_resume_from_names_a_flex_or_prompty_run_without_a_variant(tmp_path, monkeypatch, capsys, fake_openai):
    """`pfgit run` names a flex flow's run <folder>_<time> (pf's name, no variant); resuming it
    with --resume-from and no --name called the new run <folder>_variant_0_<time> (the recorded
    flow path is a folder, taken for a DAG flow's); a .prompty flow's too."""
    import re

    from run_flows import make_repo, write_jsonl

    monkeypatch.setenv("FAKE_OPENAI_URL", fake_openai.url)
    monkeypatch.setenv("FAKE_OPENAI_KEY", "sk-fake-key")
    prompty = ("---\nname: p\nmodel:\n  api: chat\n  configuration:\n    type: openai\n"
               "    base_url: ${env:FAKE_OPENAI_URL}\n    api_key: ${env:FAKE_OPENAI_KEY}\n"
               "    model: gpt\ninputs:\n  q: {type: string}\n---\nuser:\n{{q}}\n")
    repo = make_repo(tmp_path, {"my-flex": {"flow.flex.yaml": "entry: entry:hello\n",
                                            "entry.py": "def hello(q: str) -> str:\n    return q\n"},
                                "my-dag": {"flow.dag.yaml": FLOW_DAG, "echo.py": ECHO_PY},
                                "my-prompty": {"chat.prompty": prompty}})
    data = write_jsonl(tmp_path / "d.jsonl", [{"q": "a"}, {"q": "b"}])
    monkeypatch.chdir(repo)
    for flow, want in (("my-flex", r"my_flex_\d{8}_\d{6}_\d{6}"),
                       ("my-dag", r"my_dag_variant_0_\d{8}_\d{6}_\d{6}"),
                       ("my-prompty/chat.prompty", r"my_prompty_\d{8}_\d{6}_\d{6}")):
        code, out, err = run_cli(monkeypatch, capsys, repo, "run", "--flow", flow, "--data", str(data), "--json")
        assert code == 0, (flow, err)
        first = json.loads(out)["name"]
        assert re.fullmatch(want, first), first
        code, out, err = run_cli(monkeypatch, capsys, repo, "run", "--resume-from", first, "--json")
        assert code == 0, (flow, err)
        assert re.fullmatch(want, json.loads(out)["name"]), (first, json.loads(out)["name"])


def test_run_refuses_an_unknown_llm_mode(tmp_path, monkeypatch, capsys):
    """`--llm-mode reply` (a typo of replay) was taken without a word: without --llm-cache
    ignored, with it the LLM calls went out as in 'record'."""
    repo = make_flow_repo(tmp_path)
    (tmp_path / "d.jsonl").write_text('{"q": "a"}\n')
    code, out, err = run_cli(monkeypatch, capsys, repo, "run", "--flow", "flow", "--data",
                             str(tmp_path / "d.jsonl"), "--llm-mode", "reply")
    assert code == 2 and out == "" and err.strip() == (
        "pfgit: --llm-mode must be one of record, replay, auto, not 'reply'"), (code, out, err)


def test_a_path_argument_through_a_symlink_to_another_checkout_is_not_read(tmp_path, monkeypatch, capsys):
    """The symlinked-PATH refusal held for a link to a plain folder, not for one to another git
    checkout (CI runners keep several side by side): `flows/g -> /elsewhere/other` found other's
    `.git` through the link and took `flows/g` for a repository of its own, so `pfgit validate
    flows/g` printed the other checkout's flows and `diff --no-index` its files."""
    import os
    import subprocess

    repo = make_flow_repo(tmp_path)
    other = tmp_path / "other"
    (other / "oflow").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(other)], check=True)
    (other / "oflow" / "flow.dag.yaml").write_text(
        "inputs: {}\noutputs:\n  o: {type: string, reference: '${outside_node.output}'}\nnodes: []\n")
    (other / "oflow" / "secret.txt").write_text("TOPSECRET\n")
    os.symlink(other, repo / "g")
    for argv in (["validate", "g"], ["validate", "g/oflow"], ["validate", "g/oflow/flow.dag.yaml"],
                 ["diff", "--no-index", "g/oflow", "flow"],
                 ["diff", "--no-index", "g/oflow/secret.txt", "flow/echo.py"]):
        code, out, err = run_cli(monkeypatch, capsys, repo, *argv)
        assert code == 2 and "outside_node" not in out + err and "TOPSECRET" not in out + err, argv
        assert "resolves outside the repository" in err and err.count("\n") == 1, (argv, err)
    # inside the other checkout itself, its flows are its own
    code, out, err = run_cli(monkeypatch, capsys, other, "validate", "oflow")
    assert code == 1 and "outside_node" in out, (out, err)


def _run_r1_with_a_failed_line(tmp_path, monkeypatch, capsys):
    """A repo whose run r1 has three lines, the second failed (exit 1)."""
    repo = make_flow_repo(tmp_path)
    (repo / "flow" / "echo.py").write_text(
        "from promptflow.core import tool\n\n\n@tool\ndef echo(q: str) -> str:\n"
        "    if q == 'b':\n        raise ValueError('no b')\n    return q\n")
    (tmp_path / "d.jsonl").write_text('{"q": "a"}\n{"q": "b"}\n{"q": "c"}\n')
    code, out, err = run_cli(monkeypatch, capsys, repo, "run", "--flow", "flow", "--data",
                             str(tmp_path / "d.jsonl"), "--name", "r1")
    assert code == 1, err
    return repo


def test_runs_show_details_json_has_the_inputs_the_table_shows(tmp_path, monkeypatch, capsys):
    """`runs show --details` lists inputs.* then outputs.*, a failed line with its inputs; its
    --json held the outputs only (no inputs, nothing of a failed line) and, with --max-lines,
    other lines than the table."""
    repo = _run_r1_with_a_failed_line(tmp_path, monkeypatch, capsys)
    code, out, err = run_cli(monkeypatch, capsys, repo, "runs", "show", "r1", "--details", "--json")
    d = json.loads(out)
    assert [o["line_number"] for o in d["outputs"]] == [0, 2]
    assert d["inputs"] == [{"q": "a", "line_number": 0}, {"q": "b", "line_number": 1},
                           {"q": "c", "line_number": 2}]
    code, out, err = run_cli(monkeypatch, capsys, repo, "runs", "show", "r1", "--details", "--json",
                             "--max-lines", "2")
    d = json.loads(out)
    assert [o["line_number"] for o in d["outputs"]] == [0]
    assert [i["line_number"] for i in d["inputs"]] == [0, 1]
    code, text, err = run_cli(monkeypatch, capsys, repo, "runs", "show", "r1", "--details", "--max-lines", "2")
    assert [ln.split() for ln in text.rstrip().splitlines()[-2:]] == [["0", "a", "a"], ["1", "b"]], text


def test_a_pfgit_run_snapshot_holds_logs_txt(tmp_path, monkeypatch, capsys):
    """e519033 (every snapshot of `pfgit run` holds logs/logs.txt, docs/runs.md) came without a
    test: a snapshot without it passed the suite."""
    import subprocess

    repo = _run_r1_with_a_failed_line(tmp_path, monkeypatch, capsys)
    log = subprocess.run(["git", "show", "refs/pfgit/runs/r1:logs/logs.txt"], cwd=repo, text=True,
                         capture_output=True, check=True).stdout.splitlines()
    assert log[0].endswith(": run r1 of flow flow (engine builtin), 3 line(s)"), log
    assert log[1].endswith(" finished 3 line(s): 2 completed, 1 failed"), log
    assert log[-1].endswith(" run r1: Failed"), log


def test_log_of_a_flow_not_committed_yet_says_so(tmp_path, monkeypatch, capsys):
    """A new user runs a new flow and asks `pfgit log` for it: 'no flow here (no flow.dag.yaml,
    flow.flex.yaml or .prompty file in it or below it)' about a folder holding flow.dag.yaml."""
    repo = make_flow_repo(tmp_path)
    (repo / "new").mkdir()
    (repo / "new" / "flow.dag.yaml").write_text(FLOW_DAG)
    (repo / "new" / os.fsdecode(b"\xff.txt")).write_text("x")   # a name that is not UTF-8
    (repo / "empty").mkdir()
    for path in ("new", "new/flow.dag.yaml"):
        code, out, err = run_cli(monkeypatch, capsys, repo, "log", path)
        assert code == 2 and out == "" and err == (
            f"pfgit: {path}: not in the history: the flow here is not committed yet (pfgit log lists "
            "the commits of a flow; its runs: pfgit runs list)\n"), err
    code, out, err = run_cli(monkeypatch, capsys, repo, "log", "empty")
    assert code == 2 and "no flow here" in err, err


def test_logs_txt_names_cannot_add_a_line_or_drive_a_terminal():
    """logs/logs.txt wrote the flow folder's name and the metric names as they are: a folder
    `a\\nb` or a metric a tool logged as `x\\n2026... run r: Completed` made up a line in
    `git show`, and an escape sequence reached the terminal."""
    from pfgit.run.batch import Outcome, _run_log
    from pfgit.run.spec import RunSpec

    spec = RunSpec(flow="/repo/a\nfake line\x1b]0;t\x07", name="r1")
    out = Outcome("r1", "Completed", total=2, failed=0, metrics={"acc\n2026 run r1: Failed": 1.0})
    lines = _run_log(spec, "builtin", out, 0.0)
    assert len(lines) == 3 and all(ln.count(b"\n") == 1 and ln.endswith(b"\n") for ln in lines)
    assert not any(b"\x1b" in ln or b"\x07" in ln for ln in lines)
    assert b"a\\nfake line" in lines[0] and b"acc\\n2026" in lines[-1]
