"""Benchmark of semantic history: `pfgit blame` and `pfgit log --node` on a long flow history.

    .venv/bin/python bench/history.py [--commits 2000] [--nodes 50] [--keep DIR]

Builds (git fast-import) a repo whose flow `flow/` has 50 nodes, each with its own source file
(prompt .jinja2 or code .py), and 2,000 commits: every 100th renames a node (and its references),
every other 50th reformats the whole flow file (indentation and key order, as another editor
saves it), the others alternate between changing a node's field and a line of a node's source.
Then times, end to end through the CLI:
  - `pfgit blame flow --node NODE` cold (no index: built, history walked and cached) and warm
  - `pfgit log flow --node NODE` cold and warm
next to `git blame -w -M` of the node's source file, `git blame` of the flow file and
`git log -L` of the node's lines in the flow file, in the same run, with ratios.
Targets: under 2 s cold, under 200 ms warm, in wall time; each row says met or MISSED. It prints
the CPU time too: user + sys of pfgit and every process it waited for - git, and on a lightly
loaded machine the child that walks the older part of the history (pfgit/history/ahead.py). The CPU
time is judged against the target only when it does not exceed the wall time (no second core
worked): it then says what the wall time would be on an idle machine. The cold
figures are medians of 3 runs, the warm ones of 5; the load average is printed at the start and
the end (the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import common  # noqa: E402  (bench/common.py)

PY = sys.executable
COLD, WARM = 2.0, 0.2  # targets (issue #12), seconds of wall time


def _data(b: bytes) -> bytes:
    return b"data %d\n%s\n" % (len(b), b)


def render_flow(nodes: list, style: int) -> bytes:
    """The flow file: style 0 block style, 2 spaces; style 1 4-space indents, other key order."""
    out = ["inputs:", "  question:", "    type: string", "outputs:", "  answer:", "    type: string",
           f"    reference: ${{{nodes[-1]['name']}.output}}", "nodes:"]
    if style == 1:
        out = ["outputs:", "    answer:", f"        reference: ${{{nodes[-1]['name']}.output}}",
               "        type: string", "inputs:", "    question:", "        type: string", "nodes:"]
    for n in nodes:
        prev = f"${{{n['after']}.output}}" if n["after"] else "${inputs.question}"
        if style == 0:
            out += [f"- name: {n['name']}", f"  type: {n['type']}", "  source:", "    type: code",
                    f"    path: {n['file']}", "  inputs:", f"    text: {prev}",
                    f"    temperature: {n['temperature']}"]
        else:
            out += [f"    -   inputs:", f"            temperature: {n['temperature']}",
                    f"            text: '{prev}'", f"        name: {n['name']}",
                    f"        source: {{path: {n['file']}, type: code}}", f"        type: {n['type']}"]
    return ("\n".join(out) + "\n").encode()


def source(n: dict, version: int) -> bytes:
    if n["type"] == "prompt":
        return (f"# system:\nYou are node {n['id']}.\nAnswer briefly (v{version}).\n\n# user:\n"
                "{{ text }}\n").encode()
    return (f"from promptflow.core import tool\n\n\n@tool\ndef run(text: str, temperature: float) -> str:\n"
            f"    # v{version}\n    return text[::-1]\n").encode()


def build(repo: pathlib.Path, n_commits: int, n_nodes: int) -> dict:
    repo.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    nodes = []
    for i in range(n_nodes):
        kind = "prompt" if i % 2 == 0 else "python"
        nodes.append({"id": i, "name": f"node_{i:02d}", "type": kind, "temperature": 0.5,
                      "file": f"node_{i:02d}.{'jinja2' if kind == 'prompt' else 'py'}",
                      "after": f"node_{i - 1:02d}" if i else None, "v": 0})
    style = 0
    buf = []
    ts = 1_700_000_000
    counts = {"rename": 0, "reformat": 0, "field": 0, "source": 0}
    for c in range(n_commits):
        files: dict = {}
        if c == 0:
            msg = "add the flow"
            for n in nodes:
                files[n["file"]] = source(n, 0)
        elif c % 100 == 0:
            n = nodes[(c // 100) % n_nodes]
            old = n["name"]
            n["name"] = f"{old.split('_r')[0]}_r{c}"
            for m in nodes:
                if m["after"] == old:
                    m["after"] = n["name"]
            msg = f"rename {old} to {n['name']}"
            counts["rename"] += 1
        elif c % 50 == 0:
            style = 1 - style
            msg = "reformat the flow file"
            counts["reformat"] += 1
        elif c % 2:
            n = nodes[c % n_nodes]
            n["temperature"] = round((c % 97) / 100, 2)
            msg = f"tune {n['name']} temperature"
            counts["field"] += 1
        else:
            n = nodes[(c // 2) % n_nodes]
            n["v"] = c
            files[n["file"]] = source(n, c)
            msg = f"edit the source of {n['name']}"
            counts["source"] += 1
        files["flow.dag.yaml"] = render_flow(nodes, style)
        who = b"Dev%d <dev%d@example.com> %d +0000" % (c % 7, c % 7, ts + c * 60)
        buf.append(b"commit refs/heads/main\nauthor %s\ncommitter %s\n" % (who, who) + _data(msg.encode()))
        for rel, content in files.items():
            buf.append(b"M 100644 inline flow/%s\n" % rel.encode() + _data(content))
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, input=b"".join(buf), check=True)
    subprocess.run(["git", "reset", "-q", "--hard", "main"], cwd=repo, check=True)
    subprocess.run(["git", "gc", "-q"], cwd=repo, check=True)
    return {"nodes": nodes, "counts": counts}


CPU: dict = {}  # label -> median CPU seconds (user + sys) of the last `timed` call


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(args, cwd, repeat=5) -> tuple:
    """Median wall time and output; the median CPU time (user + sys) goes to CPU["last"]: on a
    shared machine the wall time mostly measures the other processes."""
    times, cpus, out = [], [], ""
    for _ in range(repeat):
        t, c = time.perf_counter(), _cpu()
        p = subprocess.run(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        times.append(time.perf_counter() - t)
        cpus.append(_cpu() - c)
        if p.returncode:
            raise RuntimeError(f"{args} failed: {p.stderr.decode()[-400:]}")
        out = p.stdout.decode()
    CPU["last"] = statistics.median(cpus)
    return statistics.median(times), out


def cold(args, repo) -> tuple:
    """Median of 3 runs, each with the index (and so the history cache) deleted first."""
    times, cpus, out = [], [], ""
    for _ in range(3):
        shutil.rmtree(repo / ".git" / "pfgit", ignore_errors=True)
        t, out = timed(args, repo, repeat=1)
        times.append(t)
        cpus.append(CPU["last"])
    CPU["last"] = statistics.median(cpus)
    return statistics.median(times), out


def pfgit(*args) -> list:
    return [PY, "-m", "pfgit", *args]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--commits", type=int, default=2000)
    ap.add_argument("--nodes", type=int, default=50)
    ap.add_argument("--keep", help="build the repo here and keep it")
    a = ap.parse_args()
    common.installed_like()
    root = pathlib.Path(a.keep or tempfile.mkdtemp(prefix="pfgit-bench-history-"))
    repo = root / "repo"
    if repo.exists():
        shutil.rmtree(repo)
    load0 = os.getloadavg()[0]
    try:
        t = time.perf_counter()
        info = build(repo, a.commits, a.nodes)
        print(f"built {a.commits} commits of a {a.nodes}-node flow in {time.perf_counter() - t:.1f} s "
              f"({info['counts']['rename']} renames, {info['counts']['reformat']} reformats, "
              f"{info['counts']['field']} field edits, {info['counts']['source']} source edits)")
        node = info["nodes"][10]  # renamed once, at commit 1000
        name, src = node["name"], f"flow/{node['file']}"
        rows = []

        base_cpu: dict = {}

        def row(label, t, base_label=None, base=None, target=None):
            cpu = CPU["last"]
            ratio = f"  ({t / base:.2f}x {base_label}; CPU {cpu / base_cpu[base]:.2f}x)" if base else ""
            verdict = ""
            if target:
                # the target is wall time. CPU is judged only when no child ran beside pfgit (CPU
                # <= wall): then it says what the wall time would be on an idle machine; with the
                # child, both cores' CPU adds up and says nothing about the target
                verdict = f"  [target {target * 1000:.0f} ms: wall {'met' if t < target else 'MISSED'}"
                verdict += (f", CPU {'met' if cpu < target else 'MISSED'}]" if cpu <= t * 1.05
                            else ", CPU not judged: two cores worked]")
            print(f"{label}: {t * 1000:.0f} ms, CPU {cpu * 1000:.0f} ms{ratio}{verdict}")
            rows.append((label, t, cpu))

        def git_row(label, args, repeat=5):
            t, _ = timed(args, repo, repeat)
            base_cpu[t] = CPU["last"]
            print(f"{label}: {t * 1000:.0f} ms, CPU {CPU['last'] * 1000:.0f} ms")
            return t

        gb = git_row(f"git blame -w -M {src}", ["git", "blame", "-w", "-M", "--", src])
        gbf = git_row("git blame flow/flow.dag.yaml", ["git", "blame", "--", "flow/flow.dag.yaml"])
        gl = git_row(f"git log -L /name: {name}/,+7:flow/flow.dag.yaml",
                     ["git", "log", "-L", f"/name: {name}$/,+7:flow/flow.dag.yaml", "--no-patch"], 3)

        t, out = cold(pfgit("blame", "flow", "--node", name), repo)
        fields = sum(1 for ln in out.splitlines() if ln.startswith(("inputs.", "outputs.", "nodes.")))
        row(f"pfgit blame flow --node {name}, cold ({fields} fields + source lines)", t,
            "git blame of the flow file", gbf, COLD)
        t, out = timed(pfgit("blame", "flow", "--node", name), repo)
        row(f"pfgit blame flow --node {name}, warm", t, "git blame -w -M of the source", gb, WARM)
        t, out = cold(pfgit("log", "flow", "--node", name), repo)
        row(f"pfgit log flow --node {name}, cold ({out.count(chr(10) + 'commit ')} commits)", t,
            "git log -L", gl, COLD)
        t, out = timed(pfgit("log", "flow", "--node", name), repo)
        row(f"pfgit log flow --node {name}, warm", t, "git log -L", gl, WARM)
        print(out.splitlines()[0])
        p = subprocess.run(pfgit("log", "-n", "x"), cwd=repo, capture_output=True)
        t0 = time.perf_counter()
        for _ in range(5):
            subprocess.run(pfgit("log", "-n", "x"), cwd=repo, capture_output=True)
        print(f"(CLI fixed cost, `pfgit log -n x` usage error: {(time.perf_counter() - t0) / 5 * 1000:.0f} ms; "
              f"exit {p.returncode})")
        print(f"machine: {os.cpu_count()} cores, load average {load0:.1f} at the start, "
              f"{os.getloadavg()[0]:.1f} now")
    finally:
        if not a.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
