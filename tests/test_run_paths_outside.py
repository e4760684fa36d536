"""A run.yml (and pfgit.yaml's run settings) is repository content: the paths it names must stay
inside the repository (an outside data file would be read into the run's snapshot and pushed);
the same path given on the command line is the user's choice and stays allowed. The built-in
runner likewise reads no node source, template or prompty `${file:}` outside it."""

from __future__ import annotations

import pytest

from pfgit.check.runs import _spec
from pfgit.cli.main import main
from pfgit.errors import UsageError
from pfgit.run.errors import RunError
from run_flows import BASIC, make_repo, write_jsonl

SECRET = "OUTSIDE-HOST-SECRET"


@pytest.fixture
def repo(tmp_path, monkeypatch):
    r = make_repo(tmp_path, {"flows/basic": BASIC})
    write_jsonl(r / "data.jsonl", [{"text": "a"}])
    write_jsonl(tmp_path / "outside.jsonl", [{"text": SECRET}])
    (tmp_path / "outside.env").write_text("FOO=bar\n")
    (tmp_path / "outside.json").write_text("{}")
    monkeypatch.chdir(r)
    return r


@pytest.mark.parametrize("key,value", [
    ("data", "{out}/outside.jsonl"),            # absolute
    ("data", "../outside.jsonl"),               # through ..
    ("data", "link.jsonl"),                     # a committed symlink out
    ("data", ".git/config"),                    # the git folder counts as outside
    ("flow", "../"),
    ("environment_variables", "../outside.env"),
    ("init", "../outside.json"),
])
def test_run_file_paths_outside_the_repository_are_refused(repo, capsys, key, value):
    (repo / "link.jsonl").symlink_to(repo.parent / "outside.jsonl")
    keys = {"flow": "flows/basic", "data": "data.jsonl", key: value.format(out=repo.parent)}
    (repo / "run.yml").write_text("".join(f"{k}: {v}\n" for k, v in keys.items()) + "name: rf\n")
    line = list(keys).index(key) + 1
    assert main(["run", "--file", "run.yml"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"pfgit: run.yml:{line}: '{key}' names ") and "outside the repository" in err
    assert err.count("\n") == 1 and SECRET not in err
    assert main(["runs", "list", "--json"]) == 0 and '"rf"' not in capsys.readouterr().out


def test_a_path_given_on_the_command_line_is_allowed(repo, capsys):
    (repo / "run.yml").write_text(f"flow: flows/basic\ndata: {repo.parent}/outside.jsonl\nname: rf\n")
    assert main(["run", "--file", "run.yml", "--data", str(repo.parent / "outside.jsonl")]) == 0
    (repo / "run.yml").write_text("flow: flows/basic\ndata: data.jsonl\nname: rf2\n")
    assert main(["run", "--file", "run.yml"]) == 0


def test_check_settings_through_a_symlink_out_are_refused(repo):
    (repo / "link.jsonl").symlink_to(repo.parent / "outside.jsonl")
    (repo / "ci").mkdir()
    (repo / "ci" / "run.yml").symlink_to(repo.parent / "outside.json")
    assert _spec(str(repo), "flows/basic", {"data": "data.jsonl"}).data == str(repo / "data.jsonl")
    for settings, key in (({"data": "link.jsonl"}, "data"), ({"llm_cache": ".git"}, "llm_cache"),
                          ({"environment_variables": "link.jsonl"}, "environment_variables"),
                          ("ci/run.yml", "run")):
        with pytest.raises(UsageError, match=f"'{key}' names .* outside the repository"):
            _spec(str(repo), "flows/basic", settings)
    (repo / "flows" / "out").symlink_to(repo.parent)          # pfgit.yaml's flow itself
    with pytest.raises(UsageError, match="'flow' names 'flows/out', which resolves outside"):
        _spec(str(repo), "flows/out", {})


PROMPT_OUT = """\
inputs:
  q: {type: string}
outputs:
  o: {type: string, reference: "${p.output}"}
nodes:
- name: p
  type: prompt
  source: {type: code, path: SRC}
  inputs: {q: "${inputs.q}"}
"""


@pytest.mark.parametrize("src", ["{out}/outside.txt", "link.jinja2", "../.git/config"])
def test_a_node_source_outside_the_repository_is_not_read_by_the_runner(tmp_path, src):
    # a prompt node renders its template into its output: the file would land in the snapshot
    from pfgit.run.engine.plan import build_plan
    from pfgit.run.errors import RunError

    (tmp_path / "outside.txt").write_text(SECRET)
    repo = make_repo(tmp_path, {"f": {"flow.dag.yaml": PROMPT_OUT.replace("SRC", src.format(out=tmp_path))}})
    (repo / "f" / "link.jinja2").symlink_to(tmp_path / "outside.txt")
    with pytest.raises(RunError, match="node 'p': source .* is outside the repository") as e:
        build_plan(str(repo / "f"))
    assert SECRET not in str(e.value)


def test_a_prompty_file_reference_outside_the_repository_is_not_read(tmp_path):
    from pfgit.run.engine.prompty import PromptyEngine

    (tmp_path / "outside.txt").write_text(SECRET)
    repo = make_repo(tmp_path, {"x": {"a.txt": "a"}})
    (repo / "ask.prompty").write_text(
        "---\nmodel:\n  api: chat\n  configuration: {type: openai, model: m, api_key: x}\n"
        "  parameters:\n    stop: ${file:../outside.txt}\n---\nuser:\nhi\n")
    with pytest.raises(RunError) as e:   # refused when the prompty is loaded, before any line
        PromptyEngine(str(repo), str(repo / "ask.prompty"))
    assert "is outside the repository" in e.value.one_line() and SECRET not in e.value.one_line()
