"""`pfgit run --resume-from NAME` (a new run of a recorded run's failed and missing lines, with its
settings and its flow as it ran) and `pfgit run --source DIR` (a promptflow run folder recorded as
`pfgit runs import` records it)."""

from __future__ import annotations

import json

import pytest

import pf_runs_gen
from fake_openai import fake_openai  # noqa: F401  (fixture)
from pfgit.cli.main import main
from run_flows import git, make_repo, write_jsonl
from test_runs_import import FIXTURE

# `up` fails on the texts listed in $FAIL_FILE (a transient failure: the file is emptied later) and
# logs every call in $COUNT_FILE; SUFFIX comes from the run's --environment-variables
FLAKY = {
    "flow.dag.yaml": """\
inputs:
  text: {type: string}
outputs:
  out: {type: string, reference: "${up.output}"}
nodes:
- name: up
  type: python
  source: {type: code, path: up.py}
  inputs: {text: "${inputs.text}"}
- name: agg
  type: python
  source: {type: code, path: agg.py}
  inputs: {items: "${up.output}"}
  aggregation: true
""",
    "up.py": """\
import os

from promptflow.core import tool


@tool
def up(text: str) -> str:
    with open(os.environ["COUNT_FILE"], "a") as f:
        f.write(text + "\\n")
    with open(os.environ["FAIL_FILE"]) as f:
        if text in f.read().split():
            raise ValueError("flaky")
    return text.upper() + os.environ.get("SUFFIX", "") + os.environ.get("API_TOKEN", "")[:1]
""",
    "agg.py": """\
from promptflow.core import log_metric, tool


@tool
def agg(items: list):
    log_metric("n_lines", len(items))
    log_metric("joined", ",".join(items))
""",
}


@pytest.fixture
def repo(tmp_path, monkeypatch):
    r = make_repo(tmp_path, {"flows/flaky": FLAKY})
    write_jsonl(r / "data.jsonl", [{"text": "a"}, {"text": "b"}, {"text": "c"}])
    monkeypatch.chdir(r)
    monkeypatch.setenv("COUNT_FILE", str(tmp_path / "calls.txt"))
    monkeypatch.setenv("FAIL_FILE", str(tmp_path / "fail.txt"))
    (tmp_path / "fail.txt").write_text("b\n")
    return r


def calls(repo):
    return (repo.parent / "calls.txt").read_text().split()


def cli(capsys, *args):
    rc = main(list(args))
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def run_json(repo, name):
    return json.loads(git(repo, "show", f"refs/pfgit/runs/{name}:run.json"))


def outputs(repo, name):
    return [json.loads(x) for x in git(repo, "show", f"refs/pfgit/runs/{name}:outputs.jsonl").splitlines()]


def test_resume_from_copies_succeeded_lines_and_runs_the_others_with_the_recorded_flow(repo, capsys, monkeypatch):
    rc, _, err = cli(capsys, "run", "--flow", "flows/flaky", "--data", "data.jsonl", "--name", "r1",
                     "--environment-variables", "SUFFIX=!", "API_TOKEN=tok-secret-123")
    assert rc == 1 and sorted(calls(repo)) == ["a", "b", "c"]
    (repo.parent / "fail.txt").write_text("")                       # the transient failure is over
    (repo / "flows/flaky/up.py").write_text("raise SystemExit('edited since r1')\n")   # not what ran
    # a secret-named variable's value is never recorded: it must be given again, and only it
    rc, _, err = cli(capsys, "run", "--resume-from", "r1", "--name", "r2")
    assert (rc, err) == (2, "pfgit: run 'r1' set environment variable(s) API_TOKEN whose values are not "
                            "recorded (secrets, or a run made in another clone): give them again with "
                            "--environment-variables K=V\n")
    rc, _, err = cli(capsys, "run", "--resume-from", "r1", "--name", "r2", "--environment-variables", "SUFFIX=?")
    assert rc == 2 and "gives only the values run 'r1' does not record (API_TOKEN), not SUFFIX" in err
    rc, out, err = cli(capsys, "run", "--resume-from", "r1", "--name", "r2", "--environment-variables",
                       "API_TOKEN=tok-secret-123", "--tags", "retry=1", "--set", "display_name=retry of r1")
    assert rc == 0, err
    assert "resuming from run 'r1': 2 succeeded line(s) copied, 1 to run" in err
    assert "run r2: Completed (3/3 lines, engine builtin)" in out and "joined=\"A!t,B!t,C!t\"" in out
    assert sorted(calls(repo)[3:]) == ["b"]                          # only the failed line ran again
    assert [o["out"] for o in outputs(repo, "r2")] == ["A!t", "B!t", "C!t"]   # recorded flow and env
    r1, r2 = run_json(repo, "r1"), run_json(repo, "r2")
    assert r2["flow"] == r1["flow"] and r2["status"] == "Completed" and r2["environment"] == ["API_TOKEN", "SUFFIX"]
    assert r2["settings"]["resume_from"] == "r1" and r2["settings"]["tags"] == {"retry": "1"}
    assert r2["settings"]["display_name"] == "retry of r1"
    assert git(repo, "rev-parse", "refs/pfgit/runs/r2^1") == git(repo, "rev-parse", "refs/pfgit/runs/r1^1")
    for name in ("r1", "r2"):   # variable values stay out of snapshots (SUFFIX's is kept in .git only)
        assert "tok-secret-123" not in git(repo, "show", f"refs/pfgit/runs/{name}:run.json")
        assert '"!"' not in git(repo, "show", f"refs/pfgit/runs/{name}:run.json")
    assert not (repo / ".git/pfgit/active/r2").exists()

    # a record without the aggregation inputs of its lines: they run again, said in one line
    monkeypatch.setattr("pfgit.run.resumefrom.AGGREGATION_LOG", "absent.jsonl")
    rc, out, err = cli(capsys, "run", "--resume-from", "r2", "--name", "r3", "--environment-variables",
                       "API_TOKEN=tok-secret-123")
    assert rc == 0 and "3 succeeded line(s) of 'r2' run again: the record lacks their inputs or what " \
                       "aggregation nodes read from them" in err
    assert sorted(calls(repo)[4:]) == ["a", "b", "c"]


def test_resume_from_refuses_what_it_cannot_do_faithfully(repo, capsys):
    assert cli(capsys, "run", "--flow", "flows/flaky", "--data", "data.jsonl", "--name", "r1")[0] == 1
    rc, _, err = cli(capsys, "run", "--resume-from", "r1", "--data", "data.jsonl", "--variant", "${up.v}")
    assert (rc, err) == (2, "pfgit: --resume-from cannot be combined with --data, --variant (the run's "
                            "settings are the recorded run's)\n")
    rc, _, err = cli(capsys, "run", "--resume-from", "r1", "--set", "column_mapping.text=${data.x}")
    assert (rc, err) == (2, "pfgit: --resume-from cannot be combined with --set column_mapping (only "
                            "display_name, description, tags: the run's settings are the recorded run's)\n")
    assert cli(capsys, "run", "--resume-from", "nope")[1:] == ("", "pfgit: run 'nope' not found (pfgit runs list)\n")
    write_jsonl(repo / "data.jsonl", [{"text": "b"}, {"text": "a"}, {"text": "c"}])
    rc, _, err = cli(capsys, "run", "--resume-from", "r1")
    assert (rc, err) == (2, "pfgit: data.jsonl: data changed since run 'r1' (sha256 differs): its line numbers "
                            "no longer name the same lines; run it again with --flow and --data\n")
    (repo / "data.jsonl").unlink()
    rc, _, err = cli(capsys, "run", "--resume-from", "r1")
    assert (rc, err) == (2, "pfgit: data.jsonl: data of run 'r1' is gone: run it again with --flow and --data\n")
    assert sorted(calls(repo)) == ["a", "b", "c"] and git(repo, "for-each-ref", "refs/pfgit/runs").count("\n") == 0


def test_resume_of_an_interrupted_resume_from_run(repo, capsys, monkeypatch):
    write_jsonl(repo / "data.jsonl", [{"text": t} for t in "abcdef"])
    (repo.parent / "fail.txt").write_text("b c d\n")
    assert cli(capsys, "run", "--flow", "flows/flaky", "--data", "data.jsonl", "--name", "r1", "--workers", "1")[0] == 1
    (repo.parent / "fail.txt").write_text("")
    (repo / "flows/flaky/agg.py").write_text("")             # the worktree differs: a checkout runs
    monkeypatch.setenv("PFGIT_TEST_INTERRUPT_AFTER", "1")
    assert cli(capsys, "run", "--resume-from", "r1", "--name", "r2", "--workers", "1")[0] == 130
    monkeypatch.delenv("PFGIT_TEST_INTERRUPT_AFTER")
    rc, out, err = cli(capsys, "run", "--resume", "r2")
    assert rc == 0 and "resuming run 'r2': 4 of 6 lines already done" in err, err
    assert calls(repo)[6:] == ["b", "c", "d"] and "n_lines=6" in out


def test_source_records_a_promptflow_run_folder_like_runs_import(tmp_path, monkeypatch, capsys):
    pf_home = pf_runs_gen.materialize(FIXTURE, tmp_path / "pfhome")
    repo = tmp_path / "repo"
    pf_runs_gen.make_repo(repo)
    monkeypatch.chdir(repo)
    folder = str(pf_home / ".runs" / "batch1")
    head = git(repo, "rev-parse", "HEAD")
    rc, out, err = cli(capsys, "run", "--source", folder)
    assert (rc, out, err) == (0, f"run batch1: linked to {head[:8]} (flows/if_else)\n", "")
    assert run_json(repo, "batch1")["source"]["tool"] == "promptflow"
    # the same output as `pfgit runs import` of that folder, --json included
    assert cli(capsys, "run", "--source", folder) == cli(capsys, "runs", "import", folder) == \
        (0, "run batch1: already imported\n", "")
    assert cli(capsys, "run", "--source", folder, "--json")[1] == cli(capsys, "runs", "import", folder, "--json")[1]
    rc, _, err = cli(capsys, "run", "--source", str(pf_home))
    assert (rc, err) == (2, f"pfgit: {pf_home}: not a promptflow run folder (no snapshot/, flow_outputs/ or "
                            "meta.json)\n")
    rc, _, err = cli(capsys, "run", "--source", folder, "--name", "x")
    assert (rc, err) == (2, "pfgit: --source cannot be combined with --name (the run's settings are the folder's)\n")


def test_resume_from_reruns_a_corpus_llm_line_the_endpoint_failed(corpus, tmp_path, monkeypatch, capsys, fake_openai):
    """The case --resume-from is for: the model's endpoint fails one line (a malformed reply)
    of promptflow's basic-with-builtin-llm example; the new run asks the model for that line only."""
    from llm_parity import save_corpus_connections, setup_repo

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    save_corpus_connections(fake_openai.url)
    repo, flow, data, mapping = setup_repo(corpus, "examples/flows/standard/basic-with-builtin-llm", tmp_path)
    monkeypatch.chdir(repo)
    fake_openai.inject(("malformed",))
    rc, _, err = cli(capsys, "run", "--flow", flow, "--data", data, "--name", "c1", "--workers", "1",
                     "--column-mapping", *[f"{k}={v}" for k, v in mapping.items()])
    assert rc == 1 and "line 0, node 'llm'" in err and len(fake_openai.requests) == 2
    rc, out, err = cli(capsys, "run", "--resume-from", "c1", "--name", "c2")
    assert rc == 0 and "run c2: Completed (2/2 lines, engine builtin)" in out, err
    assert len(fake_openai.requests) == 3        # line 1's answer was copied, not asked again
    assert [o["line_number"] for o in outputs(repo, "c2")] == [0, 1]
    assert outputs(repo, "c2")[1] == outputs(repo, "c1")[0]
