"""Git histories for the pfgit.history tests, written with one `git fast-import` each."""

from __future__ import annotations

import datetime
import pathlib
import subprocess


def _data(b: bytes) -> bytes:
    return b"data %d\n%s\n" % (len(b), b)


def fast_import(repo: pathlib.Path, commits: list, branch: str = "main") -> list:
    """Write `commits` [{files: {path: bytes|None (delete)}, msg, time, tz ("+0000"), author,
    merge: mark|None}] as a first-parent chain on `branch` (a fresh repo when it has no .git).
    Returns the commit ids in order."""
    if not (repo / ".git").exists():
        repo.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "init", "-q", "-b", branch], cwd=repo, check=True)
    buf = []
    for i, c in enumerate(commits, 1):
        who = c.get("author", "Ada <ada@example.com>").encode()
        when = b"%d %s" % (c.get("time", 1_700_000_000 + i * 60), c.get("tz", "+0000").encode())
        buf.append(b"commit refs/heads/%s\nmark :%d\nauthor %s %s\ncommitter %s %s\n"
                   % (branch.encode(), i, who, when, who, when))
        buf.append(_data(c["msg"].encode()))
        if i == 1 and c.get("from"):
            buf.append(b"from %s\n" % c["from"].encode())
        if c.get("merge"):
            buf.append(b"merge %s\n" % c["merge"].encode())
        for path, content in c["files"].items():
            if content is None:
                buf.append(b"D %s\n" % path.encode())
            else:
                buf.append(b"M 100644 inline %s\n" % path.encode() + _data(content))
    buf += [b"get-mark :%d\n" % i for i in range(1, len(commits) + 1)]
    p = subprocess.run(["git", "fast-import", "--quiet", "--done"], cwd=repo,
                       input=b"".join(buf) + b"done\n", stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, check=True)
    head = subprocess.run(["git", "symbolic-ref", "--short", "HEAD"], cwd=repo, text=True,
                          stdout=subprocess.PIPE).stdout.strip()
    if head == branch:
        subprocess.run(["git", "reset", "-q", "--hard", branch], cwd=repo, check=True)
    return p.stdout.decode().split()


def corpus_commits(hist_dir: pathlib.Path, folder: str = "flow") -> list:
    """The versions of a corpus history (`NN_<sha>.flow.dag.yaml`, log.tsv) as commits."""
    rows = [ln.split("\t") for ln in (hist_dir / "log.tsv").read_text().splitlines()[1:] if ln]
    out = []
    for idx, sha, date, subject in rows:
        when = datetime.datetime.fromisoformat(date)
        off = int(when.utcoffset().total_seconds() // 60) if when.utcoffset() else 0
        tz = f"{'+' if off >= 0 else '-'}{abs(off) // 60:02d}{abs(off) % 60:02d}"
        f = hist_dir / f"{idx}_{sha[:10]}.flow.dag.yaml"
        out.append({"files": {f"{folder}/flow.dag.yaml": f.read_bytes()}, "msg": subject,
                    "time": int(when.timestamp()), "tz": tz, "author": f"Upstream <{sha[:10]}@example.com>"})
    return out
