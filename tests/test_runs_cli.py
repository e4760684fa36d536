"""`pfgit runs ...`, `log`, `metrics diff`, `push`/`fetch`, `index rebuild` through the CLI."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from runs_helpers import commit_change, git, make_repo, outputs, run_cli


@pytest.fixture
def repo(tmp_path):
    return make_repo(tmp_path)


def _files(tmp_path, n, acc, grade="Correct"):
    out = tmp_path / f"out_{acc}.jsonl"
    out.write_text("\n".join(outputs(n, grade)) + "\n")
    met = tmp_path / f"met_{acc}.json"
    met.write_text(json.dumps({"accuracy": acc, "n": n}))
    return str(out), str(met)


def _record(monkeypatch, capsys, repo, tmp_path, name, acc, *extra):
    out, met = _files(tmp_path, 3, acc)
    code, stdout, err = run_cli(monkeypatch, capsys, repo, "runs", "record", "--flow", "flows/acc",
                                "--outputs", out, "--metrics", met, "--name", name, "--json", *extra)
    assert code == 0, err
    return json.loads(stdout)["recorded"]


def test_record_list_show_stream(repo, tmp_path, monkeypatch, capsys):
    data = tmp_path / "data.jsonl"
    data.write_text('{"groundtruth": "App", "prediction": "App"}\n')
    rec = _record(monkeypatch, capsys, repo, tmp_path, "first", 0.5, "--data", str(data),
                  "--column-mapping", "groundtruth=${data.groundtruth}", "--variant", "${grade.variant_1}",
                  "--connections", "grade.connection=my_conn")
    assert rec["flow_commit"] == git(repo, "rev-parse", "HEAD") and rec["lines"] == 3
    code, out, _ = run_cli(monkeypatch, capsys, repo, "runs", "list")
    assert code == 0 and out.splitlines()[0].split() == ["NAME", "STATUS", "LINES", "FLOW", "COMMIT", "STARTED"]
    assert out.splitlines()[1].split()[:4] == ["first", "Completed", "3/3", "flows/acc"]
    code, out, _ = run_cli(monkeypatch, capsys, repo, "runs", "list", "--json", "--flow", "flows/acc",
                           "--commit", "HEAD")
    runs = json.loads(out)["runs"]
    assert [r["name"] for r in runs] == ["first"] and runs[0]["linked"]
    code, out, _ = run_cli(monkeypatch, capsys, repo, "runs", "show", "first", "--json")
    shown = json.loads(out)
    assert shown["run"]["metrics"] == {"accuracy": 0.5, "n": 3}
    s = shown["settings"]
    assert s["column_mapping"] == {"groundtruth": "${data.groundtruth}"}
    assert s["variant"] == "${grade.variant_1}" and s["connections"] == {"grade.connection": "my_conn"}
    # outside the repository: kept absolute (as promptflow does), with the content's hash
    assert s["data"] == {"path": os.path.abspath(str(data)),
                         "sha256": hashlib.sha256(data.read_bytes()).hexdigest()}
    code, out, _ = run_cli(monkeypatch, capsys, repo, "runs", "show", "first", "--metrics")
    assert json.loads(out) == {"accuracy": 0.5, "n": 3}
    code, out, _ = run_cli(monkeypatch, capsys, repo, "runs", "show", "first", "--details")
    assert "outputs.grade" in out and "Correct" in out
    code, out, _ = run_cli(monkeypatch, capsys, repo, "runs", "stream", "first")
    assert [json.loads(x)["line_number"] for x in out.splitlines()] == [0, 1, 2]


def test_log_and_metrics_diff(repo, tmp_path, monkeypatch, capsys):
    c1 = git(repo, "rev-parse", "HEAD")
    _record(monkeypatch, capsys, repo, tmp_path, "v1run", 0.5)
    c2 = commit_change(repo, "flows/acc/grade.py", "# stricter\n", "stricter grading")
    _record(monkeypatch, capsys, repo, tmp_path, "v2run", 0.75)
    code, out, _ = run_cli(monkeypatch, capsys, repo, "log", "flows/acc", "--metric", "accuracy")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith(f"commit {c2[:8]}") and "stricter grading" in lines[0]
    assert lines[1].split() == ["v2run", "Completed", "3/3", "accuracy=0.75"]
    assert lines[2].startswith(f"commit {c1[:8]}") and lines[3].split()[-1] == "accuracy=0.5"
    code, out, _ = run_cli(monkeypatch, capsys, repo, "log", "--json", "-n", "1")
    flows = json.loads(out)["flows"]
    assert [f["path"] for f in flows] == ["flows/acc"] and len(flows[0]["commits"]) == 1
    code, out, _ = run_cli(monkeypatch, capsys, repo, "metrics", "diff", "v1run", "v2run", "--json")
    res = json.loads(out)
    acc = {m["name"]: m for m in res["metrics"]}["accuracy"]
    assert (acc["old"], acc["new"], acc["delta"]) == (0.5, 0.75, 0.25)
    code, out, _ = run_cli(monkeypatch, capsys, repo, "metrics", "diff", "HEAD~1", "HEAD", "--markdown")
    assert "| `accuracy` | 0.5 | 0.75 | +0.25 |" in out and "`v1run`" in out and "`v2run`" in out
    code, out, _ = run_cli(monkeypatch, capsys, repo, "metrics", "diff", "HEAD~1", "v2run")
    assert "accuracy  0.5  0.75  +0.25" in out


def test_evaluation_metrics_show_up_on_the_evaluated_run(repo, tmp_path, monkeypatch, capsys):
    out, _ = _files(tmp_path, 2, 0)
    assert run_cli(monkeypatch, capsys, repo, "runs", "record", "--flow", "flows/acc", "--outputs", out,
                   "--name", "batch")[0] == 0
    _record(monkeypatch, capsys, repo, tmp_path, "eval", 0.9, "--run", "batch")
    code, out, _ = run_cli(monkeypatch, capsys, repo, "log", "--metric", "accuracy", "--json")
    runs = {r["name"]: r for r in json.loads(out)["flows"][0]["commits"][0]["runs"]}
    assert runs["batch"]["metrics"] == {} and runs["batch"]["effective_metrics"] == {"accuracy": 0.9}
    assert runs["batch"]["evaluations"] == [{"name": "eval", "metrics": {"accuracy": 0.9}}]


@pytest.mark.parametrize("argv, msg", [
    (["runs", "show", "nope"], "unknown run 'nope'"),
    (["runs", "stream", "nope"], "unknown run 'nope'"),
    (["runs", "record", "--flow", "flows/acc", "--outputs", "missing.jsonl"], "missing.jsonl"),
    (["metrics", "diff", "nope", "HEAD"], "'nope' is neither a run nor a revision"),
    (["metrics", "diff", "HEAD", "HEAD"], "no run with metrics"),
    (["runs", "list", "--commit", "nope"], "unknown revision"),
])
def test_errors_are_one_line_exit_2(repo, monkeypatch, capsys, argv, msg):
    code, out, err = run_cli(monkeypatch, capsys, repo, *argv)
    assert code == 2 and msg in err and err.count("\n") == 1 and err.startswith("pfgit: ")


def test_bad_names_rejected_by_cli(repo, tmp_path, monkeypatch, capsys):
    out, _ = _files(tmp_path, 1, 1)
    for bad in ("a/b", "with space"):
        code, _, err = run_cli(monkeypatch, capsys, repo, "runs", "record", "--flow", "flows/acc",
                               "--outputs", out, "--name", bad)
        assert code == 2 and "invalid run name" in err
    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text('{"ok": 1}\nnot json\n')
    code, _, err = run_cli(monkeypatch, capsys, repo, "runs", "record", "--flow", "flows/acc",
                           "--outputs", str(bad_json))
    assert code == 2 and err.startswith(f"pfgit: {bad_json}:2: outputs line 2 is not JSON"), err
    assert git(repo, "for-each-ref", "refs/pfgit") == ""


def test_push_and_fetch_between_clones(repo, tmp_path, monkeypatch, capsys):
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    git(repo, "remote", "add", "origin", remote.as_uri())
    git(repo, "push", "-q", "origin", "main")
    _record(monkeypatch, capsys, repo, tmp_path, "shared", 0.6)
    (repo / "flows/acc/grade.py").write_text("# dirty\n")            # a worktree run travels too
    _record(monkeypatch, capsys, repo, tmp_path, "dirty", 0.7)
    code, out, _ = run_cli(monkeypatch, capsys, repo, "push", "--json")
    res = json.loads(out)
    assert code == 0 and sorted(res["updated"]) == ["refs/pfgit/runs/dirty", "refs/pfgit/runs/shared"]
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", remote.as_uri(), str(clone))
    code, out, _ = run_cli(monkeypatch, capsys, clone, "fetch", "--json")
    assert code == 0 and len(json.loads(out)["updated"]) == 2
    code, out, err = run_cli(monkeypatch, capsys, clone, "runs", "list", "--json", "--commit", "HEAD")
    assert code == 0, err
    assert [r["name"] for r in json.loads(out)["runs"]] == ["shared"]
    code, out, _ = run_cli(monkeypatch, capsys, clone, "runs", "stream", "dirty")
    assert len(out.splitlines()) == 3
    assert git(clone, "show", "refs/pfgit/runs/dirty^:flows/acc/grade.py") == "# dirty"
    # a different run under a taken name is rejected, not overwritten
    _record(monkeypatch, capsys, clone, tmp_path, "clone_only", 0.1)
    git(clone, "update-ref", "refs/pfgit/runs/shared", git(clone, "rev-parse", "refs/pfgit/runs/clone_only"))
    code, out, _ = run_cli(monkeypatch, capsys, clone, "push", "--json")
    res = json.loads(out)
    assert code == 1 and [r["ref"] for r in res["rejected"]] == ["refs/pfgit/runs/shared"]
    assert res["updated"] == ["refs/pfgit/runs/clone_only"]
    code, out, _ = run_cli(monkeypatch, capsys, clone, "fetch", "--json")
    assert code == 1 and json.loads(out)["rejected"][0]["ref"] == "refs/pfgit/runs/shared"


def test_gc_runs_of_deleted_flows(repo, tmp_path, monkeypatch, capsys):
    import flows

    flows.write(repo / "flows" / "ifelse", flows.IF_ELSE)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "second flow")
    _record(monkeypatch, capsys, repo, tmp_path, "acc_run", 0.5)
    out, _ = _files(tmp_path, 1, 2)
    assert run_cli(monkeypatch, capsys, repo, "runs", "record", "--flow", "flows/ifelse", "--outputs", out,
                   "--name", "ifelse_run")[0] == 0
    git(repo, "rm", "-q", "-r", "flows/ifelse")
    git(repo, "commit", "-q", "-m", "drop ifelse")
    code, out, _ = run_cli(monkeypatch, capsys, repo, "runs", "gc", "--json")
    assert json.loads(out) == {"runs": ["ifelse_run"], "deleted": [], "dry_run": True}
    assert "refs/pfgit/runs/ifelse_run" in git(repo, "for-each-ref", "refs/pfgit")
    git(repo, "mv", "flows/acc", "flows/accuracy")                      # moved, not deleted
    git(repo, "commit", "-q", "-m", "move acc")
    code, out, _ = run_cli(monkeypatch, capsys, repo, "runs", "gc", "--yes")
    assert code == 0 and "deleted ifelse_run" in out and "acc_run" not in out
    assert "ifelse_run" not in git(repo, "for-each-ref", "refs/pfgit")
    code, out, _ = run_cli(monkeypatch, capsys, repo, "runs", "list", "--json")
    assert [r["name"] for r in json.loads(out)["runs"]] == ["acc_run"]


def test_index_rebuild_command(repo, tmp_path, monkeypatch, capsys):
    _record(monkeypatch, capsys, repo, tmp_path, "x", 0.5)
    code, out, _ = run_cli(monkeypatch, capsys, repo, "index", "rebuild", "--json")
    res = json.loads(out)
    assert code == 0 and res["runs"] == 1 and res["commits"] == 1 and res["flow_paths"] == ["flows/acc"]


def test_record_with_inputs_and_logs(repo, tmp_path, monkeypatch, capsys):
    out, met = _files(tmp_path, 2, 0.5)
    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text('{"q": "a"}\n{"q": "b"}\n')
    log = tmp_path / "run.log"
    log.write_text("line one\n")
    code, _, err = run_cli(monkeypatch, capsys, repo, "runs", "record", "--flow", "flows/acc/flow.dag.yaml",
                           "--outputs", out, "--inputs", str(inputs), "--log", str(log), "--name", "withlogs",
                           "--status", "Failed")
    assert code == 0, err
    assert git(repo, "show", "refs/pfgit/runs/withlogs:logs/run.log") == "line one"
    code, out_text, _ = run_cli(monkeypatch, capsys, repo, "runs", "stream", "withlogs", "--inputs")
    assert out_text.splitlines() == ['{"q": "a"}', '{"q": "b"}']
    code, out_text, _ = run_cli(monkeypatch, capsys, repo, "runs", "list", "--json")
    assert json.loads(out_text)["runs"][0]["status"] == "Failed"


def test_linked_worktree_shares_runs_and_index(repo, tmp_path, monkeypatch, capsys):
    side = tmp_path / "side"
    git(repo, "worktree", "add", "-q", str(side), "-b", "side")
    (side / "flows/acc/grade.py").write_text("# side edit\n")
    _record(monkeypatch, capsys, side, tmp_path, "from_side", 0.4)
    code, out, _ = run_cli(monkeypatch, capsys, repo, "runs", "list", "--json")
    assert [r["name"] for r in json.loads(out)["runs"]] == ["from_side"]
    assert (repo / ".git/pfgit/index.sqlite").exists() and not (repo / ".git/worktrees/side/pfgit").exists()
    code, out, _ = run_cli(monkeypatch, capsys, repo, "runs", "stream", "from_side")
    assert len(out.splitlines()) == 3
