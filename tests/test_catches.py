"""Tests that each catch a bug a mutation pass planted and the suite missed (issue 8, section 7).

All on flows and repositories the tests write; each names the behaviour it pins down.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pfgit.errors import UsageError
from pfgit.flow.load import load_text
from pfgit.flow.refs import parse_ref
from pfgit.git import runrefs
from pfgit.index import query
from pfgit.index.db import open_index
from pfgit.store.snapshot import record_run
from pfgit.validate import validate_flow
from runs_helpers import git, open_repo, run_cli

FLOW = """\
inputs:
  text:
    type: string
outputs:
  out:
    type: string
    reference: ${upper.output}
nodes:
- name: upper
  type: python
  source:
    type: code
    path: upper.py
  inputs:
    text: ${inputs.text}
"""
TOOL = "from promptflow.core import tool\n\n\n@tool\ndef upper(text: str) -> str:\n    return text.upper()\n"


def make_repo(path):
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "flows" / "f").mkdir(parents=True)
    (path / "flows" / "f" / "flow.dag.yaml").write_text(FLOW)
    (path / "flows" / "f" / "upper.py").write_text(TOOL)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "flow")
    return path


@pytest.fixture
def repo(tmp_path):
    return make_repo(tmp_path / "repo")


def record(repo, name, metrics, **kw):
    return record_run(open_repo(repo), "flows/f", name, ['{"out": "X"}'], metrics,
                      kw.pop("settings", {}), None, **kw)


def indexed(repo, name):
    idx = open_index(open_repo(repo))
    try:
        return {r["name"]: r for r in query.attach_metrics(idx, query.list_runs(idx))}.get(name)
    finally:
        idx.close()


# -- references --------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["${a.output}x", "x${a.output}", "${a.output} ", "${a.output"])
def test_text_around_a_reference_is_not_a_reference(text):
    # promptflow: only a whole-string ${...} is a reference; the rest is a literal
    assert parse_ref(text) is None
    flow = load_text(FLOW.replace("text: ${inputs.text}", f"text: '{text}'"))
    problems = validate_flow(flow)
    assert "dangling-ref" not in [p.code for p in problems]
    assert flow.dependencies(flow.nodes[0]) == []
    assert [p.code for p in problems] == ["embedded-ref"]  # pfgit warns about ${ in a literal


# -- the run index follows repointed refs ----------------------------------------------------

def test_index_rereads_a_run_ref_repointed_by_update_ref(repo):
    one = record(repo, "one", {"accuracy": 0.1})
    two = record(repo, "two", {"accuracy": 0.9})
    assert indexed(repo, "one")["metrics"] == {"accuracy": 0.1}
    git(repo, "update-ref", "refs/pfgit/runs/one", two.commit, one.commit)
    row = indexed(repo, "one")
    assert row["snapshot"] == two.commit and row["metrics"] == {"accuracy": 0.9}


def test_index_rereads_a_run_ref_repointed_by_pfgit_fetch(tmp_path, monkeypatch, capsys):
    a = make_repo(tmp_path / "a")
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(a), str(remote))
    b = tmp_path / "b"
    git(tmp_path, "clone", "-q", str(remote), str(b))
    record(a, "shared", {"accuracy": 0.1})
    assert indexed(a, "shared")["metrics"] == {"accuracy": 0.1}
    theirs = record(b, "shared", {"accuracy": 0.7})
    code, out, err = run_cli(monkeypatch, capsys, b, "push", "--json")
    assert code == 0, err
    code, out, err = run_cli(monkeypatch, capsys, a, "fetch", str(remote), "--force", "--json")
    assert code == 0 and json.loads(out)["updated"] == ["refs/pfgit/runs/shared"], err
    row = indexed(a, "shared")
    assert row["snapshot"] == theirs.commit and row["metrics"] == {"accuracy": 0.7}


# -- effective metrics -------------------------------------------------------------------------

def test_newest_of_two_evaluation_runs_decides_the_effective_metric(repo):
    record(repo, "batch", {"n": 3})
    # recorded in the other order, and alphabetically the other way round, than their end times
    record(repo, "a_newer_eval", {"accuracy": 0.9}, base_run="batch",
           settings={"end_time": "2026-01-02T00:00:00"})
    record(repo, "z_older_eval", {"accuracy": 0.4, "f1": 0.3}, base_run="batch",
           settings={"end_time": "2026-01-01T00:00:00"})
    row = indexed(repo, "batch")
    assert [e["name"] for e in row["evaluations"]] == ["a_newer_eval", "z_older_eval"]
    assert row["effective_metrics"] == {"n": 3, "accuracy": 0.9, "f1": 0.3}


# -- the same name claimed twice -------------------------------------------------------------

def test_same_name_race_loser_fails_and_the_winner_is_kept(repo, monkeypatch):
    # The race made deterministic: the second writer passed the "name is free" check before
    # the first one created the ref (get_run answers None), so only the atomic ref creation
    # stands between it and an overwrite.
    first = record(repo, "contested", {"accuracy": 0.1})
    monkeypatch.setattr(runrefs, "get_run", lambda r, name: None)
    with pytest.raises(UsageError, match="already exists"):
        record(repo, "contested", {"accuracy": 0.9})
    monkeypatch.undo()
    assert runrefs.get_run(open_repo(repo), "contested") == first.commit.encode()
    assert indexed(repo, "contested")["metrics"] == {"accuracy": 0.1}


# -- exit codes of the merge driver and `pfgit conflicts` ---------------------------------

def _three(tmp_path, ours, theirs):
    for name, text in (("base.yaml", FLOW), ("ours.yaml", ours), ("theirs.yaml", theirs)):
        (tmp_path / name).write_text(text)
    return [str(tmp_path / n) for n in ("base.yaml", "ours.yaml", "theirs.yaml")]


def test_merge_driver_exit_codes(tmp_path, capsys):
    from pfgit.integrate.mergedriver import main

    base, ours, theirs = _three(tmp_path, FLOW.replace("type: string\n  upper", "type: string\n  x"),
                                FLOW.replace("    type: string\n    reference", "    type: int\n    reference"))
    assert main([base, ours, theirs, "flows/f/flow.dag.yaml"]) == 0          # clean: merged into %A
    assert "type: int" in open(ours).read()
    base, ours, theirs = _three(tmp_path, FLOW.replace("path: upper.py", "path: a.py"),
                                FLOW.replace("path: upper.py", "path: b.py"))
    assert main([base, ours, theirs, "flows/f/flow.dag.yaml"]) == 1          # conflict: markers
    text = open(ours).read()
    assert "<<<<<<<" in text and "a.py" in text and "b.py" in text
    before = open(ours).read()
    assert main([base + ".missing", ours, theirs, "flows/f/flow.dag.yaml"]) == 2  # unreadable
    assert open(ours).read() == before
    assert main([base, ours]) == 2                                            # usage
    assert "usage:" in capsys.readouterr().err


def test_pfgit_conflicts_exit_codes(tmp_path, monkeypatch, capsys):
    from pfgit.merge.files import merge_paths

    d = tmp_path / "flows" / "f"
    d.mkdir(parents=True)
    (d / "flow.dag.yaml").write_text(FLOW)
    (d / "upper.py").write_text(TOOL)
    code, out, err = run_cli(monkeypatch, capsys, tmp_path, "conflicts")
    assert code == 0, err
    base, ours, theirs = _three(tmp_path, FLOW.replace("path: upper.py", "path: a.py"),
                                FLOW.replace("path: upper.py", "path: b.py"))
    merge_paths(ours, base, theirs)
    (d / "flow.dag.yaml").write_text(open(ours).read())
    code, out, err = run_cli(monkeypatch, capsys, tmp_path, "conflicts", "--json")
    assert code == 1 and json.loads(out)["summary"]["conflicts"] >= 1
    code, out, err = run_cli(monkeypatch, capsys, tmp_path, "conflicts", "nope")
    assert code in (0, 2) and "Traceback" not in err


# -- found by the second mutation pass (validate, diff, index) -------------------------------

def _flow_dir(tmp_path, flow: str, files: dict):
    d = tmp_path / "flow"
    d.mkdir(parents=True, exist_ok=True)
    (d / "flow.dag.yaml").write_text(flow)
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    from pfgit.flow.readers import DirReader
    from pfgit.validate import validate_path

    return [(p.code, p.node) for r in validate_path(DirReader(str(tmp_path)), "flow") for p in r.problems]


def test_a_node_reading_its_own_output_is_a_cycle():
    flow = load_text(FLOW.replace("text: ${inputs.text}", "text: ${upper.output}"))
    assert [p.code for p in validate_flow(flow)] == ["cycle"]


def test_an_include_name_is_a_path_segment_not_a_prefix(tmp_path):
    # additional_includes ../lib maps lib/... only: 'libx/upper.py' is not '../lib/upper.py'
    flow = "additional_includes:\n- ../lib\n" + FLOW.replace("path: upper.py", "path: libx/upper.py")
    assert _flow_dir(tmp_path, flow, {"lib/upper.py": TOOL}) == [("missing-source", "upper")]
    flow = "additional_includes:\n- ../lib\n" + FLOW.replace("path: upper.py", "path: lib/upper.py")
    assert _flow_dir(tmp_path, flow, {}) == []


def test_keyword_only_parameters_with_defaults_are_optional(tmp_path):
    tool = TOOL.replace("def upper(text: str)", "def upper(text: str, *, loud: bool = False, n: int)")
    assert _flow_dir(tmp_path, FLOW, {"flow/upper.py": tool}) == [("missing-tool-input", "upper")]


def test_a_numeric_default_variant_id_names_its_variant():
    text = FLOW.replace("  type: python\n  source:\n    type: code\n    path: upper.py\n"
                        "  inputs:\n    text: ${inputs.text}\n", "  use_variants: true\n")
    text += ("node_variants:\n  upper:\n    default_variant_id: 1\n    variants:\n      1:\n"
             "        node:\n          type: python\n          source: {type: code, path: upper.py}\n"
             "          inputs:\n            text: ${inputs.text}\n")
    # (the id must be a string: bad-type) but the default names variant 1 all the same
    assert "unknown-default-variant" not in [p.code for p in validate_flow(load_text(text))]


def test_a_runs_own_metric_beats_its_evaluations(repo):
    record(repo, "batch", {"accuracy": 0.2})
    record(repo, "eval", {"accuracy": 0.9, "f1": 0.5}, base_run="batch")
    assert indexed(repo, "batch")["effective_metrics"] == {"accuracy": 0.2, "f1": 0.5}


def test_a_kwargs_tool_accepts_any_input(tmp_path):
    tool = TOOL.replace("def upper(text: str)", "def upper(text: str, **options)")
    flow = FLOW.replace("    text: ${inputs.text}\n", "    text: ${inputs.text}\n    loud: true\n")
    assert _flow_dir(tmp_path, flow, {"flow/upper.py": tool}) == []
    assert _flow_dir(tmp_path, flow, {"flow/upper.py": TOOL}) == [("unknown-tool-input", "upper")]


def test_a_node_exactly_as_similar_as_the_threshold_is_a_rename():
    from pfgit.diff.match import DEFAULT_SIMILARITY, match_nodes

    def node(name, path, extra=""):
        return (f"- name: {name}\n  type: python\n  source: {{type: code, path: {path}}}\n"
                f"  inputs: {{i1: 1, i2: 2, i3: 3, i4: 4, i5: 5{extra}}}\n")
    old = load_text("nodes:\n" + node("a", "a.py"))
    new = load_text("nodes:\n" + node("b", "b.py", ", i6: 6"))
    # 7 leaves shared (type, source.type, i1..i5) of 10 in all: exactly 0.7
    assert DEFAULT_SIMILARITY == 0.7
    m = match_nodes(old, new)
    assert m.pairs == {"a": "b"} and m.how == {"a": "similar"}


def test_runs_are_listed_newest_first(repo):
    record(repo, "newer", {}, settings={"end_time": "2026-01-02T00:00:00"})
    record(repo, "older", {}, settings={"end_time": "2026-01-01T00:00:00"})
    idx = open_index(open_repo(repo))
    try:
        assert [r["name"] for r in query.list_runs(idx)] == ["newer", "older"]
    finally:
        idx.close()
