"""Issue 8 section 3: what a run snapshot captures from the worktree and from promptflow run
folders: no secrets files, nothing git's fsck refuses, nothing through a symlink out of the run
folder. Self-contained."""

from __future__ import annotations

import json
import os

import pytest

from pfgit.errors import UsageError
from pfgit.git.objects import make_tree, unsafe_entry_name
from pfgit.store.snapshot import record_run
from runs_helpers import all_objects_bytes, open_repo, run_cli
from secure_helpers import git, lines, make_flow_repo


@pytest.fixture
def repo(tmp_path):
    return make_flow_repo(tmp_path)


def _captured(repo, rec) -> list:
    return git(repo, "ls-tree", "-r", "--name-only", rec.flow_tree).splitlines()


def test_worktree_capture_leaves_out_env_files_key_files_and_ignored_files(repo):
    f = repo / "flow"
    (repo / ".gitignore").write_text("*.log\nbig/\n")
    for name in (".env", ".env.local", ".envrc", "prod.env", "server.pem", "tls.KEY", "id_rsa",
                 "id_ed25519", "run.log", "big/data.bin", "new_tool.py"):
        (f / name).parent.mkdir(exist_ok=True)
        (f / name).write_text("SECRET=1\n")
    rec = record_run(open_repo(repo), "flow", "cap", lines({"a": 1}), {}, {})
    assert rec.dirty
    assert sorted(_captured(repo, rec)) == ["echo.py", "flow.dag.yaml", "new_tool.py"]


def test_recording_a_flow_in_dot_git_is_refused(repo, monkeypatch, capsys):
    r = open_repo(repo)
    for bad in (".git", ".git/hooks", ".GIT/refs", "flow/../.git"):
        with pytest.raises(UsageError, match=r"\.git"):
            record_run(r, str(repo / bad) if os.path.exists(repo / bad) else bad, "x",
                       lines({"a": 1}), {}, {})
    out = repo / "o.jsonl"
    out.write_text('{"a": 1}\n')
    code, _, err = run_cli(monkeypatch, capsys, repo, "runs", "record", "--flow", ".git",
                           "--outputs", str(out))
    assert code == 2 and "git's own folder" in err
    assert git(repo, "for-each-ref", "refs/pfgit/") == ""


def test_no_tree_entry_named_dot_git_is_ever_written(repo, tmp_path, monkeypatch, capsys):
    for name in (".git", ".GIT", ".Git.", "git~1", ".g\u200cit"):
        assert unsafe_entry_name(name), name
    assert unsafe_entry_name(".github") is None and unsafe_entry_name(".gitignore") is None
    with pytest.raises(ValueError):
        make_tree(open_repo(repo), {".GIT": (0o100644, git(repo, "hash-object", "-w", "flow/echo.py"))})
    f = repo / "flow"
    (f / ".GIT").mkdir()
    (f / ".GIT" / "config").write_text("[core]\n")
    (f / "sub").mkdir()
    (f / "sub" / ".git").write_text("gitdir: /elsewhere\n")
    (f / "sub" / "tool.py").write_text("x = 1\n")
    rec = record_run(open_repo(repo), "flow", "dotgit", lines({"a": 1}), {}, {})
    assert sorted(_captured(repo, rec)) == ["echo.py", "flow.dag.yaml", "sub/tool.py"]
    # a clone that checks every object it receives accepts our push
    bare = tmp_path / "strict.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(bare, "config", "receive.fsckObjects", "true")
    code, out, err = run_cli(monkeypatch, capsys, repo, "push", str(bare), "--json")
    assert code == 0, err
    assert json.loads(out)["updated"] == ["refs/pfgit/runs/dotgit"]
    assert git(bare, "fsck", "--strict", "--no-dangling") == ""


def _run_folder(home, name):
    d = home / ".runs" / name
    (d / "snapshot").mkdir(parents=True)
    (d / "snapshot" / "flow.dag.yaml").write_text((__import__("secure_helpers").FLOW))
    (d / "outputs.jsonl").write_text('{"a": 1}\n')
    (d / "metrics.json").write_text('{"acc": 1}')
    return d


def test_imports_never_follow_a_symlink_out_of_the_run_folder_and_report_loops(
        repo, tmp_path, monkeypatch, capsys):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT\n")
    (tmp_path / "secret_dir").mkdir()
    (tmp_path / "secret_dir" / "k.py").write_text("TOP-SECRET-CONTENT\n")
    home = tmp_path / "pfhome"
    out_link = _run_folder(home, "outlinks")
    snap = out_link / "snapshot"
    (snap / "stolen.py").symlink_to(secret)
    (snap / "stolen_dir").symlink_to(tmp_path / "secret_dir")
    (snap / "inside.py").symlink_to(snap / "flow.dag.yaml")          # inside: followed
    (out_link / "logs.txt").symlink_to(secret)
    os.unlink(out_link / "outputs.jsonl")
    (out_link / "outputs.jsonl").symlink_to(secret)
    looped = _run_folder(home, "looped")
    (looped / "snapshot" / "again").symlink_to(looped / "snapshot")   # folder loop
    (looped / "snapshot" / "a.py").symlink_to(looped / "snapshot" / "b.py")
    (looped / "snapshot" / "b.py").symlink_to(looped / "snapshot" / "a.py")  # file loop
    code, out, err = run_cli(monkeypatch, capsys, repo, "runs", "import", str(home))
    assert code == 0, err
    assert "stolen.py: symbolic link to" in err and "outside the run folder" in err
    assert "logs.txt: symbolic link to" in err and "outputs.jsonl: symbolic link to" in err
    assert "again: symbolic link loop" in err and "a.py: symbolic link loop" in err
    assert b"TOP-SECRET-CONTENT" not in all_objects_bytes(repo)
    names = git(repo, "ls-tree", "-r", "--name-only", "refs/pfgit/runs/outlinks:flow").split()
    assert sorted(names) == ["flow.dag.yaml", "inside.py"]
    assert git(repo, "ls-tree", "-r", "--name-only", "refs/pfgit/runs/looped:flow").split() == \
        ["flow.dag.yaml"]
