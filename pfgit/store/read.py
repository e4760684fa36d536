"""Reading run snapshots back: run.json, metrics, streamed outputs and logs."""

from __future__ import annotations

import stat
from dataclasses import dataclass
from typing import Iterator

from dulwich.objects import Blob, Commit
from dulwich.repo import Repo

from ..errors import ReadError, UsageError
from ..git import objects as gobj
from ..git import runrefs
from .jsondata import loads


@dataclass
class RunSnapshot:
    name: str
    commit: str
    parents: list
    run: dict          # run.json
    metrics: dict
    files: dict        # top-level entry name -> (mode, sha)
    commit_time: int

    @property
    def flow_path(self) -> str:
        return self.run.get("flow", {}).get("path") or "."


# A fetched run is read as data, and git stores repetitive bytes 1000-fold smaller: a remote's
# 88 KB object was a 90 MB run.json (or commit) that every runs command inflated and parsed
# (640 MB, 18 s; a few more made the index refresh run out of memory). pfgit writes commits of a
# few kilobytes (trailers only up to 16 KB each) and run.json / metrics.json of kilobytes; bigger
# ones are judged by their header and not read (docs/security.md).
MAX_RUN_COMMIT_BYTES = 1 << 20
MAX_RECORD_BYTES = 16 << 20


def _oversized(repo: Repo, sha: bytes, cap: int) -> int | None:
    size = gobj.object_size(repo, sha)
    return size if size is not None and size > cap else None


def _json_blob(repo: Repo, files: dict, name: str, default):
    e = files.get(name)
    if e is None:
        return default
    if _oversized(repo, e[1], MAX_RECORD_BYTES):
        return default
    try:
        obj = repo[e[1]]
        return loads(obj.data) if isinstance(obj, Blob) else default   # a folder named run.json
    except (ValueError, RecursionError, KeyError):
        return default


# run.json fields that hold objects: a fetched run.json may hold anything there, and readers
# call .get on them (`pfgit checkout-run` of a run whose "flow" was a string was an internal error)
_OBJECT_FIELDS = ("flow", "lines", "source", "settings", "connections", "column_mapping", "tools")


def sane_run(run: dict) -> dict:
    """run.json with wrongly typed object fields emptied and the flow's path, commit and tree
    text or None."""
    for k in _OBJECT_FIELDS:
        if k in run and not isinstance(run[k], dict):
            run[k] = {}
    flow = run.get("flow") or {}
    for k in ("path", "commit", "tree"):
        if k in flow and not isinstance(flow[k], str):
            flow[k] = None
    return run


def parse_trailers(message: bytes) -> tuple:
    """(run.json, metrics) repeated in the commit message by the store, or (None, None)."""
    run = metrics = None
    for line in message.decode("utf-8", "replace").splitlines():
        try:
            if line.startswith("Pfgit-Run: "):
                run = loads(line[11:])
            elif line.startswith("Pfgit-Metrics: "):
                metrics = loads(line[15:])
        except (ValueError, RecursionError):
            return None, None
    if isinstance(run, dict) and isinstance(metrics, dict):
        return sane_run(run), metrics
    return None, None


def _commit(repo: Repo, name: str, commit: bytes):
    size = _oversized(repo, commit, MAX_RUN_COMMIT_BYTES)
    if size:
        raise ReadError(f"run '{name}': snapshot {commit.decode()[:12]} is a {size:,}-byte object, "
                        "not a commit pfgit wrote (a hand-made or fetched ref?); not read")
    try:
        c = repo[commit]
    except KeyError:
        raise ReadError(f"run '{name}': snapshot {commit.decode()[:12]} is missing objects") from None
    if not isinstance(c, Commit):  # a hand-made ref to a blob, tree or tag
        raise ReadError(f"run '{name}': {commit.decode()[:12]} is a {c.type_name.decode()}, not a run snapshot")
    return c


def read_summary(repo: Repo, name: str, commit: bytes) -> RunSnapshot:
    """Like read_snapshot, from the commit message alone when it carries the trailers (one object
    read instead of four: what rebuilding the index of 100,000 runs needs)."""
    c = _commit(repo, name, commit)
    run, metrics = parse_trailers(c.message)
    if run is None:
        return read_snapshot(repo, name, commit)
    return RunSnapshot(name=name, commit=commit.decode(), parents=[p.decode() for p in c.parents],
                       run=run, metrics=metrics, files={}, commit_time=c.commit_time)


def read_snapshot(repo: Repo, name: str, commit: bytes) -> RunSnapshot:
    c = _commit(repo, name, commit)
    try:
        files = gobj.tree_entries(repo, c.tree)
    except (KeyError, AttributeError):  # AttributeError: the commit's "tree" is a blob
        raise ReadError(f"run '{name}': snapshot {commit.decode()[:12]} is missing objects") from None
    run = _json_blob(repo, files, "run.json", None)
    if not isinstance(run, dict):
        e = files.get("run.json")
        size = e and _oversized(repo, e[1], MAX_RECORD_BYTES)
        raise ReadError(f"run '{name}': snapshot has no readable run.json" +
                        (f" (it is {size:,} bytes, more than pfgit reads: a hand-made or fetched "
                         "ref?)" if size else ""))
    metrics = _json_blob(repo, files, "metrics.json", {})
    return RunSnapshot(name=name, commit=commit.decode(), parents=[p.decode() for p in c.parents],
                       run=sane_run(run), metrics=metrics if isinstance(metrics, dict) else {}, files=files,
                       commit_time=c.commit_time)


def check_readable(repo: Repo, name: str, commit: bytes) -> RunSnapshot:
    """read_snapshot, also refusing a metrics.json that is not a JSON object and an outputs.jsonl
    that cannot be streamed (the index reads a run from its commit message alone, so a fetched
    snapshot can look fine there and be broken inside). Raises ReadError naming the run."""
    snap = read_snapshot(repo, name, commit)
    e = snap.files.get("metrics.json")
    if e is not None and not isinstance(_json_blob(repo, snap.files, "metrics.json", None), dict):
        raise ReadError(f"run '{name}': metrics.json in snapshot {commit.decode()[:12]} is not a "
                        "readable JSON object")
    for _ in stream_file(repo, snap):
        break  # the first line read: the object exists and is a file
    return snap


def load_run(repo: Repo, name: str) -> RunSnapshot:
    sha = runrefs.get_run(repo, name)
    if sha is None:
        raise UsageError(f"unknown run '{name}'")
    return read_snapshot(repo, name, sha)


def stream_file(repo: Repo, snap: RunSnapshot, fname: str = "outputs.jsonl") -> Iterator[bytes]:
    e = snap.files.get(fname)
    if e is None:
        return iter(())
    # a fetched snapshot may hold a submodule, a folder or a missing object under that name
    bad = ReadError(f"run '{snap.name}': {fname} in snapshot {snap.commit[:12]} is not a "
                    "readable file (a hand-made or fetched ref?)")
    if not stat.S_ISREG(e[0]):
        raise bad

    def lines():   # `sha in object_store` would read a loose blob whole: ask while streaming
        try:
            yield from gobj.iter_lines(repo, e[1])
        except KeyError:
            raise bad from None
    return lines()


# Logs are read line by line (a 100,000-line run's errors.jsonl is tens of megabytes), and a
# fetched one is judged by its header first: git stores gigabytes of repetitive log in a few
# megabytes, and reading one whole made an evaluation run on such a base run read all of it.
MAX_LOG_BYTES = 256 << 20
MAX_LOG_LINE = 1 << 20


def _log_entries(repo: Repo, snap: RunSnapshot) -> dict:
    e = snap.files.get("logs")
    if e is None or not stat.S_ISDIR(e[0]):
        return {}
    try:
        entries = gobj.tree_entries(repo, e[1])
    except (KeyError, AttributeError):
        return {}
    # a folder or a submodule among the logs: not a log
    return {n: sha for n, (mode, sha) in entries.items() if stat.S_ISREG(mode)}


class LogTooBig(ReadError):
    """A log larger than pfgit reads (MAX_LOG_BYTES)."""


def log_lines(repo: Repo, snap: RunSnapshot, name: str, max_bytes: int | None = None,
              max_line: int | None = None) -> Iterator[bytes | None]:
    """The lines of the run's logs/<name>, streamed; nothing when there is no such log. None
    stands for a line longer than `max_line` (not kept). Raises LogTooBig, with a one-line
    message naming the run and the log, when it is bigger than `max_bytes`."""
    max_bytes = MAX_LOG_BYTES if max_bytes is None else max_bytes
    max_line = MAX_LOG_LINE if max_line is None else max_line
    sha = _log_entries(repo, snap).get(name)
    if sha is None:
        return iter(())
    size = gobj.object_size(repo, sha)
    if size is not None and size > max_bytes:
        raise LogTooBig(f"run '{snap.name}': logs/{name} is {size:,} bytes, more than pfgit reads "
                        f"({max_bytes >> 20} MB; a hand-made or fetched ref?): not read")

    def lines():
        try:
            yield from gobj.iter_lines(repo, sha, max_line)
        except KeyError:   # a missing object: no log
            return
    return lines()


def logs(repo: Repo, snap: RunSnapshot, max_bytes: int = MAX_RECORD_BYTES) -> dict:
    """{name: content} of the run's logs no bigger than `max_bytes` each (by their header: a
    bigger one is left out, never inflated); log_lines streams any of them."""
    out = {}
    for n, sha in _log_entries(repo, snap).items():
        size = gobj.object_size(repo, sha)
        if size is None or size > max_bytes:
            continue
        try:
            obj = repo[sha]
        except KeyError:
            continue
        if isinstance(obj, Blob):
            out[n] = obj.data
    return out
