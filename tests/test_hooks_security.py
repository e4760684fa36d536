"""Issue 8 section 4: hooks with an interpreter path holding spaces and quotes; a chained hook
sees its own name as $0 (husky-style dispatchers); a hooks folder inside the worktree is never
rewritten; install in a bare repository says so."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from pfgit.integrate import install as inst
from runs_helpers import run_cli
from secure_helpers import git, make_flow_repo

BAD_FLOW = "nodes:\n- name: a\n  type: python\n  source: {type: code, path: missing.py}\n"


@pytest.fixture
def repo(tmp_path):
    return make_flow_repo(tmp_path)


def _odd_python(tmp_path) -> str:
    """This interpreter, reached through a path with a space, a single and a double quote."""
    d = tmp_path / "my py's \"env\" dir"
    d.mkdir()
    exe = d / "python"
    exe.write_text(f"#!/bin/sh\nexec {sys.executable} \"$@\"\n")
    exe.chmod(0o755)
    return str(exe)


def _commit(repo, msg):
    return subprocess.run(["git", "commit", "-q", "-m", msg], cwd=repo, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_hooks_work_when_the_interpreter_path_holds_spaces_and_quotes(repo, tmp_path):
    inst.install(str(repo), python_exe=_odd_python(tmp_path))
    (repo / "flow" / "extra.txt").write_text("x\n")
    git(repo, "add", "-A")
    p = _commit(repo, "ok")
    assert p.returncode == 0, p.stderr          # the hook ran and the flow is valid
    (repo / "flow" / "flow.dag.yaml").write_text(BAD_FLOW)
    git(repo, "add", "-A")
    p = _commit(repo, "bad")
    assert p.returncode == 1 and "missing-source" in p.stdout + p.stderr  # pfgit's own verdict


@pytest.mark.parametrize("shebang", ["#!/bin/sh", "#!/bin/bash -e"])
def test_a_chained_hook_still_sees_its_own_name_as_dollar_zero(repo, shebang):
    hooks = repo / ".git" / "hooks"
    for name in ("pre-commit", "post-commit"):  # husky v4 style: dispatch on basename "$0"
        h = hooks / name
        h.write_text(f'{shebang}\nhook=$(basename "$0")\n'
                     f'echo "$hook $(cd "$(dirname "$0")" && pwd) $#" >> "$(dirname "$0")/../seen"\n')
        h.chmod(0o755)
    inst.install(str(repo), python_exe=sys.executable)
    assert (hooks / "pre-commit.pfgit-chained").exists()
    (repo / "flow" / "extra.txt").write_text("x\n")
    git(repo, "add", "-A")
    assert _commit(repo, "c").returncode == 0
    seen = (repo / ".git" / "seen").read_text().split("\n")
    real = os.path.realpath(hooks)
    assert seen[:2] == [f"pre-commit {real} 0", f"post-commit {real} 0"]


def test_hooks_in_a_folder_inside_the_worktree_are_never_rewritten(repo, monkeypatch, capsys):
    own = repo / "githooks"
    own.mkdir()
    hook = own / "post-commit"
    hook.write_text("#!/bin/sh\necho project hook\n")
    hook.chmod(0o755)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "project hooks")
    git(repo, "config", "core.hooksPath", "githooks")
    code, out, err = run_cli(monkeypatch, capsys, repo, "install")
    assert code == 0, err
    assert sorted(os.listdir(own)) == ["post-commit"]
    assert hook.read_text() == "#!/bin/sh\necho project hook\n"
    assert "core.hooksPath is" in out and "never rewrites" in out
    assert f"post-commit: {sys.executable} -m pfgit.index.hook post-commit" in out
    assert git(repo, "status", "--porcelain", "githooks") == ""
    r = inst.install(str(repo), python_exe=sys.executable)
    assert r.hooks == [] and "pre-commit" in r.hooks_not_installed


def test_install_in_a_bare_repository_says_so(tmp_path, monkeypatch, capsys):
    bare = tmp_path / "b.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    code, _, err = run_cli(monkeypatch, capsys, bare, "install")
    assert code == 2 and "bare repository" in err
    assert not os.path.exists(bare / "hooks" / "post-commit")
    assert "pfgit" not in git(bare, "config", "--list")


def test_a_hooks_folder_outside_the_repository_is_never_rewritten(repo, tmp_path, monkeypatch, capsys):
    # `git config --global core.hooksPath ~/.githooks`: every repository of the user runs those;
    # a per-repository install must not put pfgit's hooks into all of them
    shared = tmp_path / "githooks-everywhere"
    shared.mkdir()
    (shared / "pre-commit").write_text("#!/bin/sh\necho shared\n")
    git(repo, "config", "core.hooksPath", str(shared))
    code, out, err = run_cli(monkeypatch, capsys, repo, "install")
    assert code == 0, err
    assert sorted(os.listdir(shared)) == ["pre-commit"]
    assert "outside this repository (shared with other repositories)" in out and "never rewrites" in out
    r = inst.install(str(repo), python_exe=sys.executable)
    assert r.hooks == [] and "post-commit" in r.hooks_not_installed
