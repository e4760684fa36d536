"""Benchmark: validate, diff and merge on large and pathological (but legal) flows, in one run.

    .venv/bin/python bench/scale.py [--nodes 2000,5000,10000,20000] [--skip-shapes] [--skip-repo]

Every figure is one CLI process (`python -m pfgit ...`, start-up included), timed by its CPU
seconds (user + sys): the machine is shared, so wall time is noisy. One run each, no repeats.

1. Node count: bench/merge.py's synthetic flow (ours edits 50 inputs and adds 10 nodes, theirs
   renames 20 nodes, edits 50 other inputs and adds 10 nodes) at each size: `pfgit merge-file`
   (the merge driver's library) next to `pfgit diff --no-index` of base and theirs. Near-linear
   means the CPU per 1,000 nodes stays flat as the flow grows.
2. Shapes: a 20,000-node linear chain, one node with 8,000 variants, one node with 40,000 inputs,
   2,000 alike nodes all renamed and edited (the diff's rename matching),
   a 1 MB Jinja2 template, a 100,000-line python tool, 1 MB lines (in the flow and in the tool),
   values nested 100 levels (the limit) and 101 (one clean error): validate, diff, merge.
3. A repository of 500 flow folders (5 nodes each): `pfgit validate` of the whole worktree and
   `pfgit diff --stat` between two commits (50 flows edited, 5 moved, 5 removed, 5 added).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile

import common  # noqa: E402  (bench/common.py)
from merge import synthetic  # noqa: E402  (bench/merge.py)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PFGIT = [sys.executable, "-m", "pfgit"]


def cpu_of(cmd: list, cwd: str | None = None) -> tuple:
    """(CPU seconds, exit code, first stderr line) of one process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    err = p.stderr.decode("utf-8", "replace").strip().splitlines()
    return cpu, p.returncode, err[0] if err else ""


def write(folder: str, files: dict) -> None:
    os.makedirs(folder, exist_ok=True)
    for name, text in files.items():
        with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
            f.write(text)


def by_nodes(tmp: str, sizes: list) -> None:
    print("node count (synthetic flow of bench/merge.py; CPU seconds of one process each):")
    for n in sizes:
        base, ours, theirs = synthetic(n)
        d = os.path.join(tmp, f"n{n}")
        write(d, {"O": base, "A": ours, "B": theirs})
        m = cpu_of(PFGIT + ["merge-file", "-p", "A", "O", "B"], d)
        f = cpu_of(PFGIT + ["diff", "--no-index", "O", "B"], d)
        print(f"  {n:6,} nodes ({len(base) / 1e6:4.1f} MB): merge-file {m[0]:6.2f} s "
              f"({m[0] / n * 1000:.2f} ms/node, exit {m[1]})   diff {f[0]:5.2f} s "
              f"({f[0] / n * 1000:.2f} ms/node)   merge/diff {m[0] / f[0]:.1f}x")


HEAD = ("inputs:\n  q:\n    type: string\n    default: hi\noutputs:\n  out:\n    type: string\n"
        "    reference: ${%s.output}\nnodes:\n")
TOOL = "from promptflow.core import tool\n\n\n@tool\ndef f(**kwargs):\n    return 1\n"


def _py(name: str, inputs: dict, path: str = "t.py") -> str:
    return (f"- name: {name}\n  type: python\n  source:\n    type: code\n    path: {path}\n  inputs:\n"
            + "".join(f"    {k}: {v}\n" for k, v in inputs.items()))


def _chain(n: int, edit: tuple | None) -> str:
    nodes = [_py(f"n{i}", {"x": "${inputs.q}" if i == 0 else f"${{n{i - 1}.output}}"}) for i in range(n)]
    if edit:
        nodes[edit[0]] = nodes[edit[0]].replace("    x:", f"    y: {edit[1]}\n    x:")
    return HEAD % f"n{n - 1}" + "".join(nodes)


def _variants(n: int, edit: tuple | None) -> str:
    t = HEAD % "v" + "- name: v\n  use_variants: true\nnode_variants:\n  v:\n" \
        "    default_variant_id: variant_0\n    variants:\n"
    for i in range(n):
        temp = edit[1] if edit and i == edit[0] else 0.5
        t += (f"      variant_{i}:\n        node:\n          type: llm\n          source:\n"
              "            type: code\n            path: p.jinja2\n          inputs:\n"
              f"            temperature: {temp}\n            deployment_name: gpt\n"
              "            q: ${inputs.q}\n          connection: c\n          api: chat\n")
    return t


def _inputs(n: int, edit: tuple | None) -> str:
    ins = {f"i{k}": (edit[1] if edit and k == edit[0] else "${inputs.q}" if k % 2 else k) for k in range(n)}
    return HEAD % "a" + _py("a", ins)


def _renamed(n: int, prefix: str, temp: int) -> str:
    """n nodes, alike but for a label and one input; `prefix` names them."""
    return HEAD % f"{prefix}{n - 1}" + "".join(
        _py(f"{prefix}{i}", {"q": "${inputs.q}", f"k{i % 13}": temp, "label": f"'x {i}'"},
            f"t{i % 7}.py") for i in range(n))


def _deep(levels: int, leaf: str) -> str:
    n = levels - 4   # the root, `nodes`, the node and its `inputs` are the first four
    return HEAD % "a" + _py("a", {"q": "${inputs.q}"}) + "    deep:\n" + \
        "".join("      " + "  " * i + f"k{i}:\n" for i in range(n - 1)) + "      " + "  " * (n - 1) + f"k: {leaf}\n"


def shapes() -> dict:
    """name -> three versions (base, ours, theirs) of a flow folder, as {file: text}."""
    one = HEAD % "a" + _py("a", {"x": "${inputs.q}"})
    prompt = HEAD % "a" + ("- name: a\n  type: prompt\n  source:\n    type: code\n    path: p.jinja2\n"
                           "  inputs:\n    q: ${inputs.q}\n")
    big_j = "".join(f"{{{{ q }}}} line {i} " + "x" * 60 + "\n" for i in range(14000))
    big_py = TOOL + "".join(f"def g{i}(a, b):\n    return a + b + {i}\n" for i in range(33000))
    long = "z" * 1_000_000
    long_flow = HEAD % "a" + _py("a", {"x": "${inputs.q}", "long": long})
    long_tool = TOOL + "# " + "y" * 1_000_000 + "\n"
    return {
        "chain of 20,000 nodes": [{"flow.dag.yaml": _chain(20000, e), "t.py": TOOL}
                                  for e in (None, (10, 1), (15000, 2))],
        "one node, 8,000 variants": [{"flow.dag.yaml": _variants(8000, e), "p.jinja2": "{{q}}"}
                                     for e in (None, (5, 0.7), (7000, 0.9))],
        "one node, 40,000 inputs": [{"flow.dag.yaml": _inputs(40000, e), "t.py": TOOL}
                                    for e in (None, (3, "x"), (35000, "y"))],
        "2,000 nodes, all renamed": [{"flow.dag.yaml": _renamed(2000, p, t), "t.py": TOOL}
                                     for p, t in (("old_", 1), ("new_", 2), ("old_", 3))],
        "1 MB jinja2 template": [{"flow.dag.yaml": prompt, "p.jinja2": t}
                                 for t in (big_j, big_j.replace("line 5 ", "line five "), big_j)],
        "100,000-line python tool": [{"flow.dag.yaml": one, "t.py": t}
                                     for t in (big_py, big_py.replace("+ 7\n", "+ 8\n"), big_py)],
        "1 MB lines": [{"flow.dag.yaml": long_flow, "t.py": long_tool},
                       {"flow.dag.yaml": long_flow.replace("zz\n", "z1\n"), "t.py": long_tool + "#\n"},
                       {"flow.dag.yaml": long_flow + "    other: 1\n", "t.py": TOOL}],
        "nested 100 levels": [{"flow.dag.yaml": _deep(100, leaf), "t.py": TOOL} for leaf in "vot"],
        "nested 101 levels": [{"flow.dag.yaml": _deep(101, leaf), "t.py": TOOL} for leaf in "vot"],
    }


def by_shape(tmp: str) -> None:
    print("shapes (CPU seconds of one process; exit code; first stderr line if any):")
    for name, versions in shapes().items():
        d = os.path.join(tmp, "shape")
        shutil.rmtree(d, ignore_errors=True)
        for i, files in enumerate(versions):
            write(os.path.join(d, f"v{i}"), files)
        shutil.copy(os.path.join(d, "v1", "flow.dag.yaml"), os.path.join(d, "ours.yaml"))
        row = []
        for what, cmd in (("validate", ["validate", "v0"]), ("diff", ["diff", "--no-index", "v0", "v1"]),
                          ("merge", ["merge-file", "ours.yaml", "v0/flow.dag.yaml", "v2/flow.dag.yaml"])):
            cpu, code, err = cpu_of(PFGIT + cmd, d)
            row.append(f"{what} {cpu:5.2f} s (exit {code})")
            if err and "nested" in name:
                row[-1] += f" [{err[err.find('YAML'):][:48]}]" if "YAML" in err else f" [{err[:60]}]"
        print(f"  {name:26} " + "   ".join(row))


def repo_of_flows(tmp: str, n: int = 500) -> None:
    d = os.path.join(tmp, "repo")
    git = ["git", "-C", d, "-c", "user.name=b", "-c", "user.email=b@b"]
    os.makedirs(d)
    subprocess.run(git + ["init", "-q"], check=True)

    def flow(i: int, temp: str = "0.5") -> dict:
        nodes = "".join(_py(f"n{k}", {"x": "${inputs.q}" if k == 0 else f"${{n{k - 1}.output}}"}) for k in range(4))
        nodes += ("- name: chat\n  type: llm\n  source:\n    type: code\n    path: p.jinja2\n  inputs:\n"
                  f"    deployment_name: gpt\n    temperature: {temp}\n    q: ${{n3.output}}\n"
                  "  connection: c\n  api: chat\n")
        return {"flow.dag.yaml": HEAD % "chat" + nodes, "t.py": TOOL.replace("**kwargs", "x: str"),
                "p.jinja2": "system:\nyou help\nuser:\n{{q}}\n"}

    for i in range(n):
        write(os.path.join(d, "flows", f"f{i:03d}"), flow(i))
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-qm", "one"], check=True)
    for i in range(0, n, n // 50):
        write(os.path.join(d, "flows", f"f{i:03d}"), flow(i, "0.7"))
    for i in range(5):
        os.rename(os.path.join(d, "flows", f"f{n - 1 - i:03d}"), os.path.join(d, "flows", f"moved{i}"))
        shutil.rmtree(os.path.join(d, "flows", f"f{n - 10 - i:03d}"))
        write(os.path.join(d, "flows", f"new{i}"), flow(n + i))
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-qm", "two"], check=True)
    v = cpu_of(PFGIT + ["validate"], d)
    f = cpu_of(PFGIT + ["diff", "HEAD~1", "HEAD", "--stat"], d)
    g = cpu_of(["git", "diff", "--stat", "HEAD~1", "HEAD"], d)
    print(f"repository of {n} flow folders: validate (worktree) {v[0]:.2f} s (exit {v[1]}); "
          f"diff HEAD~1 HEAD --stat {f[0]:.2f} s (git diff --stat {g[0]:.3f} s)")


def main() -> int:
    common.installed_like()
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", default="2000,5000,10000,20000")
    ap.add_argument("--skip-shapes", action="store_true")
    ap.add_argument("--skip-repo", action="store_true")
    args = ap.parse_args()
    os.environ["PYTHONPATH"] = ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start")
    tmp = tempfile.mkdtemp(prefix="pfgit-bench-scale-")
    try:
        by_nodes(tmp, [int(x) for x in args.nodes.split(",")])
        if not args.skip_shapes:
            by_shape(tmp)
        if not args.skip_repo:
            repo_of_flows(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
