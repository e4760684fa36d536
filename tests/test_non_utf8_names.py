"""A flow folder whose name is not UTF-8 (git allows any bytes; a pull request can add one): the
commands that record or look up flows by path say so in one line, the ones over every flow skip
it with a warning (they were internal errors, `pfgit report` and `pfgit check` for every flow)."""

from __future__ import annotations

import os
import shutil

from runs_helpers import git, make_repo, run_cli

MSG = "pfgit: flows/acc\\udce9: the folder's name is not UTF-8; pfgit records and looks up flows by UTF-8 paths: rename it"


def test_a_flow_folder_named_outside_utf8_is_refused_or_skipped_in_one_line(tmp_path, monkeypatch, capsys):
    repo = make_repo(tmp_path)
    git(repo, "branch", "base")
    bad = os.fsdecode(b"flows/acc\xe9")
    shutil.copytree(repo / "flows" / "acc", repo / bad)
    (repo / "out.jsonl").write_text('{"grade": "Correct"}\n')
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "a flow folder named in Latin-1")
    for argv in (["log", bad], ["blame", bad], ["runs", "list", "--flow", bad],
                 ["runs", "record", "--flow", bad, "--outputs", "out.jsonl"],
                 ["export-zip", bad, "-o", str(tmp_path / "x.zip")],
                 ["check", "--baseline", "base", "--metric", "accuracy", "--min", "0"]):
        code, _, err = run_cli(monkeypatch, capsys, repo, *argv)
        assert (code, err.splitlines()[-1:]) == (2, [MSG]), argv
    warning = "pfgit: warning: flows/acc\\udce9: flow skipped: its folder's name is not UTF-8"
    for argv in (["log"], ["report", "-o", str(tmp_path / "r.html")]):
        code, out, err = run_cli(monkeypatch, capsys, repo, *argv)
        assert code == 0 and warning in err.splitlines() and "internal error" not in err, argv
