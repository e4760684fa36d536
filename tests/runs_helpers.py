"""Shared set-up for the run store/index tests: a real git repo with a flow committed (one the
tests write themselves, tests/flows.py, so they run on a bare clone)."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess

import flows

ACC = "examples/flows/evaluation/eval-classification-accuracy"
IF_ELSE = "examples/flows/standard/conditional-flow-for-if-else"


def git(repo, *args, input=None) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, text=True, input=input,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE).stdout.strip()


def copy_flow(corpus: pathlib.Path, src: str, dest: pathlib.Path) -> None:
    shutil.copytree(corpus / src, dest)
    for p in [dest, *dest.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)


def make_repo(tmp_path: pathlib.Path, corpus: pathlib.Path | None = None, name: str = "repo") -> pathlib.Path:
    """flows/acc = the accuracy evaluation flow of tests/flows.py (committed), one commit on main.
    `corpus` is accepted for older callers and not used."""
    repo = tmp_path / name
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    flows.write(repo / "flows" / "acc", flows.ACCURACY)
    (repo / ".gitignore").write_text("__pycache__/\n.promptflow/\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "add acc flow")
    return repo


def commit_change(repo: pathlib.Path, rel: str, text: str, msg: str) -> str:
    p = repo / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "a", encoding="utf-8") as f:
        f.write(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", msg)
    return git(repo, "rev-parse", "HEAD")


def outputs(n: int, grade: str = "Correct") -> list:
    return [json.dumps({"grade": grade, "line_number": i}) for i in range(n)]


def run_cli(monkeypatch, capsys, cwd, *argv) -> tuple:
    """Run `pfgit ARGV` in-process in `cwd`: (exit code, stdout, stderr)."""
    from pfgit.cli.main import main

    monkeypatch.chdir(cwd)
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def all_objects_bytes(repo: pathlib.Path) -> bytes:
    """The content of every object in the repo (loose and packed), for secret scans."""
    ids = git(repo, "cat-file", "--batch-all-objects", "--batch-check=%(objectname)").split()
    p = subprocess.run(["git", "cat-file", "--batch"], cwd=repo, input="\n".join(ids).encode(),
                       stdout=subprocess.PIPE, check=True)
    return p.stdout


def open_repo(repo: pathlib.Path):
    from pfgit.git.repo import open_repo as o

    return o(str(repo))


def broken_copy(repo, src, name, part):
    """A run ref `name` whose commit message (what the index reads) is `src`'s, while its snapshot
    is broken inside: run.json not JSON, metrics.json a folder or outputs.jsonl a missing object
    (what a hostile fetched ref can hold)."""
    sha = git(repo, "rev-parse", f"refs/pfgit/runs/{src}")
    entries = []
    for ln in git(repo, "ls-tree", sha).splitlines():
        meta, fname = ln.split("\t")
        if fname == part == "run.json":
            meta = "100644 blob " + git(repo, "hash-object", "-w", "--stdin", input="not json")
        elif fname == part == "metrics.json":
            meta = "040000 tree " + git(repo, "mktree", input="")
        elif fname == part == "outputs.jsonl":
            meta = "100644 blob " + "1" * 40
        entries.append(f"{meta}\t{fname}")
    tree = git(repo, "mktree", "--missing", input="\n".join(entries) + "\n")
    msg = git(repo, "cat-file", "commit", sha).split("\n\n", 1)[1]
    git(repo, "update-ref", f"refs/pfgit/runs/{name}", git(repo, "commit-tree", tree, "-m", msg))
