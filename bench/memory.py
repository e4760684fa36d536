"""Peak memory (max RSS) of recording and streaming big runs, next to git doing the same work.

1. `pfgit runs record` of a flow whose folder holds a 300 MB untracked data file (the worktree is
   captured as a commit, so the file becomes a blob) vs `git hash-object -w` of that file;
2. `pfgit runs stream` of a 100 MB outputs.jsonl after `git gc` (the blob is packed) vs
   `git cat-file blob`.
Target: both pfgit figures under 200 MB. Run: `make bench-memory` (about a minute on an idle machine).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIMIT_MB = 200
FLOW = ("inputs:\n  q: {type: string}\noutputs:\n  a: {type: string, reference: \"${echo.output}\"}\n"
        "nodes:\n- name: echo\n  type: python\n  source: {type: code, path: echo.py}\n"
        "  inputs: {q: \"${inputs.q}\"}\n")


def peak_mb(argv: list, cwd: str, stdout=subprocess.DEVNULL) -> float:
    """Max RSS of one child process (os.wait4 reports it for that child alone)."""
    p = subprocess.Popen(argv, cwd=cwd, stdout=stdout, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode:
        raise SystemExit(f"{argv} failed: {p.stderr.read().decode()}")
    return usage.ru_maxrss / 1024  # KiB on Linux


def git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def main() -> int:
    pfgit = [sys.executable, "-m", "pfgit"]
    env_ok = True
    with tempfile.TemporaryDirectory(prefix="pfgit-mem-") as tmp:
        repo = os.path.join(tmp, "repo")
        os.makedirs(os.path.join(repo, "flow"))
        git(repo, "init", "-q", "-b", "main")
        with open(os.path.join(repo, "flow", "flow.dag.yaml"), "w") as f:
            f.write(FLOW)
        with open(os.path.join(repo, "flow", "echo.py"), "w") as f:
            f.write("from promptflow.core import tool\n\n@tool\ndef echo(q: str) -> str:\n    return q\n")
        git(repo, "add", "-A")
        git(repo, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", "flow")
        big = os.path.join(repo, "flow", "data.bin")
        block = os.urandom(1 << 20)  # incompressible, like real data: zlib cannot cheat
        with open(big, "wb") as f:
            for _ in range(300):
                f.write(block)
        out = os.path.join(tmp, "small.jsonl")
        with open(out, "w") as f:
            f.write('{"a": 1}\n')
        rec = peak_mb(pfgit + ["runs", "record", "--flow", "flow", "--outputs", out, "--name",
                               "bigdata"], repo)
        base = peak_mb(["git", "hash-object", "-w", big], repo)
        print(f"record a flow with a 300 MB untracked file: pfgit {rec:7.1f} MB   "
              f"git hash-object -w {base:7.1f} MB   ratio {rec / base:5.1f}x   "
              f"(target < {LIMIT_MB} MB: {'met' if rec < LIMIT_MB else 'NOT met'})")
        env_ok &= rec < LIMIT_MB
        os.unlink(big)

        lines = os.path.join(tmp, "big.jsonl")
        with open(lines, "w") as f:
            i = 0
            while f.tell() < 100 << 20:
                f.write(json.dumps({"line_number": i, "answer": os.urandom(96).hex()}) + "\n")
                i += 1
        git(repo, "-c", "user.name=b", "-c", "user.email=b@b", "stash", "-q", "-u")  # clean flow
        peak_mb(pfgit + ["runs", "record", "--flow", "flow", "--outputs", lines, "--name", "bigout"], repo)
        git(repo, "gc", "-q", "--prune=now")
        assert not any(os.scandir(os.path.join(repo, ".git", "objects", d)) for d in
                       os.listdir(os.path.join(repo, ".git", "objects")) if len(d) == 2), "not packed"
        st = peak_mb(pfgit + ["runs", "stream", "bigout"], repo)
        base = peak_mb(["git", "cat-file", "blob", "refs/pfgit/runs/bigout:outputs.jsonl"], repo)
        print(f"stream a 100 MB outputs.jsonl after git gc:  pfgit {st:7.1f} MB   "
              f"git cat-file blob  {base:7.1f} MB   ratio {st / base:5.1f}x   "
              f"(target < {LIMIT_MB} MB: {'met' if st < LIMIT_MB else 'NOT met'})")
        env_ok &= st < LIMIT_MB
    return 0 if env_ok else 1


if __name__ == "__main__":
    sys.exit(main())
