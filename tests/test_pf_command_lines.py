"""promptflow command lines work unchanged with `pf run create` -> `pfgit run` and `pf flow test`
-> `pfgit test`: argparse's abbreviations (`--env`), `--environment-variables` with no value
(the .env found from here up) or several .env files, `--inputs FILE`, `-n`, `--stream`, `--set`,
and `--flow module:function`. Checked on flows the tests write, and every such command line in
the corpus READMEs is parsed."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from pfgit.cli.main import main
from pfgit.run.argv import environment_option, expand_abbreviations, expand_multi
from pfgit.run.errors import RunError
from pfgit.run.runfile import apply_set
from pfgit.run.spec import RunSpec
from pf_readme_lines import parse_error, readme_command_lines
from run_flows import git, make_repo, write_jsonl

ENVFLOW = {
    "flow.dag.yaml": "inputs:\n  text: {type: string}\noutputs:\n  o: {type: string, reference: '${f.output}'}\n"
                     "nodes:\n- name: f\n  type: python\n  source: {type: code, path: f.py}\n"
                     "  inputs: {text: '${inputs.text}'}\n",
    "f.py": "import os\nfrom promptflow.core import tool\n\n\n@tool\ndef f(text: str) -> str:\n"
            "    print('saw', text)\n    return text + '/' + os.environ.get('GREETING', '-')\n",
}


@pytest.fixture
def repo(tmp_path, monkeypatch):
    r = make_repo(tmp_path, {"flows/env": ENVFLOW})
    write_jsonl(r / "data.jsonl", [{"text": "a"}, {"text": "b"}])
    (r / "in.json").write_text('{"text": "from-file"}')
    monkeypatch.chdir(r)
    return r


LONGS = ["--flow", "--data", "--environment-variables", "--engine", "--name", "--inputs", "--inputs-file"]


def test_abbreviations_as_argparse_takes_them():
    a = expand_abbreviations
    assert a(["run", "--env", "A=1"], LONGS) == ["run", "--environment-variables", "A=1"]
    assert a(["--env=A=1", "--fl", "x"], LONGS) == ["--environment-variables=A=1", "--flow", "x"]
    assert a(["--en", "x"], LONGS) == ["--en", "x"]                  # --engine or --environment-...
    assert a(["--inputs", "k=v"], LONGS) == ["--inputs", "k=v"]      # exact beats a longer one
    assert a(["--", "--env"], LONGS) == ["--", "--env"]
    assert a(["--nope", "-n", "x"], LONGS) == ["--nope", "-n", "x"]


def test_environment_variables_without_a_value_is_the_default_dotenv():
    assert expand_multi(["--environment-variables", "--flow", "f"]) == ["--environment-variables=", "--flow", "f"]
    assert expand_multi(["--flow", "f", "--environment-variables"]) == ["--flow", "f", "--environment-variables="]
    assert expand_multi(["--environment-variables", "A=1", "B=2"]) == \
        ["--environment-variables", "A=1", "--environment-variables", "B=2"]


def test_environment_option_reads_files_and_pairs_in_order(repo, tmp_path):
    (repo / ".env").write_text("GREETING=top\nX=1\n")
    (repo / "flows/env/a.env").write_text("GREETING=a\n")
    sub = repo / "flows/env"
    assert environment_option([""], str(sub)) == str(repo / ".env")          # found above
    (tmp_path / ".env").write_text("OUTSIDE=1\n")                           # above the repository
    (repo / ".env").unlink()
    assert environment_option([""], str(sub)) == {}                          # never read from there
    assert environment_option(["flows/env/a.env", "GREETING=b"], str(repo)) == {"GREETING": "b"}
    assert environment_option(["GREETING=b", "flows/env/a.env"], str(repo)) == {"GREETING": "a"}
    with pytest.raises(RunError, match="expects KEY=VALUE or a .env file"):
        environment_option(["oops"], str(repo))
    with pytest.raises(RunError, match="file not found"):
        environment_option(["missing.env"], str(repo))


def test_set_fields_like_pf():
    spec = RunSpec(flow="f", tags={"a": "1"}, connections={"chat": {"connection": "c"}})
    out, notes = apply_set(spec, ["display_name=Nice run", "tags.team=qa", "connections.chat.deployment_name=gpt",
                                  "environment_variables.K=v", "resources.instance_type=x"])
    assert out.display_name == "Nice run" and out.tags == {"a": "1", "team": "qa"}
    assert out.connections == {"chat": {"connection": "c", "deployment_name": "gpt"}}
    assert out.environment_variables == {"K": "v"} and spec.tags == {"a": "1"}   # the spec itself unchanged
    assert notes == ["--set resources.instance_type: 'resources' is cloud-only: ignored by local runs"]
    for bad in ("flow=elsewhere", "tags=x", "nothing"):
        with pytest.raises(RunError):
            apply_set(spec, [bad])


def test_pf_flow_test_spellings(repo, capsys):
    (repo / ".env").write_text("GREETING=hello\n")
    assert main(["test", "--flow", "flows/env", "--env", "--inputs", "in.json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out[out.index("\n{") + 1:]) == {"o": "from-file/hello"}
    assert main(["test", "--flow", "flows/env", "--inputs", "text=x", "--env", "GREETING=hi"]) == 0
    assert '"o": "x/hi"' in capsys.readouterr().out


def test_a_pair_without_its_equals_sign_is_named_as_such(repo, capsys):
    # was "pfgit: textx: No such file or directory": a lone word is taken for a JSON file's name
    for argv in (["test", "--flow", "flows/env", "--inputs", "textx"],
                 ["run", "--flow", "flows/env", "--data", "data.jsonl", "--init", "prefix"]):
        assert main(argv) == 2
        word = argv[-1]
        assert capsys.readouterr().err == (f"pfgit: {argv[-2]} takes KEY=VALUE pairs or a JSON file: "
                                           f"'{word}' is neither\n")


def test_pf_run_create_spellings_and_stream(repo, capsys):
    code = main(["run", "--flow", "flows/env", "--data", "data.jsonl", "--column-mapping", "text=${data.text}",
                 "--stream", "-n", "r1", "--env", "GREETING=yo", "--set", "display_name=First", "tags.k=v"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "saw a" in out and "saw b" in out                                   # what the tool printed
    assert '[line 0] Completed: {"o": "a/yo"}' in out and "Finished 2 / 2 lines." in out
    assert "run r1: Completed (2/2 lines" in out
    assert main(["runs", "show", "r1", "--json"]) == 0
    settings = json.loads(capsys.readouterr().out)["settings"]["settings"]
    assert settings["display_name"] == "First" and settings["tags"] == {"k": "v"}
    assert main(["run", "--flow", "flows/env", "--data", "data.jsonl", "--stream", "--name", "r2", "--json"]) == 0
    cap = capsys.readouterr()
    assert json.loads(cap.out)["status"] == "Completed"                        # stdout: only the JSON
    assert "[line 1] Completed" in cap.err


def test_flow_given_as_module_function(repo, capsys):
    (repo / "code").mkdir()
    (repo / "code/prog.py").write_text("def hello(text: str = 'w'):\n    return {'answer': 'hi ' + text}\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "code")
    import os

    os.chdir(repo / "code")
    assert main(["test", "--flow", "prog:hello", "--inputs", "text=you"]) == 0
    assert json.loads(capsys.readouterr().out) == {"answer": "hi you"}
    assert git(repo, "status", "--porcelain", "--ignored") == ""                # nothing written
    assert main(["test", "--flow", "nosuch:fn"]) == 2
    assert "flow not found" in capsys.readouterr().err


def _entry_repo(repo):
    (repo / "code").mkdir()
    (repo / "code/prog.py").write_text("def hello(text: str):\n    return {'answer': 'hi ' + text}\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "code")
    return git(repo, "rev-parse", "HEAD").strip()


def test_run_of_a_flow_given_as_module_function(repo, capsys, monkeypatch):
    """`pf run create --flow module:function --data ...` (promptflow's chat-minimal README): the
    run's snapshot holds the flow.flex.yaml promptflow would write, its commit the repository's."""
    head = _entry_repo(repo)
    monkeypatch.chdir(repo / "code")
    assert main(["run", "--flow", "prog:hello", "--data", "../data.jsonl", "-n", "e1", "--json"]) == 0
    cap = capsys.readouterr()
    out = json.loads(cap.out)
    assert out["status"] == "Completed" and out["lines"]["completed"] == 2
    assert "generated flow.flex.yaml ('entry: prog:hello'" in cap.err and head[:12] in cap.err
    assert git(repo, "status", "--porcelain", "--ignored") == ""                # nothing written
    run = json.loads(git(repo, "show", "refs/pfgit/runs/e1:run.json"))
    assert run["flow"]["path"] == "code" and run["flow"]["commit"] == head
    assert run["flow"]["generated"] == ["flow.flex.yaml"] and not run["flow"]["dirty"]
    assert git(repo, "show", "refs/pfgit/runs/e1:flow/flow.flex.yaml").strip() == "entry: prog:hello"
    assert git(repo, "show", "refs/pfgit/runs/e1:flow/prog.py").startswith("def hello")
    assert git(repo, "rev-parse", "refs/pfgit/runs/e1^1").strip() == head           # parent: the commit
    assert git(repo, "ls-tree", "--name-only", f"{head}:code").split() == ["prog.py"]   # which lacks it
    assert main(["runs", "show", "e1"]) == 0
    assert "with flow.flex.yaml generated by the run: not in the commit" in capsys.readouterr().out
    # from another folder, as FOLDER/module:function; --resume-from rebuilds the generated file
    monkeypatch.chdir(repo)
    assert main(["run", "--flow", "code/prog:hello", "--data", "data.jsonl", "-n", "e2"]) == 0
    assert json.loads(git(repo, "show", "refs/pfgit/runs/e2:run.json"))["flow"]["tree"] == run["flow"]["tree"]
    assert main(["run", "--resume-from", "e2", "-n", "e3"]) == 0
    assert json.loads(git(repo, "show", "refs/pfgit/runs/e3:run.json"))["flow"]["generated"] == ["flow.flex.yaml"]
    capsys.readouterr()


def test_an_interrupted_module_function_run_resumes_from_another_folder(repo, capsys, monkeypatch):
    _entry_repo(repo)
    monkeypatch.chdir(repo / "code")
    monkeypatch.setenv("PFGIT_TEST_INTERRUPT_AFTER", "1")
    assert main(["run", "--flow", "prog:hello", "--data", "../data.jsonl", "-n", "e1", "--workers", "1"]) != 0
    monkeypatch.delenv("PFGIT_TEST_INTERRUPT_AFTER")
    monkeypatch.chdir(repo)
    assert main(["run", "--resume", "e1"]) == 0
    assert git(repo, "show", "refs/pfgit/runs/e1:flow/flow.flex.yaml").strip() == "entry: prog:hello"
    capsys.readouterr()


def test_a_module_function_run_ignores_the_folder_flow_file_as_promptflow_does(repo, capsys, monkeypatch):
    _entry_repo(repo)
    (repo / "code/flow.flex.yaml").write_text("entry: prog:other\n")
    monkeypatch.chdir(repo / "code")
    assert main(["run", "--flow", "prog:hello", "--data", "../data.jsonl", "-n", "e1"]) == 0
    assert "flow.flex.yaml in this folder is not used" in capsys.readouterr().err
    assert git(repo, "show", "refs/pfgit/runs/e1:flow/flow.flex.yaml").strip() == "entry: prog:hello"
    assert (repo / "code/flow.flex.yaml").read_text() == "entry: prog:other\n"   # untouched


_WORDS = {"run create": ["run"], "flow test": ["test"], "connection create": ["connection", "create"],
          "connection show": ["connection", "show"], "connection delete": ["connection", "delete"]}


def _readme_command_lines(corpus):
    """(README, pfgit argv) for every `pf run create`, `pf flow test` and `pf connection
    create|show|delete` line of the corpus READMEs."""
    for md, sub, words in readme_command_lines(
            corpus, r"run create|flow test|connection create|connection show|connection delete"):
        yield md, _WORDS[sub] + words


def test_every_pf_command_line_of_the_corpus_readmes_parses(corpus):
    """Parsing only (the click command, nothing runs): no option promptflow takes is unknown."""
    import typer

    from pfgit.cli import cmd_connection, cmd_run
    from pfgit.cli.main import _long_options, make_app

    app = make_app()
    cmd_run.register(app)
    cmd_connection.register(app)
    group = typer.main.get_command(app)
    seen = 0
    for md, argv in _readme_command_lines(corpus):
        module = cmd_connection if argv[0] == "connection" else cmd_run
        err = parse_error(group, module.rewrite_argv(argv, _long_options(group, argv)))
        if err:                             # an option pfgit does not take
            pytest.fail(f"{md.relative_to(corpus)}: pfgit {' '.join(argv)}: {err}")
        seen += 1
    assert seen >= 150


def test_pf_connection_spellings(tmp_path, monkeypatch, capsys):
    """`pf connection create --file F --set k=v k2=v2 --name N`, `show --name N`, `delete -n N`."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    (tmp_path / "aoai.yml").write_text("name: x\ntype: azure_open_ai\napi_key: '<key>'\napi_base: '<base>'\n"
                                       "api_type: azure\napi_version: '2024-02-01'\n")
    assert main(["connection", "create", "--file", str(tmp_path / "aoai.yml"), "--set", "api_key=sk-123456789",
                 "api_base=https://example.test", "--name", "open_ai_connection"]) == 0
    capsys.readouterr()
    assert main(["connection", "show", "--name", "open_ai_connection", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["api_base"] == "https://example.test" and "sk-123456789" not in json.dumps(shown)
    assert main(["connection", "show", "open_ai_connection", "--name", "other"]) == 2
    assert "NAME or --name NAME" in capsys.readouterr().err
    assert main(["connection", "delete", "-n", "open_ai_connection"]) == 0


def test_a_flow_at_the_repository_top_names_its_runs_after_the_folder(tmp_path, monkeypatch, capsys):
    repo = make_repo(tmp_path, {".": ENVFLOW})
    write_jsonl(repo / "data.jsonl", [{"text": "a"}])
    monkeypatch.chdir(repo)
    assert main(["run", "--flow", ".", "--data", "data.jsonl", "--json"]) == 0
    assert re.fullmatch(r"repo_variant_0_\d{8}_\d{6}_\d{6}", json.loads(capsys.readouterr().out)["name"])


def test_default_dotenv_stays_in_the_repository(repo, tmp_path):
    """Outside any repository only the current folder's .env is read (climbing read /tmp/.env,
    anyone's file); a repository's .env symlinked outside it is refused, not read."""
    (tmp_path / ".env").write_text("PLANTED=1\n")
    away = tmp_path / "not-a-repo" / "sub"
    away.mkdir(parents=True)
    assert environment_option([""], str(away)) == {}
    (away / ".env").write_text("MINE=1\n")
    assert environment_option([""], str(away)) == str(away / ".env")
    (repo / ".env").symlink_to(tmp_path / ".env")
    with pytest.raises(RunError, match="outside the repository"):
        environment_option([""], str(repo / "flows/env"))


def test_stream_keeps_sys_stdout_usable_by_tools(repo, capsys):
    """Under --stream tools print into a tee: it had no isatty(), encoding or buffer, so a tool
    asking (logging set-ups, progress bars, binary prints) failed only with --stream. Escapes in
    the bytes are neutralised on the console as in the text."""
    (repo / "flows/env/f.py").write_text(
        "import sys\nfrom promptflow.core import tool\n\n\n@tool\ndef f(text: str) -> str:\n"
        "    assert not sys.stdout.isatty() and sys.stdout.encoding\n"
        "    sys.stdout.buffer.write(b'raw \\x1b]0;title\\x07 ' + text.encode() + b'\\n')\n"
        "    return text\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "bytes")
    assert main(["run", "--flow", "flows/env", "--data", "data.jsonl", "--stream", "-n", "b1"]) == 0
    out = capsys.readouterr().out
    assert "raw \\u001b]0;title\\u0007 a" in out and "\x1b" not in out
    assert "Finished 2 / 2 lines." in out
