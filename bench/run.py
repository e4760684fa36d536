"""pfgit run vs pf run create on a 1,000-line python-only corpus flow (same run, end to end), and
the peak memory of a 100,000-line python flow run. Figures go to docs/benchmarks.md ("Runs").

    python bench/run.py [--lines 1000] [--big 100000] [--no-pf]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import random
import shutil
import subprocess
import sys
import tempfile
import time

from common import installed_like

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = pathlib.Path(os.environ.get("PFGIT_CORPUS") or ROOT / ".." / "shared" / "corpus").resolve()
FLOW = "examples/flows/evaluation/eval-classification-accuracy"
LABELS = ["App", "Channel", "Academic", "Video", "Profile"]
MAPPING = ["groundtruth=${data.groundtruth}", "prediction=${data.prediction}"]
BIN = pathlib.Path(sys.executable).parent


def git(repo, *args):
    subprocess.run(["git", *args], cwd=repo, check=True, stdout=subprocess.DEVNULL)


def write_data(path: pathlib.Path, n: int) -> None:
    rnd = random.Random(7)
    with open(path, "w") as f:
        for _ in range(n):
            g = rnd.choice(LABELS)
            f.write(json.dumps({"groundtruth": g, "prediction": g if rnd.random() < 0.7 else rnd.choice(LABELS)}) + "\n")


def timed(cmd, env=None, cwd=None) -> tuple[float, str]:
    """(seconds, stdout) of one command."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = p.communicate()
    dt = time.perf_counter() - t0
    if p.returncode not in (0, 1):
        raise RuntimeError(f"{cmd[0]} failed ({p.returncode}): {err[-1500:]}")
    return dt, out


def peak_rss_mb(cmd, env=None, cwd=None) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one command, measured with wait4 on that child alone."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    dt = time.perf_counter() - t0
    err = p.stderr.read().decode()
    p.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        raise RuntimeError(f"{cmd[0]} failed ({code}): {err[-1500:]}")
    return dt, ru.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=1000)
    ap.add_argument("--big", type=int, default=100_000)
    ap.add_argument("--no-pf", action="store_true")
    args = ap.parse_args()
    installed_like()
    work = pathlib.Path(tempfile.mkdtemp(prefix="pfgit-bench-run-"))
    try:
        repo = work / "repo"
        repo.mkdir()
        git(repo, "init", "-q", "-b", "main")
        shutil.copytree(CORPUS / FLOW, repo / "acc")
        git(repo, "add", "-A")
        git(repo, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", "flow")
        data = work / "data.jsonl"
        write_data(data, args.lines)
        env = dict(os.environ, PYTHONPATH=str(ROOT), GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@b",
                   GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@b")
        print(f"flow: corpus {FLOW} (python nodes + aggregation), {args.lines} lines")
        t_pfgit, _ = timed([str(BIN / "pfgit"), "run", "--flow", "acc", "--data", str(data), "--name", "b1",
                            "--column-mapping", *MAPPING], env=env, cwd=repo)
        print(f"pfgit run:         {t_pfgit:6.2f} s  ({args.lines / t_pfgit:,.0f} lines/s)")
        if not args.no_pf and (BIN / "pf").exists():
            pf_env = dict(env, HOME=str(work / "home"), PF_HOME_DIRECTORY=str(work / "pfhome"),
                          PF_DISABLE_TELEMETRY="true")
            (work / "home").mkdir()
            subprocess.run([str(BIN / "pf"), "config", "set", "telemetry.enabled=false"], env=pf_env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                t_pf, _ = timed([str(BIN / "pf"), "run", "create", "--flow", "acc", "--data", str(data),
                                 "--name", "p1", "--column-mapping", *MAPPING], env=pf_env, cwd=repo)
            finally:
                subprocess.run([str(BIN / "pf"), "service", "stop"], env=pf_env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            print(f"pf run create:     {t_pf:6.2f} s  ({args.lines / t_pf:,.0f} lines/s)")
            print(f"ratio:             pfgit {t_pf / t_pfgit:.1f}x faster (target >= 10x)")
            pf_out = [json.loads(x) for x in (work / "pfhome/.runs/p1/outputs.jsonl").read_text().splitlines()]
            got = subprocess.run([str(BIN / "pfgit"), "runs", "stream", "b1"], env=env, cwd=repo,
                                 stdout=subprocess.PIPE, text=True).stdout.splitlines()
            same = pf_out == [json.loads(x) for x in got]
            pf_m = json.loads((work / "pfhome/.runs/p1/metrics.json").read_text())
            print(f"same outputs: {same}; pf metrics {pf_m}")
        big = work / "big.jsonl"
        write_data(big, args.big)
        dt, mb = peak_rss_mb([str(BIN / "pfgit"), "run", "--flow", "acc", "--data", str(big), "--name", "big",
                              "--column-mapping", *MAPPING], env=env, cwd=repo)
        print(f"{args.big:,}-line run: {dt:6.1f} s, peak RSS {mb:.0f} MB (target < 300 MB)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
