"""Issue 8 section 4: nothing from a value runs. Every value pfgit hands to the git binary comes
after `--` (or `--end-of-options`) or is validated; remote names starting with '-' are refused."""

from __future__ import annotations

import subprocess

import pytest

from pfgit.errors import UsageError
from pfgit.git import remote as gremote
from runs_helpers import run_cli
from secure_helpers import git, make_flow_repo


@pytest.fixture
def repo(tmp_path):
    return make_flow_repo(tmp_path)


@pytest.mark.parametrize("cmd", ["fetch", "push"])
def test_upload_pack_in_a_remote_value_never_runs(repo, tmp_path, monkeypatch, capsys, cmd):
    evil = f"--upload-pack=touch {tmp_path}/pwned;"
    for argv in ([cmd, "--", evil], [cmd, "--", "--receive-pack=touch x;"], [cmd, "--", "-q"]):
        code, out, err = run_cli(monkeypatch, capsys, repo, *argv)
        assert code == 2 and "invalid remote" in err, (argv, out, err)
    assert not (tmp_path / "pwned").exists()


def test_remote_names_starting_with_a_dash_are_refused():
    for bad in ("-x", "--upload-pack=x", "", "a\nb"):
        with pytest.raises(UsageError):
            gremote.check_remote(bad)
    assert gremote.check_remote("origin") == "origin"
    assert gremote.check_remote("ssh://host/x.git") == "ssh://host/x.git"


def test_remote_values_reach_git_after_dashdash(repo, tmp_path, monkeypatch):
    seen = []
    real = subprocess.run

    def spy(args, *a, **kw):
        seen.append(list(args))
        return real(args, *a, **kw)

    bare = tmp_path / "b.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(repo, "update-ref", "refs/pfgit/runs/x", git(repo, "rev-parse", "HEAD"))
    monkeypatch.setattr(gremote.subprocess, "run", spy)
    gremote.push(str(repo), str(bare))
    gremote.fetch(str(repo), str(bare))
    calls = [c for c in seen if str(bare) in c]
    assert {c[1] for c in calls} == {"push", "fetch"}
    for c in calls:
        assert c.index("--") < c.index(str(bare)), c


def test_merge_of_a_branch_named_like_an_option_is_refused(repo, monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, repo, "merge", "--", "--strategy=ours")
    assert code == 2 and "unknown revision" in err
    assert git(repo, "rev-parse", "HEAD") == git(repo, "rev-parse", "main")


# Every module that starts the git binary, with how its values are kept from being options.
AUDITED = {
    "pfgit/git/remote.py": "remote after `--`, names starting with '-' refused",
    "pfgit/integrate/gitmerge.py": "branch validated, after --end-of-options; paths after --",
    "pfgit/integrate/install.py": "only pfgit's own config keys and values",
    "pfgit/index/hook.py": "object ids printed by git itself",
    "pfgit/git/textmerge.py": "-L takes its value; temporary file paths",
    "pfgit/git/tempcheckout.py": "commit ids checked as 40/64 hex digits; our temporary paths; "
                                 "flow paths after --",
    "pfgit/run/engine/promptflow.py": "runs the current interpreter on pfgit's own child module",
    "pfgit/git/batch.py": "object names on stdin, one a line (ids checked as hex); log's start "
                          "commit checked as hex, after --end-of-options",
    "pfgit/history/cached.py": "a revision starting with '-' is refused; REV^{commit} before --",
    "pfgit/integrate/diffdriver.py": "`git ls-files -u -z`: fixed arguments, no value from outside",
}


def test_history_values_never_reach_git_as_options(repo, tmp_path, monkeypatch):
    from pfgit.git.batch import CatFile, FolderBlobs, log_commits
    from pfgit.history import cached

    monkeypatch.chdir(repo)
    for bad in ("--output=" + str(tmp_path / "x"), "-p", ""):
        assert cached.locate(bad) is None and cached.request("blame", bad, "flow", None, False) is None \
            and cached.lookup(cached.request("blame", bad, "flow", None, False)) is None
        assert log_commits(str(repo / ".git"), bad, True) == {}
    cat = CatFile(str(repo / ".git"))
    assert cat.get_many(["--batch-all-objects", "HEAD"]) == {} and cat.read_all(["a\nb"]) is None
    assert cat.check_many(["HEAD:x\n--batch"]) == {}
    cat.close()
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    for commit, folder in (("--output=" + str(tmp_path / "x"), "."), (head, "--output=" + str(tmp_path / "x"))):
        assert FolderBlobs(str(repo / ".git"), commit, folder, True).result() in (None, {})
    assert not (tmp_path / "x").exists()


def test_every_git_subprocess_call_is_audited():
    """A new module running subprocesses must be audited (and added above) before it lands."""
    import ast
    import pathlib

    root = pathlib.Path(__file__).resolve().parent.parent
    found = set()
    for f in (root / "pfgit").rglob("*.py"):
        tree = ast.parse(f.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
                    node.value.id == "subprocess" and node.attr in ("run", "Popen", "call",
                                                                    "check_call", "check_output"):
                found.add(f.relative_to(root).as_posix())
    assert found == set(AUDITED), found ^ set(AUDITED)


def test_push_and_fetch_without_the_remote_say_how_to_add_it(tmp_path):
    """A repository made with `git init` has no `origin`: git's 'does not appear to be a git
    repository' alone left a new user guessing."""
    from pfgit.errors import PfgitError

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    for call, verb in ((gremote.push, "push"), (gremote.fetch, "fetch")):
        with pytest.raises(PfgitError) as e:
            call(str(tmp_path), "origin")
        assert "git remote add origin URL" in str(e.value) and f"pfgit {verb} REMOTE" in str(e.value)
    subprocess.run(["git", "-C", str(tmp_path), "remote", "add", "mirror", str(tmp_path / "nowhere")], check=True)
    with pytest.raises(PfgitError) as e:
        gremote.fetch(str(tmp_path), "origin")
    assert "the remotes are mirror" in str(e.value)
    with pytest.raises(PfgitError) as e:   # a remote it has, that fails: git's reason only
        gremote.fetch(str(tmp_path), "mirror")
    assert "git remote add" not in str(e.value)
