"""End to end: a repository with a flow, an evaluation flow and pfgit.yaml; `pfgit check` runs what
is not recorded (pfgit's runner, python-only flows), fails a PR that lowers accuracy, passes one that
improves it, and reuses the runs on a second check; `pfgit bisect` finds a planted regression."""

from __future__ import annotations

import json

import pytest

from ci_flows import CAPITALS, set_table, write_repo
from pfgit.check import runs as check_runs
from runs_helpers import broken_copy, git, run_cli


@pytest.fixture
def repo(tmp_path):
    return write_repo(tmp_path / "repo")


def _check(monkeypatch, capsys, repo, *args):
    check_runs.RUNS_MADE.clear()
    return run_cli(monkeypatch, capsys, repo, "check", "--baseline", "main", *args)


def test_check_runs_both_sides_and_fails_a_regression(repo, monkeypatch, capsys):
    git(repo, "checkout", "-q", "-b", "forget")
    worse = {k: v for k, v in CAPITALS.items() if k not in ("Peru", "Chile")}
    set_table(repo, worse, "Forget two capitals")
    code, out, err = _check(monkeypatch, capsys, repo, "--json")
    assert code == 1, err
    res = json.loads(out)
    (f,) = res["flows"]
    assert f["path"] == "flows/qa" and not f["ok"]
    assert f["gates"][0]["baseline"] == 1 and f["gates"][0]["head"] == 0.75
    assert f["gates"][0]["reasons"] == ["dropped by 0.25 (> max drop 0.1)"]
    assert [ln["line"] for ln in f["flipped"]["lines"]] == [4, 5]
    assert f["flipped"]["lines"][0]["inputs"] == {"question": "Capital of Peru?"}
    assert f["flipped"]["lines"][0]["head_output"] == {"answer": "unknown"}
    # HEAD and the merge base, each a run and its evaluation
    assert len(check_runs.RUNS_MADE) == 4
    assert git(repo, "status", "--porcelain") == ""          # nothing written to the worktree
    assert "pfgit-checkout" not in git(repo, "worktree", "list")

    # a second check on the same commits runs nothing: the recorded runs are reused
    code, out, _ = _check(monkeypatch, capsys, repo)
    assert code == 1 and check_runs.RUNS_MADE == []
    assert "FAIL        accuracy: 1 -> 0.75 (-0.25)" in out

    # the head's evaluation run turns unreadable (a hostile ref): skipped, and a new evaluation
    # of the same head run is made (the head run itself is reused)
    ev = f["head_run"]["evaluation"]
    broken_copy(repo, ev, "broken-eval", "run.json")
    git(repo, "update-ref", "-d", f"refs/pfgit/runs/{ev}")
    code, out, err = _check(monkeypatch, capsys, repo, "--json")
    assert code == 1 and len(check_runs.RUNS_MADE) == 1, err
    res = json.loads(out)
    assert [s["run"] for s in res["skipped_runs"]] == ["broken-eval"]
    head = res["flows"][0]["head_run"]
    assert head["run"] == f["head_run"]["run"] and head["evaluation"] == check_runs.RUNS_MADE[0]
    assert res["flows"][0]["gates"][0]["head"] == 0.75


def test_check_passes_an_improvement(repo, monkeypatch, capsys):
    worse = {k: v for k, v in CAPITALS.items() if k != "Egypt"}
    set_table(repo, worse, "main forgets Egypt")
    git(repo, "checkout", "-q", "-b", "fix")
    set_table(repo, CAPITALS, "Remember Egypt")
    code, out, err = _check(monkeypatch, capsys, repo)
    assert code == 0, err + out
    assert "pass        accuracy: 0.875 -> 1 (+0.125), gate min 0.5, max drop 0.1" in out
    assert out.endswith("check passed\n")


def test_check_no_run_only_judges_recorded_runs(repo, monkeypatch, capsys):
    git(repo, "checkout", "-q", "-b", "x")
    set_table(repo, CAPITALS | {"Mali": "Bamako"}, "Add Mali")
    code, out, _ = _check(monkeypatch, capsys, repo, "--no-run")
    assert code == 1 and check_runs.RUNS_MADE == []
    assert "no run of this flow at HEAD" in out


def test_bisect_finds_a_planted_regression_in_50_commits(repo, monkeypatch, capsys):
    """50 commits changing the flow; commit 31 drops two capitals (accuracy 1 -> 0.75). Recorded
    runs exist for none: every judged commit is a run, and at most 7 are needed."""
    table = dict(CAPITALS)
    shas = []
    for i in range(1, 50):
        if i == 31:
            table = {k: v for k, v in table.items() if k not in ("Kenya", "Chile")}
        table[f"Land{i}"] = f"City{i}"  # every commit changes the flow (unasked countries)
        shas.append(set_table(repo, table, f"step {i}"))
    check_runs.RUNS_MADE.clear()
    code, out, err = run_cli(monkeypatch, capsys, repo, "bisect", "--metric", "accuracy",
                             "--min", "0.9", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["first_bad"]["commit"] == shas[30]
    assert res["first_bad"]["summary"] == "step 31" and res["first_bad"]["value"] == 0.75
    assert res["runs_made"] <= 7 and res["runs_used"] == 0
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "rev-parse", "HEAD") == shas[-1]
    assert "pfgit-checkout" not in git(repo, "worktree", "list")

    # runs are recorded: the same bisect again makes none
    code, out, _ = run_cli(monkeypatch, capsys, repo, "bisect", "--metric", "accuracy", "--min", "0.9")
    assert code == 0
    assert "first bad commit: " + shas[30][:8] in out
    assert out.splitlines()[-1].endswith("runs made") and " 0 runs made" in out


def test_bisect_good_commit_that_is_bad_is_exit_1(repo, monkeypatch, capsys):
    set_table(repo, {"France": "Paris"}, "only France")
    code, _, err = run_cli(monkeypatch, capsys, repo, "bisect", "--metric", "accuracy",
                           "--min", "1.5", "HEAD~1", "HEAD")
    assert code == 1
    assert "the good commit" in err and "is bad for accuracy >= 1.5 (accuracy=1.0)" in err


@pytest.mark.parametrize("bound", ["nan", "inf"])
def test_bisect_refuses_a_bound_that_is_not_a_finite_number(repo, monkeypatch, capsys, bound):
    # --min nan judged every commit good: "no commit crossed" where one did
    code, _, err = run_cli(monkeypatch, capsys, repo, "bisect", "--metric", "accuracy", "--min", bound)
    assert (code, err) == (2, f"pfgit: --min must be a finite number, got {float(bound)}\n")


def test_check_jobs_makes_both_sides_runs_in_parallel_processes(repo, monkeypatch, capsys):
    git(repo, "checkout", "-q", "-b", "forget")
    set_table(repo, {k: v for k, v in CAPITALS.items() if k != "Peru"}, "Forget Peru")
    code, out, err = _check(monkeypatch, capsys, repo, "--jobs", "2", "--json")
    assert code == 1, err
    f = json.loads(out)["flows"][0]
    assert f["gates"][0]["baseline"] == 1 and f["gates"][0]["head"] == 0.875
    assert len(check_runs.RUNS_MADE) == 4          # made in the worker processes, counted here
    assert git(repo, "status", "--porcelain") == ""
    assert "pfgit-checkout" not in git(repo, "worktree", "list")
    code, _, _ = _check(monkeypatch, capsys, repo, "--jobs", "2")
    assert code == 1 and check_runs.RUNS_MADE == []


def test_check_does_not_run_a_flow_that_does_not_validate(repo, monkeypatch, capsys):
    git(repo, "checkout", "-q", "-b", "broken")
    flow = repo / "flows" / "qa" / "flow.dag.yaml"
    flow.write_text(flow.read_text().replace("${inputs.question}", "${nope.output}"))
    git(repo, "commit", "-q", "-am", "break the reference")
    for jobs in ("1", "2"):
        code, out, err = _check(monkeypatch, capsys, repo, "--jobs", jobs)
        assert code == 1, err
        assert "note: the flow does not validate at HEAD" in out
        assert check_runs.RUNS_MADE == []      # neither side was run: the verdict needs no metrics


def test_bisect_of_adjacent_commits_judges_each_commit_once(repo, monkeypatch, capsys):
    # `git bisect run` also judges its first checkout, BAD itself here: it was listed twice
    good = set_table(repo, dict(CAPITALS, Land="City"), "good")
    bad = set_table(repo, {k: v for k, v in CAPITALS.items() if k not in ("Kenya", "Chile")}, "bad")
    check_runs.RUNS_MADE.clear()
    code, out, err = run_cli(monkeypatch, capsys, repo, "bisect", "--metric", "accuracy",
                             "--min", "0.9", good, bad, "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["first_bad"]["commit"] == bad
    commits = [s["commit"] for s in res["steps"]]
    assert sorted(commits) == sorted(set(commits)), commits
