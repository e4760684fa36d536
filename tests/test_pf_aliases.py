"""promptflow's command lines with only `pf` replaced by `pfgit` (pfgit/cli/pfalias.py):
`pfgit run create|list|show|show-details|show-metrics|visualize|stream` and `pfgit flow
test|validate` do what the pfgit command they stand for does, on a repository the tests build, and
every such line of the corpus READMEs is parsed by the pfgit command it becomes."""

from __future__ import annotations

import json

import pytest

from pfgit.cli.main import main
from pfgit.cli.pfalias import is_alias, translate
from pf_readme_lines import parse_error, readme_command_lines
from run_flows import BASIC, EVAL, make_repo, write_jsonl


@pytest.fixture
def repo(tmp_path, monkeypatch, capsys):
    """Flow folders named `create` (BASIC) and `show` (EVAL): pf's subcommand words as flow paths."""
    r = make_repo(tmp_path, {"create": BASIC, "show": EVAL})
    write_jsonl(r / "data.jsonl", [{"text": "hello", "expected": "HELLO"}, {"text": "ab", "expected": "ab"}])
    monkeypatch.chdir(r)
    for n in ("basic_1", "basic_2"):
        assert main(["run", "create", "--flow", "create", "--data", "data.jsonl", "-n", n]) == 0
    assert main(["run", "--flow", "show", "--data", "data.jsonl", "--run", "basic_2", "--column-mapping",
                 "prediction=${run.outputs.shout}", "groundtruth=${data.expected}", "-n", "eval_1"]) == 0
    capsys.readouterr()
    return r


def _out(capsys, argv, code=0):
    assert main(argv) == code, argv
    return capsys.readouterr()


def test_run_create_and_flow_test_are_run_and_test(repo, capsys):
    """`run create` made the fixture's runs; a flow folder named like a pf word is just a --flow."""
    assert "basic_1" in _out(capsys, ["runs", "list"]).out
    out = _out(capsys, ["flow", "test", "--flow", "create", "--inputs", "text=hi"]).out
    assert json.loads(out[out.index("\n{") + 1:]) == {"shout": "HI", "joined": "HI HI"}
    assert _out(capsys, ["flow", "validate", "--source", "show"]).out == _out(capsys, ["validate", "show"]).out
    (repo / "show" / "flow.dag.yaml").write_text("nodes: [\n")
    assert "show/flow.dag.yaml:" in _out(capsys, ["flow", "validate", "--sou", "show"], 1).out


def test_run_list_prints_pfs_json_for_readme_scripts(repo, capsys):
    runs = json.loads(_out(capsys, ["run", "list", "-r", "10"]).out)
    assert [r["name"] for r in runs] == ["eval_1", "basic_2", "basic_1"]
    # the READMEs' `pf run list -r 10 | jq '.[] | select(.name | contains("basic_")) | .name' | head -n 1`
    assert [r["name"] for r in runs if "basic_" in r["name"]][0] == "basic_2"
    ev, b2 = runs[0], runs[1]
    assert ev["run"] == "basic_2" and "run" not in b2 and b2["display_name"] == "basic_2"
    assert b2["status"] == "Completed" and b2["created_on"].startswith("20")
    assert b2["flow_name"] == "create" and b2["properties"]["flow_path"] == str(repo / "create")
    assert b2["data"] == str(repo / "data.jsonl") and b2["pfgit"]["snapshot"] == "refs/pfgit/runs/basic_2"
    assert len(json.loads(_out(capsys, ["run", "list", "--max-results", "1"]).out)) == 1
    assert json.loads(_out(capsys, ["run", "list", "--all"]).out) == runs
    assert _out(capsys, ["run", "list", "-o", "table"]).out == _out(capsys, ["runs", "list"]).out
    assert json.loads(_out(capsys, ["run", "list", "--json"]).out)["runs"][0]["name"] == "eval_1"
    cap = _out(capsys, ["run", "list", "--include-archived"])
    assert json.loads(cap.out) == runs and "never archived: every run is listed" in cap.err
    cap = _out(capsys, ["run", "list", "--archived-only"], 2)
    assert cap.out == "" and cap.err.count("\n") == 1 and "never archived" in cap.err
    assert _out(capsys, ["run", "list", "-r", "x"], 2).err == \
        "pfgit: run list: argument -r/--max-results: invalid int value: 'x'\n"


def test_pf_run_object_from_an_odd_record():
    """A fetched run.json may hold anything: a display_name that is no string is the run's name."""
    from pfgit.index.pfview import pf_run

    row = {"name": "r", "status": "Completed", "flow": ".", "data": "/elsewhere/d.jsonl", "base_run": None,
           "start_time": "2026-01-01T00:00:00+00:00", "end_time": "2026-01-01T00:00:02.5+00:00"}
    out = pf_run(row, {"settings": {"display_name": 5, "tags": ["x"]}, "source": {"tags": {"t": "1"}}},
                 {"__pfgit__.tokens.total": 7, "__pfgit__.tokens.prompt": True, "accuracy": 1}, "/top/repo")
    assert out["display_name"] == "r" and out["tags"] == {"t": "1"} and out["flow_name"] == "repo"
    assert out["properties"] == {"flow_path": "/top/repo", "system_metrics": {"total_tokens": 7, "duration": 2.5}}
    assert out["data"] == "/elsewhere/d.jsonl" and "run" not in out


def test_show_details_metrics_stream_are_runs_show_and_stream(repo, capsys):
    same = {("run", "show", "--name", "basic_1"): ["runs", "show", "basic_1"],
            ("run", "show", "-n", "basic_1", "--json"): ["runs", "show", "basic_1", "--json"],
            ("run", "show-details", "-n", "basic_1", "-r", "1"): ["runs", "show", "basic_1", "--details", "-r", "1"],
            ("run", "show-details", "--name", "basic_1", "--all-results"): ["runs", "show", "basic_1", "--details", "-r", "0"],
            ("run", "show-metrics", "--name", "eval_1"): ["runs", "show", "eval_1", "--metrics"],
            ("run", "stream", "--name", "basic_2"): ["runs", "stream", "basic_2"]}
    for pf, pfgit in same.items():
        assert _out(capsys, list(pf)).out == _out(capsys, pfgit).out, pf
    assert json.loads(_out(capsys, ["run", "show-metrics", "-n", "eval_1"]).out) == {"accuracy": 1.0, "graded": 2}
    assert "line  inputs.text  inputs.n  outputs.shout" in _out(capsys, ["run", "show-details", "-n", "basic_1"]).out
    assert _out(capsys, ["run", "show", "-n", "nope"], 2).err == "pfgit: unknown run 'nope'\n"
    assert _out(capsys, ["run", "show"], 2).err == "pfgit: run show: the following arguments are required: -n/--name\n"


def test_visualize_writes_the_report_page_and_says_where(repo, capsys):
    cap = _out(capsys, ["run", "visualize", "--name", "basic_2"])     # `--name`: pf's --names, abbreviated
    page = repo / "pfgit-report.html"
    assert cap.err == f"wrote {page}: 1 flow\n"
    html = page.read_text()
    assert "<code>basic_1</code> vs <code>basic_2</code>" in html        # with the run before it
    assert translate(["run", "visualize", "--names", "basic_2, eval_1", "--html-path", "v.html"]) == \
        ["report", "--compare=basic_2", "--compare=eval_1", f"--output={repo / 'v.html'}", "--", "create", "show"]
    assert _out(capsys, ["run", "visualize", "--names", "basic_2,eval_1", "--html-path", "v.html"]).err == \
        f"wrote {repo / 'v.html'}: 2 flows\n"
    assert "<code>eval_1</code> vs <code>eval_1</code>" in _out_page(capsys, repo, "eval_1")  # a flow's only run
    assert "name one or two runs (got 3)" in _out(capsys, ["run", "visualize", "-n", "a,b,c"], 2).err
    assert _out(capsys, ["run", "visualize", "-n", "nope"], 2).err == "pfgit: unknown run 'nope'\n"


def _out_page(capsys, repo, name):
    _out(capsys, ["run", "visualize", "-n", name])
    return (repo / "pfgit-report.html").read_text()


def test_what_pfgit_cannot_do_is_one_line_and_help_is_unaffected(repo, capsys):
    for argv in (["run", "archive", "-n", "basic_1"], ["run", "update", "-n", "x", "--set", "a=b"],
                 ["flow", "serve", "--source", "."], ["run", "delete", "-n", "x"]):
        cap = _out(capsys, argv, 2)
        assert cap.out == "" and cap.err.count("\n") == 1 and "has no pfgit equivalent" in cap.err, argv
    assert _out(capsys, ["flow", "test", "--flow", "create", "--ui"], 2).err == \
        "pfgit: pfgit has no chat window (pf flow test --ui): chat in the terminal with pfgit test --interactive\n"
    assert "pfgit run create" in _out(capsys, ["flow"]).out
    assert "= pfgit runs show NAME --details" in _out(capsys, ["run", "show-details", "--help"]).out
    assert "--column-mapping" in _out(capsys, ["run", "--help"]).out
    assert "--column-mapping" in _out(capsys, ["run", "create", "--help"]).out
    assert "stream" in _out(capsys, ["runs", "--help"]).out
    assert "--verbose: ignored" in _out(capsys, ["run", "show", "-n", "basic_1", "--verbose"]).err
    assert "Traceback" not in _out(capsys, ["--debug", "run", "show", "-n", "basic_1"]).err


def test_only_the_word_after_run_or_flow_is_an_alias():
    assert is_alias(["run", "show", "-n", "x"]) and is_alias(["--debug", "flow", "test"])
    assert not is_alias(["run", "--flow", "show"]) and not is_alias(["run"]) and not is_alias(["runs", "show"])
    assert not is_alias(["run", "--help"]) and not is_alias(["test", "--flow", "create"])
    assert translate(["--debug", "run", "create", "--flow", "create"]) == ["--debug", "run", "--flow", "create"]
    assert translate(["run", "show", "-d", "--name=-x"]) == ["--debug", "runs", "show", "--", "-x"]
    assert translate(["flow", "validate", "--source=-odd"]) == ["validate", "--", "-odd"]
    assert translate(["run", "list"]) == ["runs", "list", "-r", "50", "--format", "pf"]
    assert translate(["flow", "test", "--flow", ".", "-d", "--user-agent", "vscode", "--verbose", "--", "-d"]) == \
        ["--debug", "test", "--flow", ".", "--", "-d"]


def test_flow_validate_keeps_the_light_entry(repo):
    """`pfgit flow validate` is rewritten without typer, so it stays as fast as `pfgit validate`."""
    import subprocess
    import sys

    code = ("import sys; from pfgit.cli.main import main; c = main(['flow', 'validate', '--source', 'show']); "
            "print(c, 'typer' in sys.modules, 'click' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-1] == "0 False False"


class _Runs:            # visualize's lookup, for parsing without a repository
    def flow_of(self, name):
        return "flows/x"

    def previous(self, name):
        return None


def test_every_pf_run_and_flow_line_of_the_corpus_readmes_parses(corpus):
    """Parsing only: each line becomes a pfgit command line its click command accepts."""
    import typer

    from pfgit.cli import cmd_report, cmd_run, cmd_runs
    from pfgit.cli.main import _long_options, make_app

    app = make_app()
    for m in (cmd_run, cmd_runs, cmd_report):
        m.register(app)
    group = typer.main.get_command(app)
    seen, n = set(), 0
    pattern = r"(?:run (?:list|show-details|show-metrics|show|visualize|stream)|flow (?:test|validate))\b"
    for md, sub, rest in readme_command_lines(corpus, pattern):
        words = sub.split() + rest
        args = translate(words, _Runs())
        if args[0] == "validate":           # the light entry: its path only
            assert args[1:3] == ["--", words[words.index("--source") + 1]]
            continue
        args = cmd_run.rewrite_argv(args, _long_options(group, args)) if args[0] in ("run", "test") else args
        err = parse_error(group, args)
        if err:                             # an option pfgit does not take
            pytest.fail(f"{md.relative_to(corpus)}: pfgit {' '.join(words)}: {err}")
        seen.add(sub)
        n += 1
    assert n >= 200 and seen >= {"run list", "run show", "run show-details", "run show-metrics", "run visualize", "flow test"}
