"""Help and usage output meeting a closed pipe (`pfgit --help | head -1`): exit 0, nothing on
stderr, like `pfgit | head` and git."""

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
