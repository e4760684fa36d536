"""Regressions from an attacker's and a newcomer's review: each test fails without its fix."""

from __future__ import annotations

import os
import subprocess
import sys

PY = sys.executable

FLOW = """inputs:
  q:
    type: string
outputs:
  a:
    type: string
    reference: ${n1.output}
nodes:
- name: n1
  type: python
  source:
    type: code
    path: n1.py
  inputs:
    x: ${inputs.q}
"""


def git(repo, *args):
    p = subprocess.run(["git", *args], cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    assert p.returncode == 0, f"git {args}: {p.stderr}"
    return p.stdout


def write(repo, rel, text):
    path = os.path.join(repo, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def init_repo(path, flow_dir="flows/f"):
    os.makedirs(path, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "commit.gpgsign", "false")
    write(path, f"{flow_dir}/flow.dag.yaml", FLOW)
    write(path, f"{flow_dir}/n1.py", "def f(x):\n    return x\n")
    git(path, "add", "-A")
    git(path, "commit", "-qm", "init")
    return str(path)


def branch_theirs(repo, flow, theirs, ours=None):
    """Branch `theirs` commits `theirs` as `flow`; back on main, `ours` is committed (None: the
    worktree is left for the caller)."""
    git(repo, "checkout", "-qb", "theirs")
    write(repo, flow, theirs)
    git(repo, "commit", "-qam", "theirs")
    git(repo, "checkout", "-q", "main")
    if ours is not None:
        write(repo, flow, ours)
        git(repo, "commit", "-qam", "ours")


def test_pfgit_merge_reports_a_flow_whose_folder_has_a_space_or_accent(tmp_path):
    """git's --name-only output was split on whitespace (and quoted for non-ASCII names): the
    merged flow 'flows/my flow' was reported as a deleted 'flow/flow.dag.yaml'."""
    from pfgit.integrate.gitmerge import run_merge

    for folder in ("flows/my flow", "flows/café"):
        repo = init_repo(tmp_path / str(abs(hash(folder))), folder)
        flow = f"{folder}/flow.dag.yaml"
        branch_theirs(repo, flow, FLOW.replace("    type: string\noutputs", "    type: int\noutputs"),
                      FLOW + "    y: 1\n")
        out = run_merge(repo, "theirs", quiet=True, python_exe=PY)
        assert out.exit_code == 0
        assert [(f["file"], f["status"]) for f in out.flows] == [(flow, "merged")]


def test_a_run_tree_whose_file_entry_is_a_tree_or_missing_is_a_clean_error(tmp_path):
    """A fetched run snapshot is untrusted: a file entry naming a tree object gave
    'internal error: AttributeError', a missing blob 'internal error: KeyError'."""
    import pytest
    from dulwich.objects import Blob, Tree
    from dulwich.repo import Repo

    from pfgit.errors import UsageError
    from pfgit.integrate.studio.files import from_tree

    repo = Repo.init(str(tmp_path))
    blob = Blob.from_string(b"inputs: {}\n")
    inner = Tree()
    inner.add(b"flow.dag.yaml", 0o100644, blob.id)
    repo.object_store.add_objects([(blob, None), (inner, None)])
    for name, sha, why in ((b"t.py", inner.id, "'t.py' is not a file"),
                           (b"m.py", b"1" * 40, "'m.py' is missing")):
        t = Tree()
        t.add(b"flow.dag.yaml", 0o100644, blob.id)
        t.add(name, 0o100644, sha)
        repo.object_store.add_object(t)
        with pytest.raises(UsageError, match=why):
            from_tree(repo, t.id, "run evil", exclude=False)


def test_a_flow_file_that_is_not_a_mapping_is_diffed_as_text_not_called_unchanged():
    """A flow file turned into a YAML scalar (a symlink's target text in git) or a list was
    compared as empty data: any edit read "no semantic change" and --exit-code said 0."""
    from pfgit.diff.tree import diff_flow_bytes

    fd = diff_flow_bytes("f", "f/flow.dag.yaml", b"../a/flow.dag.yaml", b"../b/flow.dag.yaml")
    assert fd.status == "unreadable" and "+../b/flow.dag.yaml" in fd.text_diff
    assert "not a mapping" in fd.problems[0][3]
    fd = diff_flow_bytes("f", "f/flow.dag.yaml", FLOW.encode(), b"- a\n- b\n")
    assert fd.status == "unreadable" and "+- a" in fd.text_diff
    assert diff_flow_bytes("f", "f/flow.dag.yaml", b"", b"# only a comment\n").status == "unchanged"


def test_an_infinite_head_metric_fails_every_gate():
    """A metric of 1e999 (read as inf: an overflow, or a fetched run's forged value) passed
    `min` and `max_drop` gates."""
    from pfgit.check.gates import judge, parse_gate

    for bounds in ({"min": 0.5}, {"max_drop": 0.01}, {"max": 2}, {"max_rise": 0}):
        for head in (float("inf"), float("-inf")):
            row = judge(parse_gate("accuracy", bounds), {"accuracy": float("inf")},
                        {"accuracy": head})
            assert row["status"] == "fail", (bounds, head)
            assert "not a finite number" in row["reasons"][0]
    assert judge(parse_gate("accuracy", {"min": 0.5}), None, {"accuracy": 0.9})["status"] == "pass"


def test_a_run_without_a_readable_status_shows_a_dash_like_runs_list():
    """A fetched run.json whose status is not text showed 'None' in `log` and `runs show`."""
    from pfgit.index.render import log_text, run_details

    run = {"name": "odd", "status": None, "flow": "f", "lines": {}}
    assert "    odd  -  ?/?" in log_text([{"commit": "a" * 40, "time": 0, "flow": "f",
                                           "summary": "s", "runs": [run]}], None)
    assert "status    -\n" in run_details(run, {}) + "\n"


def _commit(repo, tree, parents):
    from dulwich.objects import Commit

    c = Commit()
    c.tree, c.parents = tree, parents
    c.author = c.committer = b"x <x@x>"
    c.author_time = c.commit_time = 1700000000
    c.author_timezone = c.commit_timezone = 0
    c.message = b"run\n"
    repo.object_store.add_object(c)
    return c.id


def test_one_run_ref_git_cannot_transfer_does_not_block_fetching_the_others(tmp_path, monkeypatch):
    """A remote run commit whose parent is a blob made git's whole fetch fail ('revision walk
    setup failed'): no run came through, and `pfgit check` compared without the baseline's."""
    from dulwich.objects import Blob, Tree
    from dulwich.repo import Repo

    from pfgit.git.remote import fetch

    remote = Repo.init(str(tmp_path / "remote"), mkdir=True)
    blob, tree = Blob.from_string(b"x"), Tree()
    remote.object_store.add_objects([(blob, None), (tree, None)])
    good = _commit(remote, tree.id, [])
    for name, sha in (("a-good", good), ("b-bad", _commit(remote, tree.id, [blob.id])),
                      ("c-good", _commit(remote, tree.id, [good]))):
        remote.refs[b"refs/pfgit/runs/" + name.encode()] = sha
    local = str(tmp_path / "local")
    git(str(tmp_path), "init", "-q", local)
    res = fetch(local, str(tmp_path / "remote"))
    assert res["updated"] == ["refs/pfgit/runs/a-good", "refs/pfgit/runs/c-good"]
    assert [f["ref"] for f in res["failed"]] == ["refs/pfgit/runs/b-bad"]
    assert res["exit_code"] == 1
    # past a few bad refs the remote is failing whole (say the network): one error, not a fetch
    # per ref
    import pytest

    import pfgit.git.remote as gremote
    from pfgit.errors import PfgitError

    remote.refs[b"refs/pfgit/runs/d-bad"] = _commit(remote, tree.id, [tree.id])
    monkeypatch.setattr(gremote, "MAX_FAILED_REFS", 1)
    with pytest.raises(PfgitError, match="git fetch .* failed"):
        fetch(local, str(tmp_path / "remote"))


def test_check_notes_the_run_refs_its_fetch_could_not_get():
    from pfgit.check.report import render_text

    text = render_text({"ok": True, "head": {"commit": "c" * 40}, "flows": [], "baseline": {
        "spec": "main", "commit": "a" * 40, "merge_base": "b" * 40,
        "fetched": {"remote": "origin", "failed": [{"ref": "refs/pfgit/runs/x", "reason": "bad"}]}}})
    assert "note: not fetched from origin: refs/pfgit/runs/x: bad" in text


def test_a_fetched_runs_flow_path_with_a_newline_cannot_misfile_commit_trees(tmp_path):
    """A run.json flow path 'flows/g\\nflows/g' was tracked by the index; the git hook's
    `cat-file --batch-check` then read two queries from it, and every later answer landed on the
    wrong (commit, path): a commit's flows/f filed under flows/g's tree."""
    from pfgit.index.hook import flow_trees

    repo = init_repo(tmp_path)
    write(repo, "flows/g/flow.dag.yaml", FLOW.replace("q:", "g:"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "g")
    commits = [(c,) for c in git(repo, "rev-list", "HEAD").split()]
    cwd = os.getcwd()
    os.chdir(repo)
    try:
        rows = flow_trees(commits, ["flows/f", "flows/g\nflows/g", "flows/g"])
    finally:
        os.chdir(cwd)
    truth = {(c, p): git(repo, "rev-parse", f"{c}:{p}").strip()
             for (c,) in commits for p in ("flows/f", "flows/g") if (c, p) != (commits[1][0], "flows/g")}
    assert {(c, p): t for c, p, t in rows} == truth

    from dulwich.repo import Repo

    from pfgit.index.db import open_index

    idx = open_index(Repo(repo), refresh=False)
    try:
        for bad in ("flows/g\nflows/g", "/etc", "../../etc", "flows/../x", "a//b"):
            idx.track_path(bad)
        assert all("\n" not in p and not p.startswith(("/", "..")) for p in idx.tracked_paths())
    finally:
        idx.close()


def test_a_newline_in_a_fetched_runs_flow_path_stays_in_its_table_row():
    from pfgit.index.render import runs_table

    text = runs_table([{"name": "nl", "status": "Completed", "lines": {}, "linked": False,
                        "flow": "flows/g\nrf    Completed  1/1    flows/f"}])
    assert len(text.splitlines()) == 2 and "flows/g\\nrf" in text


def test_runs_show_details_lists_output_lines_that_are_not_objects():
    """A fetched outputs.jsonl line `42` or `[1, 2]` made `runs show --details` an internal error."""
    from pfgit.index.render import outputs_table

    text = outputs_table([(0, {"line_number": 0, "a": "x"}), (1, 42), (2, [1, 2]), (3, None)])
    assert "outputs.(not an object)" in text and "42" in text and "[1, 2]" in text


def test_a_base_run_with_odd_line_numbers_or_error_records_is_read(monkeypatch):
    """A fetched base run's outputs line numbered "x" beside ints made `pfgit run --run BASE` an
    internal error (sorting), an errors.jsonl line `[1]` another (AttributeError)."""
    import types

    import pfgit.store.read as read
    from pfgit.run.baserun import load_base

    files = {"outputs.jsonl": [b'{"line_number": 0, "a": "x"}', b'{"line_number": "x", "a": 1}',
                               b'{"line_number": null}', b'{"line_number": true}', b"42"],
             "inputs.jsonl": []}
    snap = types.SimpleNamespace(run={"lines": {"total": 2}})
    monkeypatch.setattr(read, "load_run", lambda repo, name: snap)
    monkeypatch.setattr(read, "stream_file", lambda repo, s, fname: iter(files[fname]))
    monkeypatch.setattr(read, "logs", lambda repo, s: {"errors.jsonl": b'[1]\n"x"\n{"line_number": 1}\n'})
    b = load_base(None, "evil")
    assert b.line_numbers == [0] and b.failed == {} and "a" in b.output_columns


def test_one_bad_promptflow_run_folder_does_not_stop_importing_the_others(tmp_path, monkeypatch, capsys):
    """A bad outputs line in one run folder stopped `runs import` there; re-running stopped there
    again, so the runs after it could never be imported."""
    import json

    from runs_helpers import make_repo, run_cli

    repo = make_repo(tmp_path)
    runs = tmp_path / "pfhome" / ".runs"
    for name, outputs in (("r1", '{"a": 1}\nbroken\n'), ("r2", '{"line_number": 0, "a": 1}\n')):
        (runs / name).mkdir(parents=True)
        (runs / name / "meta.json").write_text("{}")
        (runs / name / "outputs.jsonl").write_text(outputs)
    code, out, err = run_cli(monkeypatch, capsys, repo, "runs", "import", str(runs.parent), "--json")
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"pfgit: {runs / 'r1'}: run 'r1': outputs line 2 is not JSON")
    res = json.loads(out)
    assert res["summary"]["unlinked"] == 1 and res["summary"]["error"] == 1
    assert {r["run"]: r["status"] for r in res["runs"]} == {"r1": "error", "r2": "unlinked"}


def test_the_diff_driver_called_for_an_unmerged_path_says_so_like_git():
    """git calls an external diff with the path alone for an unmerged file (`git diff -2` in a
    merge): it printed 'pfgit diff-driver: expected 7 arguments from git, got 1'."""
    from pfgit.integrate.diffdriver import driver_text

    assert driver_text(["flows/f/flow.dag.yaml"]) == "* Unmerged path flows/f/flow.dag.yaml\n"


def test_a_submodule_where_a_flow_file_belongs_is_no_flow_not_an_internal_error(tmp_path):
    """A pull request can stage a gitlink at flows/g/flow.dag.yaml (git update-index --cacheinfo
    160000,...): `pfgit diff` and `pfgit validate --staged` (the pre-commit hook) were internal
    errors ('Commit' object has no attribute 'data'); a missing blob the same with KeyError."""
    from dulwich.repo import Repo

    from pfgit.diff.tree import diff_trees
    from pfgit.git.repo import IndexReader, TreeReader

    repo = init_repo(tmp_path)
    head = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "update-index", "--add", "--cacheinfo", f"160000,{head},flows/g/flow.dag.yaml")
    git(repo, "update-index", "--add", "--cacheinfo", f"100644,{'1' * 40},flows/h/flow.dag.yaml")
    r = Repo(repo)
    for reader in (IndexReader(r), TreeReader(r, git(repo, "write-tree", "--missing-ok").strip().encode())):
        for bad in ("flows/g/flow.dag.yaml", "flows/h/flow.dag.yaml"):
            try:
                reader.read_bytes(bad)
                raise AssertionError(f"{bad} read")
            except FileNotFoundError:
                pass
    diffs = diff_trees(TreeReader(r, r[head.encode()].tree), IndexReader(r), ["."])
    assert all(d.path == "flows/h" for d in diffs)   # the gitlink is no flow; h's blob is absent


def test_a_submodule_inside_a_flow_folder_is_its_commit_not_its_files(tmp_path):
    """A clean flow folder holding a submodule was captured with the submodule's files: every run
    looked uncommitted (linked to a captured commit, not HEAD) and `pfgit diff` showed the
    submodule's flows as new."""
    from dulwich.repo import Repo

    from pfgit.diff.tree import diff_trees
    from pfgit.git.sides import WorktreeReader, sides_for
    from pfgit.git.worktree import flow_source

    repo = init_repo(tmp_path / "repo")
    sub = init_repo(tmp_path / "repo" / "flows" / "f" / "lib")   # a nested repository with a flow
    git(repo, "add", "flows/f/lib")                               # recorded as a gitlink
    git(repo, "commit", "-qm", "submodule")
    r = Repo(repo)
    commit, tree, dirty = flow_source(r, "flows/f")
    assert not dirty and commit == r.head()
    assert git(repo, "ls-tree", tree.decode(), "lib").startswith("160000 commit ")
    assert not any("/lib/" in f for f in WorktreeReader(r).walk_files("flows"))
    s = sides_for(r, [])
    assert diff_trees(s.old, s.new, ["."]) == []
    assert os.path.exists(os.path.join(sub, "flows", "f", "flow.dag.yaml"))


def test_a_newline_in_a_node_name_cannot_print_a_made_up_line():
    """A node named "evil\\n  - node n1: removed" made `pfgit diff` print a line saying n1 was
    removed, and validate's one-line-per-problem output two lines."""
    from pfgit.diff.tree import diff_flow_bytes
    from pfgit.diff.render import render_text
    from pfgit.merge.report import _conflict_line
    from pfgit.validate.render import problem_line
    from pfgit.validate.problems import Problem

    evil = FLOW + '- name: "evil\\n  - node n1: removed"\n  type: python\n'
    text = render_text([diff_flow_bytes("f", "f/flow.dag.yaml", FLOW.encode(), evil.encode())])
    assert not any(ln.startswith("  - node n1") for ln in text.splitlines())
    p = Problem(code="x", severity="error", message="m\nn", node="a\nb", file="f", line=1)
    assert "\n" not in problem_line(p)
    assert "\n" not in _conflict_line({"line": 3, "reason": "node 'a\nb' changed"})


def test_bisect_skips_an_infinite_metric_as_it_skips_nan():
    from pfgit.check.bisect import SKIP, Threshold

    for v in (float("inf"), float("-inf"), float("nan")):
        assert Threshold("acc", min=0.5).verdict(v) == SKIP
        assert Threshold("acc", max=0.5).verdict(v) == SKIP


def test_commands_in_a_repository_without_commits_say_so(tmp_path):
    import pytest
    from dulwich.repo import Repo

    from pfgit.errors import UsageError
    from pfgit.git.repo import resolve

    git(str(tmp_path), "init", "-q")
    with pytest.raises(UsageError, match="the current branch has no commit yet"):
        resolve(Repo(str(tmp_path)), "HEAD")


def test_git_diff_of_a_conflicted_flow_shows_the_conflict_not_the_whole_file(tmp_path):
    """textconv turned the conflicted file's two versions into the one-value-a-line outline but
    left the worktree's file (with markers) as it was: `git diff` during a merge showed every
    line replaced."""
    repo = init_repo(tmp_path)
    write(repo, ".gitattributes", "flow.dag.yaml diff=pfgit\n")
    git(repo, "config", "diff.pfgit.textconv", f"{PY} -m pfgit.integrate.diffdriver textconv")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "attributes")
    branch_theirs(repo, "flows/f/flow.dag.yaml", FLOW.replace("x: ${inputs.q}", "x: 2"),
                  FLOW.replace("x: ${inputs.q}", "x: 3"))
    subprocess.run(["git", "merge", "-q", "theirs"], cwd=repo, stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE)
    out = git(repo, "diff")
    assert "<<<<<<<" in out and "nodes.n1" not in out
    assert sum(ln.startswith(("++", "--", "+ ", "- ", " +", " -")) for ln in out.splitlines()) <= 8


def test_sigterm_during_a_run_keeps_it_resumable_like_ctrl_c(tmp_path):
    """A cancelled CI job or `kill` sends SIGTERM: the run died at once without a word (its state
    was kept, but nothing said so and the exit was -15); now it ends like Ctrl-C, exit 130."""
    repo = init_repo(tmp_path)
    write(repo, "flows/f/n1.py", "import os, signal, time\nfrom promptflow.core import tool\n\n\n"
          "@tool\ndef f(x):\n"
          "    if x == 'stop':\n        os.kill(os.getpid(), signal.SIGTERM)\n"
          "        time.sleep(5)\n    return x\n")
    write(repo, "data.jsonl", '{"q": "a"}\n{"q": "stop"}\n{"q": "c"}\n')
    p = subprocess.run([PY, "-m", "pfgit", "run", "--flow", "flows/f", "--data", "data.jsonl",
                        "--name", "t1", "--workers", "1"], cwd=repo, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=120)
    assert p.returncode == 130, p.stderr
    assert "pfgit run --resume t1" in p.stderr


def test_a_comment_only_theirs_added_survives_a_clean_merge():
    """The semantic merge keeps ours' lines where the data did not change, so a comment theirs
    added there was silently dropped (git's line merge keeps it)."""
    from pfgit.merge.files import merge_bytes

    ours = FLOW + "    y: 1\n"
    theirs = FLOW.replace("nodes:\n", "nodes:\n# n1 cleans the question\n")
    res = merge_bytes(FLOW.encode(), ours.encode(), theirs.encode())
    assert res.clean and res.data.decode() == theirs + "    y: 1\n"
    # their keys sorted by a reformat still do not reorder ours' (the line merge means another order)
    sorted_theirs = FLOW.replace("  type: python\n  source:\n    type: code\n    path: n1.py\n",
                                 "  source:\n    path: n1.py\n    type: code\n  type: python\n")
    res = merge_bytes(FLOW.encode(), ours.encode(), sorted_theirs.encode())
    assert res.clean and res.data.decode() == ours


def test_pfgit_merge_reports_only_what_the_merge_brought(tmp_path):
    """git refusing a merge with exit 1 ('your local changes would be overwritten') was reported
    as 'merged, no new validation errors'; an uncommitted edit to another flow was listed as
    merged too."""
    from pfgit.integrate.gitmerge import run_merge

    repo = init_repo(tmp_path)
    write(repo, "flows/g/flow.dag.yaml", FLOW)
    write(repo, "flows/g/n1.py", "def f(x):\n    return x\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "g")
    branch_theirs(repo, "flows/f/flow.dag.yaml", FLOW.replace("x: ${inputs.q}", "x: 2"))
    write(repo, "flows/f/flow.dag.yaml", FLOW + "    y: 1\n")          # in the merge's way
    out = run_merge(repo, "theirs", quiet=True, python_exe=PY)
    assert out.exit_code == 1 and out.flows == []
    git(repo, "checkout", "-q", "--", ".")
    write(repo, "flows/g/flow.dag.yaml", FLOW + "    y: 1\n")          # not the merge's business
    out = run_merge(repo, "theirs", quiet=True, python_exe=PY)
    assert out.exit_code == 0 and [f["file"] for f in out.flows] == ["flows/f/flow.dag.yaml"]


def test_install_never_copies_what_a_symlinked_gitattributes_points_to(tmp_path):
    """A pull request can commit `.gitattributes -> ~/.ssh/id_rsa`: `pfgit install` read the
    target, wrote it into the repository's .gitattributes (for the user to commit) with its lines."""
    import pytest

    from pfgit.errors import UsageError
    from pfgit.integrate.install import install

    secret = tmp_path / "secret"
    secret.write_text("SECRET=hunter2\n")
    repo = init_repo(tmp_path / "repo")
    os.symlink(secret, os.path.join(repo, ".gitattributes"))
    with pytest.raises(UsageError, match="symbolic link"):
        install(repo, python_exe=PY)
    assert os.path.islink(os.path.join(repo, ".gitattributes"))
    assert secret.read_text() == "SECRET=hunter2\n"
