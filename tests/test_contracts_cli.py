"""The CLI contracts (shared/brief/contracts.md), checked black-box as an unseen suite would: each
test runs `python -m pfgit ...` in a temporary git repo on flows it writes itself and checks the
exit code, stdout/stderr and the files, refs and git objects the contract names.

One test per contract statement (or a few close ones); the statement is quoted in the docstring.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

PY = sys.executable

UPPER_PY = """\
from promptflow.core import tool


@tool
def upper(text: str) -> str:
    return text.upper()
"""

QA = """\
$schema: https://azuremlschemas.azureedge.net/promptflow/latest/Flow.schema.json
inputs:
  text:
    type: string
    default: hello
outputs:
  out:
    type: string
    reference: ${shout.output}
nodes:
# the first node
- name: upper
  type: python
  source:
    type: code
    path: upper.py
  inputs:
    text: ${inputs.text}
- name: shout
  type: python
  source:
    type: code
    path: upper.py
  inputs:
    text: ${upper.output}
"""

GRADE_PY = """\
from promptflow.core import tool


@tool
def grade(pred: str, gt: str) -> int:
    return int(pred.lower() == gt.lower())
"""

ACC_PY = """\
from promptflow.core import log_metric, tool


@tool
def acc(grades: list) -> float:
    a = sum(grades) / len(grades) if grades else 0.0
    log_metric("accuracy", a)
    return a
"""

EVAL = """\
inputs:
  pred:
    type: string
  gt:
    type: string
outputs:
  grade:
    type: string
    reference: ${grade.output}
nodes:
- name: grade
  type: python
  source:
    type: code
    path: grade.py
  inputs:
    pred: ${inputs.pred}
    gt: ${inputs.gt}
- name: acc
  type: python
  source:
    type: code
    path: acc.py
  inputs:
    grades: ${grade.output}
  aggregation: true
"""


def pfgit(cwd, *args, env=None):
    e = dict(os.environ, **(env or {}))
    return subprocess.run([PY, "-m", "pfgit", *args], cwd=cwd, text=True, capture_output=True, env=e,
                          timeout=120)


def git(cwd, *args) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, text=True, capture_output=True).stdout


def write(root, rel, text) -> pathlib.Path:
    p = pathlib.Path(root) / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
    return p


def one_error_line(r, *, code=2) -> str:
    """The contract for errors: exit `code`, one line `pfgit: ...` on stderr, no traceback."""
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("pfgit: "), r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


@pytest.fixture
def repo(tmp_path) -> pathlib.Path:
    r = tmp_path / "repo"
    r.mkdir()
    git(r, "init", "-q", "-b", "main")
    write(r, "flows/qa/flow.dag.yaml", QA)
    write(r, "flows/qa/upper.py", UPPER_PY)
    write(r, "flows/qa/data.jsonl", '{"text": "a"}\n{"text": "bc"}\n')
    write(r, "flows/ev/flow.dag.yaml", EVAL)
    write(r, "flows/ev/grade.py", GRADE_PY)
    write(r, "flows/ev/acc.py", ACC_PY)
    write(r, "flows/ev/data.jsonl", '{"gt": "A"}\n{"gt": "x"}\n')
    write(r, ".gitignore", "__pycache__/\n.promptflow/\n")
    git(r, "add", "-A")
    git(r, "commit", "-q", "-m", "flows")
    return r


# -- exit codes and errors -------------------------------------------------------------------------

def test_errors_are_one_line_on_stderr_with_exit_2(repo, tmp_path):
    """2: usage error or unreadable input (bad path, not a git repo, YAML that cannot be read);
    errors go to stderr as one line `pfgit: <file>[:<line>]: <message>`, never a traceback."""
    assert one_error_line(pfgit(repo, "validate", "nope")).startswith("pfgit: nope: ")
    outside = tmp_path / "outside"
    outside.mkdir()
    assert "not a git repository" in one_error_line(pfgit(outside, "runs", "list"))
    write(repo, "bad/flow.dag.yaml", "inputs: {\n  x: [\n")
    line = one_error_line(pfgit(repo, "test", "--flow", "bad"))
    assert re.match(r"pfgit: bad/flow\.dag\.yaml:\d+: ", line), line
    for argv in (["--debug", "validate", "nope"], ["--debug", "runs", "show", "nope"]):
        r = pfgit(repo, *argv)   # --debug shows the traceback; the exit code stays the documented one
        assert r.returncode == 2 and "Traceback" in r.stderr and r.stderr.splitlines()[-1].startswith("pfgit: ")
    one_error_line(pfgit(repo, "validate", "--no-such-option"))


# -- finding flows ---------------------------------------------------------------------------------

def test_flows_are_found_below_any_folder_skipping_tool_folders(repo):
    """A flow is a folder holding flow.dag.yaml (also flow.dag.yml); flex flows and .prompty files
    are recognised; a PATH may be a flow folder, a flow.dag.yaml file or any folder (searched
    recursively, skipping .git, .venv, node_modules, .promptflow, __pycache__)."""
    write(repo, "more/yml/flow.dag.yml", QA)
    write(repo, "more/yml/upper.py", UPPER_PY)
    write(repo, "more/flex/flow.flex.yaml", "entry: upper:upper\n")
    write(repo, "more/flex/upper.py", UPPER_PY)
    write(repo, "more/pr/chat.prompty", "---\nname: c\nmodel:\n  api: chat\n---\nsystem:\nhi {{q}}\n")
    for skipped in (".venv", "node_modules", ".promptflow", "__pycache__", "deep/.venv"):
        write(repo, f"more/{skipped}/flow.dag.yaml", "nodes: [\n")   # would be an error if read
    r = pfgit(repo, "validate", "--json", "more")
    assert r.returncode == 0, r.stdout + r.stderr
    flows = {f["path"]: f["kind"] for f in json.loads(r.stdout)["flows"]}
    assert flows == {"more/yml": "dag", "more/flex": "flex", "more/pr": "prompty"}
    for arg in ("flows/qa", "flows/qa/flow.dag.yaml"):
        r = pfgit(repo, "validate", "--json", arg)
        assert r.returncode == 0 and [f["path"] for f in json.loads(r.stdout)["flows"]] == ["flows/qa"]


# -- validate --------------------------------------------------------------------------------------

def test_validate_json_schema_and_exit_codes(repo):
    """`pfgit validate [PATH...] [--json] [--strict]`: default PATH `.`; exit 0 when no flow has an
    error, 1 otherwise; --json prints {"flows": [{"path", "ok", "problems": [{"code", "severity",
    "message", "node", "file", "line"}]}], "summary": {"flows", "errors", "warnings"}}."""
    r = pfgit(repo, "validate")
    assert r.returncode == 0, r.stdout + r.stderr
    write(repo, "flows/qa/flow.dag.yaml", QA.replace("${upper.output}", "${uper.output}"))
    r = pfgit(repo, "validate", "--json")
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    assert doc["summary"]["flows"] == 2 and doc["summary"]["errors"] == 1 and doc["summary"]["warnings"] == 0
    bad = [f for f in doc["flows"] if not f["ok"]]
    assert [f["path"] for f in bad] == ["flows/qa"]
    (p,) = bad[0]["problems"]
    assert set(p) >= {"code", "severity", "message", "node", "file", "line"}
    assert (p["code"], p["severity"], p["node"], p["file"]) == ("dangling-ref", "error", "shout", "flows/qa/flow.dag.yaml")
    assert QA.splitlines()[p["line"] - 1].strip() == "text: ${upper.output}"


def test_warnings_fail_only_with_strict(repo):
    """Warnings never fail unless --strict."""
    write(repo, "flows/qa/flow.dag.yaml", QA + "bogus_key: 1\n")
    r = pfgit(repo, "validate", "--json", "flows/qa")
    assert r.returncode == 0 and json.loads(r.stdout)["summary"]["warnings"] == 1
    assert pfgit(repo, "validate", "--strict", "flows/qa").returncode == 1


def _node(name, ref, extra="", path="f.py"):
    return (f"- name: {name}\n  type: python\n  source:\n    type: code\n    path: {path}\n"
            f"  inputs:\n    text: {ref}\n{extra}")


_IN = "inputs:\n  text:\n    type: string\n"
_VARIANT = ("      {vid}:\n        node:\n          type: python\n          source: {{type: code, path: f.py}}\n"
            "          inputs:\n            text: {ref}\n")
DEFECTS = {   # contract category -> (flow.dag.yaml, code, node)
    "yaml syntax": ("inputs: {\n  x: [\n", "yaml-syntax", None),
    "unknown key": (_IN + "bogus: 1\nnodes:\n" + _node("a", "${inputs.text}"), "unknown-key", None),
    "ill-typed key": ("inputs: []\nnodes:\n" + _node("a", "hi"), "bad-type", None),
    "duplicate node names": (_IN + "nodes:\n" + _node("a", "${inputs.text}") * 2, "duplicate-node", "a"),
    "reference to unknown node": (_IN + "nodes:\n" + _node("a", "${zz.output}"), "dangling-ref", "a"),
    "reference to unknown flow input": (_IN + "nodes:\n" + _node("a", "${inputs.nope}"), "unknown-input", "a"),
    "cycle": (_IN + "nodes:\n" + _node("a", "${b.output}") + _node("b", "${a.output}"), "cycle", None),
    "output referencing unknown node": (_IN + "outputs:\n  o:\n    type: string\n    reference: ${zz.output}\n"
                                        "nodes:\n" + _node("a", "${inputs.text}"), "dangling-ref", None),
    "missing source file": (_IN + "nodes:\n" + _node("a", "${inputs.text}", path="gone.py"), "missing-source", "a"),
    "unknown default variant": (_IN + "nodes:\n- name: a\n  use_variants: true\nnode_variants:\n  a:\n"
                                "    default_variant_id: v9\n    variants:\n"
                                + _VARIANT.format(vid="v0", ref="${inputs.text}"), "unknown-default-variant", "a"),
    "use_variants without node_variants": (_IN + "nodes:\n- name: a\n  use_variants: true\n", "missing-variants", "a"),
    "variant referencing unknown node": (_IN + "nodes:\n- name: a\n  use_variants: true\nnode_variants:\n  a:\n"
                                         "    default_variant_id: v0\n    variants:\n"
                                         + _VARIANT.format(vid="v0", ref="${inputs.text}")
                                         + _VARIANT.format(vid="v1", ref="${ghost.output}"), "dangling-ref", "a"),
    "jinja2 template syntax": (_IN + "nodes:\n- name: p\n  type: prompt\n  source:\n    type: code\n"
                               "    path: t.jinja2\n  inputs:\n    text: ${inputs.text}\n", "jinja-syntax", "p"),
    "python source syntax": (_IN + "nodes:\n" + _node("a", "${inputs.text}", path="bad.py"), "python-syntax", "a"),
    "aggregation misuse": (_IN + "nodes:\n" + _node("a", "${inputs.text}")
                           + _node("g", "${a.output}", "  aggregation: true\n", path="agg.py")
                           + _node("b", "${g.output}"), "aggregation-ref", "b"),
    "activate condition": (_IN + "nodes:\n" + _node("a", "${inputs.text}", "  activate:\n    when: ${inputs.text}\n"),
                           "activate-incomplete", "a"),
}


@pytest.mark.parametrize("category", list(DEFECTS))
def test_every_problem_category_of_the_contract_has_a_code_a_node_and_a_line(category, tmp_path):
    """Problem codes are kebab-case ... and cover at least: YAML syntax, unknown/ill-typed keys,
    duplicate node names, references to unknown nodes or flow inputs, cycles, outputs referencing
    unknown nodes, missing source files, variants (...), Jinja2 template syntax, Python source
    syntax, aggregation misuse, and activate conditions."""
    text, code, node = DEFECTS[category]
    write(tmp_path, "f/flow.dag.yaml", text)
    write(tmp_path, "f/f.py", "from promptflow.core import tool\n\n\n@tool\ndef f(text: str) -> str:\n    return text\n")
    write(tmp_path, "f/agg.py", "from promptflow.core import tool\n\n\n@tool\ndef f(text: list) -> list:\n    return text\n")
    write(tmp_path, "f/bad.py", "def (:\n")
    write(tmp_path, "f/t.jinja2", "{% if text %}\n")
    r = pfgit(tmp_path, "validate", "--json", "f")
    problems = json.loads(r.stdout)["flows"][0]["problems"]
    hits = [p for p in problems if p["code"] == code]
    assert hits, problems
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", code)
    assert r.returncode == (0 if hits[0]["severity"] == "warning" else 1)
    if node is not None:
        assert hits[0]["node"] == node
    assert isinstance(hits[0]["line"], int) and hits[0]["line"] >= 1
    assert hits[0]["file"].startswith("f/")
    docs = (pathlib.Path(__file__).parent.parent / "docs" / "validation.md").read_text(encoding="utf-8")
    assert f"`{code}`" in docs


# -- diff ------------------------------------------------------------------------------------------

def _changes(r) -> list:
    assert r.returncode == 0, r.stderr
    return [(c["op"], c["path"]) for f in json.loads(r.stdout)["flows"] for c in f["changes"]]


def test_diff_revision_forms_like_git_diff(repo):
    """`pfgit diff [REV1 [REV2]]`: worktree vs HEAD, REV vs worktree, REV1 vs REV2; `-- PATH`
    limits it; exit 0 whether or not there are changes, --exit-code makes changes exit 1."""
    first = git(repo, "rev-parse", "HEAD").strip()
    write(repo, "flows/qa/flow.dag.yaml", QA.replace("default: hello", "default: hi"))
    worktree = [("change", ["inputs", "text", "default"])]
    assert _changes(pfgit(repo, "diff", "--json")) == worktree
    assert pfgit(repo, "diff", "--exit-code").returncode == 1
    assert _changes(pfgit(repo, "diff", "--json", "--", "flows/ev")) == []
    assert pfgit(repo, "diff", "--exit-code", "--", "flows/ev").returncode == 0
    git(repo, "commit", "-q", "-am", "hi")
    assert _changes(pfgit(repo, "diff", "--json")) == []
    assert pfgit(repo, "diff", "--exit-code").returncode == 0
    assert _changes(pfgit(repo, "diff", "--json", first)) == worktree
    assert _changes(pfgit(repo, "diff", "--json", first, "HEAD")) == worktree
    assert _changes(pfgit(repo, "diff", "--json", "HEAD", first)) == worktree
    for fmt in ("--markdown", "--stat"):
        r = pfgit(repo, "diff", fmt, first, "HEAD")
        assert r.returncode == 0 and "flows/qa" in r.stdout


def test_diff_json_names_nodes_by_name_and_follows_renames(repo):
    """Reports inputs/outputs added/removed/changed, nodes added, removed, renamed (with rewritten
    references), moved (order only), changed field by field; --json `{"flows": [{"path",
    "changes": [{"op", "path", "old", "new"}]}]}` where path names nodes by name."""
    text = (QA.replace("- name: upper", "- name: up").replace("${upper.output}", "${up.output}")
            .replace("  inputs:\n    text: ${up.output}", "  inputs:\n    text: ${up.output}\n    extra: 1"))
    text += "- name: added\n  type: python\n  source:\n    type: code\n    path: upper.py\n  inputs:\n    text: x\n"
    write(repo, "flows/qa/flow.dag.yaml", text)
    r = pfgit(repo, "diff", "--json")
    (flow,) = json.loads(r.stdout)["flows"]
    assert flow["path"] == "flows/qa"
    by_op = {(c["op"], tuple(c["path"])): c for c in flow["changes"]}
    assert by_op[("rename", ("nodes", "upper"))]["new"] == "up"
    assert by_op[("rename", ("nodes", "upper"))]["references"] == [
        {"path": ["nodes", "shout", "inputs", "text"], "old": "${upper.output}", "new": "${up.output}"}]
    assert ("add", ("nodes", "added")) in by_op
    assert ("add", ("nodes", "shout", "inputs", "extra")) in by_op
    assert all(not isinstance(x, int) for c in flow["changes"] for x in c["path"])
    assert all(set(c) >= {"op", "path", "old", "new"} for c in flow["changes"])


def test_diff_moves_variants_and_sources(tmp_path):
    """moved (order only); variants added/removed/changed and default variant changes; source
    files (.py/.jinja2) changed, shown under every node that uses them."""
    var = ("- name: v\n  use_variants: true\nnode_variants:\n  v:\n    default_variant_id: variant_0\n"
           "    variants:\n" + _VARIANT.format(vid="variant_0", ref="${inputs.text}")
           + _VARIANT.format(vid="variant_1", ref="${inputs.text}"))
    a = _IN + "nodes:\n" + _node("one", "${inputs.text}") + _node("two", "${inputs.text}") + var
    b = (_IN + "nodes:\n" + _node("two", "${inputs.text}") + _node("one", "${inputs.text}") + var)
    b = b.replace("default_variant_id: variant_0", "default_variant_id: variant_1")
    b += _VARIANT.format(vid="variant_2", ref="x")
    for side, text, src in (("a", a, "x = 1\n"), ("b", b, "x = 2\n")):
        write(tmp_path, f"{side}/flow.dag.yaml", text)
        write(tmp_path, f"{side}/f.py", src)
    r = pfgit(tmp_path, "diff", "--no-index", "--json", "a", "b")
    got = _changes(r)
    assert ("move", ["nodes", "one"]) in got or ("move", ["nodes", "two"]) in got
    assert ("change", ["node_variants", "v", "default_variant_id"]) in got
    assert ("add", ["node_variants", "v", "variants", "variant_2"]) in got
    files = [p for op, p in got if "file" in p]
    assert ["nodes", "one", "file", "f.py"] in files and ["nodes", "two", "file", "f.py"] in files
    r = pfgit(tmp_path, "diff", "--no-index", "a/flow.dag.yaml", "b/flow.dag.yaml")
    assert r.returncode == 0 and "variant_2" in r.stdout


def test_formatting_only_changes_are_no_semantic_change(repo):
    """Formatting-only changes (indentation, key order, quoting, comments) are reported as "no
    semantic change"."""
    text = (QA.replace("  text:\n    type: string\n    default: hello", "  text: {default: 'hello', type: string}  # c")
            .replace("# the first node\n", "").replace("    path: upper.py\n  inputs:\n    text: ${inputs.text}",
                                                       "    path: \"upper.py\"\n  inputs:\n      text: ${inputs.text}"))
    write(repo, "flows/qa/flow.dag.yaml", text)
    assert git(repo, "status", "--porcelain").strip()
    r = pfgit(repo, "diff")
    assert r.returncode == 0 and "no semantic change" in r.stdout
    assert pfgit(repo, "diff", "--exit-code").returncode == 0


def test_diff_driver_makes_git_diff_semantic(repo):
    """Also usable as git's diff driver (`diff=pfgit` in .gitattributes), so `git diff` shows
    semantic diffs for flow files."""
    assert pfgit(repo, "install").returncode == 0
    write(repo, "flows/qa/flow.dag.yaml", QA.replace("default: hello", "default: hi"))
    out = git(repo, "diff", "--", "flows/qa/flow.dag.yaml")
    assert "input text" in out and "default: hello -> hi" in out


# -- merge-file and the merge driver ---------------------------------------------------------------

def _three(tmp_path, ours, theirs, base=QA):
    for name, text in (("base.yaml", base), ("cur.yaml", ours), ("oth.yaml", theirs)):
        write(tmp_path, name, text)


def test_merge_file_clean_result_goes_to_current(tmp_path):
    """`pfgit merge-file CURRENT BASE OTHER`: same argument order and result as git merge-file,
    the merge is written to CURRENT, exit 0 when clean; keeps every non-conflicting edit from both
    sides, our comments and node order, inserts their new node near its neighbours."""
    ours = QA.replace("default: hello", "default: ours")
    theirs = (QA.replace("- name: shout", "- name: mid\n  type: python\n  source:\n    type: code\n"
                         "    path: upper.py\n  inputs:\n    text: x\n- name: shout")
              .replace("    text: ${upper.output}", "    text: ${upper.output}\n    extra: 1"))
    _three(tmp_path, ours, theirs)
    r = pfgit(tmp_path, "merge-file", "cur.yaml", "base.yaml", "oth.yaml")
    assert r.returncode == 0, r.stderr
    out = (tmp_path / "cur.yaml").read_text()
    assert "default: ours" in out and "extra: 1" in out and "# the first node" in out
    names = re.findall(r"^- name: (\w+)", out, re.M)
    assert names == ["upper", "mid", "shout"]
    assert (tmp_path / "oth.yaml").read_text() == theirs and (tmp_path / "base.yaml").read_text() == QA


def test_merge_file_conflict_markers_like_git_merge_file(tmp_path):
    """exit 1 when conflicts remain (conflict markers written); git-style markers around the
    smallest complete YAML unit so the file stays readable; labels as git merge-file's: the file
    names unless -L says otherwise."""
    _three(tmp_path, QA.replace("default: hello", "default: ours"), QA.replace("default: hello", "default: theirs"))
    r = pfgit(tmp_path, "merge-file", "cur.yaml", "base.yaml", "oth.yaml")
    assert r.returncode == 1
    out = (tmp_path / "cur.yaml").read_text()
    assert re.search(r"^<<<<<<< cur\.yaml\b", out, re.M) and re.search(r"^>>>>>>> oth\.yaml$", out, re.M)
    assert re.search(r"^=======$", out, re.M) and "||||||| " not in out
    import yaml   # keeping either side gives valid YAML with that side's value

    for keep, value in ((0, "ours"), (1, "theirs")):
        lines, side = [], None
        for ln in out.splitlines():
            if ln.startswith("<<<<<<<"):
                side = 0
            elif ln == "=======":
                side = 1
            elif ln.startswith(">>>>>>>"):
                side = None
            elif side is None or side == keep:
                lines.append(ln)
        assert yaml.safe_load("\n".join(lines))["inputs"]["text"]["default"] == value
    _three(tmp_path, QA.replace("default: hello", "default: ours"), QA.replace("default: hello", "default: theirs"))
    r = pfgit(tmp_path, "merge-file", "-L", "mine", "-L", "orig", "-L", "yours", "--diff3",
              "cur.yaml", "base.yaml", "oth.yaml")
    out = (tmp_path / "cur.yaml").read_text()
    assert r.returncode == 1
    assert re.search(r"^<<<<<<< mine\b", out, re.M) and re.search(r"^\|\|\|\|\|\|\| orig$", out, re.M)
    assert re.search(r"^>>>>>>> yours$", out, re.M)
    git_ref = subprocess.run(["git", "merge-file", "-p", "cur.yaml", "base.yaml", "oth.yaml"], cwd=tmp_path,
                             capture_output=True, text=True)
    assert git_ref.returncode >= 1   # (git agrees there is a conflict)


def test_merge_file_honours_merge_conflictstyle_diff3(repo):
    """merge.conflictStyle=diff3 is honoured."""
    git(repo, "config", "merge.conflictStyle", "diff3")
    _three(repo, QA.replace("default: hello", "default: ours"), QA.replace("default: hello", "default: theirs"))
    assert pfgit(repo, "merge-file", "cur.yaml", "base.yaml", "oth.yaml").returncode == 1
    out = (repo / "cur.yaml").read_text()
    assert re.search(r"^\|\|\|\|\|\|\| base\.yaml\n    default: hello$", out, re.M)


def test_merge_file_error_leaves_current_untouched(tmp_path):
    """exit 2 on error (CURRENT untouched)."""
    ours = QA.replace("default: hello", "default: ours")
    write(tmp_path, "cur.yaml", ours)
    write(tmp_path, "oth.yaml", QA)
    r = pfgit(tmp_path, "merge-file", "cur.yaml", "missing.yaml", "oth.yaml")
    assert "missing.yaml" in one_error_line(r)
    assert (tmp_path / "cur.yaml").read_text() == ours
    one_error_line(pfgit(tmp_path, "merge-file", "cur.yaml", "oth.yaml"))


def test_a_merge_that_would_not_validate_is_a_conflict(tmp_path):
    """A result that would not validate (dangling reference, cycle) is a conflict, not a clean
    merge."""
    ours = QA.replace("    text: ${upper.output}", "    text: ${inputs.text}")   # shout no longer reads upper
    ours = ours.replace(ours[ours.index("- name: upper"):ours.index("- name: shout")], "")   # and upper is gone
    theirs = QA.replace("reference: ${shout.output}", "reference: ${upper.output}")   # a new use of upper
    _three(tmp_path, ours, theirs)
    r = pfgit(tmp_path, "merge-file", "cur.yaml", "base.yaml", "oth.yaml")
    assert r.returncode == 1 and "<<<<<<<" in (tmp_path / "cur.yaml").read_text()
    # a cycle: each side adds half of it (each side alone is valid)
    base = QA.replace("    text: ${upper.output}", "    text: ${inputs.text}")
    ours = QA                                                                   # shout reads upper
    theirs = base.replace("    path: upper.py\n  inputs:\n    text: ${inputs.text}\n- name: shout",
                          "    path: upper.py\n  inputs:\n    text: ${shout.output}\n- name: shout")  # upper reads shout
    assert theirs != base
    _three(tmp_path, ours, theirs, base=base)
    r = pfgit(tmp_path, "merge-file", "cur.yaml", "base.yaml", "oth.yaml")
    assert r.returncode == 1 and "cycle" in r.stderr and "<<<<<<<" in (tmp_path / "cur.yaml").read_text()


def test_merge_file_follows_a_rename_to_their_edit(tmp_path):
    """nodes matched by name, renames detected and their references followed."""
    ours = QA.replace("- name: upper", "- name: up").replace("${upper.output}", "${up.output}")
    theirs = QA.replace("    text: ${inputs.text}", "    text: ${inputs.text}\n    mode: loud")
    _three(tmp_path, ours, theirs)
    assert pfgit(tmp_path, "merge-file", "cur.yaml", "base.yaml", "oth.yaml").returncode == 0
    out = (tmp_path / "cur.yaml").read_text()
    assert "- name: up\n" in out and "mode: loud" in out and "${up.output}" in out and "upper.output" not in out


def test_merge_driver_takes_git_arguments_and_writes_ours(tmp_path):
    """`pfgit merge-driver %O %A %B %P`: %A is ours and receives the result; exit 0 clean, 1
    conflicts."""
    write(tmp_path, "O", QA)
    write(tmp_path, "A", QA.replace("default: hello", "default: ours"))
    write(tmp_path, "B", QA.replace("    path: upper.py\n  inputs:\n    text: ${upper.output}",
                                    "    path: upper.py\n  inputs:\n    text: ${upper.output}\n    n: 2"))
    r = pfgit(tmp_path, "merge-driver", "O", "A", "B", "flows/qa/flow.dag.yaml")
    assert r.returncode == 0, r.stderr
    assert "default: ours" in (tmp_path / "A").read_text() and "n: 2" in (tmp_path / "A").read_text()
    write(tmp_path, "B", QA.replace("default: hello", "default: theirs"))
    assert pfgit(tmp_path, "merge-driver", "O", "A", "B", "flows/qa/flow.dag.yaml").returncode == 1
    assert "<<<<<<<" in (tmp_path / "A").read_text()


def _branches(repo, ours, theirs):
    git(repo, "checkout", "-q", "-b", "feature")
    write(repo, "flows/qa/flow.dag.yaml", theirs)
    git(repo, "commit", "-q", "-am", "theirs")
    git(repo, "checkout", "-q", "main")
    write(repo, "flows/qa/flow.dag.yaml", ours)
    git(repo, "commit", "-q", "-am", "ours")


def test_pfgit_merge_needs_no_install_and_exits_like_git_merge(repo):
    """`pfgit merge BRANCH [--no-commit]`: git merge with the pfgit driver guaranteed (for clones
    that never ran `pfgit install`), then validation and a by-node conflict report; exit codes as
    git merge."""
    ours = QA.replace("- name: upper", "- name: up").replace("${upper.output}", "${up.output}")
    theirs = QA.replace("    text: ${upper.output}", "    text: ${upper.output}\n    n: 2")
    _branches(repo, ours, theirs)
    r = pfgit(repo, "merge", "feature", "--no-commit")
    assert r.returncode == 0, r.stdout + r.stderr
    assert git(repo, "rev-parse", "-q", "--verify", "MERGE_HEAD").strip()   # stopped before committing
    text = (repo / "flows/qa/flow.dag.yaml").read_text()
    assert "n: 2" in text and "${up.output}" in text
    git(repo, "merge", "--abort")
    assert not (repo / ".gitattributes").exists() and "pfgit" not in git(repo, "config", "--local", "--list")


def test_pfgit_merge_conflicts_exit_1_with_a_report_by_node(repo):
    _branches(repo, QA.replace("default: hello", "default: ours"), QA.replace("default: hello", "default: theirs"))
    r = pfgit(repo, "merge", "feature")
    assert r.returncode == 1
    assert "flow input 'text'" in r.stdout + r.stderr
    assert "<<<<<<< ours" in (repo / "flows/qa/flow.dag.yaml").read_text()
    r = pfgit(repo, "merge", "feature", "--json")   # still merging: git refuses, exit non-zero
    assert r.returncode != 0


# -- install ---------------------------------------------------------------------------------------

def test_install_is_idempotent_chains_hooks_and_uninstalls_exactly(repo, tmp_path):
    """`pfgit install [--uninstall]`: adds the two .gitattributes lines, the merge.pfgit.driver /
    diff.pfgit.* local config naming the running interpreter by absolute path, git hooks chaining
    any hook already present; idempotent; --uninstall removes exactly what it added."""
    write(repo, ".gitattributes", "*.txt text\n")
    hook = write(repo, ".git/hooks/post-commit", "#!/bin/sh\necho mine >> \"$(git rev-parse --git-dir)/mine.log\"\n")
    hook.chmod(0o755)
    config_before = (repo / ".git/config").read_text()
    assert pfgit(repo, "install").returncode == 0
    attrs = (repo / ".gitattributes").read_text().splitlines()
    assert attrs == ["*.txt text", "flow.dag.yaml merge=pfgit diff=pfgit", "flow.dag.yml merge=pfgit diff=pfgit"]
    driver = git(repo, "config", "merge.pfgit.driver").strip()
    exe = driver.split()[0]
    assert os.path.isabs(exe) and os.path.samefile(exe, PY)
    assert driver.endswith("%O %A %B %P")
    assert git(repo, "config", "--get-regexp", r"^diff\.pfgit\.").strip()
    assert git(repo, "diff", "--cached", "--name-only") == ""   # .gitattributes is left for the user to commit
    assert f"PFGIT_DEFAULT_PYTHON={PY}" in (repo / ".git/hooks/post-commit.pfgit").read_text()
    assert pfgit(repo, "install").returncode == 0      # idempotent
    assert (repo / ".gitattributes").read_text().splitlines() == attrs
    git(repo, "commit", "-q", "--allow-empty", "-m", "x")
    assert (repo / ".git/mine.log").read_text() == "mine\n"   # the user's hook still runs
    assert pfgit(repo, "install", "--uninstall").returncode == 0
    assert (repo / ".gitattributes").read_text() == "*.txt text\n"
    assert (repo / ".git/config").read_text() == config_before
    assert hook.read_text().startswith("#!/bin/sh\necho mine")
    assert not [p for p in (repo / ".git/hooks").iterdir() if "pfgit" in p.name]
    outside = tmp_path / "plain"
    outside.mkdir()
    one_error_line(pfgit(outside, "install"))


# -- runs ------------------------------------------------------------------------------------------

def _run(repo, *args):
    r = pfgit(repo, "run", *args, "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout)


def test_run_snapshot_is_a_commit_on_the_flow_commit_with_the_contract_tree(repo):
    """A run snapshot is a git commit under refs/pfgit/runs/<name> whose first parent is the commit
    of the flow's source and whose tree holds the flow folder as run, run.json, outputs.jsonl,
    metrics.json and logs."""
    head = git(repo, "rev-parse", "HEAD").strip()
    _run(repo, "--flow", "flows/qa", "--data", "flows/qa/data.jsonl", "--name", "r1")
    parents = git(repo, "rev-list", "--parents", "-n", "1", "refs/pfgit/runs/r1").split()[1:]
    assert parents == [head]
    top = set(git(repo, "ls-tree", "--name-only", "refs/pfgit/runs/r1").split())
    assert {"flow", "run.json", "outputs.jsonl", "metrics.json", "logs"} <= top
    assert git(repo, "rev-parse", "refs/pfgit/runs/r1:flow").strip() == git(repo, "rev-parse", "HEAD:flows/qa").strip()
    outs = [json.loads(x) for x in git(repo, "show", "refs/pfgit/runs/r1:outputs.jsonl").splitlines()]
    assert [o["out"] for o in outs] == ["A", "BC"]
    assert json.loads(git(repo, "show", "refs/pfgit/runs/r1:run.json"))["name"] == "r1"
    assert git(repo, "ls-tree", "--name-only", "refs/pfgit/runs/r1:logs").split()


def test_a_dirty_worktree_is_captured_as_a_commit_on_no_branch(repo):
    """(a dirty worktree is first captured as a commit object, not on any branch)"""
    head = git(repo, "rev-parse", "HEAD").strip()
    write(repo, "flows/qa/upper.py", UPPER_PY.replace("text.upper()", "text.upper() + '!'"))
    _run(repo, "--flow", "flows/qa", "--data", "flows/qa/data.jsonl", "--name", "dirty")
    (captured,) = git(repo, "rev-list", "--parents", "-n", "1", "refs/pfgit/runs/dirty").split()[1:]
    assert captured != head
    assert git(repo, "rev-list", "--parents", "-n", "1", captured).split()[1:] == [head]
    assert "+ '!'" in git(repo, "show", f"{captured}:flows/qa/upper.py")
    assert git(repo, "branch", "--contains", captured).strip() == ""
    assert git(repo, "rev-parse", "HEAD").strip() == head and git(repo, "status", "--porcelain").startswith(" M")


def test_eval_run_file_and_runs_commands(repo):
    """`pfgit run --file run.yml` (pf's run file keys), an evaluation run over a base run, and
    `pfgit runs list|show|stream`, `pfgit log --metric`, `pfgit metrics diff` with --json."""
    _run(repo, "--flow", "flows/qa", "--data", "flows/qa/data.jsonl", "--name", "r1")
    write(repo, "runs/eval.yml", "$schema: https://azuremlschemas.azureedge.net/promptflow/latest/Run.schema.json\n"
          "flow: ../flows/ev\ndata: ../flows/ev/data.jsonl\nrun: r1\nname: e1\ndisplay_name: eval-of-r1\n"
          "description: accuracy\ntags: {team: demo}\ncolumn_mapping:\n  pred: ${run.outputs.out}\n"
          "  gt: ${data.gt}\nenvironment_variables: {FOO: bar}\n")
    res = _run(repo, "--file", "runs/eval.yml")
    assert res["name"] == "e1" and res["metrics"] == {"accuracy": 0.5}
    assert git(repo, "rev-list", "--parents", "-n", "1", "refs/pfgit/runs/e1").split()[2] == \
        git(repo, "rev-parse", "refs/pfgit/runs/r1").strip()   # second parent: the base run
    run_json = json.loads(git(repo, "show", "refs/pfgit/runs/e1:run.json"))
    assert run_json["base_run"]["name"] == "r1" and run_json["column_mapping"]["gt"] == "${data.gt}"
    _run(repo, "--flow", "flows/ev", "--data", "flows/ev/data.jsonl", "--run", "r1", "--name", "e2",
         "--column-mapping", "pred=${run.outputs.out}", "gt=${data.gt}")

    listed = json.loads(pfgit(repo, "runs", "list", "--json").stdout)["runs"]
    assert {r["name"] for r in listed} == {"r1", "e1", "e2"}
    only = json.loads(pfgit(repo, "runs", "list", "--flow", "flows/qa", "--commit", "HEAD", "--json").stdout)["runs"]
    assert [r["name"] for r in only] == ["r1"]
    r = pfgit(repo, "runs", "show", "e1", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["run"]["name"] == "e1"
    assert json.loads(pfgit(repo, "runs", "show", "e1", "--metrics").stdout) == {"accuracy": 0.5}
    details = pfgit(repo, "runs", "show", "r1", "--details")
    assert details.returncode == 0 and "BC" in details.stdout
    # like pf run show-details (promptflow-format.md 4.4): inputs.* then outputs.*
    assert re.search(r"^line  inputs\.text  outputs\.out\n0     a +A\n1     bc +BC$", details.stdout, re.M), details.stdout
    streamed = [json.loads(x) for x in pfgit(repo, "runs", "stream", "r1").stdout.splitlines()]
    assert [s["out"] for s in streamed] == ["A", "BC"]
    one_error_line(pfgit(repo, "runs", "show", "nope"))

    log = json.loads(pfgit(repo, "log", "flows/ev", "--metric", "accuracy", "--json").stdout)
    (flow,) = log["flows"]
    assert flow["path"] == "flows/ev" and {r["name"] for r in flow["commits"][0]["runs"]} == {"e1", "e2"}
    diff = pfgit(repo, "metrics", "diff", "e1", "e2", "--json")
    assert diff.returncode == 0
    assert json.loads(diff.stdout)["metrics"] == [{"name": "accuracy", "old": 0.5, "new": 0.5, "delta": 0.0}]
    md = pfgit(repo, "metrics", "diff", "e1", "e2", "--markdown")
    assert md.returncode == 0 and "| `accuracy` |" in md.stdout


def test_runs_without_a_name_are_named_as_promptflow_names_them(repo):
    """promptflow-format.md 3.1: default name `<flow folder>_<variant or variant_0>_<YYYYMMDD_HHMMSS_ffffff>`."""
    name = _run(repo, "--flow", "flows/qa", "--data", "flows/qa/data.jsonl")["name"]
    assert re.fullmatch(r"qa_variant_0_\d{8}_\d{6}_\d{6}", name), name
    assert git(repo, "rev-parse", "--verify", f"refs/pfgit/runs/{name}")


def test_test_runs_one_line_and_writes_nothing(repo):
    """`pfgit test --flow PATH [--inputs k=v ...]`: single-line test, like `pf flow test`."""
    r = pfgit(repo, "test", "--flow", "flows/qa", "--inputs", "text=yo", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["outputs"] == {"out": "YO"}
    assert git(repo, "status", "--porcelain", "--ignored") == ""   # not even __pycache__ or .promptflow/
    assert not git(repo, "for-each-ref", "refs/pfgit").strip()


def test_log_of_a_path_that_never_held_a_flow_is_a_usage_error(repo):
    """Exit 2 for a bad path; a deleted flow's history is still shown."""
    one_error_line(pfgit(repo, "log", "flows/nope"))
    assert "flows/nope" not in json.loads(pfgit(repo, "index", "status", "--json").stdout)["flow_paths"]
    assert pfgit(repo, "log", "flows/qa", "-n", "0").returncode == 0
    git(repo, "rm", "-rq", "flows/ev")
    git(repo, "commit", "-qm", "drop ev")
    r = pfgit(repo, "log", "flows/ev", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["flows"][0]["commits"]


def test_check_gate_push_fetch_and_index_rebuild(repo, tmp_path):
    """`pfgit check --baseline REV [--metric NAME --max-drop X] [--markdown FILE]`; `pfgit push` /
    `pfgit fetch` share refs/pfgit/*; the SQLite index (.git/pfgit/index.sqlite) is a cache that
    `pfgit index rebuild` recreates from the refs alone."""
    git(repo, "branch", "base")
    write(repo, "flows/ev/grade.py", GRADE_PY.replace("pred.lower() == gt.lower()", "False"))
    git(repo, "commit", "-qam", "break grading")
    for rev, name in (("base", "b"), ("main", "h")):
        git(repo, "checkout", "-q", rev)
        _run(repo, "--flow", "flows/ev", "--data", "flows/ev/data.jsonl", "--name", name,
             "--column-mapping", "pred=A", "gt=${data.gt}")
    md = tmp_path / "check.md"
    r = pfgit(repo, "check", "--baseline", "base", "--metric", "accuracy", "--max-drop", "0.1",
              "--markdown", str(md), "--no-fetch", "--no-run")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "accuracy" in md.read_text()
    r = pfgit(repo, "check", "--baseline", "base", "--metric", "accuracy", "--max-drop", "0.9", "--no-fetch", "--no-run")
    assert r.returncode == 0, r.stdout + r.stderr

    r = pfgit(repo, "metrics", "diff", "base", "main", "--flow", "flows/ev", "--json")   # revisions, not runs
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["metrics"] == [{"name": "accuracy", "old": 0.5, "new": 0.0, "delta": -0.5}]
    index = repo / ".git" / "pfgit" / "index.sqlite"
    assert index.exists()
    index.unlink()
    r = pfgit(repo, "index", "rebuild", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["runs"] == 2 and index.exists()

    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "origin", "main")
    assert pfgit(repo, "push").returncode == 0
    assert set(git(remote, "for-each-ref", "--format=%(refname)", "refs/pfgit/").split()) == \
        {"refs/pfgit/runs/b", "refs/pfgit/runs/h"}
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(remote), str(clone))
    assert pfgit(clone, "fetch").returncode == 0
    assert {r["name"] for r in json.loads(pfgit(clone, "runs", "list", "--json").stdout)["runs"]} == {"b", "h"}


def test_secrets_are_never_written_into_a_snapshot(repo, tmp_path):
    """Secrets (API keys in connections, environment variables) are never written into a snapshot."""
    xdg = tmp_path / "xdg"
    env = {"XDG_CONFIG_HOME": str(xdg)}
    write(tmp_path, "conn.yaml", "name: my_custom\ntype: custom\nconfigs:\n  prefix: P\nsecrets:\n  token: tok-5ecret-999\n")
    assert pfgit(repo, "connection", "create", "--file", str(tmp_path / "conn.yaml"), env=env).returncode == 0
    write(repo, "flows/c/flow.dag.yaml", "inputs:\n  text:\n    type: string\noutputs:\n  o:\n    type: string\n"
          "    reference: ${n.output}\nnodes:\n- name: n\n  type: python\n  source:\n    type: code\n    path: n.py\n"
          "  inputs:\n    text: ${inputs.text}\n    conn: my_custom\n")
    write(repo, "flows/c/n.py", "import os\nfrom promptflow.connections import CustomConnection\nfrom promptflow.core import tool\n\n\n"
          "@tool\ndef n(text: str, conn: CustomConnection) -> str:\n"
          "    print('token', conn.secrets['token'], os.environ['API_KEY'])\n"
          "    return text + conn.secrets['token'] + os.environ['API_KEY']\n")
    write(repo, "flows/c/data.jsonl", '{"text": "a"}\n')
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "c")
    r = pfgit(repo, "run", "--flow", "flows/c", "--data", "flows/c/data.jsonl", "--name", "sec",
              "--environment-variables", "API_KEY=env-5ecret-777", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    blobs = git(repo, "ls-tree", "-r", "--name-only", "refs/pfgit/runs/sec").split()
    stored = "".join(git(repo, "show", f"refs/pfgit/runs/sec:{b}") for b in blobs if not b.startswith("flow/"))
    stored += git(repo, "log", "-1", "--format=%B", "refs/pfgit/runs/sec")
    assert "tok-5ecret-999" not in stored and "env-5ecret-777" not in stored
    assert "API_KEY" in stored   # the variable's name is kept, its value is not


def test_runs_import_reads_promptflows_home_by_default(tmp_path):
    """`pfgit runs import [PROMPTFLOW_RUN_DIR ...]`: promptflow's local run records; without a
    folder, promptflow's home ($PF_HOME_DIRECTORY, else ~/.promptflow)."""
    import pf_runs_gen

    home = pf_runs_gen.materialize(pathlib.Path(__file__).parent / "fixtures" / "pf_runs", tmp_path / "pfhome")
    repo = tmp_path / "repo"
    pf_runs_gen.make_repo(repo)
    r = pfgit(repo, "runs", "import", "--json", env={"PF_HOME_DIRECTORY": str(home)})
    assert r.returncode == 0, r.stderr
    assert {x["run"] for x in json.loads(r.stdout)["runs"]} == {"batch1", "eval1", "variant1"}
    assert git(repo, "rev-parse", "refs/pfgit/runs/eval1^2") == git(repo, "rev-parse", "refs/pfgit/runs/batch1")
    one = pfgit(repo, "runs", "import", "--json", str(home / ".runs" / "batch1"), env={"PF_HOME_DIRECTORY": str(tmp_path)})
    assert one.returncode == 0 and [x["status"] for x in json.loads(one.stdout)["runs"]] == ["exists"]


VARIANTS = """\
inputs:
  text:
    type: string
outputs:
  out:
    type: string
    reference: ${pick.output}
nodes:
- name: pick
  use_variants: true
node_variants:
  pick:
    default_variant_id: variant_0
    variants:
      variant_0:
        node:
          type: python
          source: {type: code, path: upper.py}
          inputs:
            text: ${inputs.text}
      variant_1:
        node:
          type: python
          source: {type: code, path: lower.py}
          inputs:
            text: ${inputs.text}
"""


def test_run_variant_workers_and_connection_override(repo, tmp_path):
    """`pfgit run --flow PATH --data FILE [--variant '${node.variant_1}'] [--connections
    node.connection=NAME ...] [--workers N]`."""
    write(repo, "flows/var/flow.dag.yaml", VARIANTS)
    write(repo, "flows/var/upper.py", UPPER_PY)
    write(repo, "flows/var/lower.py", UPPER_PY.replace("def upper", "def lower").replace(".upper()", ".lower()"))
    write(repo, "flows/var/data.jsonl", '{"text": "Ab"}\n{"text": "Cd"}\n{"text": "Ef"}\n')
    write(repo, "flows/conn/flow.dag.yaml", "inputs:\n  text:\n    type: string\noutputs:\n  out:\n    type: string\n"
          "    reference: ${n.output}\nnodes:\n- name: n\n  type: python\n  source:\n    type: code\n    path: n.py\n"
          "  inputs:\n    text: ${inputs.text}\n    conn: first\n")
    write(repo, "flows/conn/n.py", "from promptflow.connections import CustomConnection\nfrom promptflow.core import tool\n\n\n"
          "@tool\ndef n(text: str, conn: CustomConnection) -> str:\n    return conn.configs['prefix'] + text\n")
    write(repo, "flows/conn/data.jsonl", '{"text": "a"}\n')
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "var, conn")
    res = _run(repo, "--flow", "flows/var", "--data", "flows/var/data.jsonl", "--variant", "${pick.variant_1}",
               "--workers", "2")
    assert re.fullmatch(r"var_variant_1_\d{8}_\d{6}_\d{6}", res["name"]), res["name"]
    outs = [json.loads(x)["out"] for x in git(repo, "show", f"refs/pfgit/runs/{res['name']}:outputs.jsonl").splitlines()]
    assert outs == ["ab", "cd", "ef"]
    assert json.loads(git(repo, "show", f"refs/pfgit/runs/{res['name']}:run.json"))["variant"] == "${pick.variant_1}"

    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    for name, prefix in (("first", "P1-"), ("second", "P2-")):
        f = write(tmp_path, f"{name}.yaml", f"name: {name}\ntype: custom\nconfigs:\n  prefix: {prefix}\nsecrets:\n  k: v\n")
        assert pfgit(repo, "connection", "create", "--file", str(f), env=env).returncode == 0
    r = pfgit(repo, "run", "--flow", "flows/conn", "--data", "flows/conn/data.jsonl", "--name", "c2",
              "--connections", "n.conn=second", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(git(repo, "show", "refs/pfgit/runs/c2:outputs.jsonl"))["out"] == "P2-a"
