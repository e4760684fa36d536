"""Issue 8 section 4: a path in a flow that resolves outside the repository is never read or
printed (validate reports `path-outside-repo`; diff, --staged, merge checks and captures do not
read it); sibling folders of the same repository keep working."""

from __future__ import annotations

import json
import shutil

import pytest

from pfgit.flow.readers import DirReader, OutsideRepositoryError
from runs_helpers import run_cli
from secure_helpers import ECHO, git, make_flow_repo

SECRET = "OUTSIDE-SECRET-CONTENT"
FLOW_OUT = """additional_includes:
- ../shared/util.py
- {include}
inputs:
  q: {{type: string}}
nodes:
- name: far
  type: python
  source: {{type: code, path: {source}}}
  inputs: {{q: "${{inputs.q}}"}}
- name: linked
  type: python
  source: {{type: code, path: link.py}}
  inputs: {{q: "${{inputs.q}}"}}
- name: sibling
  type: python
  source: {{type: code, path: util.py}}
  inputs: {{q: "${{inputs.q}}"}}
"""


@pytest.fixture
def setup(tmp_path):
    outside = tmp_path / "outside.py"
    outside.write_text(ECHO.replace("return q", f"return '{SECRET}'"))
    repo = make_flow_repo(tmp_path)
    (repo / "shared").mkdir()
    (repo / "shared" / "util.py").write_text(ECHO)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "shared")
    flow = repo / "flow"
    (flow / "flow.dag.yaml").write_text(FLOW_OUT.format(include="../../outside.py",
                                                        source="../../outside.py"))
    (flow / "link.py").symlink_to(outside)
    return repo


def test_a_path_outside_the_repository_is_a_validate_error_and_is_not_read(setup, monkeypatch, capsys):
    code, out, err = run_cli(monkeypatch, capsys, setup, "validate", "flow", "--json")
    assert code == 1, err
    probs = [(p["code"], p["node"], p["line"]) for r in json.loads(out)["flows"] for p in r["problems"]]
    assert probs == [("path-outside-repo", None, 3), ("path-outside-repo", "far", 9),
                     ("path-outside-repo", "linked", 13)]           # the sibling include is fine
    assert SECRET not in out
    git(setup, "add", "-A")
    code, out, _ = run_cli(monkeypatch, capsys, setup, "validate", "--staged", "--json")
    assert code == 1
    codes = [p["code"] for r in json.loads(out)["flows"] for p in r["problems"]]
    assert codes.count("path-outside-repo") == 3, codes  # the staged symlink too


def test_diff_never_prints_a_file_outside_the_repository(setup, monkeypatch, capsys):
    for argv in (["diff"], ["diff", "--json"], ["diff", "--markdown"], ["diff", "--no-index",
                                                                        "flow", "flow"]):
        code, out, err = run_cli(monkeypatch, capsys, setup, *argv)
        assert code == 0, err
        assert SECRET not in out + err, argv
        if argv == ["diff"]:   # the new symlink shows the path it names, as git shows it
            assert f"+{setup.parent / 'outside.py'}" in out
    git(setup, "add", "-A")
    git(setup, "commit", "-q", "-m", "outside paths")
    code, out, _ = run_cli(monkeypatch, capsys, setup, "diff", "HEAD~1", "HEAD")
    assert code == 0 and SECRET not in out  # a tree holds the link's target text, not the file


def test_readers_refuse_paths_that_resolve_outside_their_boundary(setup):
    r = DirReader(str(setup), "", boundary=str(setup))
    assert r.read_bytes("shared/util.py") == ECHO.encode()
    for rel in ("../outside.py", "flow/link.py", "flow/../../outside.py"):
        assert r.outside(rel) and not r.exists(rel)
        with pytest.raises(OutsideRepositoryError):
            r.read_bytes(rel)
    assert "flow/link.py" not in list(r.walk_files("flow"))


def test_sibling_includes_of_real_flows_keep_working(corpus, tmp_path, monkeypatch, capsys):
    repo = tmp_path / "r"
    for rel in ("examples/flows/standard/flow-with-additional-includes",
                "examples/flows/standard/web-classification"):
        shutil.copytree(corpus / rel, repo / rel)
    git(repo, "init", "-q", "-b", "main")
    code, out, err = run_cli(monkeypatch, capsys, repo, "validate",
                             "examples/flows/standard/flow-with-additional-includes", "--json")
    assert code == 0, out + err
    assert "path-outside-repo" not in out


def test_the_git_folder_counts_as_outside_the_repository(setup, monkeypatch, capsys):
    # .git/config holds remote URLs with tokens (CI checkouts keep credentials there): a flow
    # naming it, directly or through a symlink, must not get it printed into a PR comment
    git(setup, "config", "remote.origin.url", f"https://x:{SECRET}@example.com/r.git")
    (setup / "flow" / "flow.dag.yaml").write_text(FLOW_OUT.format(include="../.git/config",
                                                                   source="../.git/config"))
    (setup / "flow" / "link.py").unlink()
    (setup / "flow" / "link.py").symlink_to(setup / ".git" / "config")
    code, out, err = run_cli(monkeypatch, capsys, setup, "validate", "flow", "--json")
    probs = [(p["code"], p["node"]) for r in json.loads(out)["flows"] for p in r["problems"]]
    assert code == 1 and probs == [("path-outside-repo", None), ("path-outside-repo", "far"),
                                   ("path-outside-repo", "linked")], probs
    for argv in (["diff"], ["diff", "--markdown"]):
        code, out, err = run_cli(monkeypatch, capsys, setup, *argv)
        assert code == 0 and SECRET not in out + err, argv
    assert DirReader(str(setup), "", boundary=str(setup)).outside(".GIT/config")
    git(setup, "add", "flow/flow.dag.yaml")
    code, out, _ = run_cli(monkeypatch, capsys, setup, "validate", "--staged", "--json")
    probs = [(p["code"], p["node"]) for r in json.loads(out)["flows"] for p in r["problems"]]
    assert ("path-outside-repo", None) in probs and ("path-outside-repo", "far") in probs, probs
