"""Benchmark: `pfgit report` on 1,000 commits x 10 metrics, next to `git log` over the same history.

Builds a repository whose flow changes in each of 1,000 commits (git fast-import), records one
run with 10 metrics for every commit (pfgit's store, in this process), then times, as processes:
  pfgit report -o report.html        the whole page (history, charts, runs, comparison, DAG)
  git log --format=... -- flow        the same commits listed by git (no runs, no page)
and prints the median of 3 and the ratio. Target: the page in well under 10 s.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from common import installed_like

COMMITS = 1000
METRICS = 10
FLOW = """\
inputs:
  question: {{type: string}}
outputs:
  answer: {{type: string, reference: '${{answer.output}}'}}
nodes:
- name: answer
  type: python
  source: {{type: code, path: answer.py}}
  inputs: {{question: '${{inputs.question}}', version: {i}}}
"""
TOOL = b"from promptflow.core import tool\n\n\n@tool\ndef answer(question: str, version: int) -> str:\n    return question\n"


def build(repo: str) -> None:
    subprocess.run(["git", "init", "-q", "-b", "main", repo], check=True)
    lines = []
    for i in range(COMMITS):
        flow = FLOW.format(i=i).encode()
        msg = f"version {i}".encode()
        lines.append(b"commit refs/heads/main\n")
        lines.append(f"committer Ada <ada@example.com> {1700000000 + i * 60} +0000\n".encode())
        lines.append(b"data %d\n%s\n" % (len(msg), msg))
        lines.append(b"M 100644 inline qa/flow.dag.yaml\ndata %d\n%s\n" % (len(flow), flow))
        if i == 0:
            lines.append(b"M 100644 inline qa/answer.py\ndata %d\n%s\n" % (len(TOOL), TOOL))
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, input=b"".join(lines), check=True)
    subprocess.run(["git", "reset", "-q", "--hard", "main"], cwd=repo, check=True)


def record_runs(repo: str) -> None:
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
    from pfgit.git.repo import open_repo
    from pfgit.run.result import RunResult
    from pfgit.store.snapshot import record_result

    r = open_repo(repo)
    shas = subprocess.run(["git", "rev-list", "--reverse", "main"], cwd=repo, text=True,
                          capture_output=True, check=True).stdout.split()
    cwd = os.getcwd()
    os.chdir(repo)
    try:
        for i, sha in enumerate(shas):
            metrics = {f"m{k}": round(0.5 + 0.4 * ((i * (k + 3)) % 97) / 97, 4) for k in range(METRICS)}
            record_result(r, RunResult(flow="qa", outputs=[json.dumps({"line_number": 0, "answer": "x"})],
                                       metrics=metrics, name=f"run-{i}", flow_commit=sha))
    finally:
        os.chdir(cwd)


def timed(cmd: list, cwd: str, n: int = 3) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> int:
    installed_like()
    with tempfile.TemporaryDirectory(prefix="pfgit-bench-report-") as tmp:
        repo = os.path.join(tmp, "repo")
        t = time.perf_counter()
        build(repo)
        record_runs(repo)
        print(f"set-up: {COMMITS} commits, {COMMITS} runs x {METRICS} metrics in "
              f"{time.perf_counter() - t:.1f} s")
        out = os.path.join(tmp, "report.html")
        pf = [sys.executable, "-m", "pfgit", "report", "-o", out]
        subprocess.run(pf, cwd=repo, check=True, stderr=subprocess.DEVNULL)  # warm the index
        a = timed(pf, repo)
        b = timed(["git", "log", "--format=%H %an %ad %s", "--", "qa"], repo)
        size = os.path.getsize(out)
        print(f"pfgit report (1,000 commits x 10 metrics): {a * 1000:8.0f} ms   page {size / 1e6:.1f} MB")
        print(f"git log -- qa (same commits, text only):  {b * 1000:8.0f} ms")
        print(f"ratio: {a / b:.1f}x git log  (target: the page in well under 10 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
