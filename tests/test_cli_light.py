"""`pfgit log` runs through a light entry (no typer import): same options, output and exit codes
as the typer command it shadows, which `pfgit --help` lists and embedding apps run."""

import json

import pytest

from pfgit.cli.main import COMMANDS, LIGHT, _register, make_app
from pfgit.index.logcmd import parse_args
from runs_helpers import make_repo, run_cli
from test_runs_cli import _record


def _typer(monkeypatch, capsys, cwd, *argv):
    app = make_app()
    _register(app, list(argv))
    monkeypatch.chdir(cwd)
    capsys.readouterr()
    try:
        code = app(args=list(argv), prog_name="pfgit", standalone_mode=False) or 0
    except SystemExit as e:  # typer.Exit(n) from the command
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def repo(tmp_path):
    return make_repo(tmp_path)


# (argv, what the output must show): checked on its own, not only against the typer command,
# which runs the same run_log (comparing the two alone would pass whatever run_log printed)
PARITY = [
    (["log"], lambda out, c: out.count("commit ") == 2 and "r1" in out and "r2" in out),
    (["log", "flows/acc", "--metric", "accuracy"],
     lambda out, c: "accuracy=0.75" in out and "accuracy=0.5" in out),
    (["log", "--metric=accuracy", "-n", "1"],
     lambda out, c: out.count("commit ") == 1 and "accuracy=0.75" in out and "accuracy=0.5" not in out),
    (["log", "--json", "--max-count=1"],
     lambda out, c: [x["commit"] for x in json.loads(out)["flows"][0]["commits"]] == [c[1]]),
    (["log", "-n1", "--rev", "HEAD~1", "--json"],
     lambda out, c: [x["commit"] for x in json.loads(out)["flows"][0]["commits"]] == [c[0]]),
]


@pytest.mark.parametrize("argv, shows", PARITY, ids=[" ".join(a) for a, _ in PARITY])
def test_light_log_prints_what_the_typer_command_prints(repo, tmp_path, monkeypatch, capsys, argv, shows):
    from runs_helpers import commit_change, git

    c1 = git(repo, "rev-parse", "HEAD")
    _record(monkeypatch, capsys, repo, tmp_path, "r1", 0.5)
    c2 = commit_change(repo, "flows/acc/grade.py", "# v2\n", "v2")
    _record(monkeypatch, capsys, repo, tmp_path, "r2", 0.75)
    light = run_cli(monkeypatch, capsys, repo, *argv)
    heavy = _typer(monkeypatch, capsys, repo, *argv)
    assert light[0] == heavy[0] == 0
    assert light[1] == heavy[1]
    assert shows(light[1], (c1, c2)), light[1]
    if "--json" in argv:
        assert json.loads(light[1])["flows"][0]["path"] == "flows/acc"


@pytest.mark.parametrize("argv, msg", [
    (["log", "--bogus"], "no such option: --bogus"),
    (["log", "a", "b"], "unexpected extra argument (b)"),
    (["log", "-n", "x"], "'x' is not a valid integer"),
    (["log", "--metric"], "requires an argument"),
    (["log", "--rev", "nope"], "unknown revision 'nope'"),
])
def test_light_log_usage_errors_are_one_line_exit_2(repo, monkeypatch, capsys, argv, msg):
    code, out, err = run_cli(monkeypatch, capsys, repo, *argv)
    assert code == 2 and msg in err and len(err.strip().splitlines()) == 1
    assert err.startswith("pfgit: ")


def test_light_log_help_and_registry(repo, monkeypatch, capsys):
    code, out, _ = run_cli(monkeypatch, capsys, repo, "log", "--help")
    assert code == 0 and out.startswith("Usage: pfgit log")
    assert parse_args(["--", "-weird-dir"])["path"] == "-weird-dir"
    assert set(LIGHT) <= set(COMMANDS)
