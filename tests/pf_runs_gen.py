"""Generate REAL promptflow local run records with `pf run create` (used by the slow import test and
to capture tests/fixtures/pf_runs/). Not a test module itself.

Layout produced in `work`:
  repo/flows/if_else/      tests/flows.py's IF_ELSE flow (python only), committed
  repo/flows/eval_acc/     tests/flows.py's ACCURACY evaluation flow, committed
  repo/flows/if_else_var/  if_else with its `default_result` node turned into two variants
  pfhome/                  PF_HOME_DIRECTORY with pf.sqlite and .runs/<name>/
Runs: `batch1` (if_else), `eval1` (eval_acc, base run batch1, column mapping), `variant1`
(if_else_var with --variant ${default_result.variant_1}: pf merges that variant into the
snapshot's `nodes`).
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

import flows

PF = pathlib.Path(sys.executable).parent / "pf"


def git(repo, *args):
    return subprocess.run(["git", *args], cwd=repo, check=True, text=True,
                          stdout=subprocess.PIPE).stdout.strip()


def make_repo(repo: pathlib.Path) -> str:
    """A git repo with the two flows committed; returns the commit id."""
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    flows.write(repo / "flows/if_else", flows.IF_ELSE)
    flows.write(repo / "flows/eval_acc", flows.ACCURACY)
    shutil.copytree(repo / "flows/if_else", repo / "flows/if_else_var")
    add_variants(repo / "flows/if_else_var/flow.dag.yaml")
    (repo / ".gitignore").write_text(".promptflow/\n__pycache__/\n.runs/\n")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-q", "-m", "flows")
    return git(repo, "rev-parse", "HEAD")


_IF_ELSE = flows.IF_ELSE["flow.dag.yaml"]
# the default_result node's text, as the flow file has it
_DEFAULT_RESULT = _IF_ELSE[_IF_ELSE.index("- name: default_result\n"):_IF_ELSE.index("- name: generate_result\n")]


def add_variants(flow_file: pathlib.Path) -> None:
    """Turn the if_else flow's default_result node into variant_0 (as is) and variant_1."""
    text = flow_file.read_text()
    assert _DEFAULT_RESULT in text
    body = _DEFAULT_RESULT.split("\n", 1)[1]
    v1 = body.replace("question: ${inputs.question}", "question: Fixed question")
    text = text.replace(_DEFAULT_RESULT, "- name: default_result\n  use_variants: true\n")
    text = text.replace("environment:", "node_variants:\n  default_result:\n    default_variant_id: variant_0\n"
                        "    variants:\n" + _variant("variant_0", body) + _variant("variant_1", v1)
                        + "environment:")
    flow_file.write_text(text)


def _variant(vid: str, body: str) -> str:
    return f"      {vid}:\n        node:\n" + "".join("        " + ln + "\n" for ln in body.splitlines())


def pf_env(work: pathlib.Path) -> dict:
    env = dict(os.environ)
    home = work / "home"
    home.mkdir(exist_ok=True)
    env.update({"HOME": str(home), "PF_HOME_DIRECTORY": str(work / "pfhome"),
                "PF_DISABLE_TELEMETRY": "true", "PROMPTFLOW_DISABLE_TELEMETRY": "true",
                # one worker process: promptflow gives a worker 60 s to start, which a loaded
                # 2-core machine running two pools at once has missed
                "PF_WORKER_COUNT": "1"})
    return env


def pf(env, *args, cwd=None):
    p = subprocess.run([str(PF), *args], env=env, cwd=cwd, text=True, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=300)
    if p.returncode:
        raise RuntimeError(f"pf {' '.join(args)} failed: {p.stderr[-2000:]}")
    return p.stdout


def generate(work: pathlib.Path) -> dict:
    """Create the repo and run the flows with pf. Returns {"repo", "pfhome", "commit"}."""
    work = pathlib.Path(work)
    repo = work / "repo"
    commit = make_repo(repo)
    env = pf_env(work)
    try:
        pf(env, "config", "set", "telemetry.enabled=false")
        data = work / "questions.jsonl"
        data.write_text('{"question": "What is Prompt flow?", "expected": "Prompt flow"}\n'
                        '{"question": "What is ChatGPT?", "expected": "ChatGPT"}\n')
        pf(env, "run", "create", "--flow", str(repo / "flows/if_else"), "--data", str(data),
           "--name", "batch1", "--column-mapping", "question=${data.question}", cwd=str(repo))
        pf(env, "run", "create", "--flow", str(repo / "flows/eval_acc"), "--data", str(data),
           "--run", "batch1", "--name", "eval1",
           "--column-mapping", "groundtruth=${data.expected}", "prediction=${run.outputs.answer}",
           cwd=str(repo))
        pf(env, "run", "create", "--flow", str(repo / "flows/if_else_var"), "--data", str(data),
           "--name", "variant1", "--variant", "${default_result.variant_1}",
           "--column-mapping", "question=${data.question}", cwd=str(repo))
    finally:
        subprocess.run([str(PF), "service", "stop"], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=120)
    return {"repo": repo, "pfhome": work / "pfhome", "commit": commit}


KEEP_FILES = {"meta.json", "inputs.jsonl", "outputs.jsonl", "metrics.json", "logs.txt", "error.json"}


def capture(pfhome: pathlib.Path, dest: pathlib.Path) -> None:
    """Copy a trimmed version of the run records (folders + pf.sqlite run_info rows) to `dest`."""
    import sqlite3

    if dest.exists():
        shutil.rmtree(dest)
    (dest / ".runs").mkdir(parents=True)
    for run in sorted((pfhome / ".runs").iterdir()):
        out = dest / ".runs" / run.name
        out.mkdir()
        for f in run.iterdir():
            if f.name in KEEP_FILES:
                shutil.copy(f, out / f.name)
        for sub in ("flow_outputs", "snapshot"):
            if (run / sub).is_dir():
                shutil.copytree(run / sub, out / sub, ignore=shutil.ignore_patterns("__pycache__"))
    src = sqlite3.connect(pfhome / "pf.sqlite")
    rows = src.execute("select * from run_info").fetchall()
    schema = src.execute("select sql from sqlite_master where name='run_info'").fetchone()[0]
    dst = sqlite3.connect(dest / "pf.sqlite")
    dst.execute(schema)
    dst.executemany(f"insert into run_info values ({','.join('?' * len(rows[0]))})", rows)
    dst.commit()


def materialize(fixture: pathlib.Path, dest: pathlib.Path) -> pathlib.Path:
    """A usable promptflow home from the fixture (a copy: imports may write next to it)."""
    shutil.copytree(fixture, dest)
    return dest


if __name__ == "__main__":  # python tests/pf_runs_gen.py WORKDIR [FIXTURE_DEST]
    res = generate(pathlib.Path(sys.argv[1]))
    if len(sys.argv) > 2:
        capture(res["pfhome"], pathlib.Path(sys.argv[2]))
    print(json.dumps({k: str(v) for k, v in res.items()}))
