"""`pfgit diff` as users and git call it: revisions, paths, --no-index, exit codes, JSON, and the
git diff driver / textconv under a real `git diff`, `git log -p` and `git show`."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from corpus_finder import part as corpus_part

from pfgit.integrate.diffdriver import driver_config

def _demo_flow() -> str:
    """The demo's qa flow (demo/demo.py), so tests and demo show the same edit."""
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "demo", "demo.py")
    spec = importlib.util.spec_from_file_location("pfgit_demo", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.FLOW_DAG


FLOW = _demo_flow()

EDITED = (FLOW.replace("build_prompt", "make_prompt").replace("path: make_prompt.jinja2", "path: build_prompt.jinja2")
          .replace("style: short", "style: long")
          .replace("  inputs:\n    question: ${inputs.question}", '  inputs: {question: "${inputs.question}"}'))


def reformat(text):
    """Deeper indentation, an indented node list, a quoted scalar, a comment: no semantic change."""
    return "# reformatted\n" + text.replace("\n  ", "\n    ").replace("- name", "  - name").replace(
        "type: string\n", "type: 'string'\n", 1)


REFORMATTED = reformat(FLOW)


def git(repo, *args, check=True):
    return subprocess.run(["git", *args], cwd=repo, text=True, capture_output=True, check=check)


def pfgit(repo, *args):
    return subprocess.run([sys.executable, "-m", "pfgit", *args], cwd=repo, text=True,
                          capture_output=True)


def write(repo, rel, text):
    path = os.path.join(repo, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


@pytest.fixture
def repo(tmp_path):
    r = str(tmp_path / "repo")
    os.makedirs(r)
    git(r, "init", "-q", "-b", "main")
    write(r, "qa/flow.dag.yaml", FLOW)
    write(r, "qa/clean_question.py", "def clean(q):\n    return q.strip()\n")
    write(r, "qa/build_prompt.jinja2", "Answer: {{ question }}\n")
    write(r, "qa/answer.py", "def answer(prompt, style='short'):\n    return prompt\n")
    git(r, "add", "-A")
    git(r, "commit", "-q", "-m", "first")
    return r


def commit_all(repo, msg):
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", msg)


def use_driver(repo):
    """What `pfgit install` sets up for diffs: the attribute and driver_config's entries."""
    write(repo, ".gitattributes", "flow.dag.yaml diff=pfgit\n")
    for k, v in driver_config(sys.executable).items():
        git(repo, "config", k, v)
    commit_all(repo, "attributes")


def test_worktree_vs_head_text_and_exit_codes(repo):
    assert pfgit(repo, "diff").stdout == ""
    clean = pfgit(repo, "diff", "--exit-code")
    assert clean.returncode == 0 and clean.stdout == ""
    write(repo, "qa/flow.dag.yaml", EDITED)
    write(repo, "qa/answer.py", "def answer(prompt, style='short'):\n    return prompt.upper()\n")
    p = pfgit(repo, "diff")
    assert p.returncode == 0, p.stderr
    assert "> node make_prompt: renamed from build_prompt" in p.stdout
    assert "reference rewritten answer.inputs.prompt: ${build_prompt.output} -> ${make_prompt.output}" in p.stdout
    assert "~ inputs.style: short -> long" in p.stdout
    assert "+    return prompt.upper()" in p.stdout  # the source diff, under node answer
    assert "clean_question" not in p.stdout  # flow-style rewrite of its inputs is formatting
    assert pfgit(repo, "diff", "--exit-code").returncode == 1


def test_json_shape_and_stat(repo):
    write(repo, "qa/flow.dag.yaml", EDITED)
    p = pfgit(repo, "diff", "--json")
    out = json.loads(p.stdout)
    assert list(out) == ["flows"] and out["flows"][0]["path"] == "qa"
    changes = out["flows"][0]["changes"]
    assert changes[0]["op"] == "rename" and changes[0]["path"] == ["nodes", "build_prompt"]
    assert {"op": "change", "path": ["nodes", "answer", "inputs", "style"], "old": "short",
            "new": "long"} in changes
    stat = pfgit(repo, "diff", "--stat").stdout
    assert stat.splitlines()[-1] == " 1 flow changed, 2 semantic changes"
    md = pfgit(repo, "diff", "--markdown").stdout
    assert md.startswith("### Flow `qa`")


def test_formatting_only_is_no_semantic_change(repo):
    write(repo, "qa/flow.dag.yaml", REFORMATTED)
    assert pfgit(repo, "diff").stdout == "flow qa  (qa/flow.dag.yaml, no semantic change)\n"
    p = pfgit(repo, "diff", "--exit-code", "--json")
    assert p.returncode == 0
    assert json.loads(p.stdout)["flows"] == [{"path": "qa", "file": "qa/flow.dag.yaml",
                                              "status": "unchanged", "changes": []}]
    nd = pfgit(repo, "diff", "--no-index", os.path.join(repo, "qa/flow.dag.yaml"),
               os.path.join(repo, "qa/flow.dag.yaml"))
    assert nd.returncode == 0 and nd.stdout == ""


def test_revisions_ranges_and_paths(repo):
    write(repo, "qa/flow.dag.yaml", EDITED)
    commit_all(repo, "edit")
    write(repo, "other/flow.dag.yaml", FLOW)
    commit_all(repo, "add other")
    one = json.loads(pfgit(repo, "diff", "HEAD~2", "HEAD~1", "--json").stdout)
    assert [f["path"] for f in one["flows"]] == ["qa"]
    both = json.loads(pfgit(repo, "diff", "HEAD~2..HEAD", "--json").stdout)
    assert [(f["path"], f["status"]) for f in both["flows"]] == [("qa", "modified"), ("other", "added")] or \
        sorted((f["path"], f["status"]) for f in both["flows"]) == [("other", "added"), ("qa", "modified")]
    added = [f for f in both["flows"] if f["path"] == "other"][0]
    assert [c["path"] for c in added["changes"] if c["path"][0] == "nodes" and len(c["path"]) == 2] == [
        ["nodes", "clean_question"], ["nodes", "build_prompt"], ["nodes", "answer"]]
    only = json.loads(pfgit(repo, "diff", "HEAD~2", "HEAD", "--json", "--", "other").stdout)
    assert [f["path"] for f in only["flows"]] == ["other"]
    sub = os.path.join(repo, "qa")
    p = subprocess.run([sys.executable, "-m", "pfgit", "diff", "HEAD~2", "--json", "--", "."],
                       cwd=sub, text=True, capture_output=True)
    assert [f["path"] for f in json.loads(p.stdout)["flows"]] == ["qa"]  # paths from the cwd
    shutil.rmtree(os.path.join(repo, "other"))
    gone = json.loads(pfgit(repo, "diff", "--json").stdout)
    assert gone["flows"][0]["status"] == "deleted"
    assert {c["op"] for c in gone["flows"][0]["changes"] if c["path"][0] == "nodes"} == {"remove"}


def test_cached_unborn_head_and_a_source_file_as_path(repo, tmp_path):
    write(repo, "qa/answer.py", "def answer(prompt, style='short'):\n    return prompt.upper()\n")
    assert pfgit(repo, "diff", "--cached").stdout == ""
    git(repo, "add", "qa/answer.py")
    staged = json.loads(pfgit(repo, "diff", "--cached", "--json").stdout)["flows"]
    assert [c["path"] for c in staged[0]["changes"]] == [["nodes", "answer", "file", "answer.py"]]
    only = json.loads(pfgit(repo, "diff", "--json", "--", "qa/answer.py").stdout)["flows"]
    assert [f["path"] for f in only] == ["qa"]
    fresh = str(tmp_path / "fresh")
    os.makedirs(fresh)
    git(fresh, "init", "-q", "-b", "main")
    write(fresh, "f/flow.dag.yaml", FLOW)
    p = pfgit(fresh, "diff", "--stat")
    assert p.returncode == 0 and "new flow" in p.stdout and "3 nodes added" in p.stdout


def test_bad_input_exit_codes(repo, tmp_path):
    p = pfgit(repo, "diff", "nosuchrev", "HEAD")
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "nosuchrev" in p.stderr
    p = pfgit(repo, "diff", "HEAD", "--", str(tmp_path))
    assert p.returncode == 2 and "outside the repository" in p.stderr
    p = pfgit(repo, "diff", "--no-index", "a", "b")
    assert p.returncode == 2 and "Traceback" not in p.stderr
    p = pfgit(str(tmp_path), "diff")
    assert p.returncode == 2 and "not a git repository" in p.stderr
    p = pfgit(repo, "diff", "--no-such-option")
    assert p.returncode == 2 and p.stderr.startswith("pfgit: no such option") and "internal" not in p.stderr
    p = pfgit(repo, "diff", "HEAD", "HEAD", "HEAD")  # a third revision is not "neither a revision nor a path"
    assert p.returncode == 2 and "at most two revisions" in p.stderr


def test_unreadable_side_shows_text_diff_and_binary_gives_2(repo):
    write(repo, "qa/flow.dag.yaml", FLOW.replace("nodes:\n", "nodes: [\n"))
    p = pfgit(repo, "diff")
    assert p.returncode == 0
    assert "qa/flow.dag.yaml" in p.stderr and "new side" in p.stderr
    assert "+nodes: [" in p.stdout
    with open(os.path.join(repo, "qa/flow.dag.yaml"), "wb") as f:
        f.write(b"\xff\xfe\x00binary")
    p = pfgit(repo, "diff")
    assert p.returncode == 2 and "new side" in p.stderr and "Traceback" not in p.stderr


def test_no_index_folders_and_files(tmp_path, corpus):
    a = corpus_part(corpus, "history/flows__standard__intent-copilot")
    versions = sorted(a.glob("*.flow.dag.yaml"))
    p = pfgit(str(tmp_path), "diff", "--no-index", str(versions[1]), str(versions[2]), "--json")
    assert p.returncode == 0, p.stderr
    changes = json.loads(p.stdout)["flows"][0]["changes"]
    assert changes[0]["op"] == "rename" and changes[0]["new"] == "chat_prompt"
    wc = corpus / "examples" / "flows" / "standard" / "web-classification"
    copy = tmp_path / "copy"
    shutil.copytree(wc, copy)
    (copy / "fetch_text_content_from_url.py").write_text("# replaced\n")
    text = pfgit(str(tmp_path), "diff", "--no-index", str(wc), str(copy)).stdout
    assert "node fetch_text_content_from_url" in text and "+# replaced" in text


@pytest.mark.slow
def test_git_diff_driver_and_textconv_in_a_real_repo(repo):
    use_driver(repo)
    write(repo, "qa/flow.dag.yaml", EDITED)
    write(repo, "qa/answer.py", "def answer(prompt, style='short'):\n    return prompt.upper()\n")
    d = git(repo, "--no-pager", "diff")
    assert "diff --pfgit a/qa/flow.dag.yaml b/qa/flow.dag.yaml" in d.stdout
    assert "> node make_prompt: renamed from build_prompt" in d.stdout
    assert "    ~ source answer.py" in d.stdout  # source read from the worktree
    commit_all(repo, "edit")
    write(repo, "qa/flow.dag.yaml", reformat(EDITED))
    commit_all(repo, "reformat")
    log = git(repo, "--no-pager", "log", "-p", "--ext-diff", "--", "qa/flow.dag.yaml").stdout
    assert log.count("diff --pfgit") == 3  # reformat, edit, and the flow's creation
    assert "no semantic change" in log
    assert "+ node answer: added after make_prompt" not in log
    assert "~ source answer.py" in log  # found the commit of the blobs: sources compared
    show = git(repo, "--no-pager", "show", "--ext-diff", "HEAD~1", "--", "qa/flow.dag.yaml").stdout
    assert "renamed from build_prompt" in show
    # plain log -p uses the textconv: reformatting vanishes, real edits are one line each
    plain = git(repo, "--no-pager", "log", "-p", "-2", "--format=--%s", "--", "qa/flow.dag.yaml").stdout
    reformat_part = plain.split("--edit")[0]
    assert "@@" not in reformat_part
    assert "+nodes.answer.inputs.style: long" in plain


def test_driver_text_outside_a_repo_deleted_flow_and_garbage(tmp_path, monkeypatch):
    from pfgit.integrate.diffdriver import driver_text

    monkeypatch.chdir(tmp_path)
    old = tmp_path / "old.yaml"
    old.write_text(FLOW)
    gone = driver_text(["qa/flow.dag.yaml", str(old), "a" * 40, "100644", "/dev/null", ".", "."])
    assert gone.startswith("diff --pfgit a/qa/flow.dag.yaml b/qa/flow.dag.yaml\n")
    assert "- node answer: removed" in gone
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"nodes: [\n")
    text = driver_text(["qa/flow.dag.yaml", str(old), "a" * 40, "100644", str(bad), "b" * 40, "100644"])
    assert "new side cannot be read" in text and "+nodes: [" in text
    assert "expected 7 arguments" in driver_text(["x", "y"])  # one argument: an unmerged path


@pytest.mark.slow
def test_git_driver_follows_a_moved_flow_folder(repo):
    use_driver(repo)
    git(repo, "mv", "qa", "qa2")
    write(repo, "qa2/flow.dag.yaml", FLOW.replace("style: short", "style: medium"))
    write(repo, "qa2/answer.py", "def answer(prompt, style='short'):\n    return prompt[::-1]\n")
    git(repo, "add", "-A")
    staged = git(repo, "--no-pager", "diff", "--cached", "-M").stdout
    commit_all(repo, "move")
    log = git(repo, "--no-pager", "log", "-p", "--ext-diff", "-M", "-1").stdout
    moved = json.loads(pfgit(repo, "diff", "HEAD~1", "HEAD", "--json").stdout)["flows"]
    assert [(f["path"], f.get("old_path")) for f in moved] == [("qa2", "qa")]
    assert [c["path"] for c in moved[0]["changes"]] == [["nodes", "answer", "inputs", "style"],
                                                       ["nodes", "answer", "file", "answer.py"]]
    for out in (staged, log):
        assert "diff --pfgit a/qa/flow.dag.yaml b/qa2/flow.dag.yaml" in out
        assert "~ inputs.style: short -> medium" in out and "+    return prompt[::-1]" in out
        assert "deleted" not in out and "not compared" not in out


def test_worktree_side_skips_untracked_secrets_and_ignored_files(repo):
    write(repo, ".gitignore", "*.log\n")
    write(repo, "qa/.env", "OPENAI_API_KEY=sk-secret\n")
    write(repo, "qa/run.log", "noise\n")
    write(repo, "qa/notes.md", "new notes\n")
    out = pfgit(repo, "diff").stdout
    assert "notes.md" in out  # untracked but not ignored: like `git add -A`
    assert "sk-secret" not in out and ".env" not in out and "run.log" not in out


def test_cli_entry_points_for_git(tmp_path):
    a, b = tmp_path / "aaaaaa_flow.dag.yaml", tmp_path / "bbbbbb_flow.dag.yaml"   # as git names them
    a.write_text(FLOW)
    b.write_text(reformat(FLOW.replace("style: short", "style: long")))
    tc = pfgit(str(tmp_path), "diff-textconv", str(b))
    assert tc.returncode == 0 and "nodes.answer.inputs.style: long\n" in tc.stdout
    assert pfgit(str(tmp_path), "diff-textconv", str(a)).stdout.replace("short", "long") == tc.stdout
    d = pfgit(str(tmp_path), "diff-driver", "qa/flow.dag.yaml", str(a), "1" * 40, "100644",
              str(b), "2" * 40, "100644")
    assert d.returncode == 0 and "~ inputs.style: short -> long" in d.stdout
    assert pfgit(str(tmp_path), "diff-textconv", str(tmp_path / "missing")).returncode == 2
