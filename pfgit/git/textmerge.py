"""git's own line-based merge, for files pfgit cannot read as a flow (and git config look-ups).

The merge driver runs inside `git merge`, so calling the `git` binary here is git driving us.
"""

from __future__ import annotations

import os
import subprocess


def git_merge_file(base: bytes, ours: bytes, theirs: bytes, labels: tuple, diff3: bool) -> tuple:
    """(merged bytes, number of conflicts) from `git merge-file -p`."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="pfgit-merge-") as tmp:
        paths = []
        for name, data in (("ours", ours), ("base", base), ("theirs", theirs)):
            p = os.path.join(tmp, name)
            with open(p, "wb") as f:
                f.write(data)
            paths.append(p)
        cmd = ["git", "merge-file", "-p"] + (["--diff3"] if diff3 else [])
        for label in labels:
            cmd += ["-L", label]
        p = subprocess.run(cmd + paths, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode < 0 or p.returncode > 127:
        raise OSError(f"git merge-file failed: {p.stderr.decode(errors='replace').strip()}")
    return p.stdout, p.returncode


def conflict_style() -> str:
    """merge.conflictStyle from git config ('merge' when unset or outside a repo)."""
    try:
        p = subprocess.run(["git", "config", "--get", "merge.conflictStyle"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    except OSError:
        return "merge"
    return p.stdout.strip().lower() or "merge"
