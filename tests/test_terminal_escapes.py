"""Escape sequences in names, messages and metrics from a pull request or a fetched run never
reach the terminal or a CI log as control codes (docs/security.md#terminal-output)."""

from __future__ import annotations

import json

from pfgit.output import neutralise
from runs_helpers import run_cli
from secure_helpers import make_flow_repo

TITLE = "\x1b]0;PWNED\x07"      # sets the terminal title
CLEAR = "\x1b[2J"               # clears the screen
HIDE = "\x1b[8m"                # conceals what follows
BIDI = "\u202e"                 # right-to-left override (Trojan Source)


def test_neutralise_keeps_our_colours_and_text_and_escapes_the_rest():
    assert neutralise("plain é, tab\tand CRLF\r\n") == "plain é, tab\tand CRLF\r\n"
    assert neutralise("\x1b[31merror\x1b[0m") == "\x1b[31merror\x1b[0m"
    out = neutralise(f"a{TITLE}b{CLEAR}{HIDE}x\ry{BIDI}\x9b")
    assert "\x1b" not in out and "\x07" not in out and "\r" not in out and BIDI not in out
    assert out == "a\\u001b]0;PWNED\\u0007b\\u001b[2J\\u001b[8mx\\u000dy\\u202e\\u009b"
    value = "k\x9b" + BIDI   # json.dumps leaves these raw: escaped, the JSON value is the same
    assert json.loads(neutralise(json.dumps(value, ensure_ascii=False))) == value


def test_commands_print_no_escape_sequence_from_a_flow_or_a_run(tmp_path, monkeypatch, capsys):
    repo = make_flow_repo(tmp_path)
    flow = (repo / "flow" / "flow.dag.yaml").read_text()
    (repo / "flow" / "flow.dag.yaml").write_text(
        flow + '- name: "bad\\e]0;PWNED\\a\\e[2J\\u202e"\n  type: python\n'
               '  source: {type: code, path: "x\\e[8m.py"}\n  inputs: {}\n')
    (tmp_path / "out.jsonl").write_text('{"line_number": 0, "y": "a"}\n')
    (tmp_path / "m.json").write_text(json.dumps({f"acc{TITLE}{CLEAR}": 1, f"n{HIDE}": 2}))
    cmds = [["validate", "flow"], ["diff"],
            ["runs", "record", "--flow", "flow", "--outputs", str(tmp_path / "out.jsonl"),
             "--metrics", str(tmp_path / "m.json"), "--name", "r1"],
            ["runs", "list"], ["runs", "show", "r1", "--metrics"], ["log", "flow", "--metric", "n" + HIDE]]
    for argv in cmds:
        code, out, err = run_cli(monkeypatch, capsys, repo, *argv)
        assert code in (0, 1), (argv, err)
        assert "\x1b" not in out + err and "\x07" not in out + err and BIDI not in out + err, argv
    code, out, _ = run_cli(monkeypatch, capsys, repo, "validate", "flow")
    assert "[bad\\u001b]0;PWNED\\u0007\\u001b[2J\\u202e]" in out   # shown, visibly
    code, out, _ = run_cli(monkeypatch, capsys, repo, "runs", "show", "r1", "--json")
    assert json.loads(out)["run"]["metrics"][f"acc{TITLE}{CLEAR}"] == 1    # JSON keeps the value


def test_help_into_a_closed_pipe_is_quiet(tmp_path):
    # `pfgit --help | head -1`, `pfgit | less` then q: the help is printed from an except
    # block that had no broken-pipe handling (a traceback on stderr)
    import subprocess
    import sys

    for argv in (["--help"], [], ["runs"]):
        p = subprocess.Popen([sys.executable, "-m", "pfgit", *argv], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, cwd=tmp_path)
        p.stdout.close()  # before pfgit writes (it takes ~0.1 s to start)
        err = p.stderr.read().decode()
        code = p.wait()   # 1 where click itself catches EPIPE (an eager --help)
        assert code in (0, 1) and "Traceback" not in err and "BrokenPipe" not in err, (argv, err)


def test_a_file_name_that_is_not_utf8_is_shown_escaped_and_left_out_of_zips(tmp_path, monkeypatch, capsys):
    # pfgit diff and export-zip were internal errors (UnicodeEncodeError) on b"\xff\xfe.py"
    import os

    from secure_helpers import git

    repo = make_flow_repo(tmp_path)
    bad = os.path.join(os.fsencode(repo / "flow"), b"\xff\xfe.py")
    with open(bad, "w") as f:
        f.write("x = 1\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "odd name")
    with open(bad, "w") as f:
        f.write("x = 2\n")
    code, out, err = run_cli(monkeypatch, capsys, repo, "diff")
    assert code == 0 and "\\udcff\\udcfe.py" in out and "+x = 2" in out, err
    code, out, err = run_cli(monkeypatch, capsys, repo, "diff", "--json")
    assert code == 0 and json.loads(out)["flows"][0]["changes"][0]["file"] == "\udcff\udcfe.py"
    code, out, err = run_cli(monkeypatch, capsys, repo, "export-zip", "flow", "-o", str(tmp_path / "f.zip"))
    assert code == 0 and "(file name is not UTF-8)" in out, err


def test_runs_stream_neutralises_a_fetched_runs_bytes_on_a_terminal_only(tmp_path, monkeypatch, capsys):
    """`runs stream` prints stored bytes: a pipe gets them exactly, a terminal gets C1 controls
    and bidi overrides (which valid JSON keeps raw) as visible escapes."""
    import sys

    repo = make_flow_repo(tmp_path)
    value = "a\x9b2J" + BIDI + "b"
    (tmp_path / "out.jsonl").write_text(json.dumps({"line_number": 0, "y": value}, ensure_ascii=False) + "\n")
    code, _, err = run_cli(monkeypatch, capsys, repo, "runs", "record", "--flow", "flow", "--outputs",
                           str(tmp_path / "out.jsonl"), "--name", "r1")
    assert code == 0, err
    code, out, _ = run_cli(monkeypatch, capsys, repo, "runs", "stream", "r1")
    assert code == 0 and json.loads(out)["y"] == value and "\x9b" in out       # a pipe: unchanged
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    code, out, _ = run_cli(monkeypatch, capsys, repo, "runs", "stream", "r1")
    assert code == 0 and "\x9b" not in out and BIDI not in out
    assert json.loads(out)["y"] == value                                      # the same JSON value
