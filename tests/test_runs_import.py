"""`pfgit runs import` of REAL promptflow run records (captured with pf 1.18.5 by
tests/pf_runs_gen.py from the flows of tests/flows.py into tests/fixtures/pf_runs; the slow test
generates them live)."""

from __future__ import annotations

import importlib.util
import json
import pathlib

import pytest

import pf_runs_gen
from pfgit.store.flowmatch import normalize_flow
from runs_helpers import commit_change, git, run_cli

FIXTURE = pathlib.Path(__file__).parent / "fixtures" / "pf_runs"


@pytest.fixture
def pf_home(tmp_path):
    return pf_runs_gen.materialize(FIXTURE, tmp_path / "pfhome")


@pytest.fixture
def repo(tmp_path):
    repo = tmp_path / "repo"
    pf_runs_gen.make_repo(repo)
    return repo


def _import(monkeypatch, capsys, repo, *args):
    code, out, err = run_cli(monkeypatch, capsys, repo, "runs", "import", *args, "--json")
    assert code == 0, err
    return json.loads(out)


def test_import_links_runs_to_the_flow_commit(repo, pf_home, monkeypatch, capsys):
    head = git(repo, "rev-parse", "HEAD")
    commit_change(repo, "flows/eval_acc/grade.py", "# later change\n", "later")  # HEAD moves on
    res = _import(monkeypatch, capsys, repo, str(pf_home))
    by = {r["run"]: r for r in res["runs"]}
    assert res["summary"]["linked"] == 3
    assert by["batch1"]["commit"] == head and by["batch1"]["flow"] == "flows/if_else"
    # pf merged variant_1 into the snapshot's nodes: still the committed flow with that variant
    assert by["variant1"]["commit"] == head and by["variant1"]["flow"] == "flows/if_else_var"
    assert json.loads(git(repo, "show", "refs/pfgit/runs/variant1:run.json"))["variant"] == \
        "${default_result.variant_1}"
    assert by["eval1"]["commit"] == head and by["eval1"]["flow"] == "flows/eval_acc"
    # eval1 evaluated batch1: second parent; metrics and outputs as promptflow wrote them
    assert git(repo, "rev-parse", "refs/pfgit/runs/eval1^2") == git(repo, "rev-parse", "refs/pfgit/runs/batch1")
    assert git(repo, "rev-parse", "refs/pfgit/runs/eval1^1") == head
    assert json.loads(git(repo, "show", "refs/pfgit/runs/eval1:metrics.json")) == {"accuracy": 0.0}
    run = json.loads(git(repo, "show", "refs/pfgit/runs/eval1:run.json"))
    assert run["column_mapping"] == {"groundtruth": "${data.expected}", "prediction": "${run.outputs.answer}"}
    assert run["source"]["tool"] == "promptflow" and run["source"]["run"] == "eval1"
    assert run["lines"] == {"total": 2, "completed": 2, "failed": 0}
    assert run["start_time"].startswith("2026-") and run["status"] == "Completed"
    assert "logs.txt" in git(repo, "ls-tree", "--name-only", "refs/pfgit/runs/batch1:logs")
    code, out, _ = run_cli(monkeypatch, capsys, repo, "runs", "stream", "batch1")
    assert [json.loads(x)["line_number"] for x in out.splitlines()] == [0, 1]
    # the evaluation's accuracy shows on the batch run's commit in `pfgit log`
    code, out, _ = run_cli(monkeypatch, capsys, repo, "log", "flows/if_else", "--metric", "accuracy")
    assert "batch1  Completed  2/2  accuracy=0" in out
    # importing again changes nothing
    again = _import(monkeypatch, capsys, repo, str(pf_home))
    assert {r["status"] for r in again["runs"]} == {"exists"}


def test_import_unlinked_when_no_commit_holds_the_flow(tmp_path, pf_home, monkeypatch, capsys):
    repo = tmp_path / "other"
    pf_runs_gen.make_repo(repo)
    commit_change(repo, "flows/if_else/llm_result.py", "# every commit differs from the run\n", "edit")
    git(repo, "checkout", "-q", "--orphan", "fresh")
    git(repo, "commit", "-q", "-m", "only the edited tree")
    git(repo, "branch", "-D", "main")
    git(repo, "reflog", "expire", "--expire=now", "--all")
    git(repo, "gc", "-q", "--prune=now")
    res = _import(monkeypatch, capsys, repo, str(pf_home / ".runs" / "batch1"))
    (entry,) = res["runs"]
    assert entry["status"] == "unlinked" and entry["commit"] is None and entry["flow"] == "promptflow/if_else"
    assert git(repo, "rev-list", "--parents", "-n", "1", "refs/pfgit/runs/batch1").split()[1:] == []
    run = json.loads(git(repo, "show", "refs/pfgit/runs/batch1:run.json"))
    assert run["flow"]["commit"] is None and run["settings"]["unlinked"] is True
    assert git(repo, "show", "refs/pfgit/runs/batch1:flow/llm_result.py").startswith("from promptflow")
    code, out, _ = run_cli(monkeypatch, capsys, repo, "runs", "list")
    assert "batch1" in out and " - " in out.splitlines()[1]


def test_dry_run_writes_nothing(repo, pf_home, monkeypatch, capsys):
    res = _import(monkeypatch, capsys, repo, str(pf_home), "--dry-run")
    assert res["dry_run"] and res["summary"]["linked"] == 3
    assert git(repo, "for-each-ref", "refs/pfgit") == ""


def test_variant_merge_normalisation_matches_promptflow_rewrite():
    source = {"name": "x", "inputs": {"q": {"type": "string"}},
              "nodes": [{"name": "summarize", "use_variants": True}],
              "node_variants": {"summarize": {"default_variant_id": "variant_0", "variants": {
                  "variant_0": {"node": {"type": "llm", "inputs": {"t": 0}}},
                  "variant_1": {"node": {"type": "llm", "inputs": {"t": 1}}}}}}}
    snapshot = {"inputs": {"q": {"type": "string"}},
                "nodes": [{"name": "summarize", "type": "llm", "inputs": {"t": 1}}],
                "node_variants": source["node_variants"]}
    assert normalize_flow(snapshot) == normalize_flow(source, "${summarize.variant_1}")
    assert normalize_flow(snapshot) != normalize_flow(source, "${summarize.variant_0}")
    assert normalize_flow(snapshot) != normalize_flow(source)      # default is variant_0


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("promptflow") is None or not pf_runs_gen.PF.exists(),
                    reason="promptflow not installed")
def test_live_promptflow_runs_import(tmp_path, monkeypatch, capsys):
    gen = pf_runs_gen.generate(tmp_path / "live")
    res = _import(monkeypatch, capsys, gen["repo"], str(gen["pfhome"]))
    assert {r["run"]: r["status"] for r in res["runs"]} == {"batch1": "linked", "eval1": "linked",
                                                            "variant1": "linked"}
    assert {r["commit"] for r in res["runs"]} == {gen["commit"]}
