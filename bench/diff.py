"""Benchmark: semantic diff speed, and `git log -p` with the pfgit driver vs plain, in one run.

    .venv/bin/python bench/diff.py [--nodes N] [--runs R] [--slug SLUG] [--log-runs L]

1. A synthetic flow of N (default 2,000) nodes and a second version with renames (and the
   references they rewrite), input edits, moves, added and removed nodes, and a reformat.
   Timed: reading both versions + matching + diff + text rendering in one process (median of R),
   next to `git diff --no-index` of the same two files (git's text diff) as the baseline.
2. A temporary repo with one commit per version of a corpus history (default the longest).
   Timed: `git log -p` without attributes (baseline), `git log -p` with `diff.pfgit.textconv`,
   and `git log -p --ext-diff` with `diff.pfgit.command` (one pfgit process per commit), per
   commit, with the ratio to the baseline.

Target (issue 3): the 2,000-node diff under 1 s.
"""

from __future__ import annotations

import argparse
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


def synthetic(n: int, seed: int = 7) -> tuple:
    """Two versions of an n-node flow as YAML text."""
    rnd = random.Random(seed)
    names = [f"step_{i:04d}" for i in range(n)]

    def node(i, name_of, temp, indent="", order=0):
        deps = [name_of[j] for j in sorted({max(0, i - 1), rnd.randrange(max(1, i))}) if j < i] if i else []
        lines = [f"- name: {name_of[i]}", "  type: python", "  source:", "    type: code",
                 f"    path: tools/t{i % 50}.py", "  inputs:"]
        lines += [f"    in_{k}: ${{{d}.output}}" for k, d in enumerate(deps)] or ["    seed: ${inputs.q}"]
        lines += [f"    temperature: {temp[i]}", f"    label: 'node {i}'"]
        if order:
            lines = lines[:1] + sorted(lines[1:2]) + lines[2:]
        return "\n".join(indent + ln for ln in lines)

    temps = [0.1 * (i % 7) for i in range(n)]
    state = rnd.getstate()
    head = "inputs:\n  q:\n    type: string\noutputs:\n  out:\n    type: string\n    reference: ${%s.output}\nnodes:\n"
    old = head % names[-1] + "\n".join(node(i, names, temps) for i in range(n)) + "\n"
    rnd.setstate(state)
    # version 2: 20 renames, 50 input edits, 10 nodes moved, 20 removed at the end and 20 added
    new_names = list(names)
    for i in rnd.sample(range(n - 40), 20):
        new_names[i] = names[i] + "_renamed"
    temps2 = list(temps)
    for i in rnd.sample(range(n - 40), 50):
        temps2[i] = round(temps2[i] + 0.05, 2)
    rnd.setstate(state)
    body = [node(i, new_names, temps2, indent="  ") for i in range(n - 20)]
    moved = rnd.sample(range(n // 2, n - 40), 10)
    for i in sorted(moved, reverse=True):
        body.append(body.pop(i))  # order only: dependencies still point backwards in names
    extra = [f"  - name: extra_{k}\n    type: python\n    source: {{type: code, path: x.py}}\n"
             f"    inputs: {{a: \"${{{new_names[k]}.output}}\"}}" for k in range(20)]
    new = head % new_names[n - 21] + "\n".join(body + extra) + "\n"
    return old, new


def bench_synthetic(n: int, runs: int) -> dict:
    from pfgit.diff.render import render_text
    from pfgit.diff.tree import diff_flow_bytes

    old, new = synthetic(n)
    times, cpu = [], []
    fd = None
    for _ in range(runs):
        t, c = time.perf_counter(), time.process_time()
        fd = diff_flow_bytes("synthetic", "synthetic/flow.dag.yaml", old.encode(), new.encode())
        render_text([fd])
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    tmp = tempfile.mkdtemp(prefix="pfgit-bench-diff-")
    try:
        a, b = os.path.join(tmp, "a.yaml"), os.path.join(tmp, "b.yaml")
        with open(a, "w") as f:
            f.write(old)
        with open(b, "w") as f:
            f.write(new)
        gtimes = []
        for _ in range(runs):
            t = time.perf_counter()
            subprocess.run(["git", "diff", "--no-index", "--no-color", a, b], stdout=subprocess.DEVNULL)
            gtimes.append(time.perf_counter() - t)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pfgit", "diff", "--no-index", a, b],
                       stdout=subprocess.DEVNULL, cwd=tmp)
        cli = time.perf_counter() - t
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ops: dict = {}
    for c in fd.changes:
        ops[c.op] = ops.get(c.op, 0) + 1
    return {"lib": statistics.median(times), "cpu": statistics.median(cpu),
            "git": statistics.median(gtimes), "cli": cli,
            "ops": ops, "lines": old.count("\n")}


def build_history_repo(slug: str, tmp: str, env: dict) -> tuple:
    src = os.path.join(CORPUS, "history", slug)
    versions = sorted(f for f in os.listdir(src) if f.endswith(".flow.dag.yaml"))
    repo = os.path.join(tmp, "repo")
    os.makedirs(os.path.join(repo, "flow"))
    run = lambda *a: subprocess.run(["git", *a], cwd=repo, env=env, check=True,  # noqa: E731
                                    stdout=subprocess.DEVNULL)
    run("init", "-q", "-b", "main")
    for v in versions:
        shutil.copy(os.path.join(src, v), os.path.join(repo, "flow", "flow.dag.yaml"))
        run("add", "-A")
        run("commit", "-q", "--allow-empty", "-m", v)
    return repo, len(versions)


def bench_log(slug: str, runs: int) -> dict:
    from pfgit.integrate.diffdriver import driver_config

    env = dict(os.environ, GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@example.com",
               GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@example.com", GIT_PAGER="cat",
               GIT_CONFIG_NOSYSTEM="1")
    tmp = tempfile.mkdtemp(prefix="pfgit-bench-log-")
    try:
        repo, n = build_history_repo(slug, tmp, env)

        def timed(*args):
            ts = []
            for _ in range(runs):
                t = time.perf_counter()
                subprocess.run(["git", "--no-pager", *args], cwd=repo, env=env,
                               stdout=subprocess.DEVNULL, check=True)
                ts.append(time.perf_counter() - t)
            return statistics.median(ts)

        plain = timed("log", "-p")
        with open(os.path.join(repo, ".git", "info", "attributes"), "w") as f:
            f.write("flow.dag.yaml diff=pfgit\n")
        for k, v in driver_config(sys.executable).items():
            subprocess.run(["git", "config", k, v], cwd=repo, env=env, check=True)
        textconv = timed("log", "-p")
        driver = timed("log", "-p", "--ext-diff")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"commits": n, "plain": plain, "textconv": textconv, "driver": driver}


def main() -> int:
    common.installed_like()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--slug", default="flows__chat__chat-with-pdf")
    ap.add_argument("--log-runs", type=int, default=3)
    args = ap.parse_args()

    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (wall times grow with load)")
    s = bench_synthetic(args.nodes, args.runs)
    print(f"synthetic flow: {args.nodes} nodes, {s['lines']} lines; changes found: {s['ops']}")
    print(f"  pfgit semantic diff (read both + match + diff + render, one process): {s['lib'] * 1000:7.1f} ms"
          f"  (target < 1000 ms: {'met' if s['lib'] < 1 else 'MISSED'}; CPU {s['cpu'] * 1000:.0f} ms)")
    print(f"  pfgit diff --no-index (whole CLI process):                             {s['cli'] * 1000:7.1f} ms")
    print(f"  git diff --no-index (text diff, baseline):                             {s['git'] * 1000:7.1f} ms")
    print(f"  ratio pfgit library / git: {s['lib'] / s['git']:.1f}x;  CLI / git: {s['cli'] / s['git']:.1f}x")
    lg = bench_log(args.slug, args.log_runs)
    c = lg["commits"]
    print(f"git log -p over {args.slug} ({c} commits of flow.dag.yaml):")
    for key, label in (("plain", "plain git log -p (baseline)"), ("textconv", "git log -p, diff.pfgit.textconv"),
                       ("driver", "git log -p --ext-diff, pfgit driver")):
        print(f"  {label:38s} {lg[key] * 1000:8.1f} ms total {lg[key] / c * 1000:7.1f} ms/commit"
              f"  {lg[key] / lg['plain']:6.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
