"""Submodules (gitlinks) and nested clones are other repositories, as for git: `pfgit validate`
(worktree, --staged, the pre-commit hook), `pfgit diff` and the tree readers behind log, runs and
the index leave the flows inside them out, and validate says so once (`skipped` in --json)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OK = "inputs: {}\noutputs: {}\nnodes: []\n"
BROKEN = "inputs: {}\noutputs:\n  o: {type: string, reference: '${nope.output}'}\nnodes: []\n"


def git(cwd, *args):
    p = subprocess.run(["git", "-c", "protocol.file.allow=always", *args], cwd=cwd, text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.returncode == 0, p.stderr
    return p.stdout


def pfgit(cwd, *args, module="pfgit"):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, text=True, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


@pytest.fixture
def superproject(tmp_path):
    """super/ok: a valid flow; super/libs/sub: a submodule whose flow `fl` has an error;
    super/vendor/clone: an untracked nested clone with a broken flow too."""
    sub = tmp_path / "subsrc"
    git(tmp_path, "init", "-q", "-b", "main", str(sub))
    write(sub / "fl" / "flow.dag.yaml", BROKEN)
    git(sub, "add", "-A")
    git(sub, "commit", "-qm", "sub")
    sup = tmp_path / "super"
    git(tmp_path, "init", "-q", "-b", "main", str(sup))
    write(sup / "ok" / "flow.dag.yaml", OK)
    git(sup, "submodule", "add", "-q", str(sub), "libs/sub")
    git(sup, "add", "-A")
    git(sup, "commit", "-qm", "with a submodule")
    git(tmp_path, "clone", "-q", str(sub), str(sup / "vendor" / "clone"))
    return sup


def test_validate_leaves_submodules_and_nested_clones_out_and_says_so_once(superproject):
    p = pfgit(superproject, "validate")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "nope" not in p.stdout and p.stdout == "1 flow checked: no problems\n"
    assert p.stderr.count("\n") == 1 and "libs/sub" in p.stderr and "vendor/clone" in p.stderr
    p = pfgit(superproject, "validate", "--json")
    out = json.loads(p.stdout)
    assert [f["path"] for f in out["flows"]] == ["ok"] and p.returncode == 0
    assert out["skipped"] == [{"path": "libs/sub", "reason": "nested-repository"},
                              {"path": "vendor/clone", "reason": "nested-repository"}]
    # a folder holding nothing but a submodule is no bad PATH
    p = pfgit(superproject, "validate", "libs")
    assert p.returncode == 0 and "libs/sub" in p.stderr, p.stderr
    # the light entry git hooks use, the same
    p = pfgit(superproject, "--quiet", module="pfgit.validate")
    assert p.returncode == 0 and p.stdout == p.stderr == ""


def test_validate_staged_and_the_hook_leave_a_submodule_out(superproject):
    p = pfgit(superproject, "validate", "--staged", "libs/sub/fl/flow.dag.yaml")
    assert p.returncode == 0, p.stderr
    p = pfgit(superproject, "validate", "--staged", "--json", "libs/sub")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["skipped"] == [{"path": "libs/sub", "reason": "nested-repository"}]
    # the pre-commit hook's command on a commit that moves the submodule to a new commit
    sub = superproject / "libs" / "sub"
    write(sub / "fl2" / "flow.dag.yaml", BROKEN)
    git(sub, "add", "-A")
    git(sub, "commit", "-qm", "more")
    git(superproject, "add", "libs/sub")
    p = pfgit(superproject, "--staged", "--quiet", module="pfgit.validate")
    assert p.returncode == 0 and p.stdout == "", p.stdout + p.stderr


def test_readers_of_commits_and_the_worktree_find_no_flow_in_a_submodule(superproject):
    from dulwich.repo import Repo

    from pfgit.flow.load import find_flows
    from pfgit.flow.readers import DirReader
    from pfgit.git.repo import TreeReader
    from pfgit.git.sides import WorktreeReader

    repo = Repo(str(superproject))
    head = TreeReader(repo, repo[repo.head()].tree)
    assert [loc.dir for loc in find_flows(head, ".")] == ["ok"]
    assert [loc.dir for loc in find_flows(WorktreeReader(repo), ".")] == ["ok"]
    bounded = DirReader(str(superproject), boundary=str(superproject))
    assert [loc.dir for loc in find_flows(bounded, ".")] == ["ok"]
    assert bounded.nested_repositories == ["libs/sub", "vendor/clone"]
    # pfgit diff between commits and against the worktree
    write(superproject / "libs" / "sub" / "fl" / "flow.dag.yaml", OK)
    p = pfgit(superproject, "diff", "--json", "HEAD")
    assert json.loads(p.stdout) == {"flows": []}, p.stdout
