"""`pfgit install`: idempotent, never clobbers, --uninstall removes exactly what it added."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pfgit.errors import UsageError
from pfgit.integrate import install as inst


def git(repo, *args, check=True):
    p = subprocess.run(["git", *args], cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.returncode == 0 or not check, p.stderr
    return p.stdout


@pytest.fixture
def repo(tmp_path):
    r = tmp_path / "repo"
    r.mkdir()
    git(r, "init", "-q", "-b", "main")
    return r


def config(repo, scope="--local"):
    return git(repo, "config", scope, "--list", check=False)


def test_install_is_idempotent_and_uninstall_restores(repo):
    (repo / ".gitattributes").write_text("*.png binary\n")
    git(repo, "config", "user.name", "Someone")
    before_cfg = config(repo)
    r1 = inst.install(str(repo), python_exe="/opt/py/bin/python3")
    assert r1.added_lines == list(inst.ATTRIBUTE_LINES)
    assert git(repo, "config", "merge.pfgit.driver").strip() == \
        "/opt/py/bin/python3 -m pfgit.integrate.mergedriver %O %A %B %P"
    assert "diff.pfgit.command" in r1.config_set
    r2 = inst.install(str(repo), python_exe="/opt/py/bin/python3")
    assert r2.added_lines == [] and r2.config_set == {}
    text = (repo / ".gitattributes").read_text()
    assert text.count("flow.dag.yaml merge=pfgit diff=pfgit") == 1 and text.startswith("*.png binary\n")
    assert git(repo, "check-attr", "merge", "--", "x/flow.dag.yaml").strip().endswith("merge: pfgit")
    u = inst.uninstall(str(repo))
    assert sorted(u.removed_lines) == sorted(inst.ATTRIBUTE_LINES)
    assert (repo / ".gitattributes").read_text() == "*.png binary\n"
    assert config(repo) == before_cfg


def test_never_clobbers_user_settings(repo):
    (repo / ".gitattributes").write_text("flow.dag.yaml -merge\n")
    git(repo, "config", "merge.pfgit.driver", "my-own-driver %A")
    r = inst.install(str(repo), python_exe="/py")
    assert r.kept_lines == ["flow.dag.yaml -merge"]
    assert r.added_lines == ["flow.dag.yml merge=pfgit diff=pfgit"]
    assert r.config_kept == {"merge.pfgit.driver": "my-own-driver %A"}
    inst.uninstall(str(repo))
    assert (repo / ".gitattributes").read_text() == "flow.dag.yaml -merge\n"
    assert git(repo, "config", "merge.pfgit.driver").strip() == "my-own-driver %A"


def test_uninstall_keeps_a_line_the_user_had_before(repo):
    (repo / ".gitattributes").write_text("flow.dag.yaml merge=pfgit diff=pfgit\n")
    inst.install(str(repo), python_exe="/py")
    inst.uninstall(str(repo))
    assert (repo / ".gitattributes").read_text() == "flow.dag.yaml merge=pfgit diff=pfgit\n"


def test_created_attributes_file_is_removed_again(repo):
    inst.install(str(repo), python_exe="/py")
    assert (repo / ".gitattributes").exists()
    inst.uninstall(str(repo))
    assert not (repo / ".gitattributes").exists()


def test_global_install_uses_the_users_attributes_file(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    r = inst.install(scope="global", python_exe="/py")
    attrs = home / ".config" / "git" / "attributes"
    assert r.attributes_file == str(attrs) and attrs.read_text().count("merge=pfgit") == 2
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q")
    assert git(other, "check-attr", "merge", "--", "flow.dag.yaml").strip().endswith("merge: pfgit")
    assert git(other, "config", "merge.pfgit.driver").strip() == "/py -m pfgit.integrate.mergedriver %O %A %B %P"
    inst.uninstall(scope="global")
    assert not attrs.exists()
    assert git(other, "config", "merge.pfgit.driver", check=False) == ""


def test_cli_install_outside_a_repo_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError):
        inst.install(str(tmp_path))
    p = subprocess.run([sys.executable, "-m", "pfgit", "install"], cwd=tmp_path, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    assert p.returncode == 2 and p.stderr.startswith("pfgit: ") and "not a git repository" in p.stderr


def test_cli_install_prints_what_it_did(repo):
    p = subprocess.run([sys.executable, "-m", "pfgit", "install"], cwd=repo, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    assert p.returncode == 0, p.stderr
    assert "added to" in p.stdout and sys.executable in git(repo, "config", "merge.pfgit.driver")
    p = subprocess.run([sys.executable, "-m", "pfgit", "install"], cwd=repo, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    assert "already installed" in p.stdout
    p = subprocess.run([sys.executable, "-m", "pfgit", "install", "--uninstall"], cwd=repo,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.returncode == 0 and "unset local git config merge.pfgit.driver" in p.stdout
    assert not os.path.exists(repo / ".gitattributes")
