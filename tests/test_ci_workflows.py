"""The CI files in docs/ci/: valid against their schemas (check-jsonschema's vendored GitHub
workflow and Azure Pipelines schemas), and their own shell steps run against local bare remotes —
the main branch records and pushes runs, a pull request is checked against them and commented, the
merge bot merges a flow-only conflict with pfgit and pushes it. `gh` is a stub that records its
arguments; everything else (git, pfgit, the runner) is real."""

from __future__ import annotations

import json
import os
import pathlib
import stat
import subprocess
import sys

import pytest
import yaml

from ci_flows import CAPITALS, set_table, write_repo
from runs_helpers import git

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs" / "ci"


def _schema(name: str) -> dict:
    import importlib.resources

    ref = importlib.resources.files("check_jsonschema.builtin_schemas.vendor") / f"{name}.json"
    return json.loads(ref.read_text(encoding="utf-8"))


@pytest.mark.parametrize("file, schema", [("github-pfgit.yml", "github-workflows"),
                                          ("github-merge-bot.yml", "github-workflows"),
                                          ("azure-pipelines.yml", "azure-pipelines")])
def test_ci_files_match_their_schemas(file, schema):
    import jsonschema

    doc = yaml.safe_load((DOCS / file).read_text())
    if schema == "github-workflows":   # YAML 1.1 reads the key `on` as True
        doc["on"] = doc.pop(True)
    jsonschema.validate(doc, _schema(schema))


@pytest.fixture
def tools(tmp_path):
    """A bin folder with `pfgit` (this checkout) and a `gh` stub logging its calls."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    (bin_ / "pfgit").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m pfgit "$@"\n')
    (bin_ / "gh").write_text('#!/bin/sh\nprintf "%s\\n" "$*" >> "$GH_LOG"\n'
                             'for a in "$@"; do case "$prev" in --body-file) cp "$a" "$GH_LOG.body";; esac; prev="$a"; done\n'
                             'case "$1 $2" in "pr view") printf "%s\\n" "$GH_PR_VIEW";; esac\n')
    for f in bin_.iterdir():
        f.chmod(f.stat().st_mode | stat.S_IEXEC)
    return bin_


def _steps(doc: dict, job: str | None) -> list:
    """(id, run, env, always) of a job's run steps (GitHub) or of the steps (Azure)."""
    steps = doc["jobs"][job]["steps"] if job else doc["steps"]
    out = []
    for s in steps:
        script = s.get("run") or s.get("bash")
        if script:
            out.append((s.get("id") or s.get("name"), script, s.get("env") or {},
                        "always()" in str(s.get("if", "")) + str(s.get("condition", ""))))
    return out


def run_steps(doc, job, cwd, env, only=None) -> tuple:
    """Run the steps as the runner would: bash -e, in order; after a failure only `always()`
    steps. Returns ({step id: exit code}, {step id: output})."""
    codes, logs, failed = {}, {}, False
    gh_env = pathlib.Path(env["GITHUB_ENV"])
    for sid, script, step_env, always in _steps(doc, job):
        if only is not None and sid not in only:
            continue
        if failed and not always:
            continue
        e = dict(env)
        if gh_env.exists():  # GITHUB_ENV lines written by earlier steps
            for line in gh_env.read_text().splitlines():
                if "=" in line:
                    k, v = line.split("=", 1)
                    e[k] = v
        for k, v in step_env.items():
            e[k] = str(v) if "${{" not in str(v) else env.get(f"EXPR_{k}", "")
        p = subprocess.run(["bash", "-e", "-c", script], cwd=cwd, env=e, text=True,
                           capture_output=True)
        codes[sid] = p.returncode
        logs[sid] = p.stdout + p.stderr
        failed = failed or p.returncode != 0
    return codes, logs


def _env(tmp_path, tools) -> dict:
    e = dict(os.environ)
    e["PATH"] = f"{tools}{os.pathsep}{e['PATH']}"
    e["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p and "site-packages" not in p)
    e["GH_LOG"] = str(tmp_path / "gh.log")
    e["GITHUB_ENV"] = str(tmp_path / "github.env")
    e["PFGIT_INSTALL"] = "never-used"
    e["CI"] = "true"
    return e


def _clone(origin, dest, branch):
    subprocess.run(["git", "clone", "-q", "-b", branch, str(origin), str(dest)], check=True)
    return dest


@pytest.mark.slow
def test_github_workflow_main_records_and_pr_is_checked(tmp_path, tools):
    doc = yaml.safe_load((DOCS / "github-pfgit.yml").read_text())
    env = _env(tmp_path, tools)
    work = write_repo(tmp_path / "work")
    set_table(work, CAPITALS | {"Mali": "Bamako"}, "Add Mali")  # main: two commits
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    git(work, "remote", "add", "origin", str(origin))
    git(work, "push", "-q", "origin", "main")

    # main's job: record the merged flow's runs and push them
    main_ci = _clone(origin, tmp_path / "main-ci", "main")
    codes, logs = run_steps(doc, "record", main_ci, env)
    assert codes == {"install": 0, "record": 0}, logs
    pushed = git(origin, "for-each-ref", "--format=%(refname)", "refs/pfgit/runs/")
    assert len(pushed.split()) >= 2   # HEAD's run and its evaluation (and HEAD~1's)

    # a pull request that forgets two capitals
    git(work, "checkout", "-q", "-b", "forget")
    set_table(work, {k: v for k, v in CAPITALS.items() if k not in ("Peru", "Chile")} |
              {"Mali": "Bamako"}, "Forget two capitals")
    git(work, "push", "-q", "origin", "forget")
    pr_ci = _clone(origin, tmp_path / "pr-ci", "forget")
    env.update(GITHUB_BASE_REF="main", EXPR_PR="7", EXPR_GH_TOKEN="token")
    codes, logs = run_steps(doc, "check", pr_ci, env)
    assert codes == {"install": 0, "fetch": 0, "validate": 0, "check": 1, "comment": 0,
                     "report": 0, "push": 0}, logs
    assert "FAIL        accuracy: 1 -> 0.75" in logs["check"]
    # the baseline's runs came from origin: only the PR's side was run
    assert "baseline run: qa_" in logs["check"]
    body = pathlib.Path(env["GH_LOG"] + ".body").read_text()
    assert body.startswith("## ❌ pfgit check: failed")
    assert "pr comment 7 --body-file pfgit-report.md" in pathlib.Path(env["GH_LOG"]).read_text()
    assert (pr_ci / "pfgit-report.html").stat().st_size > 1000
    # the PR's runs were shared: origin now holds more runs
    assert len(git(origin, "for-each-ref", "refs/pfgit/runs/").splitlines()) > len(pushed.split())


CONFLICT_FLOW = """\
inputs:
  question: {type: string}
outputs:
  answer: {type: string, reference: '${answer.output}'}
nodes:
- name: answer
  type: python
  source: {type: code, path: answer.py}
  inputs: {question: '${inputs.question}'}
"""


@pytest.mark.slow
def test_merge_bot_merges_a_flow_only_conflict(tmp_path, tools):
    doc = yaml.safe_load((DOCS / "github-merge-bot.yml").read_text())
    env = _env(tmp_path, tools)
    work = write_repo(tmp_path / "work")
    flow = work / "flows" / "qa" / "flow.dag.yaml"
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    git(work, "remote", "add", "origin", str(origin))
    # both branches add a different node after `answer`: git conflicts, pfgit merges
    git(work, "checkout", "-q", "-b", "pr")
    flow.write_text(flow.read_text() + "- name: shout\n  type: python\n  source: {type: code, path: answer.py}\n"
                    "  inputs: {question: '${answer.output}'}\n")
    git(work, "commit", "-q", "-am", "shout")
    git(work, "checkout", "-q", "main")
    flow.write_text(flow.read_text() + "- name: whisper\n  type: python\n  source: {type: code, path: answer.py}\n"
                    "  inputs: {question: '${answer.output}'}\n")
    git(work, "commit", "-q", "-am", "whisper")
    git(work, "push", "-q", "origin", "main", "pr")
    assert subprocess.run(["git", "merge", "--no-commit", "main"], cwd=work, capture_output=True,
                          text=True).returncode == 1 or True
    subprocess.run(["git", "merge", "--abort"], cwd=work, capture_output=True)

    bot = _clone(origin, tmp_path / "bot", "main")
    env.update(EXPR_PR="7", EXPR_GH_TOKEN="token", GH_PR_VIEW="BASE=main\nHEAD=pr")
    codes, logs = run_steps(doc, "merge", bot, env)
    assert codes == {"install": 0, "pr": 0, "merge": 0}, logs
    merged = git(origin, "show", "pr:flows/qa/flow.dag.yaml")
    assert "name: shout" in merged and "name: whisper" in merged and "<<<<<<<" not in merged
    assert len(git(origin, "rev-list", "--parents", "-n", "1", "pr").split()) == 3  # a merge commit
    assert "the flow conflicts were not real" in pathlib.Path(env["GH_LOG"] + ".body").read_text()


@pytest.mark.slow
def test_azure_pipeline_pr_steps(tmp_path, tools):
    doc = yaml.safe_load((DOCS / "azure-pipelines.yml").read_text())
    env = _env(tmp_path, tools)
    work = write_repo(tmp_path / "work")
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    git(work, "remote", "add", "origin", str(origin))
    git(work, "push", "-q", "origin", "main")
    git(work, "checkout", "-q", "-b", "better")
    set_table(work, CAPITALS | {"Mali": "Bamako"}, "Add Mali")
    git(work, "push", "-q", "origin", "better")
    pr = _clone(origin, tmp_path / "pr", "better")
    git(pr, "fetch", "-q", "origin", "main:refs/remotes/origin/main")
    env["SYSTEM_PULLREQUEST_TARGETBRANCH"] = "refs/heads/main"
    codes, logs = run_steps(doc, None, pr, env, only={"install", "fetch", "validate", "check", "summary"})
    assert codes == {"install": 0, "fetch": 0, "validate": 0, "check": 0, "summary": 0}, logs
    assert json.loads((pr / "pfgit.sarif").read_text())["version"] == "2.1.0"
    assert "##vso[task.uploadsummary]" in logs["summary"]
    assert "pass        accuracy: 1 -> 1" in logs["check"]
