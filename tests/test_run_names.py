"""Issue 8 section 3: a run name that is also a revision (which one was used, and choosing),
name clashes on push/fetch say what to do, and `pfgit runs rename OLD NEW`."""

from __future__ import annotations

import json

import pytest

from pfgit.store.snapshot import record_run
from runs_helpers import open_repo, run_cli
from secure_helpers import git, lines, make_flow_repo


@pytest.fixture
def repo(tmp_path):
    return make_flow_repo(tmp_path)


def test_a_run_name_that_is_also_a_revision_says_which_was_used(repo, monkeypatch, capsys):
    r = open_repo(repo)
    record_run(r, "flow", "main", lines({"x": 1}), {"acc": 0.25}, {})     # a run named like the branch
    record_run(r, "flow", "other", lines({"x": 1}), {"acc": 0.75}, {})
    code, out, err = run_cli(monkeypatch, capsys, repo, "metrics", "diff", "main", "other", "--json")
    assert code == 0 and "'main' is both a run and a revision: used the run" in err
    res = json.loads(out)
    assert res["a"]["run"] == "main" and "rev:main" in res["a"]["note"] and "note" not in res["b"]
    code, out, err = run_cli(monkeypatch, capsys, repo, "metrics", "diff", "rev:main", "run:main", "--json")
    res = json.loads(out)
    assert code == 0 and not err
    assert res["a"]["commit"] == git(repo, "rev-parse", "main") and res["a"]["run"] == "other"  # newest
    assert res["b"]["run"] == "main" and res["b"]["metrics"] == {"acc": 0.25}
    code, _, err = run_cli(monkeypatch, capsys, repo, "metrics", "diff", "run:nope", "other")
    assert code == 2 and "unknown run 'nope'" in err
    code, out, _ = run_cli(monkeypatch, capsys, repo, "diff", "run:main", "main", "--stat")
    assert code == 0   # run:NAME is the run's snapshot commit for revision arguments too


def _clash(tmp_path, repo):
    bare = tmp_path / "shared.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(repo, "push", "-q", str(bare), "main")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare), str(clone))
    record_run(open_repo(repo), str(repo / "flow"), "shared", lines({"x": 1}), {"acc": 1}, {})
    record_run(open_repo(clone), str(clone / "flow"), "shared", lines({"x": 2}), {"acc": 0}, {})
    return bare, clone


def test_a_name_clash_on_push_and_fetch_says_what_to_do(repo, tmp_path, monkeypatch, capsys):
    bare, clone = _clash(tmp_path, repo)
    assert run_cli(monkeypatch, capsys, repo, "push", str(bare))[0] == 0
    code, out, _ = run_cli(monkeypatch, capsys, clone, "push")
    assert code == 1 and "rejected refs/pfgit/runs/shared" in out
    assert "pfgit runs rename shared NEW_NAME` and push again" in out
    code, out, _ = run_cli(monkeypatch, capsys, clone, "fetch", "--json")
    assert code == 1
    assert "pfgit runs rename shared NEW_NAME` and fetch again" in json.loads(out)["rejected"][0]["hint"]


def test_runs_rename_resolves_the_clash_and_keeps_evaluations(repo, tmp_path, monkeypatch, capsys):
    bare, clone = _clash(tmp_path, repo)
    assert run_cli(monkeypatch, capsys, repo, "push", str(bare))[0] == 0
    record_run(open_repo(clone), str(clone / "flow"), "ev", lines({"g": 1}), {"score": 0.5}, {}, base_run="shared")
    code, out, err = run_cli(monkeypatch, capsys, clone, "runs", "rename", "shared", "mine")
    assert code == 0, err
    assert "renamed run shared to mine" in out and "ev" in out
    assert git(clone, "show", "refs/pfgit/runs/mine:run.json").count('"name": "mine"') == 1
    ev = json.loads(git(clone, "show", "refs/pfgit/runs/ev:run.json"))
    assert ev["base_run"] == {"name": "mine", "commit": git(clone, "rev-parse", "refs/pfgit/runs/mine")}
    assert git(clone, "rev-parse", "refs/pfgit/runs/ev^2") == git(clone, "rev-parse", "refs/pfgit/runs/mine")
    code, out, _ = run_cli(monkeypatch, capsys, clone, "runs", "show", "mine", "--json")
    assert json.loads(out)["run"]["evaluations"][0]["name"] == "ev"
    assert run_cli(monkeypatch, capsys, clone, "fetch")[0] == 0       # no clash any more
    assert run_cli(monkeypatch, capsys, clone, "push")[0] == 0
    code, out, _ = run_cli(monkeypatch, capsys, clone, "runs", "list", "--json")
    assert sorted(r["name"] for r in json.loads(out)["runs"]) == ["ev", "mine", "shared"]
    for bad in (["shared", "mine"], ["nope", "x"], ["mine", "a/b"]):
        code, _, err = run_cli(monkeypatch, capsys, clone, "runs", "rename", *bad)
        assert code == 2 and err.startswith("pfgit: "), (bad, err)


def test_a_fetched_run_named_like_an_option_is_addressed_after_dashdash(repo, tmp_path, monkeypatch, capsys):
    # pfgit refuses to make such a name, but a remote's refs/pfgit/runs/-x arrives by fetch
    r = open_repo(repo)
    record_run(r, "flow", "good", lines({"x": 1}), {"acc": 0.5}, {})
    for name in ("-x", "--help"):
        git(repo, "update-ref", f"refs/pfgit/runs/{name}", "refs/pfgit/runs/good")
    code, out, _ = run_cli(monkeypatch, capsys, repo, "runs", "list", "--json")
    assert code == 0 and {x["name"] for x in json.loads(out)["runs"]} == {"-x", "--help", "good"}
    code, _, err = run_cli(monkeypatch, capsys, repo, "runs", "show", "-x")
    assert code == 2 and err == "pfgit: no such option: -x\n"
    for argv in (["runs", "show", "--json", "--", "--help"], ["runs", "show", "--details", "--", "-x"],
                 ["runs", "diff", "--json", "--", "-x", "good"], ["runs", "stream", "--", "-x"],
                 ["metrics", "diff", "run:-x", "good"], ["metrics", "diff", "--", "-x", "good"],
                 ["checkout-run", "--", "-x", str(tmp_path / "co")],
                 ["export-zip", "flow", "--run=-x", "-o", str(tmp_path / "x.zip")]):
        code, out, err = run_cli(monkeypatch, capsys, repo, *argv)
        assert code == 0 and out and not err, (argv, err)
    code, out, _ = run_cli(monkeypatch, capsys, repo, "runs", "show", "--json", "--", "--help")
    assert json.loads(out)["run"]["name"] == "--help"
    code, _, err = run_cli(monkeypatch, capsys, repo, "runs", "rename", "--", "-x", "dash-x")
    assert code == 0 and git(repo, "for-each-ref", "--format=%(refname)", "refs/pfgit/runs/-x") == ""
    code, _, err = run_cli(monkeypatch, capsys, repo, "runs", "rename", "--", "good", "-y")
    assert code == 2 and "invalid run name '-y': it starts with '.' or '-'" in err
