"""`make test` on a bare clone: the optional real-flow corpus, and every capability that was only
tested on corpus flows, tested again on flows the tests write themselves (tests/flows.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

import corpus_finder
import flows
from test_merge_git import git, init_repo, no_hooks, pfgit, read, write
from test_merge_scenarios import judge, scenarios_for
from pfgit.cli.main import main
from pfgit.flow.load import find_flows, load_flow
from pfgit.flow.readers import DirReader
from pfgit.merge.files import merge_bytes
from pfgit.validate.api import validate_path

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def edit(path, old, new):
    text = open(path, encoding="utf-8").read()
    assert old in text, (path, old)
    open(path, "w", encoding="utf-8").write(text.replace(old, new, 1))


# --- the corpus is optional ----------------------------------------------------------------------

def _pytest(tmp_path, *args, **env):
    e = {k: v for k, v in os.environ.items() if not k.startswith("PFGIT_")}
    e.update(env, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-p", "no:randomly", *args], cwd=ROOT, env=e, text=True,
                          capture_output=True, timeout=300)


def test_bare_clone_corpus_tests_skip_with_one_summary_line(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    p = _pytest(tmp_path, "tests/test_flow_model.py::test_every_corpus_flow_loads_and_matches_manifest",
                "tests/test_diff_match.py::test_corpus_histories_match_every_surviving_name",
                "tests/test_diff_match.py::test_same_names_match_and_nothing_else", PFGIT_CORPUS=str(empty))
    assert p.returncode == 0, p.stdout[-3000:]
    skipped = [ln for ln in p.stdout.splitlines() if ln.startswith("SKIPPED")]
    assert len(skipped) == 1, skipped
    assert skipped[0].startswith("SKIPPED [2] tests/conftest.py:")
    assert f"no flows at {empty}; set PFGIT_CORPUS=DIR" in skipped[0]
    assert "1 passed, 2 skipped" in p.stdout


def test_bare_clone_ci_requires_the_corpus(tmp_path):
    p = _pytest(tmp_path, "tests/test_flow_model.py", PFGIT_CORPUS=str(tmp_path / "nowhere"),
                PFGIT_REQUIRE_CORPUS="1")
    assert p.returncode == 4
    assert "PFGIT_REQUIRE_CORPUS=1 but the real-flow corpus is missing" in p.stderr
    ci = open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8").read()
    assert "export PFGIT_REQUIRE_CORPUS=1" in ci and "make test" in ci


def test_bare_clone_a_promptflow_checkout_works_as_the_corpus(tmp_path, monkeypatch):
    """No history/, no manifest.json: flows are found by scanning, in any layout."""
    pf = tmp_path / "promptflow"
    flows.write(pf / "examples" / "flows" / "standard" / "if-else", flows.IF_ELSE)
    flows.write(pf / "examples" / "flex-flows" / "echo", flows.FLEX)
    flows.write(pf / "src" / "promptflow" / "tests" / "prompty", flows.PROMPTY)
    flows.write(pf / ".git" / "flow.dag.yaml.orig", {"flow.dag.yaml": "nodes: []\n"})  # never scanned
    monkeypatch.setenv("PFGIT_CORPUS", str(pf))
    assert corpus_finder.locate() == pf
    found = [f.relative_to(pf).as_posix() for f in corpus_finder.flow_files(pf)]
    assert found == ["examples/flex-flows/echo/flow.flex.yaml",
                     "examples/flows/standard/if-else/flow.dag.yaml",
                     "src/promptflow/tests/prompty/chat.prompty"]
    with pytest.raises(pytest.skip.Exception, match="has no history"):
        corpus_finder.part(pf, "history")
    monkeypatch.setenv("PFGIT_CORPUS", str(tmp_path / "missing"))
    assert corpus_finder.locate() is None


# --- the flow model and validate on self-written flows -------------------------------------------

@pytest.fixture
def five(tmp_path):
    for name in ("ACCURACY", "IF_ELSE", "CLASSIFY", "FLEX", "PROMPTY"):
        flows.write(tmp_path / "f" / name.lower(), getattr(flows, name))
    return tmp_path / "f"


def test_bare_clone_flow_model_loads_every_kind(five):
    reader = DirReader(str(five), str(five))
    loaded = {loc.dir: load_flow(reader, loc) for loc in find_flows(reader, "")}
    assert {d: f.kind for d, f in loaded.items()} == {
        "accuracy": "dag", "if_else": "dag", "classify": "dag", "flex": "flex", "prompty": "prompty"}
    assert loaded["classify"].node_names() == ["clean", "summarize", "classify", "examples", "to_label"]
    assert set(loaded["classify"].node_variants["summarize"].variants) == {"variant_0", "variant_1"}
    for rel in loaded:
        assert [p for r in validate_path(reader, rel) for p in r.problems] == [], rel


# defect: (flow, file, old, new, code, node)
DEFECTS = [
    ("classify", "flow.dag.yaml", "${classify.output}", "${clasify.output}", "dangling-ref", "to_label"),
    ("classify", "flow.dag.yaml", "text: ${inputs.text}", "text: ${inputs.txt}", "unknown-input", "clean"),
    ("classify", "flow.dag.yaml", "default_variant_id: variant_0", "default_variant_id: v9",
     "unknown-default-variant", "summarize"),
    ("classify", "classify.jinja2", "{% endfor %}", "{% endfro %}", "jinja-syntax", "classify"),
    ("classify", "to_label.py", "    try:\n", "    try\n", "python-syntax", "to_label"),
    ("classify", "flow.dag.yaml", "  inputs: {}", "  inputs: []", "bad-type", "examples"),
    ("if_else", "flow.dag.yaml", "text: ${inputs.question}", "text: ${generate_result.output}",
     "cycle", "content_safety_check"),
    ("accuracy", "flow.dag.yaml", "reference: ${grade.output}", "reference: ${calculate_accuracy.output}",
     "output-aggregation-ref", None),
    ("flex", "flow.flex.yaml", "echo:reply", "echo:answer", "missing-entry-function", None),
]


@pytest.mark.parametrize("flow,file,old,new,code,node", DEFECTS, ids=[d[4] for d in DEFECTS])
def test_bare_clone_one_defect_one_problem(five, flow, file, old, new, code, node):
    edit(five / flow / file, old, new)
    probs = [p for r in validate_path(DirReader(str(five), ""), flow) for p in r.problems]
    assert [(p.code, p.node) for p in probs] == [(code, node)]
    assert probs[0].file == f"{flow}/{file}" and probs[0].line >= 1


def test_bare_clone_validate_cli_exit_codes_json_and_strict(five, capsys):
    d = five / "classify"
    assert main(["validate", str(d)]) == 0
    assert capsys.readouterr().out == "1 flow checked: no problems\n"
    edit(d / "flow.dag.yaml", "  api: chat\n- name: examples", "  api: chat\n  temprature: 0.5\n- name: examples")
    assert main(["validate", str(d)]) == 0
    assert "warning unknown-key [classify] unknown key 'temprature'" in capsys.readouterr().out
    assert main(["validate", "--strict", "--json", str(d)]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["summary"] == {"flows": 1, "errors": 0, "warnings": 1, "ok": False}
    edit(d / "flow.dag.yaml", "${classify.output}", "${clasify.output}")
    assert main(["validate", str(d)]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == "1 flow checked: 1 error, 1 warning (1 flow failed)"
    assert main(["validate", str(five / "missing")]) == 2
    assert capsys.readouterr().err == f"pfgit: {five / 'missing'}: no such file or folder\n"


@pytest.fixture
def repo(tmp_path):
    r = init_repo(str(tmp_path / "repo"))
    flows.write(os.path.join(r, "flows", "classify"), flows.CLASSIFY)
    flows.write(os.path.join(r, "flows", "if_else"), flows.IF_ELSE)
    git(r, "add", "-A")
    git(r, "commit", "-qm", "two flows")
    return r


def test_bare_clone_staged_validation_and_pre_commit_hook(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    dag = os.path.join(repo, "flows", "classify", "flow.dag.yaml")
    assert main(["validate", "--staged"]) == 0
    assert capsys.readouterr().out == "no flows found\n"
    good = read(repo, "flows/classify/flow.dag.yaml")
    edit(dag, "default_variant_id: variant_0", "default_variant_id: variant_2")
    git(repo, "add", "-A")
    write(repo, "flows/classify/flow.dag.yaml", good)       # worktree fine, index not
    assert main(["validate", "--staged"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("flows/classify/flow.dag.yaml:") and "unknown-default-variant [summarize]" in out[0]
    assert out[-1] == "1 flow checked: 1 error (1 flow failed)"    # if_else untouched: not checked
    # the plain git pre-commit hook refuses the same commit
    hook = os.path.join(repo, ".git", "hooks", "pre-commit")
    shutil.copy(os.path.join(ROOT, "hooks", "pre-commit"), hook)
    os.chmod(hook, 0o755)
    env = dict(os.environ, PFGIT_PYTHON=sys.executable, NO_COLOR="1")
    p = subprocess.run(["git", "commit", "-qm", "broken"], cwd=repo, text=True, capture_output=True, env=env)
    assert p.returncode != 0 and "unknown-default-variant [summarize]" in p.stdout + p.stderr
    edit(dag, "default_variant_id: variant_0", "default_variant_id: variant_1")  # a valid change
    git(repo, "add", "-A")
    p = subprocess.run(["git", "commit", "-qm", "fixed"], cwd=repo, text=True, capture_output=True, env=env)
    assert p.returncode == 0 and p.stdout + p.stderr == ""


# --- merge, diff on self-written flows ------------------------------------------------------------

def test_bare_clone_merge_scenarios_on_self_written_flows():
    scens = []
    for name in ("CLASSIFY", "IF_ELSE", "ACCURACY"):
        scens += scenarios_for(name.lower(), getattr(flows, name)["flow.dag.yaml"])
    assert len({s.kind for s in scens}) >= 12
    wrong = []
    for s in scens:
        r = merge_bytes(s.base.encode(), s.ours.encode(), s.theirs.encode())
        v = judge(s, r.data, not r.clean)
        if v != ("conflict (right)" if s.expect == "conflict" else "clean, right"):
            wrong.append((s.flow, s.kind, v))
    assert not wrong


def test_bare_clone_git_merge_driver_pfgit_merge_and_conflicts(tmp_path):
    base = flows.CLASSIFY["flow.dag.yaml"]
    repo = init_repo(str(tmp_path / "r"))
    write(repo, "c/flow.dag.yaml", base)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    git(repo, "checkout", "-q", "-b", "feature")
    write(repo, "c/flow.dag.yaml", base.replace("    temperature: 0\n", "    temperature: 0.7\n"))
    git(repo, "commit", "-qam", "feature: temperature")
    git(repo, "checkout", "-q", "main")
    write(repo, "c/flow.dag.yaml", base.replace("    deployment_name: gpt-35-turbo\n    temperature: 0\n",
                                                "    deployment_name: gpt-4o\n    temperature: 0\n"))
    git(repo, "commit", "-qam", "main: deployment")
    assert git(repo, "merge", "--no-edit", "feature", check=False).returncode == 1  # adjacent lines
    git(repo, "merge", "--abort")
    r = pfgit(repo, "merge", "feature")                                              # pfgit can
    assert r.returncode == 0 and "c/flow.dag.yaml: merged" in r.stdout, r.stdout + r.stderr
    node = next(n for n in yaml.safe_load(read(repo, "c/flow.dag.yaml"))["nodes"] if n["name"] == "classify")
    assert node["inputs"]["temperature"] == 0.7 and node["inputs"]["deployment_name"] == "gpt-4o"
    # with the driver installed, plain `git merge` conflicts per node; `pfgit conflicts` lists them
    assert pfgit(repo, "install").returncode == 0
    no_hooks(repo)
    git(repo, "add", ".gitattributes")
    git(repo, "commit", "-qm", "install")
    git(repo, "checkout", "-q", "-b", "x")
    write(repo, "c/flow.dag.yaml", read(repo, "c/flow.dag.yaml").replace("temperature: 0.7", "temperature: 0.1"))
    git(repo, "commit", "-qam", "x")
    git(repo, "checkout", "-q", "main")
    write(repo, "c/flow.dag.yaml", read(repo, "c/flow.dag.yaml").replace("temperature: 0.7", "temperature: 0.9"))
    git(repo, "commit", "-qam", "y")
    assert git(repo, "merge", "--no-edit", "x", check=False).returncode == 1
    assert "<<<<<<< ours" in read(repo, "c/flow.dag.yaml")
    c = pfgit(repo, "conflicts", "--json")
    assert c.returncode == 1
    [conflict] = json.loads(c.stdout)["flows"][0]["conflicts"]
    assert conflict["node"] == "classify" and conflict["path"][-1] == "temperature"


def test_bare_clone_diff_no_index_folders(tmp_path):
    a = flows.write(tmp_path / "a", flows.CLASSIFY)
    b = flows.write(tmp_path / "b", flows.CLASSIFY)
    (b / "clean.py").write_text("# replaced\n")
    edit(b / "flow.dag.yaml", "max_tokens: 256", "max_tokens: 512")
    p = pfgit(str(tmp_path), "diff", "--no-index", str(a), str(b))
    assert p.returncode == 0, p.stderr
    assert "node clean" in p.stdout and "+# replaced" in p.stdout and "512" in p.stdout


def test_bare_clone_imported_runs_keep_connection_names(tmp_path):
    from pfgit.store.pf_import import snapshot_connections

    d = flows.write(tmp_path / "classify", flows.CLASSIFY)
    assert snapshot_connections(str(d), set()) == {"classify.connection": "open_ai_connection"}
    echo = flows.write(tmp_path / "echo", {"flow.dag.yaml": (
        "inputs: {}\noutputs: {}\nnodes:\n- name: echo\n  type: python\n"
        "  source: {type: code, path: echo.py}\n  inputs:\n    connection: my_conn\n")})
    assert snapshot_connections(str(echo), {"my_conn"}) == {"echo.connection": "my_conn"}
    assert snapshot_connections(str(echo), set()) == {}      # a literal input is not a connection
    assert snapshot_connections(str(tmp_path / "no-such-run"), set()) == {}
