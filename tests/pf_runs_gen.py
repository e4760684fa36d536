"""Generate REAL promptflow local run records with `pf run create` (used by the slow import test and
to capture tests/fixtures/pf_runs/). Not a test module itself.

Layout produced in `work`:
  repo/flows/if_else/      the corpus flow conditional-flow-for-if-else (python only), committed
  repo/flows/eval_acc/     the corpus flow eval-classification-accuracy, committed
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

CORPUS = pathlib.Path(os.environ.get("PFGIT_CORPUS") or pathlib.Path(__file__).resolve().parent.parent / ".." / "shared" / "corpus").resolve()
IF_ELSE = CORPUS / "examples/flows/standard/conditional-flow-for-if-else"
EVAL_ACC = CORPUS / "examples/flows/evaluation/eval-classification-accuracy"
PF = pathlib.Path(sys.executable).parent / "pf"


def git(repo, *args):
    return subprocess.run(["git", *args], cwd=repo, check=True, text=True,
                          stdout=subprocess.PIPE).stdout.strip()


def make_repo(repo: pathlib.Path) -> str:
    """A git repo with the two corpus flows committed; returns the commit id."""
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    for src, dst in ((IF_ELSE, "flows/if_else"), (EVAL_ACC, "flows/eval_acc")):
        shutil.copytree(src, repo / dst)
        (repo / dst).chmod(0o755)
        for p in (repo / dst).rglob("*"):
            p.chmod(0o644 if p.is_file() else 0o755)
    shutil.copytree(repo / "flows/if_else", repo / "flows/if_else_var")
    add_variants(repo / "flows/if_else_var/flow.dag.yaml")
    (repo / ".gitignore").write_text(".promptflow/\n__pycache__/\n.runs/\n")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-q", "-m", "flows")
    return git(repo, "rev-parse", "HEAD")


_DEFAULT_RESULT = """- name: default_result
  type: python
  source:
    type: code
    path: default_result.py
  inputs:
    question: ${inputs.question}
  activate:
    when: ${content_safety_check.output}
    is: false
"""


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
                "PF_DISABLE_TELEMETRY": "true", "PROMPTFLOW_DISABLE_TELEMETRY": "true"})
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


SOURCES = {"if_else": IF_ELSE, "eval_acc": EVAL_ACC}
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
        _strip_corpus_copies(out / "snapshot")
    src = sqlite3.connect(pfhome / "pf.sqlite")
    rows = src.execute("select * from run_info").fetchall()
    schema = src.execute("select sql from sqlite_master where name='run_info'").fetchone()[0]
    dst = sqlite3.connect(dest / "pf.sqlite")
    dst.execute(schema)
    dst.executemany(f"insert into run_info values ({','.join('?' * len(rows[0]))})", rows)
    dst.commit()


def _strip_corpus_copies(snap: pathlib.Path) -> None:
    """Corpus files are never copied into the project: drop snapshot files identical to the corpus
    flow's and name them in `.from-corpus.json`; `materialize` puts them back in a temp copy."""
    import hashlib

    flow = [k for k, src in SOURCES.items()
            if (src / "flow.dag.yaml").exists() and any(
                (snap / f.name).exists() for f in src.iterdir() if f.suffix == ".py")]
    src = SOURCES[flow[0]]
    dropped = []
    for f in sorted(snap.rglob("*")):
        rel = f.relative_to(snap).as_posix()
        if f.is_file() and (src / rel).is_file() and (src / rel).read_bytes() == f.read_bytes():
            dropped.append({"path": rel, "sha256": hashlib.sha256(f.read_bytes()).hexdigest()})
            f.unlink()
    corpus_rel = src.relative_to(CORPUS).as_posix()
    (snap / ".from-corpus.json").write_text(json.dumps({"corpus": corpus_rel, "files": dropped}, indent=1))


def materialize(fixture: pathlib.Path, dest: pathlib.Path) -> pathlib.Path:
    """A usable promptflow home from the trimmed fixture: copy it and restore corpus files."""
    shutil.copytree(fixture, dest)
    for manifest in dest.glob(".runs/*/snapshot/.from-corpus.json"):
        info = json.loads(manifest.read_text())
        for f in info["files"]:
            target = manifest.parent / f["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(CORPUS / info["corpus"] / f["path"], target)
            target.chmod(0o644)
        manifest.unlink()
    return dest


if __name__ == "__main__":  # python tests/pf_runs_gen.py WORKDIR [FIXTURE_DEST]
    res = generate(pathlib.Path(sys.argv[1]))
    if len(sys.argv) > 2:
        capture(res["pfhome"], pathlib.Path(sys.argv[2]))
    print(json.dumps({k: str(v) for k, v in res.items()}))
