"""Benchmark: the pfgit merge driver per merge, next to `git merge-file`, in one run.

    .venv/bin/python bench/merge.py [--nodes N] [--runs R] [--flows F]

1. Real flows: for F corpus flows (default all), a pair of concurrent edits (each side edits one
   input of a node, and each adds a node). Timed: the driver as `pfgit install` configures it,
   `python -m pfgit.integrate.mergedriver %O %A %B %P` (a new process: interpreter start-up included), the
   same through the CLI (`python -m pfgit merge-driver`), and `git merge-file` on the same three
   files; per merge, median over flows.
2. A synthetic N-node flow (default 2,000): ours edits 50 inputs and adds 10 nodes, theirs renames
   20 nodes, edits 50 other inputs and adds 10 nodes. Timed the same way (median of R runs), and
   the library call alone (no process start).

Targets (issue 4): under 300 ms per merge on real flows, under 2 s on the 2,000-node flow.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import common  # noqa: E402  (bench/common.py)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.environ.get("PFGIT_CORPUS") or os.path.normpath(os.path.join(ROOT, "..", "shared", "corpus"))
sys.path.insert(0, ROOT)


def timed(cmd: list, cwd: str, files: dict) -> float:
    for name, data in files.items():
        with open(os.path.join(cwd, name), "w", encoding="utf-8") as f:
            f.write(data)
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    if p.returncode not in (0, 1):
        raise SystemExit(f"{cmd[:4]} failed: {p.stderr.decode()}")
    return dt


CPU: list = []  # CPU seconds of each timed process, in order


def merge_once(tmp: str, base: str, ours: str, theirs: str) -> tuple:
    files = {"O": base, "A": ours, "B": theirs}
    driver = [sys.executable, "-m", "pfgit.integrate.mergedriver", "O", "A", "B", "flow.dag.yaml"]
    d = timed(driver, tmp, files)
    g = timed(["git", "merge-file", "A", "O", "B"], tmp, files)
    return d, g


def cli_once(tmp: str, base: str, ours: str, theirs: str) -> float:
    files = {"O": base, "A": ours, "B": theirs}
    return timed([sys.executable, "-m", "pfgit", "merge-driver", "O", "A", "B", "flow.dag.yaml"], tmp, files)


def corpus_pairs(limit: int | None) -> list:
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    import pathlib

    from test_merge_scenarios import corpus_flows, scenarios_for

    pairs = []
    for path, text in corpus_flows(pathlib.Path(CORPUS)):
        for s in scenarios_for(path, text):
            if s.kind in ("edit adjacent inputs", "both add nodes"):
                pairs.append((path, s))
                break
        if limit and len(pairs) >= limit:
            break
    return pairs


def synthetic(n: int, seed: int = 11) -> tuple:
    rnd = random.Random(seed)
    names = [f"step_{i:04d}" for i in range(n)]

    def node(name, i, deps, temp, extra=""):
        lines = [f"- name: {name}", "  type: python", "  source:", "    type: code",
                 f"    path: tools/t{i % 40}.py", "  inputs:"]
        lines += [f"    in_{k}: ${{{d}.output}}" for k, d in enumerate(deps)] or ["    q: ${inputs.q}"]
        lines += [f"    temperature: {temp}", f"    label: node {i}{extra}"]
        return lines

    deps = {i: sorted({i - 1, rnd.randrange(i)}) if i else [] for i in range(n)}
    head = ["inputs:", "  q:", "    type: string", "outputs:", "  out:", "    type: string",
            f"    reference: ${{{names[-1]}.output}}", "nodes:"]

    def build(name_of, temps, labels, added):
        lines = list(head)
        lines[6] = f"    reference: ${{{name_of[n - 1]}.output}}"
        for i in range(n):
            lines += node(name_of[i], i, [name_of[d] for d in deps[i]], temps[i], labels.get(i, ""))
            for a in added.get(i, ()):
                lines += node(a, i, [name_of[i]], 0.5)
        return "\n".join(lines) + "\n"

    temps = [round(0.1 * (i % 7), 1) for i in range(n)]
    base = build(names, temps, {}, {})
    idx = rnd.sample(range(n), 100)
    o_temps = list(temps)
    for i in idx[:50]:
        o_temps[i] = round(o_temps[i] + 0.05, 2)
    o_added = {i: [f"ours_new_{i}"] for i in rnd.sample(range(n), 10)}
    ours = build(names, o_temps, {}, o_added)
    t_names = list(names)
    for i in rnd.sample(range(n - 1), 20):
        t_names[i] = names[i] + "_renamed"
    t_labels = {i: " (edited)" for i in idx[50:]}
    t_added = {i: [f"theirs_new_{i}"] for i in rnd.sample(range(n), 10)}
    theirs = build(t_names, temps, t_labels, t_added)
    return base, ours, theirs


def main() -> int:
    common.installed_like()
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--flows", type=int, default=0)
    args = ap.parse_args()
    from pfgit.merge.files import merge_bytes

    tmp = tempfile.mkdtemp(prefix="pfgit-bench-merge-")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} "
          "(wall times grow with load)")
    try:
        pairs = corpus_pairs(args.flows or None)
        ds, gs, cs, clean = [], [], [], 0
        for path, s in pairs:
            d, g = merge_once(tmp, s.base, s.ours, s.theirs)
            ds.append(d)
            gs.append(g)
            cs.append(cli_once(tmp, s.base, s.ours, s.theirs))
            clean += merge_bytes(s.base.encode(), s.ours.encode(), s.theirs.encode()).clean
        print(f"real flows: {len(pairs)} merges ({clean} clean)")
        print(f"  pfgit driver, as installed (python -m pfgit.integrate.mergedriver): median "
              f"{statistics.median(ds) * 1000:.0f} ms, max {max(ds) * 1000:.0f} ms  [target < 300 ms]")
        print(f"  the same through the CLI (python -m pfgit merge-driver):   median "
              f"{statistics.median(cs) * 1000:.0f} ms")
        print(f"  git merge-file (process):     median {statistics.median(gs) * 1000:.1f} ms  "
              f"(pfgit/git = {statistics.median(ds) / statistics.median(gs):.0f}x)")
        base, ours, theirs = synthetic(args.nodes)
        runs, cpus = [], []
        for _ in range(args.runs):
            runs.append(merge_once(tmp, base, ours, theirs))
            cpus.append(CPU[-2])  # the driver's, not git's
        t, c = time.perf_counter(), time.process_time()
        res = merge_bytes(base.encode(), ours.encode(), theirs.encode())
        lib, cpu = time.perf_counter() - t, time.process_time() - c
        d = statistics.median(r[0] for r in runs)
        g = statistics.median(r[1] for r in runs)
        print(f"synthetic {args.nodes}-node flow ({len(base.splitlines())} lines; clean={res.clean}, "
              f"{len(res.conflicts)} conflicts)")
        print(f"  pfgit driver, as installed (process): median {d * 1000:.0f} ms, CPU "
              f"{statistics.median(cpus) * 1000:.0f} ms  [target < 2000 ms]")
        print(f"  pfgit library call alone:     {lib * 1000:.0f} ms (CPU {cpu * 1000:.0f} ms)")
        print(f"  git merge-file (process):     median {g * 1000:.1f} ms  (pfgit/git = {d / g:.0f}x)")
        print(json.dumps({"real_median_ms": round(statistics.median(ds) * 1000),
                          "synthetic_ms": round(d * 1000), "synthetic_cpu_ms": round(statistics.median(cpus) * 1000), "git_real_ms": round(statistics.median(gs) * 1000, 1),
                          "git_synthetic_ms": round(g * 1000, 1)}))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
