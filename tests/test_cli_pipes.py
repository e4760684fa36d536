"""Where the CLI's output goes wrong: help meeting a closed pipe (`pfgit --help | head -1`: exit 0,
nothing on stderr, like `pfgit | head` and git), an output file that cannot be written."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize("argv", [["--help"], ["runs", "list", "-h"], [], ["validate", "--help"]])
def test_help_into_a_closed_pipe_exits_0_quietly(tmp_path, argv):
    r, w = os.pipe()
    os.close(r)  # the reader left before pfgit writes a byte
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    p = subprocess.run([sys.executable, "-m", "pfgit", *argv], stdout=w, stderr=subprocess.PIPE,
                       cwd=tmp_path, env=env)
    os.close(w)
    assert (p.returncode, p.stderr.decode()) == (0, "")


def test_an_output_file_in_a_missing_folder_or_a_folder_is_a_usage_error(tmp_path, monkeypatch, capsys):
    # `-o FILE` / `--markdown FILE` that cannot be written: one line naming it (was an internal error)
    from runs_helpers import make_repo, run_cli

    repo = make_repo(tmp_path)
    (repo / "adir").mkdir()
    for argv, where, why in ((["report", "-o", "no/such/r.html"], "no/such/r.html", "cannot write: no such folder"),
                             (["report", "-o", "adir"], "adir", "is a folder"),
                             (["export-zip", "flows/acc", "-o", "nope/x.zip"], "nope/x.zip", "cannot write: no such folder"),
                             (["check", "--baseline", "HEAD", "--metric", "accuracy", "--min", "0",
                               "--markdown", "nope/r.md"], "nope/r.md", "cannot write: no such folder")):
        code, _, err = run_cli(monkeypatch, capsys, repo, *argv)
        assert (code, err.splitlines()[-1]) == (2, f"pfgit: {where}: {why}"), argv
