"""QA of the run store and index (issue 5): defects found by using the commands as a user would."""

from __future__ import annotations

import json
import pathlib

import pytest

import pf_runs_gen
from pfgit.errors import UsageError
from pfgit.git import runrefs
from pfgit.store.snapshot import record_run
from runs_helpers import git, make_repo, open_repo, run_cli


@pytest.fixture
def repo(tmp_path):
    return make_repo(tmp_path)


@pytest.mark.parametrize("line", ["[1, 2]", "3", '"text"', "null"])
def test_outputs_line_not_an_object_is_refused(repo, line):
    # was recorded, then `runs show --details` crashed with an internal error
    r = open_repo(repo)
    with pytest.raises(UsageError, match="outputs line 2 is not a JSON object"):
        record_run(r, "flows/acc", "bad", ['{"a": 1}', line], {}, {}, None)
    assert runrefs.get_run(r, "bad") is None


def test_cli_outputs_line_not_an_object_is_one_line_exit_2(repo, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out.jsonl"
    out.write_text('{"a": 1}\n[1]\n')
    code, _, err = run_cli(monkeypatch, capsys, repo, "runs", "record", "--flow", "flows/acc",
                           "--outputs", str(out), "--name", "x")
    assert code == 2 and err.count("\n") == 1 and "not a JSON object" in err


def test_reimport_reports_what_the_name_holds(tmp_path, monkeypatch, capsys):
    # was: "commit": null, "flow": null and no "snapshot" key for runs already imported
    fixture = pathlib.Path(__file__).parent / "fixtures" / "pf_runs"
    home = pf_runs_gen.materialize(fixture, tmp_path / "pfhome")
    repo = tmp_path / "repo"
    pf_runs_gen.make_repo(repo)
    run_cli(monkeypatch, capsys, repo, "runs", "import", str(home))
    code, out, _ = run_cli(monkeypatch, capsys, repo, "runs", "import", str(home), "--json")
    assert code == 0
    by = {r["run"]: r for r in json.loads(out)["runs"]}
    assert by["batch1"]["status"] == "exists"
    assert by["batch1"]["flow"] == "flows/if_else"
    assert by["batch1"]["commit"] == git(repo, "rev-parse", "HEAD")
    assert by["batch1"]["snapshot"] == git(repo, "rev-parse", "refs/pfgit/runs/batch1")
    code, out, _ = run_cli(monkeypatch, capsys, repo, "runs", "import", str(home), "--json", "--dry-run")
    assert all("snapshot" in r for r in json.loads(out)["runs"])


def test_imported_runs_keep_connection_names(corpus):
    # was: run.json "connections" {} for every import, though the flow names its connections
    from pfgit.store.pf_import import snapshot_connections

    echo = corpus / "examples/tutorials/flow-deploy/create-service-with-flow/echo_connection_flow"
    assert snapshot_connections(str(echo), {"open_ai_connection"}) == \
        {"echo_connection.connection": "open_ai_connection"}
    assert snapshot_connections(str(echo), set()) == {}      # a literal input is not a connection
    chat = corpus / "examples/flows/chat/chat-basic"
    assert snapshot_connections(str(chat), set()) == {"chat.connection": "open_ai_connection"}
    assert snapshot_connections(str(corpus / "no-such-run"), set()) == {}


def test_run_ref_to_a_blob_is_one_line_error(repo, monkeypatch, capsys):
    # was: internal error AttributeError ('Blob' object has no attribute 'tree')
    blob = git(repo, "hash-object", "-w", "--stdin", input="hi\n")
    git(repo, "update-ref", "refs/pfgit/runs/blobref", blob)
    for argv in (("runs", "show", "blobref"), ("runs", "stream", "blobref")):
        code, _, err = run_cli(monkeypatch, capsys, repo, *argv)
        assert code == 2 and err.strip() == f"pfgit: run 'blobref': {blob[:12]} is a blob, not a run snapshot"
    code, out, _ = run_cli(monkeypatch, capsys, repo, "runs", "list")
    assert code == 0 and "blobref" not in out


def test_start_and_end_times_must_be_iso(repo):
    # was: stored as given ("yesterday"), and listed first since runs sort by time as text
    r = open_repo(repo)
    with pytest.raises(UsageError, match="start time 'yesterday' is not an ISO-8601 time"):
        record_run(r, "flows/acc", "t1", ['{"a": 1}'], {}, {"start_time": "yesterday"}, None)
    assert runrefs.get_run(r, "t1") is None
    rec = record_run(r, "flows/acc", "t2", ['{"a": 1}'], {},
                     {"start_time": "2026-11-26T23:00:00+02:00", "end_time": "2026-11-26T21:30:00Z"}, None)
    run = json.loads(git(repo, "show", f"{rec.commit}:run.json"))
    assert (run["start_time"], run["end_time"]) == ("2026-11-26T21:00:00+00:00", "2026-11-26T21:30:00+00:00")


def test_push_without_runs_and_to_a_missing_remote(repo, tmp_path, monkeypatch, capsys):
    # was: exit 2 "the remote end hung up unexpectedly" when there is nothing to push, and
    # "failed: and the repository exists." (git's advice line) for a remote that is not there
    bare = tmp_path / "bare.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    code, out, err = run_cli(monkeypatch, capsys, repo, "push", "--json")
    assert code == 0, err
    assert json.loads(out)["updated"] == []
    git(repo, "remote", "add", "gone", str(tmp_path / "nowhere"))
    for cmd in ("push", "fetch"):
        code, _, err = run_cli(monkeypatch, capsys, repo, cmd, "gone")
        assert code == 2 and err.count("\n") == 1
        assert "does not appear to be a git repository" in err, err


def test_log_n_zero_shows_no_commits_like_git(repo, monkeypatch, capsys):
    # was: -n 0 listed every commit
    code, out, _ = run_cli(monkeypatch, capsys, repo, "log", "flows/acc", "-n", "0", "--json")
    assert code == 0 and json.loads(out)["flows"][0]["commits"] == []
    code, out, _ = run_cli(monkeypatch, capsys, repo, "log", "flows/acc", "-n", "-1", "--json")
    assert len(json.loads(out)["flows"][0]["commits"]) == 1


def test_import_of_a_run_folder_without_snapshot(repo, tmp_path, monkeypatch, capsys):
    # was: the whole import stopped with "promptflow/bad1: flow folder not found" (exit 2)
    run = tmp_path / "pfhome" / ".runs" / "nosnap"
    run.mkdir(parents=True)
    (run / "meta.json").write_text('{"batch_size": 1}')
    (run / "outputs.jsonl").write_text('{"line_number": 0, "grade": "Correct"}\n')
    code, out, err = run_cli(monkeypatch, capsys, repo, "runs", "import", str(tmp_path / "pfhome"), "--json")
    assert code == 0, err
    assert json.loads(out)["summary"]["unlinked"] == 1
    assert git(repo, "show", "refs/pfgit/runs/nosnap:outputs.jsonl").startswith('{"line_number": 0')


def test_import_names_the_run_folder_with_a_bad_outputs_line(repo, tmp_path, monkeypatch, capsys):
    # was: "pfgit: outputs line 2 is not JSON: ..." without saying which of the runs
    run = tmp_path / "pfhome" / ".runs" / "r1"
    run.mkdir(parents=True)
    (run / "meta.json").write_text("{}")
    (run / "outputs.jsonl").write_text('{"a": 1}\nbroken\n')
    code, _, err = run_cli(monkeypatch, capsys, repo, "runs", "import", str(tmp_path / "pfhome"))
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"pfgit: {run}: run 'r1': outputs line 2 is not JSON")
