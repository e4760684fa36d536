"""QA of `pfgit validate`: defects a user makes in copies of real corpus flows, and bad input,
each found in a hands-on session and fixed (one test per bug; see the module docstrings in
pfgit/validate for the rules)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from corpus_finder import part as corpus_part
from pfgit.flow.readers import DirReader
from pfgit.validate import validate_path

WC = "examples/flows/standard/web-classification"
FLEX = "examples/flex-flows/basic"
PROMPTY = "examples/prompty/basic"


def copy(corpus, rel, tmp_path):
    dest = tmp_path / "flow"
    shutil.copytree(corpus / rel, dest)
    return dest


def edit(path, old, new):
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")


def problems(tmp_path, rel="flow"):
    (report,) = validate_path(DirReader(str(tmp_path), ""), rel)
    return report.problems


def line_of(path, marker):
    return next(i for i, t in enumerate(path.read_text().splitlines(), 1) if marker in t)


def cli(*args, cwd, timeout=60):
    return subprocess.run([sys.executable, "-m", "pfgit.validate", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=timeout)


def test_output_reference_section_is_ignored_by_promptflow_so_only_a_warning(corpus, tmp_path):
    # promptflow resolves a flow output by node name and property and ignores its section
    # (flow_executor.py::_extract_outputs; `pf flow test` returns the value), while a node input
    # with another section fails at run time (UnsupportedReference).
    d = copy(corpus, WC, tmp_path)
    edit(d / "flow.dag.yaml", "${convert_to_dict.output.category}",
         "${convert_to_dict.outputs.category}")
    (p,) = problems(tmp_path)
    assert (p.code, p.severity, p.node) == ("output-ref-section", "warning", None)
    assert p.line == line_of(d / "flow.dag.yaml", "convert_to_dict.outputs.category")
    assert "${convert_to_dict.output.category}" in p.message


def test_prompty_front_matter_never_closed_points_at_its_opening_line(corpus, tmp_path):
    d = copy(corpus, PROMPTY, tmp_path)
    text = (d / "basic.prompty").read_text().split("\n")
    closing = [i for i, t in enumerate(text) if t.strip() == "---"][1]
    (d / "basic.prompty").write_text("\n".join(text[:closing] + text[closing + 1:]))
    (p,) = problems(tmp_path)
    assert (p.code, p.line) == ("yaml-syntax", 1)


@pytest.mark.parametrize("which", ["flow.dag.yaml", "convert_to_dict.py"])
def test_a_fifo_is_unreadable_not_a_hang(corpus, tmp_path, which):
    d = copy(corpus, WC, tmp_path)
    os.remove(d / which)
    os.mkfifo(d / which)
    r = cli("flow", cwd=tmp_path, timeout=30)  # reading a FIFO with no writer blocks forever
    assert r.returncode == 1, r.stderr
    assert f"flow/{which}" in r.stdout and "error unreadable-file" in r.stdout


def test_a_folder_named_flow_dag_yaml_given_as_path_is_a_problem(tmp_path):
    (tmp_path / "f" / "flow.dag.yaml").mkdir(parents=True)
    r = cli("f/flow.dag.yaml", cwd=tmp_path)
    assert r.returncode == 1, r.stdout
    assert r.stdout.startswith("f/flow.dag.yaml:1: error unreadable-file"), r.stdout


def test_flex_entry_function_missing_from_its_module(corpus, tmp_path):
    d = copy(corpus, FLEX, tmp_path)
    edit(d / "flow.flex.yaml", "programmer:write_simple_program", "programmer:write_simple_progam")
    (p,) = problems(tmp_path)
    assert (p.code, p.severity) == ("missing-entry-function", "error")
    assert p.line == line_of(d / "flow.flex.yaml", "entry:")
    assert "write_simple_progam" in p.message and "programmer.py" in p.message


def test_flex_entry_class_and_reexported_names_are_found(tmp_path):
    d = tmp_path / "flow"
    d.mkdir()
    (d / "flow.flex.yaml").write_text("entry: flow:ChatFlow\n")
    (d / "flow.py").write_text("from .impl import helper as ChatFlow\n")
    assert problems(tmp_path) == []
    (d / "flow.py").write_text("class ChatFlow:\n    pass\n")
    assert problems(tmp_path) == []
    (d / "flow.py").write_text("from impl import *\n")  # cannot tell: no error
    assert problems(tmp_path) == []


def test_a_cycle_through_thousands_of_nodes_gives_a_readable_line(tmp_path):
    d = tmp_path / "flow"
    d.mkdir()
    n = 3000
    lines = ["inputs:\n  x:\n    type: string\nnodes:\n"]
    for i in range(n):
        lines.append(f"- name: n{i}\n  type: python\n  source:\n    type: code\n    path: t.py\n"
                     f"  inputs:\n    text: ${{n{(i - 1) % n}.output}}\n")
    (d / "flow.dag.yaml").write_text("".join(lines))
    (d / "t.py").write_text("@tool\ndef t(text):\n    return text\n")
    (p,) = problems(tmp_path)
    assert p.code == "cycle" and p.node == "n0"
    assert len(p.message) < 600, len(p.message)
    assert f"{n} nodes" in p.message


def test_a_prompty_file_inside_a_flex_flow_folder_is_validated(corpus, tmp_path):
    # flex flows load their .prompty files from code (Prompty.load): a broken one must not hide
    # behind the folder's flow.flex.yaml, neither when the folder is searched nor when staged
    d = copy(corpus, "examples/flex-flows/chat-basic", tmp_path)
    edit(d / "chat.prompty", "name: Basic Chat\n", "name: Basic Chat\n  bad: : x\n")
    for path in ("flow", "."):
        reports = validate_path(DirReader(str(tmp_path), ""), path)
        found = [(p.code, p.file, p.line) for r in reports for p in r.problems]
        assert found == [("yaml-syntax", "flow/chat.prompty", 3)], path
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "add", "."], cwd=tmp_path, check=True)
    r = cli("--staged", cwd=tmp_path)
    assert r.returncode == 1 and "flow/chat.prompty:3: error yaml-syntax" in r.stdout, r.stdout


@pytest.mark.parametrize("text, line", [
    ("\n---\nname: x\n---\nhi {{q}}\n", None),           # corpus eval-checklist/eval.prompty
    ("---\r\nname: x\r\n---\r\nhi {{q}\r\n", 4),         # CRLF: the body's line
    ("----\nname: x\n---\nhi\n", None),
    ("---\nname: x\n----\nhi\n", 3),     # the greedy (.*) keeps one '-' of '----' in the YAML
    ("---\nname: x\n---\nhi\n---\nmore\n", 3),  # the last '---' closes: line 3 starts a 2nd document
])
def test_prompty_front_matter_is_found_as_promptflow_finds_it(tmp_path, text, line):
    # promptflow (core/_flow.py::_parse_prompty): re.search(r"-{3,}\n(.*)-{3,}\n(.*)", DOTALL) on
    # the text read with universal newlines
    (tmp_path / "flow").mkdir()
    (tmp_path / "flow" / "a.prompty").write_bytes(text.encode())
    found = [p.line for p in problems(tmp_path)]
    assert found == ([] if line is None else [line])


def test_an_alias_bomb_is_refused_not_expanded(tmp_path):
    # "billion laughs": nine levels of nine aliases is 9**9 values once expanded; walking the
    # node inputs used to take minutes
    d = tmp_path / "flow"
    d.mkdir()
    levels = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi"):
        levels.append(f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]")
    (d / "flow.dag.yaml").write_text("\n".join(levels) + "\nnodes:\n- name: x\n  type: python\n"
                                     "  source: {type: code, path: t.py}\n  inputs:\n    v: *i\n")
    (d / "t.py").write_text("def t(v):\n    return v\n")
    r = cli("flow", cwd=tmp_path, timeout=30)
    assert r.returncode == 1, r.stdout
    assert "error yaml-syntax" in r.stdout and "alias" in r.stdout, r.stdout


def test_an_alias_inside_its_own_anchor_is_refused(tmp_path):
    d = tmp_path / "flow"
    d.mkdir()
    (d / "flow.dag.yaml").write_text("a: &a [1, *a]\nnodes:\n- name: x\n  type: python\n"
                                     "  source: {type: code, path: t.py}\n  inputs:\n    v: *a\n")
    (d / "t.py").write_text("def t(v):\n    return v\n")
    r = cli("flow", cwd=tmp_path, timeout=30)
    assert r.returncode == 1 and "flow/flow.dag.yaml:1: error yaml-syntax" in r.stdout, r.stdout


def test_a_yaml_file_outside_any_flow_folder_is_validated_as_a_flow_file(corpus, tmp_path):
    # promptflow accepts a path to any .yaml flow file; naming one must not pass silently
    (tmp_path / "old").mkdir()
    src = corpus_part(corpus, "history/flows__standard__basic")
    version = sorted(src.glob("*.flow.dag.yaml"))[0]
    text = version.read_text().replace("${inputs.text}", "${inputs.txt}", 1)
    (tmp_path / "old" / version.name).write_text(text)
    r = cli(f"old/{version.name}", cwd=tmp_path)
    assert r.returncode == 1, r.stdout
    assert f"old/{version.name}:" in r.stdout and "unknown-input" in r.stdout, r.stdout


def test_staged_flow_naming_a_file_that_is_not_staged_says_so(corpus, tmp_path):
    d = copy(corpus, "examples/flows/evaluation/eval-classification-accuracy", tmp_path)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "add", "."], cwd=tmp_path, check=True)
    subprocess.run(["git", "commit", "-qm", "init"], cwd=tmp_path, check=True)
    shutil.copy(d / "grade.py", d / "grade2.py")  # new source, forgotten in `git add`
    edit(d / "flow.dag.yaml", "path: grade.py", "path: grade2.py")
    subprocess.run(["git", "add", "flow/flow.dag.yaml"], cwd=tmp_path, check=True)
    r = cli("--staged", cwd=tmp_path)
    assert r.returncode == 1
    assert "missing-source [grade] source file 'grade2.py' not found" in r.stdout
    assert "not staged" in r.stdout, r.stdout
    r = cli("--staged", cwd=tmp_path / "flow")  # from a subfolder too
    assert "flow.dag.yaml:" in r.stdout and "not staged" in r.stdout, r.stdout


def test_staged_symlink_to_a_missing_file_is_not_called_unstaged(corpus, tmp_path):
    d = copy(corpus, "examples/flows/evaluation/eval-classification-accuracy", tmp_path)
    os.rename(d / "grade.py", tmp_path / "grade_elsewhere.py")
    os.symlink("../gone.py", d / "grade.py")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "add", "flow"], cwd=tmp_path, check=True)
    r = cli("--staged", cwd=tmp_path)
    assert r.returncode == 1 and "missing-source [grade]" in r.stdout, r.stdout
    assert "not staged" not in r.stdout, r.stdout


def test_staged_deletion_of_a_file_another_flow_includes(tmp_path):
    # additional_includes reach outside the flow folder: deleting what they name breaks that flow
    (tmp_path / "common").mkdir()
    (tmp_path / "f").mkdir()
    (tmp_path / "common" / "util.py").write_text("def util(text):\n    return text\n")
    (tmp_path / "f" / "flow.dag.yaml").write_text(
        "additional_includes:\n- ../common\ninputs:\n  text:\n    type: string\nnodes:\n- name: u\n"
        "  type: python\n  source:\n    type: code\n    path: common/util.py\n  inputs:\n"
        "    text: ${inputs.text}\n")
    git = lambda *a: subprocess.run(["git", *a], cwd=tmp_path, check=True)  # noqa: E731
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "init")
    git("rm", "-q", "common/util.py")
    r = cli("--staged", cwd=tmp_path)
    assert r.returncode == 1, r.stdout
    assert "f/flow.dag.yaml:2: error missing-include" in r.stdout, r.stdout


def test_an_emptied_activate_is_incomplete(corpus, tmp_path):
    # `activate:` left empty after deleting its lines: promptflow's ActivateCondition.deserialize
    # fails on None (`"when" in None`)
    d = copy(corpus, "examples/flows/standard/conditional-flow-for-if-else", tmp_path)
    edit(d / "flow.dag.yaml", "  activate:\n    when: ${content_safety_check.output}\n    is: true\n",
         "  activate:\n")
    (p,) = problems(tmp_path)
    assert (p.code, p.node) == ("activate-incomplete", "llm_result")
    assert p.line == line_of(d / "flow.dag.yaml", "activate:")


def test_validate_from_a_deleted_current_folder_is_no_traceback(corpus, tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    flow = corpus / "examples/flows/standard/basic"
    code = ("import os, sys; os.chdir(sys.argv[1]); os.rmdir(sys.argv[1]); "
            "from pfgit.cli.main import main; sys.exit(main(['validate', sys.argv[2]]))")
    r = subprocess.run([sys.executable, "-c", code, str(gone), str(flow)], text=True,
                       capture_output=True, timeout=60)
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == 0 and f"{flow}" not in r.stderr, r.stdout + r.stderr
    assert r.stdout.endswith("1 flow checked: no problems\n"), r.stdout


def test_an_unexpected_error_is_one_line_through_the_cli(monkeypatch, capsys):
    # pfgit/cli/main.py's last-resort handler (typer's vendored click has no Abort)
    import pfgit.validate.command as command
    from pfgit.cli.main import main

    def boom(argv):
        raise RuntimeError("boom")

    monkeypatch.setattr(command, "main", boom)
    assert main(["validate"]) == 2
    assert capsys.readouterr().err == ("pfgit: internal error: RuntimeError: boom "
                                       "(run with --debug for a traceback)\n")


def test_an_unknown_jinja_filter_is_a_template_error(corpus, tmp_path):
    # promptflow renders with jinja2.Template(...): an unknown filter fails when the template is
    # compiled (TemplateAssertionError), before any LLM call
    d = copy(corpus, WC, tmp_path)
    edit(d / "classify_with_llm.jinja2", "{{url}}", "{{url | to_json}}")
    (p,) = problems(tmp_path)
    assert (p.code, p.node, p.file) == ("jinja-syntax", "classify_with_llm",
                                        "flow/classify_with_llm.jinja2")
    assert p.line == line_of(d / "classify_with_llm.jinja2", "to_json")
    assert "No filter named 'to_json'" in p.message


@pytest.mark.parametrize("change, expect", [
    (("@tool\n", ""), "defines no @tool function"),
    (("@tool\n", "@tool\ndef helper(x: str) -> str:\n    return x\n\n\n@tool\n"),
     "defines 2 @tool functions (helper, convert_to_dict)"),
])
def test_a_python_source_needs_exactly_one_tool(corpus, tmp_path, change, expect):
    # promptflow's tool_meta_generator: NoToolDefined / MultipleToolsDefined (pf flow validate too)
    d = copy(corpus, WC, tmp_path)
    edit(d / "convert_to_dict.py", *change)
    (p,) = problems(tmp_path)
    assert (p.code, p.node, p.file) == ("tool-count", "convert_to_dict", "flow/convert_to_dict.py")
    assert expect in p.message, p.message


def test_a_tool_decorator_under_another_name_is_not_judged(tmp_path):
    d = tmp_path / "flow"
    d.mkdir()
    (d / "flow.dag.yaml").write_text("nodes:\n- name: a\n  type: python\n  source:\n    type: code\n"
                                     "    path: a.py\n  inputs:\n    x: 1\n")
    (d / "a.py").write_text("from promptflow.core import tool as pf_tool\n\n\n@pf_tool\n"
                            "def a(x):\n    return x\n")
    assert problems(tmp_path) == []
    (d / "a.py").write_text("from promptflow.core import tool\n\n\ndef a(x):\n    return x\n\n\n"
                            "a = tool(a)\n")
    assert problems(tmp_path) == []
