"""Merge never loses a side and never writes a wrong file (issue 8, section 2), one test a bullet.

Flows are written here; the real-git tests use small temporary repositories.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from pfgit.merge.conflicts import take
from pfgit.merge.files import merge_bytes

PY = sys.executable
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FLOW = """\
inputs:
  question:
    type: string
    default: hi
outputs:
  answer:
    type: string
    reference: ${answer.output}
nodes:
- name: clean
  type: python
  source:
    type: code
    path: clean.py
  inputs:
    q: ${inputs.question}
    mode: strict
- name: answer
  type: python
  source:
    type: code
    path: answer.py
  inputs:
    text: ${clean.output}
    style: short
"""

# values PyYAML's constructors reject (they raised ValueError/KeyError/AttributeError, not YAMLError)
BAD_VALUES = ["!!int 0b", "!!float abc", "!!timestamp foo", "!!bool maybe", "9" * 4400]


def m(base: str, ours: str, theirs: str, **kw):
    return merge_bytes(base.encode(), ours.encode(), theirs.encode(), **kw)


def with_bad(value: str) -> str:
    return FLOW.replace("default: hi", f"default: {value}")


def git(repo, *args, check=True, **kw):
    p = subprocess.run(["git", *args], cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"git {' '.join(args)}: {p.stderr}")
    return p


def new_repo(path, flow=FLOW):
    os.makedirs(path / "qa")
    git(path, "init", "-q", "-b", "main")
    (path / "qa" / "flow.dag.yaml").write_text(flow)
    git(path, "add", ".")
    git(path, "commit", "-qm", "base")
    return path


# -- any exception: git's text merge with markers, the reason on stderr ------------------------------

@pytest.mark.parametrize("value", BAD_VALUES, ids=["int-0b", "float-abc", "timestamp-foo", "bool-maybe",
                                                    "int-4400-digits"])
def test_driver_keeps_both_sides_when_the_yaml_loader_rejects_a_value(value, tmp_path, capsys):
    from pfgit.integrate.mergedriver import main

    ours = FLOW.replace("default: hi", "default: hello")
    for name, text in (("base", FLOW), ("ours", ours), ("theirs", with_bad(value))):
        (tmp_path / name).write_text(text)
    code = main([str(tmp_path / "base"), str(tmp_path / "ours"), str(tmp_path / "theirs"), "qa/flow.dag.yaml"])
    out = (tmp_path / "ours").read_text()
    assert code == 1
    assert "<<<<<<< ours\n" in out and "default: hello" in out and f"default: {value}" in out
    err = capsys.readouterr().err
    assert "pfgit: qa/flow.dag.yaml: cannot read theirs:" in err and "(line 4)" in err
    assert "used git's line merge" in err


def test_driver_falls_back_to_the_text_merge_on_any_exception(tmp_path, monkeypatch, capsys):
    import pfgit.merge.files as files
    from pfgit.integrate.mergedriver import main

    def boom(*a, **k):
        raise RuntimeError("a bug outside the guarded merge")

    monkeypatch.setattr(files, "merge_bytes", boom)
    for name, text in (("base", FLOW), ("ours", FLOW.replace("style: short", "style: long")),
                       ("theirs", FLOW.replace("style: short", "style: brief"))):
        (tmp_path / name).write_text(text)
    assert main([str(tmp_path / "base"), str(tmp_path / "ours"), str(tmp_path / "theirs"), "f/flow.dag.yaml"]) == 1
    out = (tmp_path / "ours").read_text()
    assert "<<<<<<< ours\n    style: long\n=======\n    style: brief\n>>>>>>> theirs" in out
    assert "internal error RuntimeError: a bug outside the guarded merge" in capsys.readouterr().err


def test_driver_writes_both_sides_whole_when_even_git_merge_file_fails(tmp_path, monkeypatch, capsys):
    import pfgit.git.textmerge as textmerge
    from pfgit.integrate.mergedriver import main

    def no_git(*a, **k):
        raise OSError("git merge-file failed: killed")

    monkeypatch.setattr(textmerge, "git_merge_file", no_git)
    for name, text in (("base", FLOW), ("ours", FLOW + "x: [\n"), ("theirs", FLOW + "y: 1\n")):
        (tmp_path / name).write_text(text)
    assert main([str(tmp_path / "base"), str(tmp_path / "ours"), str(tmp_path / "theirs"), "f/flow.dag.yaml"]) == 1
    out = (tmp_path / "ours").read_text()
    assert out == "<<<<<<< ours\n" + FLOW + "x: [\n=======\n" + FLOW + "y: 1\n>>>>>>> theirs\n"
    assert "git merge-file failed too" in capsys.readouterr().err


@pytest.mark.parametrize("value", BAD_VALUES, ids=["int-0b", "float-abc", "timestamp-foo", "bool-maybe",
                                                    "int-4400-digits"])
def test_rejected_yaml_values_give_a_per_file_problem_in_validate_and_diff(value, tmp_path):
    from pfgit.diff.outline import outline_bytes
    from pfgit.diff.tree import diff_flow_bytes
    from pfgit.flow.readers import DirReader
    from pfgit.integrate.diffdriver import driver_text
    from pfgit.validate.api import validate_path

    (tmp_path / "qa").mkdir()
    (tmp_path / "qa" / "flow.dag.yaml").write_text(with_bad(value))
    [rep] = validate_path(DirReader(str(tmp_path), "."), "qa")
    [p] = rep.problems
    assert (p.code, p.file, p.line) == ("yaml-syntax", "qa/flow.dag.yaml", 4)
    assert "cannot be read as" in p.message
    fd = diff_flow_bytes("qa", "qa/flow.dag.yaml", FLOW.encode(), with_bad(value).encode())
    assert fd.status == "unreadable" and fd.problems[0][2] == 4
    assert f"+    default: {value}" in fd.text_diff
    assert outline_bytes(with_bad(value).encode()) == with_bad(value).encode()  # textconv: as is
    (tmp_path / "old").write_text(FLOW)
    text = driver_text(["qa/flow.dag.yaml", str(tmp_path / "old"), "0" * 40, "100644",
                        str(tmp_path / "qa" / "flow.dag.yaml"), "0" * 40, "100644"])
    assert "cannot be read as" in text and f"+    default: {value}" in text


def test_rejected_value_through_git_merge_and_git_log_with_the_drivers_installed(tmp_path):
    """Real git: the driver leaves markers (git kept ours unmarked before), `git log -p` works."""
    repo = new_repo(tmp_path)
    env = dict(os.environ, PYTHONPATH=ROOT)
    subprocess.run([PY, "-m", "pfgit", "install"], cwd=repo, check=True, stdout=subprocess.PIPE, env=env)
    git(repo, "config", "core.hooksPath", ".nohooks")
    git(repo, "add", ".gitattributes")
    git(repo, "commit", "-qm", "install")
    git(repo, "checkout", "-qb", "theirs")
    (repo / "qa" / "flow.dag.yaml").write_text(with_bad("!!int 0b"))
    git(repo, "commit", "-qam", "theirs")
    git(repo, "checkout", "-q", "main")
    (repo / "qa" / "flow.dag.yaml").write_text(FLOW.replace("default: hi", "default: hello"))
    git(repo, "commit", "-qam", "ours")
    r = git(repo, "merge", "theirs", check=False, env=env)
    assert r.returncode == 1
    text = (repo / "qa" / "flow.dag.yaml").read_text()
    assert "default: !!int 0b" in text and "default: hello" in text and "<<<<<<< " in text
    assert "cannot read theirs: '0b' cannot be read as an integer" in r.stdout + r.stderr
    git(repo, "merge", "--abort")
    log = git(repo, "log", "-p", "--ext-diff", "theirs", env=env)
    assert "new side cannot be read" in log.stdout and "+    default: !!int 0b" in log.stdout
    assert "Traceback" not in log.stderr
    plain = git(repo, "log", "-p", "theirs", env=env)   # textconv: the unreadable side as it is
    assert "+    default: !!int 0b" in plain.stdout and "Traceback" not in plain.stderr


# -- a clean merge re-reads its own output ------------------------------------------------------------

ANCHORED = """\
inputs:
  q: {type: string}
nodes:
- name: a
  type: python
  source: {type: code, path: a.py}
  inputs: &common
    q: ${inputs.q}
    k: 1
- name: b
  type: python
  source: {type: code, path: b.py}
  inputs: *common
"""


def test_clean_merge_expands_an_alias_whose_anchor_the_other_side_removed():
    # ours edits node a (its anchor goes) and writes b's inputs out; theirs adds c copying `*common`
    ours = ANCHORED.replace("inputs: &common\n    q: ${inputs.q}\n    k: 1",
                            "inputs:\n    q: ${inputs.q}\n    k: 2") \
        .replace("inputs: *common", "inputs:\n    q: ${inputs.q}\n    k: 1")
    theirs = ANCHORED + "- name: c\n  type: python\n  source: {type: code, path: c.py}\n  inputs: *common\n"
    r = m(ANCHORED, ours, theirs)
    assert r.clean and r.fallback is None
    data = yaml.safe_load(r.data)   # was: "found undefined alias 'common'"
    assert [n["inputs"] for n in data["nodes"]] == [{"q": "${inputs.q}", "k": 2},
                                                    {"q": "${inputs.q}", "k": 1},
                                                    {"q": "${inputs.q}", "k": 1}]


def test_an_alias_kept_in_a_changed_node_is_copied_from_its_own_line():
    # fuzz seed 7: node b changed (rebuilt key by key) and kept `inputs: *common`; the alias's
    # layout took its anchor's lines (IndexError, an internal-error fallback)
    ours = ANCHORED.replace("path: b.py}", "path: b2.py}")
    theirs = ANCHORED.replace("- name: b\n  type: python", "- name: b\n  type: llm")
    r = m(ANCHORED, ours, theirs)
    assert r.clean and r.fallback is None
    assert r.data.decode() == ours.replace("- name: b\n  type: python", "- name: b\n  type: llm")


def test_an_alias_item_in_a_list_is_merged_without_a_crash():
    base = "l:\n- &m {k: 1}\n- *m\nnodes: []\n"
    r = m(base, base.replace("nodes: []", "nodes: []\nx: 1"), base.replace("- *m", "- *m\n- 3"))
    assert r.clean and r.fallback is None
    assert yaml.safe_load(r.data) == {"l": [{"k": 1}, {"k": 1}, 3], "nodes": [], "x": 1}


def test_an_anchor_inside_a_conflict_section_does_not_leave_its_alias_undefined():
    # fuzz seed 1293: ours changes node a (its anchor in ours' section), theirs removes it; node b's
    # `*common` (ours' own line) would read nothing if theirs is kept: b is written expanded
    ours = ANCHORED.replace("source: {type: code, path: a.py}", "source: {type: code, path: a2.py}")
    theirs = ANCHORED.replace("- name: a\n  type: python\n  source: {type: code, path: a.py}\n"
                              "  inputs: &common\n    q: ${inputs.q}\n    k: 1\n", "") \
        .replace("inputs: *common", "inputs:\n    q: ${inputs.q}\n    k: 1")
    r = m(ANCHORED, ours, theirs)
    assert r.fallback is None and [c.path for c in r.conflicts] == [("nodes", "a")]
    for side in ("ours", "theirs"):
        data = yaml.safe_load(take(r.data.decode(), side)[0])
        assert data["nodes"][-1]["inputs"] == {"q": "${inputs.q}", "k": 1}


def test_an_anchor_copied_from_theirs_does_not_repeat_one_of_ours():
    # fuzz seed 2908: ours renames a (keeping its anchor, now in a conflict section), theirs
    # removes a and moves the anchor to b; copying theirs' `&common` gave a duplicate anchor
    base = ANCHORED + "- name: c\n  type: python\n  source: {type: code, path: c.py}\n  inputs: *common\n"
    ours = base.replace("name: a\n", "name: a2\n")
    theirs = base.replace("- name: a\n  type: python\n  source: {type: code, path: a.py}\n"
                          "  inputs: &common\n    q: ${inputs.q}\n    k: 1\n", "") \
        .replace("inputs: *common\n- name: c", "inputs: &common\n    q: ${inputs.q}\n    k: 1\n- name: c")
    r = m(base, ours, theirs)
    assert r.fallback is None
    assert [c.reason for c in r.conflicts] == ["node 'a' renamed to 'a2' by ours, removed by theirs"]
    for side in ("ours", "theirs"):
        data = yaml.safe_load(take(r.data.decode(), side)[0])
        assert [n["inputs"] for n in data["nodes"][-2:]] == [{"q": "${inputs.q}", "k": 1}] * 2


def test_a_conflict_whose_section_would_not_load_falls_back_to_the_text_merge(monkeypatch):
    import pfgit.merge.apply as apply

    monkeypatch.setattr(apply.Renderer, "render", lambda self: "a: 1\n<<<<<<< ours\nb: [\n=======\nb: 2\n>>>>>>> theirs\n")
    r = m(FLOW, FLOW.replace("style: short", "style: long"), FLOW.replace("style: short", "style: x"))
    assert "keeping ours in every conflict would not be valid YAML" in r.fallback
    assert r.text_conflicts == 1


# -- validate's limits -----------------------------------------------------------------------------

def test_merge_parser_refuses_an_alias_bomb():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8))
    r = m(FLOW, FLOW.replace("style: short", "style: long"), FLOW + bomb)
    assert "cannot read theirs: aliases expand to more than 2,000,000 values (an alias bomb)" in r.fallback


def test_merge_parser_refuses_a_file_over_the_size_limit():
    big = FLOW + "pad: " + "x" * (10 * 1024 * 1024 + 1) + "\n"
    r = m(FLOW, FLOW.replace("style: short", "style: long"), big)
    assert "cannot read theirs: file is 10 MB; flow files over 10 MB are not read" in r.fallback


# -- conflicts, not clean merges -------------------------------------------------------------------

def test_rename_on_one_side_and_delete_on_the_other_is_a_conflict():
    ours = FLOW.replace("name: clean", "name: tidy").replace("${clean.output}", "${tidy.output}")
    theirs = FLOW.replace("- name: clean\n  type: python\n  source:\n    type: code\n    path: clean.py\n"
                          "  inputs:\n    q: ${inputs.question}\n    mode: strict\n", "") \
        .replace("${clean.output}", "${inputs.question}")
    for o, t, reason in ((ours, theirs, "node 'clean' renamed to 'tidy' by ours, removed by theirs"),
                         (theirs, ours, "node 'clean' renamed to 'tidy' by theirs, removed by ours")):
        r = m(FLOW, o, t)
        assert [(c.path, c.reason) for c in r.conflicts] == [(("nodes", "tidy"), reason)]
        assert "- name: tidy" in take(r.data.decode(), "ours" if o is ours else "theirs")[0]


def test_a_new_dangling_reference_is_a_conflict_even_when_its_target_already_dangles():
    # theirs removes node clean but leaves an output reading it (already dangling there);
    # ours adds a node reading clean: that new use must not merge silently
    base = FLOW.replace("outputs:\n", "outputs:\n  cleaned:\n    type: string\n    reference: ${clean.output}\n")
    ours = base + "- name: log\n  type: python\n  inputs:\n    x: ${clean.output}\n"
    theirs = base.replace("- name: clean\n  type: python\n  source:\n    type: code\n    path: clean.py\n"
                          "  inputs:\n    q: ${inputs.question}\n    mode: strict\n", "") \
        .replace("text: ${clean.output}", "text: ${inputs.question}")
    r = m(base, ours, theirs)
    assert [(c.path, c.reason) for c in r.conflicts] == [
        (("nodes", "clean"), "node 'clean' removed by theirs but node 'log' uses it (changed by ours)")]


def test_flows_with_duplicate_node_names_fall_back_to_the_text_merge():
    dup = FLOW + "- name: answer\n  type: python\n  inputs: {}\n"
    r = m(dup, dup.replace("style: short", "style: long"), dup.replace("mode: strict", "mode: lax"))
    assert r.fallback == "cannot merge by node: base has two nodes named 'answer'"
    assert b"style: long" in r.data and b"mode: lax" in r.data and r.clean


def test_rename_to_different_names_conflicts_on_the_node_and_every_reference_to_it():
    ours = FLOW.replace("name: clean", "name: c1").replace("${clean.output}", "${c1.output}")
    theirs = FLOW.replace("name: clean", "name: c2").replace("${clean.output}", "${c2.output}") + (
        "- name: log\n  type: python\n  inputs:\n    x: ${c2.output}\n")
    r = m(FLOW, ours, theirs)
    assert [c.path for c in r.conflicts] == [("nodes", "c1"), ("nodes", "answer", "inputs", "text"),
                                             ("nodes", "log", "inputs", "x")]
    assert all("renamed to 'c1' by ours and to 'c2' by theirs" in c.reason for c in r.conflicts)
    for side, name in (("ours", "c1"), ("theirs", "c2")):   # either side kept: no dangling name
        data = yaml.safe_load(take(r.data.decode(), side)[0])
        assert [n["name"] for n in data["nodes"]] == [name, "answer", "log"]
        assert data["nodes"][1]["inputs"]["text"] == data["nodes"][2]["inputs"]["x"] == "${%s.output}" % name


def test_delete_edit_conflict_names_the_inputs_and_outputs_the_deleting_side_removed():
    ours = FLOW.replace("""\
  answer:
    type: string
    reference: ${answer.output}
""", "  cleaned:\n    type: string\n    reference: ${clean.output}\n") \
        .replace("- name: answer\n  type: python\n  source:\n    type: code\n    path: answer.py\n"
                 "  inputs:\n    text: ${clean.output}\n    style: short\n", "")
    theirs = FLOW.replace("style: short", "style: long")
    r = m(FLOW, ours, theirs)
    [c] = r.conflicts
    assert c.reason == "node 'answer' removed by ours, changed by theirs; ours also removed flow output 'answer'"
    base2 = FLOW.replace("  question:\n", "  topic:\n    type: string\n  question:\n") \
        .replace("style: short", "style: short\n    t: ${inputs.topic}")
    ours2 = base2.replace("  topic:\n    type: string\n", "").replace("\n    t: ${inputs.topic}", "") \
        .replace("style: short", "style: long")
    theirs2 = base2.replace("- name: answer\n  type: python\n  source:\n    type: code\n    path: answer.py\n"
                            "  inputs:\n    text: ${clean.output}\n    style: short\n    t: ${inputs.topic}\n", "") \
        .replace("  answer:\n    type: string\n    reference: ${answer.output}\n", "  a: {}\n") \
        .replace("  topic:\n    type: string\n", "")
    r = m(base2, ours2, theirs2)
    assert [c.reason for c in r.conflicts] == [
        "node 'answer' removed by theirs, changed by ours; theirs also removed flow input 'topic', "
        "flow output 'answer'"]


def test_merge_made_cycle_is_a_conflict_on_the_input_that_closes_it_with_the_cycle_in_the_reason():
    base = FLOW + "- name: extra\n  type: python\n  inputs:\n    x: ${inputs.question}\n"
    ours = base.replace("    x: ${inputs.question}", "    x: ${inputs.question}\n    y: ${answer.output}")
    theirs = base.replace("    mode: strict", "    mode: strict\n    z: ${extra.output}")
    r = m(base, ours, theirs)
    [c] = r.conflicts
    # the edge theirs added closes extra -> answer -> clean -> extra
    assert c.path == ("nodes", "clean", "inputs", "z")
    assert c.reason == ("cycle clean -> extra -> answer -> clean: node 'clean' now reads extra")
    assert c.local is not None and c.remote == "${extra.output}"


# -- conflict markers anywhere in a flow folder --------------------------------------------------------

MARKS = "<<<<<<< HEAD\nA\n=======\nB\n>>>>>>> feature\n"


def _marked_flow(root):
    d = root / "qa"
    d.mkdir(parents=True)
    (d / "flow.dag.yaml").write_text(FLOW.replace("path: clean.py", "path: clean.jinja2")
                                     .replace("type: python\n  source:\n    type: code\n    path: clean.jinja2",
                                              "type: prompt\n  source:\n    type: code\n    path: clean.jinja2"))
    (d / "clean.jinja2").write_text("Clean this: {{q}}\n" + MARKS)
    (d / "answer.py").write_text("from promptflow.core import tool\n" + MARKS)
    (d / "data.jsonl").write_text('{"question": "a"}\n' + MARKS)
    (d / "side.prompty").write_text("---\nname: x\n---\n" + MARKS)
    return d


def test_conflict_markers_in_any_file_of_a_flow_are_found_by_conflicts_and_validate(tmp_path, monkeypatch):
    from pfgit.flow.readers import DirReader
    from pfgit.merge.report import find_conflicts
    from pfgit.validate.api import validate_path

    d = _marked_flow(tmp_path)
    monkeypatch.chdir(tmp_path)
    found = find_conflicts(["qa"])
    assert [(f["file"], f["kind"], [c["line"] for c in f["conflicts"]]) for f in found] == [
        ("qa/answer.py", "file", [2]), ("qa/clean.jinja2", "file", [2]), ("qa/data.jsonl", "file", [2]),
        ("qa/side.prompty", "file", [4])]
    reps = validate_path(DirReader(str(tmp_path), "."), "qa")
    got = sorted((p.file, p.line) for r in reps for p in r.problems if p.code == "conflict-markers")
    assert got == [("qa/answer.py", 2), ("qa/clean.jinja2", 2), ("qa/data.jsonl", 2), ("qa/side.prompty", 4)]
    # in the flow file: conflict-markers at the marker line instead of a YAML syntax error
    (d / "flow.dag.yaml").write_text(FLOW.replace("    style: short\n", "<<<<<<< HEAD\n    style: a\n=======\n"
                                                  "    style: b\n>>>>>>> x\n"))
    [rep] = [r for r in validate_path(DirReader(str(tmp_path), "."), "qa/flow.dag.yaml")]
    assert [(p.code, p.file, p.line) for p in rep.problems if p.file == "qa/flow.dag.yaml"] == [
        ("conflict-markers", "qa/flow.dag.yaml", 25)]
    assert not any(p.code == "yaml-syntax" for p in rep.problems)
    assert {f["file"]: f["kind"] for f in find_conflicts(["qa"])}["qa/flow.dag.yaml"] == "flow"


def test_the_pre_commit_hook_refuses_a_prompt_with_conflict_markers(tmp_path):
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    _marked_flow(repo)
    for f in ("answer.py", "data.jsonl", "side.prompty"):
        (repo / "qa" / f).unlink()
    (repo / "qa" / "answer.py").write_text("from promptflow.core import tool\n\n\n@tool\n"
                                           "def answer(text: str, style: str) -> str:\n    return text\n")
    git(repo, "add", ".")
    env = dict(os.environ, PYTHONPATH=ROOT, PFGIT_PYTHON=PY)
    p = subprocess.run(["sh", os.path.join(ROOT, "hooks", "pre-commit")], cwd=repo, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.returncode == 1
    assert "qa/clean.jinja2:2: error conflict-markers" in p.stdout + p.stderr
    (repo / "qa" / "clean.jinja2").write_text("Clean this: {{q}}\n")
    git(repo, "add", ".")
    p = subprocess.run(["sh", os.path.join(ROOT, "hooks", "pre-commit")], cwd=repo, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.returncode == 0, p.stdout + p.stderr


def test_diff_driver_shows_a_side_with_conflict_markers_as_plain_text(tmp_path):
    from pfgit.integrate.diffdriver import driver_text

    marked = FLOW.replace("    style: short\n", "<<<<<<< HEAD\n    style: a\n=======\n    style: b\n>>>>>>> x\n")
    (tmp_path / "old").write_text(FLOW)
    (tmp_path / "new").write_text(marked)
    text = driver_text(["qa/flow.dag.yaml", str(tmp_path / "old"), "0" * 40, "100644",
                        str(tmp_path / "new"), "0" * 40, "100644"])
    assert text.startswith("diff --pfgit a/qa/flow.dag.yaml b/qa/flow.dag.yaml\n"
                           "(conflict markers in the new side: text diff)\n")
    assert "+<<<<<<< HEAD" in text and "-    style: short" in text


# -- pfgit merge: linked worktrees and signals ---------------------------------------------------------

def _diverged(repo):
    """Two branches whose flow edits git conflicts on (adjacent lines) and pfgit merges."""
    git(repo, "checkout", "-qb", "feature")
    (repo / "qa" / "flow.dag.yaml").write_text(FLOW.replace("mode: strict", "mode: lax"))
    git(repo, "commit", "-qam", "feature")
    git(repo, "checkout", "-q", "main")
    (repo / "qa" / "flow.dag.yaml").write_text(FLOW.replace("q: ${inputs.question}", "q: ${inputs.question}   # raw"))
    git(repo, "commit", "-qam", "main")


def test_pfgit_merge_in_a_linked_worktree_puts_its_attributes_where_git_reads_them(tmp_path):
    repo = new_repo(tmp_path / "repo")
    _diverged(repo)
    git(repo, "branch", "side", "main")
    git(repo, "worktree", "add", "-q", str(tmp_path / "wt"), "side")
    env = dict(os.environ, PYTHONPATH=ROOT)
    r = subprocess.run([PY, "-m", "pfgit", "merge", "feature"], cwd=tmp_path / "wt", env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert r.returncode == 0, r.stdout + r.stderr   # git alone conflicts on these two lines
    text = (tmp_path / "wt" / "qa" / "flow.dag.yaml").read_text()
    assert "mode: lax" in text and "# raw" in text
    assert not (repo / ".git" / "info" / "attributes").exists() or \
        "pfgit" not in (repo / ".git" / "info" / "attributes").read_text()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_during_pfgit_merge_removes_its_temporary_attributes(sig, tmp_path):
    repo = new_repo(tmp_path / "repo")
    _diverged(repo)
    (repo / ".git" / "info").mkdir(exist_ok=True)
    (repo / ".git" / "info" / "attributes").write_text("*.bin binary\n")
    # a `git` first on PATH that stops inside `git merge` until killed (the real git otherwise)
    real = subprocess.run(["sh", "-c", "command -v git"], stdout=subprocess.PIPE, text=True).stdout.strip()
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "git").write_text(f"""#!/bin/sh
for a in "$@"; do [ "$a" = merge ] && {{ touch "{tmp_path}/started"; exec sleep 60; }}; done
exec "{real}" "$@"
""")
    (shim / "git").chmod(0o755)
    env = dict(os.environ, PYTHONPATH=ROOT, PATH=f"{shim}{os.pathsep}{os.environ['PATH']}")
    p = subprocess.Popen([PY, "-m", "pfgit", "merge", "feature"], cwd=repo, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while not (tmp_path / "started").exists():
            assert p.poll() is None, p.communicate()
            time.sleep(0.05)
        assert "merge=pfgit" in (repo / ".git" / "info" / "attributes").read_text()
        p.send_signal(sig)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 128 + sig, err
    assert f"pfgit: merge interrupted ({signal.Signals(sig).name})" in err
    assert (repo / ".git" / "info" / "attributes").read_text() == "*.bin binary\n"


# -- the fuzzer, small -------------------------------------------------------------------------------

def test_fuzz_merge_200_seeded_cases_have_no_wrong_result():
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    try:
        import fuzz_merge
    finally:
        sys.path.pop(0)
    counts, examples, _, _ = fuzz_merge.run(200, seed=0, jobs=1)
    bad = {k: examples[k] for k in fuzz_merge.BAD if counts.get(k)}
    assert not bad
    # the cases exercise every outcome the oracle judges
    assert counts["clean = expected"] > 80 and counts["clean"] > 20 and counts["conflict"] > 10


def test_temporary_attributes_left_by_a_killed_pfgit_merge_are_not_kept_as_the_users(tmp_path):
    from pfgit.integrate.gitmerge import _BLOCK_HEAD, _TemporaryAttributes

    path = tmp_path / "attributes"
    path.write_text(f"*.bin binary\n{_BLOCK_HEAD}\nflow.dag.yaml merge=pfgit diff=pfgit\n")  # kill -9
    with _TemporaryAttributes(str(path)):
        assert path.read_text().count(_BLOCK_HEAD) == 1
    assert path.read_text() == "*.bin binary\n"


def test_a_conflict_in_the_first_unit_of_a_bom_file_is_found_by_conflicts_and_validate():
    # the marker follows the BOM (the file's first bytes): `pfgit conflicts` said "No conflicts"
    from pfgit.merge.conflicts import regions
    from pfgit.validate.markers import marker_lines

    base = "\ufeffinputs:\n  x: {type: string}\nnodes: []\n"
    r = m(base, base.replace("string", "int"), "\ufeffnodes: []\n")   # changed / removed
    assert r.exit_code == 1 and r.data.startswith("\ufeff<<<<<<< ".encode())
    assert [x.start for x in regions(r.data.decode())] == [1] and marker_lines(r.data) == [1]
