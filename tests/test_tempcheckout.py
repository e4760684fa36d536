"""Temporary checkouts (pfgit.git.tempcheckout) made side by side by several processes, as
`pfgit check --jobs` makes them: git's `worktree prune` in one process removed the folder
another's `worktree add` was still writing ("failed to read .git/worktrees/<name>/commondir";
CI caught it once). Four processes, fifteen checkouts each: every one must succeed."""

from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = """
import os, subprocess, sys
from pfgit.git.tempcheckout import checkout
repo, n = sys.argv[1], int(sys.argv[2])
sha = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=repo, check=True).stdout.strip()
errors = []
for _ in range(n):
    try:
        with checkout(repo, sha) as path:
            assert os.path.isfile(os.path.join(path, "a.txt"))
    except Exception as e:
        errors.append(str(e))
print(len(errors), errors[:1])
"""


def test_checkouts_side_by_side_in_several_processes(tmp_path):
    repo = tmp_path / "r"
    env = dict(os.environ, PYTHONPATH=ROOT, GIT_AUTHOR_NAME="a", GIT_AUTHOR_EMAIL="a@b",
               GIT_COMMITTER_NAME="a", GIT_COMMITTER_EMAIL="a@b")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "a.txt").write_text("a\n")
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", "a"], cwd=repo, check=True, env=env)
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, str(repo), "15"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e for _, e in outs]
    assert [o.split(" ", 1)[0] for o, _ in outs] == ["0"] * 4, [o for o, _ in outs]
    listed = subprocess.run(["git", "worktree", "list"], cwd=repo, capture_output=True, text=True).stdout
    assert len(listed.strip().splitlines()) == 1          # all removed again
