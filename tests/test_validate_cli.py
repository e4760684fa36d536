"""`pfgit validate` as users and git hooks run it: exit codes, text and JSON output, --staged,
the plain git pre-commit hook and the pre-commit framework's hook definition."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from pfgit.cli.main import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WC = "examples/flows/standard/web-classification"
LINE = re.compile(r"^[^:\n]+:\d+: (error|warning) [a-z0-9-]+( \[[^\]]+\])? \S.*$")


def pfgit(*args, cwd=None):
    env = dict(os.environ, NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "pfgit", *args], cwd=cwd, env=env, text=True,
                          capture_output=True)


def flow_copy(corpus, dst, rel=WC):
    shutil.copytree(corpus / rel, dst)
    for d, dirs, files in os.walk(dst):
        for n in dirs + files:
            os.chmod(os.path.join(d, n), 0o755 if n in dirs else 0o644)
    return dst


def edit(path, old, new):
    text = open(path, encoding="utf-8").read()
    assert old in text
    open(path, "w", encoding="utf-8").write(text.replace(old, new, 1))


def test_exit_codes_text_and_json(corpus, tmp_path):
    good = str(corpus / WC)
    p = pfgit("validate", good)
    assert p.returncode == 0 and p.stdout.strip() == "1 flow checked: no problems" and not p.stderr

    bad = flow_copy(corpus, tmp_path / "wc")
    edit(bad / "flow.dag.yaml", "${classify_with_llm.output}", "${clasify_with_llm.output}")
    p = pfgit("validate", "wc", cwd=tmp_path)
    assert p.returncode == 1
    lines = p.stdout.splitlines()
    assert lines[0] == ("wc/flow.dag.yaml:52: error dangling-ref [convert_to_dict] input 'input_str' "
                        "references unknown node 'clasify_with_llm'")
    assert lines[-1] == "1 flow checked: 1 error (1 flow failed)"

    p = pfgit("validate", "--json", "wc", good, cwd=tmp_path)
    assert p.returncode == 1
    out = json.loads(p.stdout)
    assert set(out) == {"flows", "summary"}
    assert out["summary"] == {"flows": 2, "errors": 1, "warnings": 0, "ok": False}
    flows = {f["path"]: f for f in out["flows"]}
    assert flows["wc"]["ok"] is False and flows[good]["ok"] is True
    prob = flows["wc"]["problems"][0]
    assert prob == {"code": "dangling-ref", "severity": "error", "node": "convert_to_dict",
                    "message": "input 'input_str' references unknown node 'clasify_with_llm'",
                    "file": "wc/flow.dag.yaml", "line": 52}

    p = pfgit("validate", str(tmp_path / "missing"))
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr == f"pfgit: {tmp_path / 'missing'}: no such file or folder\n"


def test_strict_fails_on_warnings_only(corpus, tmp_path, capsys):
    d = flow_copy(corpus, tmp_path / "wc")
    edit(d / "flow.dag.yaml", "  api: chat\n- name: convert", "  api: chat\n  temprature: 0.5\n"
         "- name: convert")
    assert main(["validate", str(d)]) == 0
    out = capsys.readouterr().out
    assert "warning unknown-key [classify_with_llm] unknown key 'temprature'" in out
    assert main(["validate", "--strict", str(d)]) == 1
    capsys.readouterr()
    assert main(["validate", "--strict", "--json", str(d)]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["flows"][0]["ok"] is False and data["summary"]["ok"] is False
    assert main(["validate", "--json", str(d)]) == 0
    assert json.loads(capsys.readouterr().out)["flows"][0]["ok"] is True


def test_every_text_line_has_the_editor_format(corpus, tmp_path, capsys):
    d = flow_copy(corpus, tmp_path / "wc")
    edit(d / "flow.dag.yaml", "default_variant_id: variant_0", "default_variant_id: v9")
    edit(d / "convert_to_dict.py", "    try:\n", "    try\n")
    edit(d / "flow.dag.yaml", "  inputs: {}", "  inputs: {}\n  comnt: x")
    assert main(["validate", str(d)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    assert all(LINE.match(x) for x in lines[:-1]), lines
    assert lines[-1] == "1 flow checked: 2 errors, 1 warning (1 flow failed)"
    assert any(x.startswith(f"{d}/convert_to_dict.py:8: error python-syntax [convert_to_dict]")
               for x in lines)
    assert main(["validate", "--strict", "--json", str(d)]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["summary"] == {"flows": 1, "errors": 2, "warnings": 1, "ok": False}
    assert [p["code"] for p in data["flows"][0]["problems"]] == [
        "unknown-key", "unknown-default-variant", "python-syntax"]


def test_paths_inside_and_outside_flows(corpus, tmp_path, capsys):
    d = flow_copy(corpus, tmp_path / "wc")
    (tmp_path / "notes.py").write_text("x = 1\n")
    assert main(["validate", str(d / "convert_to_dict.py"), str(d / "flow.dag.yaml"),
                 str(tmp_path / "notes.py")]) == 0
    assert capsys.readouterr().out == "1 flow checked: no problems\n"  # one flow, found twice
    assert main(["validate", str(tmp_path / "notes.py")]) == 0
    assert capsys.readouterr().out == "no flows found\n"


# --- --staged and hooks: a real git repository ------------------------------------------------

def git(cwd, *args, check=True):
    p = subprocess.run(["git", *args], cwd=cwd, text=True, capture_output=True)
    if check and p.returncode:
        raise AssertionError(f"git {' '.join(args)}: {p.stderr}")
    return p


@pytest.fixture
def repo(corpus, tmp_path):
    r = tmp_path / "repo"
    r.mkdir()
    git(r, "init", "-q", "-b", "main")
    flow_copy(corpus, r / "flows" / "wc")
    flow_copy(corpus, r / "flows" / "basic", "examples/flows/standard/basic")
    (r / "tools.py").write_text("def helper():\n    return 1\n")
    git(r, "add", "-A")
    git(r, "commit", "-q", "-m", "two flows")
    return r


def test_staged_judges_the_index_not_the_worktree(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    dag = repo / "flows" / "wc" / "flow.dag.yaml"
    assert main(["validate", "--staged"]) == 0
    assert capsys.readouterr().out == "no flows found\n"  # nothing staged: nothing to judge

    good = dag.read_text()
    edit(dag, "${classify_with_llm.output}", "${clasify_with_llm.output}")
    git(repo, "add", str(dag))
    dag.write_text(good)  # the worktree is fine again, the index is not
    assert main(["validate"]) == 0
    capsys.readouterr()
    assert main(["validate", "--staged"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("flows/wc/flow.dag.yaml:52: error dangling-ref [convert_to_dict]")
    assert out[-1] == "1 flow checked: 1 error (1 flow failed)"  # flows/basic untouched: not checked

    git(repo, "add", str(dag))  # staged == HEAD again: nothing to judge
    assert main(["validate", "--staged"]) == 0
    assert capsys.readouterr().out == "no flows found\n"
    edit(dag, "default_variant_id: variant_0", "default_variant_id: variant_1")
    git(repo, "add", str(dag))  # a valid change
    assert main(["validate", "--staged"]) == 0
    assert capsys.readouterr().out == "1 flow checked: no problems\n"


def test_staged_deletion_of_a_source_and_paths(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo / "flows")
    git(repo, "rm", "-q", "flows/basic/hello.py")
    assert main(["validate", "--staged", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    [flow] = data["flows"]
    assert flow["path"] == "basic"  # shown relative to the current folder
    assert [(p["code"], p["node"], p["file"]) for p in flow["problems"]] == [
        ("missing-source", "llm", "basic/flow.dag.yaml")]
    # explicit paths: the flows holding them, as staged
    assert main(["validate", "--staged", "wc/convert_to_dict.py", "../tools.py"]) == 0
    assert capsys.readouterr().out == "1 flow checked: no problems\n"


def test_staged_outside_a_repository(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "--staged"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pfgit: ") and "not a git repository" in err and err.count("\n") == 1


def _env_with_pfgit():
    return dict(os.environ, PFGIT_PYTHON=sys.executable, NO_COLOR="1")


@pytest.mark.slow
def test_git_commit_rejected_by_the_pre_commit_hook(repo):
    hook = repo / ".git" / "hooks" / "pre-commit"
    shutil.copy(os.path.join(ROOT, "hooks", "pre-commit"), hook)
    os.chmod(hook, 0o755)
    dag = repo / "flows" / "wc" / "flow.dag.yaml"
    edit(dag, "default_variant_id: variant_0", "default_variant_id: variant_2")
    git(repo, "add", "-A")
    p = subprocess.run(["git", "commit", "-q", "-m", "broken"], cwd=repo, text=True,
                       capture_output=True, env=_env_with_pfgit())
    assert p.returncode != 0
    assert ("flows/wc/flow.dag.yaml:55: error unknown-default-variant [summarize_text_content]"
            in p.stdout + p.stderr)
    assert git(repo, "rev-list", "--count", "HEAD").stdout.strip() == "1"  # nothing committed

    edit(dag, "default_variant_id: variant_2", "default_variant_id: variant_1")
    git(repo, "add", "-A")
    p = subprocess.run(["git", "commit", "-q", "-m", "fixed"], cwd=repo, text=True,
                       capture_output=True, env=_env_with_pfgit())
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout + p.stderr == ""  # the hook is quiet when all is well
    assert git(repo, "rev-list", "--count", "HEAD").stdout.strip() == "2"


def test_pre_commit_hook_passes_when_pfgit_is_not_installed(repo, tmp_path):
    hook = repo / ".git" / "hooks" / "pre-commit"
    shutil.copy(os.path.join(ROOT, "hooks", "pre-commit"), hook)
    os.chmod(hook, 0o755)
    bare = tmp_path / "bare-python"  # an interpreter without site-packages: no pfgit
    bare.write_text(f"#!/bin/sh\nexec {sys.executable} -I -S \"$@\"\n")
    os.chmod(bare, 0o755)
    (repo / "x.txt").write_text("x\n")
    git(repo, "add", "x.txt")
    p = subprocess.run(["git", "commit", "-q", "-m", "x"], cwd=repo, text=True,
                       capture_output=True, env=dict(os.environ, PFGIT_PYTHON=str(bare)))
    assert p.returncode == 0 and "pfgit is not importable" in p.stderr


def test_pre_commit_framework_hook_definition(repo):
    """What pre-commit would do with .pre-commit-hooks.yaml, without pre-commit or a network."""
    with open(os.path.join(ROOT, ".pre-commit-hooks.yaml"), encoding="utf-8") as f:
        hooks = yaml.safe_load(f)
    [hook] = [h for h in hooks if h["id"] == "pfgit-validate"]
    files = re.compile(hook["files"])
    # flex flows and .prompty files are flows pfgit validates: a commit touching only them runs it
    for name in ["flows/wc/flow.dag.yaml", "flow.dag.yml", "a/tool.py", "p/chat.jinja2",
                 "f/flow.flex.yaml", "f/flow.flex.yml", "p/chat.prompty"]:
        assert files.search(name), name
    for name in ["README.md", "data.jsonl", "flow.dag.yaml.bak", "x.pyc", "requirements.txt", "ci.yaml",
                 "a.prompty.bak"]:
        assert not files.search(name), name
    assert hook["language"] == "python" and hook["pass_filenames"] is True
    entry = hook["entry"].split()
    assert entry[:3] == ["python", "-m", "pfgit.validate"]  # python of the hook's virtualenv
    entry = [sys.executable] + entry[1:]

    def pre_commit_runs(files):  # pre-commit runs: entry + the matching file names
        p = subprocess.run(entry + files, cwd=repo, text=True, capture_output=True,
                           env=dict(os.environ, NO_COLOR="1"))
        assert "Traceback" not in p.stderr
        return p.returncode, p.stdout

    dag = repo / "flows" / "wc" / "flow.dag.yaml"
    edit(repo / "flows" / "wc" / "classify_with_llm.jinja2", "{% endfor %}", "{% endfor")
    git(repo, "add", "-A")
    staged = git(repo, "diff", "--cached", "--name-only").stdout.split()
    matched = [f for f in staged if files.search(f)]
    assert matched == ["flows/wc/classify_with_llm.jinja2"]
    rc, out = pre_commit_runs(matched)
    assert rc == 1
    assert "flows/wc/classify_with_llm.jinja2:" in out and "jinja-syntax [classify_with_llm]" in out
    (repo / "flows" / "p").mkdir()
    (repo / "flows" / "p" / "chat.prompty").write_text("---\nmodel: [unclosed\n---\nuser:\n{{q}}\n")
    git(repo, "add", "flows/p/chat.prompty")
    assert files.search("flows/p/chat.prompty")
    rc, out = pre_commit_runs(["flows/p/chat.prompty"])
    assert rc == 1 and "flows/p/chat.prompty:" in out, out
    # `pre-commit run --all-files`: every matching tracked file, nothing staged
    git(repo, "reset", "-q", "--hard")
    all_files = [f for f in git(repo, "ls-files").stdout.split() if files.search(f)]
    assert pre_commit_runs(all_files) == (0, "2 flows checked: no problems\n")
    assert dag.exists()


def test_staged_symlinked_sources_are_followed(repo, monkeypatch, capsys):
    """Like promptflow's flow-with-symlinks: sources are links into a sibling flow."""
    monkeypatch.chdir(repo)
    linked = repo / "flows" / "linked"
    linked.mkdir()
    text = (repo / "flows" / "wc" / "flow.dag.yaml").read_text()
    (linked / "flow.dag.yaml").write_text(text)
    for name in os.listdir(repo / "flows" / "wc"):
        if name.endswith((".py", ".jinja2")):
            os.symlink(f"../wc/{name}", linked / name)
    git(repo, "add", "-A")
    assert main(["validate", "--staged"]) == 0
    assert capsys.readouterr().out == "1 flow checked: no problems\n"
    os.remove(linked / "convert_to_dict.py")
    os.symlink("../wc/nothing.py", linked / "convert_to_dict.py")
    git(repo, "add", "-A")
    assert main(["validate", "--staged"]) == 1
    assert "error missing-source [convert_to_dict]" in capsys.readouterr().out


def test_staged_change_reaches_flows_that_include_the_file(corpus, tmp_path, monkeypatch, capsys):
    r = tmp_path / "r"
    base = "examples/flows/standard"
    flow_copy(corpus, r / "web-classification", f"{base}/web-classification")
    flow_copy(corpus, r / "flow-with-additional-includes", f"{base}/flow-with-additional-includes")
    git(r.parent, "init", "-q", "-b", "main", str(r))
    git(r, "add", "-A")
    git(r, "commit", "-q", "-m", "init")
    monkeypatch.chdir(r)
    edit(r / "web-classification" / "convert_to_dict.py", "json.loads(input_str)",
         "json.loads(input_str.strip())")
    git(r, "add", "-A")
    assert main(["validate", "--staged", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [f["path"] for f in data["flows"]] == ["flow-with-additional-includes",
                                                  "web-classification"]


def test_light_entry_point_matches_the_cli(corpus, tmp_path):
    """`python -m pfgit.validate` (used by the hooks) prints and exits exactly like the CLI."""
    d = flow_copy(corpus, tmp_path / "wc")
    edit(d / "flow.dag.yaml", "default_variant_id: variant_0", "default_variant_id: v9")
    for args in (["wc"], ["--json", "--strict", "wc"], ["missing"], ["--bogus"], ["-h"],
                 ["-q", "wc"], ["--quiet", str(corpus / WC)]):
        cli = pfgit("validate", *args, cwd=tmp_path)
        light = subprocess.run([sys.executable, "-m", "pfgit.validate", *args], cwd=tmp_path,
                               text=True, capture_output=True, env=dict(os.environ, NO_COLOR="1"))
        assert light.returncode == cli.returncode, args
        if args not in (["--bogus"], ["-h"]):  # usage texts differ in layout
            assert (light.stdout, light.stderr) == (cli.stdout, cli.stderr), args
        assert "Traceback" not in light.stderr
