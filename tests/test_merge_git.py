"""Real `git merge` runs: after `pfgit install`, git calls the pfgit driver on flow files.

A representative subset of the corpus scenarios (every kind, two flows each) is committed on
branch pairs in one temporary repo and merged with git itself; plus `pfgit merge` without install
(the PR workflow), `pfgit conflicts`, modify/delete and add/add.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from test_merge_scenarios import all_scenarios, judge

PY = sys.executable


def git(repo, *args, check=True):
    p = subprocess.run(["git", *args], cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"git {' '.join(args)}: {p.stderr}")
    return p


def pfgit(repo, *args):
    return subprocess.run([PY, "-m", "pfgit", *args], cwd=repo, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)


def write(repo, rel, text):
    path = os.path.join(repo, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)


def read(repo, rel):
    with open(os.path.join(repo, rel), encoding="utf-8", newline="") as f:
        return f.read()


def init_repo(path):
    os.makedirs(path, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "commit.gpgsign", "false")
    return path


def no_hooks(repo):
    """The run-index hooks `pfgit install` adds are another module's; keep these merges lean."""
    os.makedirs(os.path.join(repo, ".nohooks"), exist_ok=True)
    git(repo, "config", "core.hooksPath", ".nohooks")


def subset(corpus):
    """One scenario of every kind, spread over as many flows as possible."""
    by_kind: dict = {}
    for s in all_scenarios(corpus):
        by_kind.setdefault(s.kind, []).append(s)
    picked, used = [], {}
    for kind, group in by_kind.items():
        s = min(group, key=lambda x: used.get(x.flow, 0))
        used[s.flow] = used.get(s.flow, 0) + 1
        picked.append(s)
    return picked


def branch_pairs(repo, scens, rels):
    """Branches ours<i>/theirs<i> off main for every scenario, in one `git fast-import` run."""
    out = []

    def blob(text):
        data = text.encode("utf-8")
        return f"data {len(data)}\n".encode() + data + b"\n"

    for i, s in enumerate(scens):
        for side, text in (("ours", s.ours), ("theirs", s.theirs)):
            out.append(f"commit refs/heads/{side}{i}\ncommitter T <t@example.com> 0 +0000\n".encode()
                       + blob(f"{side} {i}") + b"from refs/heads/main^0\n"
                       + f"M 100644 inline {rels[s.flow]}\n".encode() + blob(text))
    p = subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, input=b"".join(out),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.returncode == 0, p.stderr


@pytest.mark.slow
def test_real_git_merge_with_installed_driver(corpus, tmp_path):
    scens = subset(corpus)
    repo = init_repo(str(tmp_path / "repo"))
    rels = {}
    for s in scens:
        rels.setdefault(s.flow, f"{s.flow.replace('/', '_')}/flow.dag.yaml")
        write(repo, rels[s.flow], s.base)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    r = pfgit(repo, "install")
    assert r.returncode == 0, r.stderr
    no_hooks(repo)
    git(repo, "add", ".gitattributes")
    git(repo, "commit", "-qm", "pfgit install")
    branch_pairs(repo, scens, rels)
    verdicts = []
    for i, s in enumerate(scens):
        rel = rels[s.flow]
        git(repo, "checkout", "-q", f"ours{i}")
        m = git(repo, "merge", "--no-edit", f"theirs{i}", check=False)
        conflicted = m.returncode != 0
        v = judge(s, read(repo, rel).encode(), conflicted)
        if conflicted:
            assert "<<<<<<< ours" in read(repo, rel), (s.kind, s.flow)
            git(repo, "merge", "--abort")
        verdicts.append((s.kind, s.flow, v))
    expected = {"clean": "clean, right", "conflict": "conflict (right)"}
    wrong = [(k, f, v) for (k, f, v), s in zip(verdicts, scens) if v != expected[s.expect]]
    assert not wrong
    assert len({k for k, _, _ in verdicts}) >= 15 and len({f for _, f, _ in verdicts}) >= 8


def _qa_repo(tmp_path, base):
    repo = init_repo(str(tmp_path / "qa"))
    write(repo, "qa/flow.dag.yaml", base)
    write(repo, "qa/notes.txt", "one\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    return repo


def _flow(corpus):
    return (corpus / "examples/flows/standard/web-classification/flow.dag.yaml").read_text()


@pytest.mark.slow
def test_pfgit_merge_without_install_merges_what_git_cannot(corpus, tmp_path):
    base = _flow(corpus)
    repo = _qa_repo(tmp_path, base)
    git(repo, "checkout", "-q", "-b", "feature")
    write(repo, "qa/flow.dag.yaml", base.replace("    max_tokens: 128\n    temperature: 0.2\n    url",
                                                   "    max_tokens: 128\n    temperature: 0.7\n    url"))
    git(repo, "commit", "-qam", "feature: temperature")
    git(repo, "checkout", "-q", "main")
    write(repo, "qa/flow.dag.yaml", base.replace("    model: gpt-3.5-turbo\n    max_tokens: 128\n    temperature: 0.2\n    url",
                                                   "    model: gpt-3.5-turbo\n    max_tokens: 200\n    temperature: 0.2\n    url"))
    git(repo, "commit", "-qam", "main: max_tokens")
    # plain git conflicts on the adjacent lines
    plain = git(repo, "merge", "--no-edit", "feature", check=False)
    assert plain.returncode == 1
    git(repo, "merge", "--abort")
    r = pfgit(repo, "merge", "feature")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "qa/flow.dag.yaml: merged" in r.stdout
    merged = yaml.safe_load(read(repo, "qa/flow.dag.yaml"))
    llm = next(n for n in merged["nodes"] if n["name"] == "classify_with_llm")
    assert llm["inputs"]["temperature"] == 0.7 and llm["inputs"]["max_tokens"] == 200
    assert git(repo, "log", "-1", "--format=%P").stdout.count(" ") == 1  # a merge commit
    # nothing left behind: no attributes, no config
    assert not os.path.exists(os.path.join(repo, ".git", "info", "attributes")) or \
        "pfgit" not in read(repo, ".git/info/attributes")
    assert git(repo, "config", "--get", "merge.pfgit.driver", check=False).stdout == ""


@pytest.mark.slow
def test_pfgit_merge_reports_conflicts_by_node_and_conflicts_lists_them(corpus, tmp_path):
    base = _flow(corpus)
    repo = _qa_repo(tmp_path, base)
    git(repo, "config", "merge.conflictStyle", "diff3")
    git(repo, "checkout", "-q", "-b", "feature")
    write(repo, "qa/flow.dag.yaml", base.replace("temperature: 0.2\n    url", "temperature: 0.7\n    url"))
    write(repo, "qa/notes.txt", "two\n")
    git(repo, "commit", "-qam", "feature")
    git(repo, "checkout", "-q", "main")
    write(repo, "qa/flow.dag.yaml", base.replace("temperature: 0.2\n    url", "temperature: 0.9\n    url"))
    write(repo, "qa/notes.txt", "three\n")
    git(repo, "commit", "-qam", "main")
    r = pfgit(repo, "merge", "feature", "--json")
    assert r.returncode == 1
    out = json.loads(r.stdout)
    flow = out["flows"][0]
    assert flow["status"] == "conflicts"
    assert flow["conflicts"][0]["node"] == "classify_with_llm"
    assert flow["conflicts"][0]["path"] == ["nodes", "classify_with_llm", "inputs", "temperature"]
    assert out["other_conflicts"] == ["qa/notes.txt"]
    text = read(repo, "qa/flow.dag.yaml")
    assert "||||||| base\n    temperature: 0.2\n" in text  # merge.conflictStyle=diff3 honoured
    c = pfgit(repo, "conflicts")
    assert c.returncode == 1
    assert "line 40: node 'classify_with_llm' inputs.temperature changed on both sides" in c.stdout
    assert "qa/notes.txt: 1 conflict\n  line 1: conflict" in c.stdout  # any file of the flow
    cj = json.loads(pfgit(repo, "conflicts", "--json").stdout)
    assert cj["summary"] == {"flows": 1, "files": 2, "conflicts": 2}
    assert [(f["file"], f["kind"]) for f in cj["flows"]] == [("qa/flow.dag.yaml", "flow"),
                                                             ("qa/notes.txt", "file")]
    # resolve by taking theirs' value: no conflicts left
    write(repo, "qa/flow.dag.yaml", base.replace("temperature: 0.2\n    url", "temperature: 0.7\n    url"))
    assert pfgit(repo, "conflicts").returncode == 1
    write(repo, "qa/notes.txt", "two\n")
    assert pfgit(repo, "conflicts").returncode == 0


@pytest.mark.slow
def test_modify_delete_and_add_add(corpus, tmp_path):
    base = _flow(corpus)
    repo = init_repo(str(tmp_path / "r"))
    write(repo, "keep.txt", "x\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "root")
    assert pfgit(repo, "install").returncode == 0
    no_hooks(repo)
    git(repo, "add", ".gitattributes")   # merges read attributes from the index
    git(repo, "commit", "-qm", "pfgit install")
    # add/add: both branches create the same flow, with different edits
    git(repo, "checkout", "-q", "-b", "a")
    write(repo, "qa/flow.dag.yaml", base.replace("max_tokens: 128\n    temperature: 0.2\n    url",
                                                   "max_tokens: 100\n    temperature: 0.2\n    url"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a")
    git(repo, "checkout", "-q", "-b", "b", "main")
    write(repo, "qa/flow.dag.yaml", base.replace("max_tokens: 128\n    temperature: 0.2\n    url",
                                                   "max_tokens: 128\n    temperature: 0.3\n    url"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "b")
    m = git(repo, "merge", "--no-edit", "a", check=False)
    # no base: each side's differing value is an add/add conflict at that input only
    assert m.returncode == 1
    text = read(repo, "qa/flow.dag.yaml")
    assert text.count("<<<<<<<") == 1 and "node 'classify_with_llm' added on both sides" in text
    git(repo, "merge", "--abort")
    # modify/delete: git reports it without calling a driver; pfgit merge says so by file
    git(repo, "checkout", "-q", "a")
    git(repo, "checkout", "-q", "-b", "a_edit")
    write(repo, "qa/flow.dag.yaml", read(repo, "qa/flow.dag.yaml").replace("max_tokens: 100", "max_tokens: 90"))
    git(repo, "commit", "-qam", "edit")
    git(repo, "checkout", "-q", "a")
    git(repo, "rm", "-q", "qa/flow.dag.yaml")
    git(repo, "commit", "-qm", "delete")
    r = pfgit(repo, "merge", "a_edit")
    assert r.returncode == 1
    assert "qa/flow.dag.yaml: conflict: deleted by us, changed by them" in r.stdout
    git(repo, "merge", "--abort")
    # --no-commit stops before the merge commit, like git
    git(repo, "checkout", "-q", "a_edit")
    git(repo, "checkout", "-q", "-b", "a_edit2")
    write(repo, "keep.txt", "y\n")
    git(repo, "commit", "-qam", "other file")
    git(repo, "checkout", "-q", "a_edit")
    write(repo, "qa/flow.dag.yaml", read(repo, "qa/flow.dag.yaml").replace("max_tokens: 90", "max_tokens: 80"))
    git(repo, "commit", "-qam", "edit again")
    r = pfgit(repo, "merge", "--no-commit", "a_edit2")
    assert r.returncode == 0 and os.path.exists(os.path.join(repo, ".git", "MERGE_HEAD"))


SRC = "from promptflow.core import tool\n\n\n@tool\ndef clean(question: str) -> str:\n" \
      "    # collapse runs of spaces\n    q = \" \".join(question.split())\n    return q.strip()\n"


def _rename_repo(tmp_path):
    base = ("inputs:\n  question:\n    type: string\noutputs:\n  answer:\n    type: string\n"
            "    reference: ${clean.output}\nnodes:\n- name: clean\n  type: python\n  source:\n"
            "    type: code\n    path: clean.py\n  inputs:\n    question: ${inputs.question}\n")
    repo = init_repo(str(tmp_path / "src"))
    write(repo, "qa/flow.dag.yaml", base)
    write(repo, "qa/clean.py", SRC)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    git(repo, "checkout", "-q", "-b", "rename")
    git(repo, "mv", "qa/clean.py", "qa/normalise.py")
    write(repo, "qa/flow.dag.yaml", base.replace("clean", "normalise"))
    git(repo, "commit", "-qam", "rename node and source")
    git(repo, "checkout", "-q", "main")
    return repo


@pytest.mark.slow
def test_source_renamed_with_node_on_one_side_edited_on_the_other(tmp_path):
    """git's rename detection carries the source edit; pfgit merges the flow file."""
    repo = _rename_repo(tmp_path)
    write(repo, "qa/clean.py", SRC.replace("q.strip()", "q.strip().lower()"))
    flow = read(repo, "qa/flow.dag.yaml")
    write(repo, "qa/flow.dag.yaml", flow.replace("    question: ${inputs.question}\n",
                                                   "    question: ${inputs.question}\n    lower: true\n"))
    git(repo, "commit", "-qam", "edit source and node")
    r = pfgit(repo, "merge", "rename")
    assert r.returncode == 0, r.stdout + r.stderr
    assert not os.path.exists(os.path.join(repo, "qa/clean.py"))
    assert "q.strip().lower()" in read(repo, "qa/normalise.py")
    data = yaml.safe_load(read(repo, "qa/flow.dag.yaml"))
    assert data["nodes"][0]["name"] == "normalise" and data["nodes"][0]["inputs"]["lower"] is True
    assert data["nodes"][0]["source"]["path"] == "normalise.py"


@pytest.mark.slow
def test_source_edit_lands_even_when_the_other_side_rewrote_it(tmp_path):
    """The renaming side kept the content, so git pairs the files whatever the other side did."""
    repo = _rename_repo(tmp_path)
    write(repo, "qa/clean.py", "import re\n\n\ndef clean(q):\n    return re.sub(r'\\s+', ' ', q)\n")
    git(repo, "commit", "-qam", "rewrite source")
    r = pfgit(repo, "merge", "rename")
    assert r.returncode == 0
    assert "re.sub" in read(repo, "qa/normalise.py") and not os.path.exists(os.path.join(repo, "qa/clean.py"))


@pytest.mark.slow
def test_source_renamed_and_rewritten_is_a_modify_delete_conflict(tmp_path):
    """Renamed *and* rewritten below git's 50% similarity: a delete + add, so git reports
    modify/delete for the old file; the flow file itself still merges (node rename detected)."""
    repo = _rename_repo(tmp_path)
    git(repo, "checkout", "-q", "rename")
    write(repo, "qa/normalise.py", "import re\n\n\ndef normalise(q):\n    return re.sub(r'\\s+', ' ', q)\n")
    git(repo, "commit", "-qam", "rewrite while renaming")
    git(repo, "checkout", "-q", "main")
    write(repo, "qa/clean.py", SRC.replace("q.strip()", "q.strip().lower()"))
    git(repo, "commit", "-qam", "edit source")
    r = pfgit(repo, "merge", "rename")
    assert r.returncode == 1
    assert "qa/clean.py: conflict (not a flow file" in r.stdout
    assert "qa/flow.dag.yaml: merged" in r.stdout
    assert yaml.safe_load(read(repo, "qa/flow.dag.yaml"))["nodes"][0]["name"] == "normalise"


_FLOW = ("inputs:\n  text:\n    type: string\noutputs:\n  out:\n    type: string\n    reference: ${a.output}\n"
         "nodes:\n- name: a\n  type: python\n  source:\n    type: code\n    path: t.py\n  inputs:\n"
         "    t: ${inputs.text}\n")


def _node(name, ref):
    return f"- name: {name}\n  type: python\n  source:\n    type: code\n    path: t.py\n  inputs:\n    t: {ref}\n"


def test_rebase_cherry_pick_and_revert_use_the_driver(tmp_path):
    """git calls merge drivers from rebase, cherry-pick and revert too: two branches that each
    append a node (a text conflict for git) rebase and cherry-pick cleanly, and reverting one
    node's commit keeps the other's."""
    repo = init_repo(str(tmp_path / "r"))
    no_hooks(repo)
    write(repo, "f/flow.dag.yaml", _FLOW)
    write(repo, "f/t.py", "from promptflow.core import tool\n\n\n@tool\ndef t(t: str) -> str:\n    return t\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    assert pfgit(repo, "install").returncode == 0
    git(repo, "add", ".gitattributes")
    git(repo, "commit", "-qm", "attributes")
    git(repo, "checkout", "-qb", "feat")
    write(repo, "f/flow.dag.yaml", _FLOW + _node("b", "${a.output}"))
    git(repo, "commit", "-qam", "add b")
    git(repo, "checkout", "-q", "main")
    write(repo, "f/flow.dag.yaml", _FLOW + _node("c", "${inputs.text}"))
    git(repo, "commit", "-qam", "add c")
    git(repo, "branch", "pick", "feat")

    def names():
        return [n["name"] for n in yaml.safe_load(read(repo, "f/flow.dag.yaml"))["nodes"]]

    git(repo, "checkout", "-q", "feat")
    git(repo, "rebase", "-q", "main")
    assert sorted(names()) == ["a", "b", "c"] and pfgit(repo, "validate", "f").returncode == 0
    git(repo, "checkout", "-q", "main")
    git(repo, "cherry-pick", "pick")
    assert sorted(names()) == ["a", "b", "c"]
    git(repo, "revert", "--no-edit", "HEAD~1")     # take "add c" back, keep b
    assert names() == ["a", "b"] and pfgit(repo, "validate", "f").returncode == 0
