"""What a new user meets first: --version, help without a command, help text, typos in options and
commands, a PATH without a flow, an unknown --metric, and docs/cli.md listing every option."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys

import pytest

import flows
from pfgit import __version__
from pfgit.cli.main import COMMAND_MODULES, main, make_app
from runs_helpers import git, make_repo, run_cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "cli.md")


def _tree():
    """The whole click command tree, as `pfgit --help` builds it, restyled."""
    import typer

    from pfgit.cli.style import restyle

    app = make_app()
    for name in COMMAND_MODULES:
        importlib.import_module(f"pfgit.cli.cmd_{name}").register(app)
    cmd = typer.main.get_command(app)
    restyle(cmd)
    return cmd


def _walk(cmd, path=("pfgit",), parent=None):
    """(path, command, context) of every command a user sees (git's drivers are hidden); each
    context has its parents', so settings such as `-h` are inherited as when pfgit runs."""
    ctx = cmd.make_context(path[-1], [], parent=parent, resilient_parsing=True)
    yield path, cmd, ctx
    for name, sub in getattr(cmd, "commands", {}).items():
        if not sub.hidden:
            yield from _walk(sub, path + (name,), ctx)


def _help(path) -> str:
    return next(c.get_help() for p, _, c in _walk(_tree()) if p == tuple(path))


def test_version_flag(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"pfgit {__version__}\n"
    p = subprocess.run([sys.executable, "-m", "pfgit", "--debug", "--version"], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout == f"pfgit {__version__}\n" and p.stderr == ""
    assert "--version" in _help(("pfgit",))


@pytest.mark.parametrize("argv", [[], ["runs"], ["metrics"], ["index"]])
def test_no_command_prints_help_and_exits_0(capsys, argv):
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"Usage: {' '.join(['pfgit', *argv])} [OPTIONS] COMMAND [ARGS]...\n")
    assert "Commands:\n" in out and err == ""


def test_help_wraps_cleanly_with_real_metavars():
    for path, _, ctx in _walk(_tree()):
        text = ctx.get_help()
        assert text.startswith(f"Usage: {' '.join(path)} "), path
        # the usage line and the terms of the Arguments/Options lists (not their descriptions)
        terms = [text.splitlines()[0]] + [ln.strip().split("  ")[0] for ln in text.splitlines()
                                          if re.match(r"  \S", ln) and not ln.startswith("  Usage")]
        for bad in ("{", "<str>", "<int>", "<float>", "<path>", "TEXT", "INTEGER"):
            assert not any(bad in t for t in terms), (path, bad, terms)
        for line in text.splitlines():
            assert len(line) <= 80, (path, line)
            assert not re.search(r"\w-$", line), (path, line)   # never `--no-` / `index`
    merge = _help(("pfgit", "merge"))
    assert merge.startswith("Usage: pfgit merge [OPTIONS] BRANCH\n") and "-m, --message MSG" in merge


def test_command_lists_show_whole_first_sentences():
    """click cuts a command's line in `pfgit runs --help` at its first '.': 'Rename a run (e.g.'
    was all `runs rename` said there."""
    for path, cmd, _ in _walk(_tree()):
        short = cmd.get_short_help_str(limit=1000)
        assert short.count("(") == short.count(")") and not short.endswith(("e.g.", "i.e.")), (path, short)


def test_light_entries_print_the_same_help_as_the_cli(capsys):
    from pfgit.index import logcmd
    from pfgit.validate import command

    for word, light in (("validate", command), ("log", logcmd)):
        assert light.main(["--help"]) == 0
        assert capsys.readouterr().out == _help(("pfgit", word)) + "\n", word


@pytest.mark.parametrize("argv, err", [
    (["diff", "--jsno"], "pfgit: no such option: --jsno (did you mean --json?)\n"),
    (["runs", "show", "--detials", "x"], "pfgit: no such option: --detials (did you mean --details"),
    (["validate", "--strcit"], "pfgit: no such option: --strcit (did you mean --strict?)\n"),
    (["log", "--metirc", "x"], "pfgit: no such option: --metirc (did you mean --metric?)\n"),
    (["--debgu"], "pfgit: no such option: --debgu (did you mean --debug?)\n"),
    (["lgo"], "pfgit: no such command: lgo (did you mean log?)\n"),
    (["runs", "lsit"], "pfgit: no such command: lsit (did you mean list?)\n"),
    (["diff", "--zzzzzz"], "pfgit: no such option: --zzzzzz\n"),
])
def test_unknown_option_suggests_the_near_ones(tmp_path, monkeypatch, capsys, argv, err):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    out, got = capsys.readouterr()
    assert got.startswith(err) and got.count("\n") == 1 and out == ""
    if argv[0] == "validate":  # the hooks' entry words it the same
        p = subprocess.run([sys.executable, "-m", "pfgit.validate", *argv[1:]], capture_output=True,
                           text=True, cwd=tmp_path)
        assert (p.returncode, p.stderr) == (2, err)


def _reference() -> str:
    """docs/cli.md's table of every command and option, as the CLI defines them."""
    from pfgit.cli.cmd_merge import _MERGE_FILE_USAGE

    rows = ["| command | options |", "|---|---|"]
    for path, cmd, ctx in _walk(_tree()):
        opts = []
        for p in cmd.params:
            if p.param_type_name != "option" or p.hidden or "--help" in p.opts:
                continue
            names = ", ".join(sorted(p.opts, key=lambda o: (o.startswith("--"), o)) + p.secondary_opts)
            opts.append(f"`{names}{'' if p.is_flag or p.count else ' ' + p.metavar}`")
        if path == ("pfgit", "merge-file"):  # parsed by hand, like git merge-file's
            opts = [f"`{o}`" for o in re.findall(r"\[(-[^\]]+)\]", _MERGE_FILE_USAGE)]
        usage = " ".join(cmd.collect_usage_pieces(ctx))
        rows.append(f"| `{' '.join(path)} {usage}` | {', '.join(opts)} |")
    return "\n".join(rows)


def test_docs_cli_lists_every_option():
    text = open(DOC, encoding="utf-8").read()
    start = text.index("<!-- options table: begin -->\n") + len("<!-- options table: begin -->\n")
    end = text.index("<!-- options table: end -->")
    assert text[start:end].strip() == _reference(), (
        "docs/cli.md's options table is out of date; replace it with:\n" + _reference())


def test_validate_path_without_a_flow_is_exit_2(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["validate", str(tmp_path / "empty")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"pfgit: {tmp_path / 'empty'}: no flow here (")
    (tmp_path / "notes.py").write_text("x = 1\n")  # a file outside any flow: skipped (pre-commit)
    assert main(["validate", str(tmp_path / "notes.py")]) == 0
    flows.write(tmp_path / "empty" / "f", flows.FLEX)
    assert main(["validate", str(tmp_path / "empty")]) == 0


def test_log_path_without_a_flow_is_exit_2_and_writes_no_index(tmp_path, monkeypatch, capsys):
    repo = make_repo(tmp_path)
    (repo / "docs").mkdir()
    (repo / "docs" / "a.md").write_text("a\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "docs")
    for path in ("docs", "docs/a.md"):
        code, out, err = run_cli(monkeypatch, capsys, repo, "log", path)
        assert code == 2 and out == "" and err.startswith(f"pfgit: {path}: no flow here (")
    assert not (repo / ".git" / "pfgit").exists()
    assert run_cli(monkeypatch, capsys, repo, "log", "flows/acc")[0] == 0


def test_unknown_metric_lists_the_known_ones(tmp_path, monkeypatch, capsys):
    from test_runs_cli import _record

    repo = make_repo(tmp_path)
    _record(monkeypatch, capsys, repo, tmp_path, "r1", 0.5)
    code, out, err = run_cli(monkeypatch, capsys, repo, "log", "flows/acc", "--metric", "acuracy")
    assert code == 2 and out == ""
    assert err == "pfgit: unknown metric 'acuracy' (known: accuracy, n)\n"
    code, out, _ = run_cli(monkeypatch, capsys, repo, "log", "flows/acc", "--metric", "accuracy", "--json")
    assert code == 0 and json.loads(out)["flows"][0]["commits"][0]["runs"][0]["name"] == "r1"


@pytest.mark.slow
def test_demo_resolves_its_conflict_on_screen_and_shares_runs_between_clones(tmp_path):
    env = dict(os.environ, PFGIT_DEMO_DIR=str(tmp_path / "demo"),
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    # the whole demo, as `make demo` runs it (its steps build on each other's edits)
    p = subprocess.run([sys.executable, os.path.join(ROOT, "demo", "demo.py")], env=env, text=True,
                       capture_output=True, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    out = p.stdout
    resolved = out[out.index("$ git checkout --theirs -- qa/flow.dag.yaml"):]
    assert resolved.index("$ pfgit conflicts\nno conflicts\n") < resolved.index("Merge branch 'formal'")
    assert "~ inputs.style: casual -> formal" in resolved
    shared = out[out.index("== Share runs between clones"):]
    assert "pfgit runs list\nno runs\n" in shared                      # a clone has no runs yet
    assert "fetched 4 ref(s) from origin" in shared          # two runs and their evaluations
    assert "pushed 2 ref(s) to origin" in shared
    assert "$ pfgit log qa --metric accuracy -n 1\ncommit " in shared
    assert "    qa-v2-teammate  Completed  4/4  accuracy=0.75\n" in shared
    assert "Traceback" not in out + p.stderr and "Warning" not in out + p.stderr
