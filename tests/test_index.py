"""Run index: a cache rebuilt from refs, refreshed incrementally, kept current by git hooks."""

from __future__ import annotations

import os
import sqlite3
import stat

import pytest

from pfgit.integrate import hooks
from pfgit.index import query
from pfgit.index.db import index_path, open_index, rebuild
from pfgit.store.snapshot import record_run
from runs_helpers import commit_change, git, make_repo, open_repo, outputs

TABLES = ["runs", "metrics", "commits", "commit_info", "flow_paths", "refs"]


@pytest.fixture
def repo(tmp_path):
    return make_repo(tmp_path)


def dump(repo) -> dict:
    conn = sqlite3.connect(index_path(open_repo(repo)))
    out = {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES}
    conn.close()
    return out


def names(repo, **kw) -> list:
    idx = open_index(open_repo(repo))
    try:
        return [r["name"] for r in query.list_runs(idx, **kw)]
    finally:
        idx.close()


def test_rebuild_equals_incremental(repo):
    r = open_repo(repo)
    record_run(r, "flows/acc", "a1", outputs(2), {"accuracy": 0.5}, {}, None)
    commit_change(repo, "flows/acc/grade.py", "# v2\n", "v2")
    names(repo)                                      # incremental refresh of HEAD
    record_run(open_repo(repo), "flows/acc", "a2", outputs(2), {"accuracy": 0.75, "note": "x"}, {}, None,
               base_run="a1")
    commit_change(repo, "README.md", "readme\n", "docs only")
    record_run(open_repo(repo), "flows/acc", "a3", outputs(1), {"accuracy": 1.0}, {}, None)
    names(repo)
    incremental = dump(repo)
    rebuild(open_repo(repo))
    assert dump(repo) == incremental
    assert len(incremental["runs"]) == 3 and len(incremental["commit_info"]) == 3


def test_missing_and_corrupted_index_are_rebuilt(repo):
    record_run(open_repo(repo), "flows/acc", "keep", outputs(1), {"m": 1}, {}, None)
    path = index_path(open_repo(repo))
    os.unlink(path)
    assert names(repo) == ["keep"]
    for suffix in ("-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.unlink(path + suffix)
    with open(path, "wb") as f:
        f.write(b"this is not a sqlite database" * 100)
    assert names(repo) == ["keep"]
    conn = sqlite3.connect(path)          # an index of another schema version is recreated too
    conn.execute("UPDATE state SET value='0' WHERE key='schema'")
    conn.commit()
    conn.close()
    assert names(repo) == ["keep"]


def test_refs_changed_behind_our_back_are_noticed(repo):
    rec = record_run(open_repo(repo), "flows/acc", "one", outputs(1), {"m": 1}, {}, None)
    assert names(repo) == ["one"]
    git(repo, "update-ref", "refs/pfgit/runs/two", rec.commit)     # e.g. fetched by plain git
    assert sorted(names(repo)) == ["one", "two"]
    git(repo, "update-ref", "-d", "refs/pfgit/runs/one")
    assert names(repo) == ["two"]
    git(repo, "pack-refs", "--all")                                   # packed refs are read too
    assert names(repo) == ["two"]


def test_rebase_keeps_runs_matched_by_flow_tree(repo):
    git(repo, "checkout", "-q", "-b", "feature")
    feat = commit_change(repo, "flows/acc/grade.py", "# tuned\n", "tune grade")
    record_run(open_repo(repo), "flows/acc", "on_feature", outputs(2), {"accuracy": 0.9}, {}, None)
    git(repo, "checkout", "-q", "main")
    commit_change(repo, "NOTES.md", "unrelated\n", "unrelated change on main")
    git(repo, "checkout", "-q", "feature")
    git(repo, "rebase", "-q", "main")
    new = git(repo, "rev-parse", "HEAD")
    assert new != feat
    r = open_repo(repo)
    idx = open_index(r)
    assert [x["name"] for x in query.list_runs(idx, commit=new.encode())] == ["on_feature"]
    log = query.flow_log(idx, new.encode(), "flows/acc", metrics=["accuracy"])
    assert log[0]["commit"] == new and [x["name"] for x in log[0]["runs"]] == ["on_feature"]
    assert log[0]["runs"][0]["effective_metrics"] == {"accuracy": 0.9}
    # a cherry-pick onto another branch matches too
    git(repo, "checkout", "-q", "-b", "other", "main")
    git(repo, "cherry-pick", feat)
    pick = git(repo, "rev-parse", "HEAD")
    assert [x["name"] for x in query.list_runs(idx, commit=pick.encode())] == ["on_feature"]
    idx.close()


def test_log_lists_flow_changing_commits_with_runs(repo):
    c1 = git(repo, "rev-parse", "HEAD")
    record_run(open_repo(repo), "flows/acc", "r1", outputs(1), {"accuracy": 0.5}, {}, None)
    c2 = commit_change(repo, "flows/acc/grade.py", "# v2\n", "v2")
    commit_change(repo, "README.md", "x\n", "outside the flow")          # not a flow commit
    record_run(open_repo(repo), "flows/acc", "r2", outputs(1), {"accuracy": 0.8}, {}, None)
    idx = open_index(open_repo(repo))
    head = git(repo, "rev-parse", "HEAD").encode()
    log = query.flow_log(idx, head, "flows/acc", metrics=["accuracy"])
    assert [e["commit"] for e in log] == [c2, c1]
    assert [[r["name"] for r in e["runs"]] for e in log] == [["r2"], ["r1"]]
    assert query.flow_log(idx, head, "flows/acc", limit=1)[0]["commit"] == c2
    idx.close()


def _read_index(repo, sql):
    conn = sqlite3.connect(index_path(open_repo(repo)))
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_hooks_keep_commit_table_current_and_chain(repo, monkeypatch):
    import sys

    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    hd = repo / ".git" / "hooks"
    old = "#!/bin/sh\necho \"old $(basename $0) $*\" >> \"$(git rev-parse --git-dir)/old-hook.log\"\ncat >> \"$(git rev-parse --git-dir)/old-hook.log\"\n"
    (hd / "post-rewrite").write_text(old)
    (hd / "post-rewrite").chmod(0o750)
    (hd / "post-commit").write_text(old)
    (hd / "post-commit").chmod(0o755)
    before = {n: ((hd / n).read_bytes(), stat.S_IMODE((hd / n).stat().st_mode))
              for n in ("post-rewrite", "post-commit")}
    installed = hooks.install_hooks(str(repo))
    assert set(installed) >= {"post-commit", "post-merge", "post-rewrite", "post-checkout"}
    assert hooks.install_hooks(str(repo)) == installed                   # idempotent
    assert (hd / "post-commit.pfgit-chained").read_bytes() == before["post-commit"][0]

    record_run(open_repo(repo), "flows/acc", "r1", outputs(1), {}, {}, None)   # creates the index
    names(repo)
    c2 = commit_change(repo, "flows/acc/grade.py", "# v2\n", "v2")        # post-commit
    assert _read_index(repo, f"SELECT tree FROM commits WHERE commit_sha='{c2}'") == \
        [(git(repo, "rev-parse", f"{c2}:flows/acc"),)]
    git(repo, "commit", "-q", "--amend", "-m", "v2 amended")             # post-rewrite
    amended = git(repo, "rev-parse", "HEAD")
    assert _read_index(repo, f"SELECT commit_sha FROM commit_info WHERE commit_sha='{amended}'")
    log = (repo / ".git" / "old-hook.log").read_text()
    assert "old post-commit" in log and "old post-rewrite amend" in log  # its own name as $0
    assert f"{c2} {amended}" in log                                        # stdin reached the old hook
    git(repo, "checkout", "-q", "-b", "side", "HEAD~1")                  # post-checkout
    assert _read_index(repo, "SELECT value FROM state WHERE key='head'") == \
        [(git(repo, "rev-parse", "HEAD"),)]
    # the hooks recorded every reachable commit a rebuild finds (plus the amended-away one)
    hooked = set(dump(repo)["commits"])
    rebuild(open_repo(repo))
    rebuilt = set(dump(repo)["commits"])
    assert rebuilt <= hooked and len(hooked - rebuilt) == 1

    removed = hooks.uninstall_hooks(str(repo))
    assert set(removed) == set(installed)
    for n, (data, mode) in before.items():
        assert (hd / n).read_bytes() == data and stat.S_IMODE((hd / n).stat().st_mode) == mode
    left = sorted(p.name for p in hd.iterdir() if not p.name.endswith(".sample") and p.suffix != ".log")
    assert left == ["post-commit", "post-rewrite"]


def test_hook_without_index_does_nothing(repo, monkeypatch):
    from pfgit.index.hook import main

    monkeypatch.chdir(repo)
    assert main([]) == 0
    assert not os.path.exists(index_path(open_repo(repo)))


def test_lines_table_filled_on_demand(repo):
    record_run(open_repo(repo), "flows/acc", "l", outputs(5), {}, {}, None)
    idx = open_index(open_repo(repo))
    idx.ensure_lines("l")
    rows = idx.conn.execute("SELECT line, output FROM lines WHERE run='l' ORDER BY line").fetchall()
    assert [r[0] for r in rows] == [0, 1, 2, 3, 4]
    idx.close()


def test_commit_trailers_repeat_the_snapshot_files(repo):
    from pfgit.store.read import read_snapshot, read_summary

    r = open_repo(repo)
    rec = record_run(r, "flows/acc", "t", outputs(2), {"accuracy": 0.25, "f1": 1}, {"variant": "${a.b}"}, None)
    full = read_snapshot(r, "t", rec.commit.encode())
    quick = read_summary(r, "t", rec.commit.encode())
    assert quick.run == full.run and quick.metrics == full.metrics == {"accuracy": 0.25, "f1": 1}
    assert quick.files == {}                      # read from the commit message alone


def test_pfgit_install_installs_and_removes_the_hooks(repo, monkeypatch, capsys):
    from runs_helpers import run_cli

    hd = repo / ".git" / "hooks"
    (hd / "post-merge").write_text("#!/bin/sh\necho mine\n")
    (hd / "post-merge").chmod(0o755)
    code, _, err = run_cli(monkeypatch, capsys, repo, "install")
    assert code == 0, err
    for name in ("post-commit", "post-merge", "post-rewrite", "post-checkout"):
        assert hooks.MARKER in (hd / name).read_text()
        assert os.access(hd / f"{name}.pfgit", os.X_OK)
    import sys

    assert sys.executable in (hd / "post-commit.pfgit").read_text()   # absolute interpreter
    assert (hd / "post-merge.pfgit-chained").read_text() == "#!/bin/sh\necho mine\n"
    code, _, err = run_cli(monkeypatch, capsys, repo, "install", "--uninstall")
    assert code == 0, err
    assert (hd / "post-merge").read_text() == "#!/bin/sh\necho mine\n"
    assert not any(p.name.startswith(("post-commit", "post-rewrite", "post-checkout")) or
                   ".pfgit" in p.name for p in hd.iterdir())


def test_log_of_another_branch(repo):
    git(repo, "checkout", "-q", "-b", "exp")
    exp = commit_change(repo, "flows/acc/grade.py", "# exp\n", "experiment")
    record_run(open_repo(repo), "flows/acc", "on_exp", outputs(1), {"accuracy": 0.1}, {}, None)
    git(repo, "checkout", "-q", "main")
    idx = open_index(open_repo(repo))                  # HEAD is main: exp's commit not walked yet
    log = query.flow_log(idx, exp.encode(), "flows/acc")
    assert log[0]["commit"] == exp and [r["name"] for r in log[0]["runs"]] == ["on_exp"]
    idx.close()
