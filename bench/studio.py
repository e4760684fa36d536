"""Benchmark: the studio round trip next to what users do without pfgit, in one run.

    .venv/bin/python bench/studio.py [--versions V] [--runs R]

A repo holds the largest corpus flow (eval-single-turn-metrics, 18 nodes) with V commits that each
edit it (default 300). A studio zip is the export of the commit V/2 back, re-formatted as the
visual editor saves it, with one node edited. Timed as processes (start-up included), median of R:
- `pfgit export-zip` vs `git archive --format=zip HEAD:flow`;
- `pfgit import-zip --dry-run`, first import (the base is searched in the V versions), and a
  later import (base: the last import) vs `python -m zipfile -e` (unpacking over the worktree,
  today's way, which loses the edits made in git meanwhile).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile

import common  # noqa: E402  (bench/common.py)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.environ.get("PFGIT_CORPUS") or os.path.normpath(os.path.join(ROOT, "..", "shared", "corpus"))
FLOW = "examples/flows/evaluation/eval-single-turn-metrics"
ENV = dict(os.environ, PYTHONPATH=ROOT, GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@example.com",
           GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@example.com", NO_COLOR="1")


def run(cmd: list, cwd: str) -> tuple:
    """(wall seconds, CPU seconds) of one process: CPU is what a loaded machine does not inflate."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode not in (0, 1):
        raise SystemExit(f"{cmd} failed: {p.stderr.decode()}")
    return dt, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def median(cmd: list, cwd: str, runs: int) -> tuple:
    times = [run(cmd, cwd) for _ in range(runs)]
    return statistics.median(w for w, _ in times), statistics.median(c for _, c in times)


def make_repo(tmp: str, versions: int) -> str:
    import yaml

    repo = os.path.join(tmp, "repo")
    shutil.copytree(os.path.join(CORPUS, FLOW), os.path.join(repo, "flow"))
    subprocess.run("git init -q -b main . && git add -A && git commit -qm v0", shell=True,
                   cwd=repo, env=ENV, check=True)
    path = os.path.join(repo, "flow", "flow.dag.yaml")
    text = open(path, encoding="utf-8").read()
    names = [n["name"] for n in yaml.safe_load(text)["nodes"]]
    for i in range(1, versions + 1):   # each version edits the flow (its description)
        with open(path, "w", encoding="utf-8") as f:
            f.write(f"description: version {i} of {names[i % len(names)]}\n" + text)
        subprocess.run(["git", "commit", "-qam", f"v{i}"], cwd=repo, env=ENV, check=True)
    return repo


def studio_zip(repo: str, rev: str, out: str) -> None:
    import yaml

    py = [sys.executable, "-m", "pfgit", "export-zip", "flow", "--rev", rev, "-o", out + ".src", "--force"]
    subprocess.run(py, cwd=repo, env=ENV, check=True, stdout=subprocess.DEVNULL)
    with zipfile.ZipFile(out + ".src") as z:
        files = {n: z.read(n) for n in z.namelist()}
    flow = yaml.safe_load(files["flow/flow.dag.yaml"])
    flow["nodes"][0].setdefault("inputs", {})["studio_edit"] = "yes"
    files["flow/flow.dag.yaml"] = yaml.safe_dump(flow, sort_keys=True, indent=4).encode()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for n, d in files.items():
            z.writestr(n, d)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--versions", type=int, default=300)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    common.installed_like()
    tmp = tempfile.mkdtemp(prefix="pfgit-bench-studio-")
    try:
        repo = make_repo(tmp, a.versions)
        pf = [sys.executable, "-m", "pfgit"]
        z = os.path.join(tmp, "studio.zip")
        studio_zip(repo, f"HEAD~{a.versions // 2}", z)
        exp = median(pf + ["export-zip", "flow", "-o", os.path.join(tmp, "e.zip"), "--force"], repo, a.runs)
        arc = median(["git", "archive", "--format=zip", "-o", os.path.join(tmp, "g.zip"), "HEAD:flow"],
                     repo, a.runs)
        first = median(pf + ["import-zip", z, "--dry-run"], repo, a.runs)
        unzip_dir = os.path.join(tmp, "unzipped")
        unz = median([sys.executable, "-m", "zipfile", "-e", z, unzip_dir], repo, a.runs)
        run(pf + ["import-zip", z], repo)                     # records the import
        studio_zip(repo, "HEAD", z)
        later = median(pf + ["import-zip", z, "--dry-run"], repo, a.runs)
        print(f"flow: {FLOW} ({a.versions} versions), median of {a.runs} runs, processes")
        print(f"{'operation':<52} {'pfgit wall/CPU':>16} {'baseline wall/CPU':>18} {'CPU ratio':>9}")
        for name, ours, base in (
                ("export-zip  vs  git archive --format=zip", exp, arc),
                (f"import-zip (first: base searched in {a.versions})  vs  unzip", first, unz),
                ("import-zip (base: last import)  vs  unzip", later, unz)):
            print(f"{name:<52} {ours[0] * 1000:>7.0f}/{ours[1] * 1000:<5.0f}ms "
                  f"{base[0] * 1000:>8.0f}/{base[1] * 1000:<5.0f}ms {ours[1] / max(base[1], 1e-3):>8.1f}x")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
