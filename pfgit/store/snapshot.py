"""Recording a run as a git commit under refs/pfgit/runs/<name> (layout in docs/runs.md).

Snapshot commit tree:
    flow/            the flow folder as run (the very tree object of the flow commit: no copies)
    run.json         settings and summary (schema "pfgit.run/1")
    outputs.jsonl    per-line outputs, one JSON object per line
    inputs.jsonl     per-line inputs (when known)
    metrics.json     {metric: value}
    logs/<file>      logs
Parents: the flow commit, then the base run's snapshot (evaluation runs).
Order of writes: every object, then the ref (compare-and-swap), then the index (a cache).
A crash before the ref leaves only unreferenced objects that `git gc` prunes.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import posixpath
import time
from dataclasses import dataclass
from typing import Iterable, Iterator

from dulwich.repo import Repo

from ..errors import UsageError
from ..git import objects as gobj
from ..git import runrefs
from ..git.objects import unsafe_entry_name
from ..git.repo import resolve, worktree_prefix
from ..git.worktree import flow_source
from ..run.result import RunResult
from . import jsondata
from .jsondata import check
from .names import default_run_name, is_dag_folder, validate_run_name
from .secrets import Redactor, connection_names, drop_secret_keys, secret_values

SCHEMA = "pfgit.run/1"
FLOW_DIR = "flow"


@dataclass
class RecordedRun:
    name: str
    commit: str          # snapshot commit
    flow_path: str
    flow_commit: str
    flow_tree: str
    dirty: bool
    lines: int
    ref: str

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def now_iso(ts: float | None = None) -> str:
    ts = time.time() if ts is None else ts
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int((ts % 1) * 1e6):06d}+00:00"


def flow_rel_path(repo: Repo, flow_dir: str) -> str:
    """The flow folder relative to the repository top (accepts a folder or its flow file).
    A folder in or below `.git` (any case) is refused: that is git's own data, never a flow."""
    rel = _flow_rel_path(repo, flow_dir)
    if any(unsafe_entry_name(seg) for seg in rel.split("/") if seg != "."):
        raise UsageError("is inside git's own folder (.git), not a flow folder", file=flow_dir)
    return rel


def _flow_rel_path(repo: Repo, flow_dir: str) -> str:
    p = flow_dir
    if os.path.exists(p):
        if os.path.isfile(p):
            p = os.path.dirname(os.path.abspath(p))
        rel = worktree_prefix(repo, p)
        if rel.startswith(".."):
            raise UsageError("flow folder is outside the repository", file=flow_dir)
        return rel
    rel = posixpath.normpath(flow_dir.replace(os.sep, "/")).strip("/")
    if rel.endswith((".yaml", ".yml")):
        rel = posixpath.dirname(rel)
    return rel or "."


def iso_time(value: str | None, what: str) -> str | None:
    """An ISO-8601 time as UTC with offset (a naive time is taken as UTC), so that runs sort by
    time as text; anything else is refused rather than stored as given."""
    if not value:
        return None
    from datetime import datetime, timezone

    try:
        dt = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{what} '{value}' is not an ISO-8601 time (e.g. 2026-11-26T22:01:04+00:00)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).isoformat()


def tool_versions(extra: dict | None = None) -> dict:
    from .. import __version__

    out = {"pfgit": __version__, "python": platform.python_version()}
    out.update(extra or {})
    return out


def _json_lines(items: Iterable, redact: Redactor, what: str, counter: list) -> Iterator[bytes]:
    """Validated JSON lines as bytes; each line is parsed only to check it (never kept)."""
    src = getattr(items, "name", None)   # a file's lines: errors say file:line
    where = {"file": src} if isinstance(src, str) else {}
    for i, item in enumerate(items, 1):
        if isinstance(item, dict):
            line = jsondata.utf8(item)
        else:
            line = item.encode("utf-8") if isinstance(item, str) else bytes(item)
            line = line.rstrip(b"\r\n")
            if not line.strip():
                continue
            try:
                obj = check(line)
            except (ValueError, RecursionError) as e:
                raise UsageError(f"{what} line {i} is not JSON: {e}", **where, line=i) from None
            if not isinstance(obj, dict):  # readers (show --details, metrics) expect objects
                raise UsageError(f"{what} line {i} is not a JSON object", **where, line=i)
            if b"\n" in line:  # pretty-printed JSON given as one item: keep JSON Lines valid;
                # a raw newline is never inside a JSON string, so joining the lines keeps the data
                line = b" ".join(p.strip() for p in line.splitlines() if p.strip())
            del obj
        if redact:
            line = redact.json_line(line)
        counter[0] += 1
        yield line + b"\n"


def _is_file(v) -> bool:
    """A log given as the path of a file (else it is the log's text)."""
    return isinstance(v, str) and "\n" not in v and os.path.isfile(v)


def _file_lines(path: str):
    with open(path, "rb") as f:
        yield from f


def _log_bytes(v) -> bytes:
    if isinstance(v, bytes):
        return v
    return str(v).encode("utf-8")


def file_sha256(path: str) -> str | None:
    try:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()
    except OSError:
        return None


def _data_info(repo: Repo, data: str | None) -> dict | None:
    if not data:
        return None
    info = {"path": data, "sha256": file_sha256(data)}
    if os.path.exists(data):
        rel = os.path.relpath(os.path.realpath(data), os.path.realpath(repo.path))
        # repo-relative (portable) when inside the repository, else absolute like promptflow
        info["path"] = os.path.abspath(data) if rel.startswith("..") else rel.replace(os.sep, "/")
    return info


def record_run(repo: Repo, flow_dir: str, name: str | None, outputs: Iterable, metrics: dict | None,
               settings: dict | None = None, logs: dict | None = None, base_run: str | None = None,
               *, inputs: Iterable | None = None, flow_commit: str | None = None,
               force: bool = False, update_index: bool = True,
               unlinked_tree: bytes | None = None, flow_src: tuple | None = None,
               flow_rel: str | None = None) -> RecordedRun:
    """Write a run snapshot commit and its ref. `settings` keys: data, column_mapping, variant,
    status, start_time, end_time, lines_failed, lines_total, connections, environment, secrets,
    tools, source, extra (see RunResult). Returns what was recorded."""
    settings = dict(settings or {})
    generated = None
    flow_rel = flow_rel or flow_rel_path(repo, flow_dir)
    name = validate_run_name(name) if name else default_run_name(
        flow_rel, folder=flow_dir, variant=settings.get("variant"), dag=is_dag_folder(flow_dir))
    if not force and runrefs.get_run(repo, name) is not None:
        raise UsageError(f"run '{name}' already exists (choose another --name)")
    given_start = iso_time(settings.get("start_time"), "start time")  # refused before any write
    given_end = iso_time(settings.get("end_time"), "end time")
    metrics = dict(metrics or {})
    if not all(isinstance(k, str) for k in metrics):
        raise UsageError("metrics must be a JSON object with string keys")

    base_sha = None
    if base_run:
        base_sha = runrefs.get_run(repo, base_run)
        if base_sha is None:
            raise UsageError(f"unknown base run '{base_run}'")

    if unlinked_tree is not None:  # imported run whose flow matches no commit
        fc, ft, dirty = None, unlinked_tree, False
    elif flow_src is not None:     # captured when the run started (pfgit.git.worktree.flow_source)
        fc, ft, dirty = flow_src[0].encode(), flow_src[1].encode(), bool(flow_src[2])
        # files the run generated into its flow (`--flow module:function`: flow.flex.yaml), in
        # the tree but not in the flow commit
        generated = sorted(map(str, flow_src[3])) if len(flow_src) > 3 and flow_src[3] else None
    elif flow_commit:
        fc = resolve(repo, flow_commit)
        ft = gobj.tree_at(repo, repo[fc].tree, flow_rel)
        if ft is None:
            raise UsageError(f"no folder '{flow_rel}' in commit {fc.decode()[:12]}")
        dirty = False
    else:
        try:
            fc, ft, dirty = flow_source(repo, flow_rel, name)
        except FileNotFoundError:
            raise UsageError("flow folder not found", file=flow_dir) from None

    env = settings.get("environment") or {}
    conns = settings.get("connections") or {}
    redact = Redactor(secret_values(env, settings.get("secrets"), conns))

    counter = [0]
    out_id, _ = gobj.put_blob_stream(repo, _json_lines(outputs or (), redact, "outputs", counter))
    n_out = counter[0]
    entries = {
        FLOW_DIR: (gobj.DIR_MODE, ft),
        "outputs.jsonl": (gobj.FILE_MODE, out_id),
        "metrics.json": (gobj.FILE_MODE, gobj.put_bytes(repo, _capped(
            "metrics", (json.dumps(redact.value(metrics), indent=2, sort_keys=True) + "\n").encode()))),
    }
    if inputs is not None:
        inc = [0]
        in_id, _ = gobj.put_blob_stream(repo, _json_lines(inputs, redact, "inputs", inc))
        entries["inputs.jsonl"] = (gobj.FILE_MODE, in_id)
    if logs:
        log_entries = {}
        for lname, content in logs.items():
            safe = posixpath.basename(str(lname).replace("\\", "/")) or "log.txt"
            if isinstance(content, (str, bytes)) and not _is_file(content):
                blob = gobj.put_bytes(repo, redact.bytes(_log_bytes(content)))
            else:   # a file, or an iterable of its lines (bytes)
                lines = _file_lines(content) if isinstance(content, str) else content
                if any(b"\n" in f for f in redact.forms):   # a secret holding a newline (a PEM
                    blob = gobj.put_bytes(repo, redact.bytes(b"".join(lines)))   # key): the whole text
                else:   # line by line, in bounded memory (a 100,000-line run's logs)
                    blob, _ = gobj.put_blob_stream(repo, (redact.bytes(ln) for ln in lines))
            log_entries[safe] = (gobj.FILE_MODE, blob)
        entries["logs"] = (gobj.DIR_MODE, gobj.make_tree(repo, log_entries))

    failed = settings.get("lines_failed")
    total = settings.get("lines_total")
    if total is None:
        total = n_out + (failed or 0)
    start = given_start or now_iso()
    end = given_end or now_iso()
    run_json = {
        "schema": SCHEMA,
        "name": name,
        "flow": {"path": flow_rel, "commit": fc.decode() if fc else None, "tree": ft.decode(), "dirty": dirty,
                 **({"generated": generated} if generated else {})},
        "data": _data_info(repo, settings.get("data")),
        "column_mapping": dict(settings.get("column_mapping") or {}),
        "variant": settings.get("variant"),
        "base_run": {"name": base_run, "commit": base_sha.decode()} if base_run else None,
        "status": settings.get("status") or "Completed",
        "start_time": start,
        "end_time": end,
        "lines": {"total": total, "completed": n_out, "failed": failed if failed is not None
                  else max(total - n_out, 0)},
        "connections": connection_names(conns),
        "environment": sorted(str(k) for k in env),
        "tools": tool_versions(settings.get("tools")),
        "source": drop_secret_keys(settings.get("source") or {"tool": "pfgit"}),
        "settings": redact.value(drop_secret_keys(settings.get("extra") or {})),
    }
    run_json = redact.value(run_json)
    entries["run.json"] = (gobj.FILE_MODE, gobj.put_bytes(
        repo, _capped("run.json", jsondata.utf8(run_json, indent=2) + b"\n")))
    tree = gobj.make_tree(repo, entries)
    parents = ([fc] if fc else []) + ([base_sha] if base_sha else [])
    msg = commit_message(name, run_json, redact.value(metrics))
    commit = gobj.make_commit(repo, tree, parents, msg)

    if _crash_hook():  # tests simulate a crash between the objects and the ref
        raise SystemExit(99)
    if not runrefs.add_run_ref(repo, name, commit, force=force):
        raise UsageError(f"run '{name}' already exists (recorded concurrently?)")
    rec = RecordedRun(name=name, commit=commit.decode(), flow_path=flow_rel,
                      flow_commit=fc.decode() if fc else None,
                      flow_tree=ft.decode(), dirty=dirty, lines=n_out,
                      ref=runrefs.run_ref(name).decode())
    if update_index:
        try:
            from ..index.db import index_recorded_run

            index_recorded_run(repo, name, commit)
        except Exception:  # the index is a cache: the next command refreshes it from the refs
            if os.environ.get("PFGIT_DEBUG") == "1":
                raise
    return rec


TRAILER_MAX = 16384


def _capped(what: str, data: bytes) -> bytes:
    """`data`, refused when readers would not read it back (pfgit.store.read.MAX_RECORD_BYTES)."""
    from .read import MAX_RECORD_BYTES

    if len(data) > MAX_RECORD_BYTES:
        raise UsageError(f"the run's {what} would be {len(data):,} bytes; pfgit reads at most "
                         f"{MAX_RECORD_BYTES >> 20} MB of it (docs/security.md)")
    return data


def commit_message(name: str, run_json: dict, metrics: dict) -> str:
    """A readable header plus `Pfgit-Run:`/`Pfgit-Metrics:` trailers repeating run.json and
    metrics.json in compact form (when small), so `pfgit index rebuild` reads one object per run
    instead of four. The files in the tree stay the reference (read when a trailer is absent)."""
    flow = run_json.get("flow") or {}
    lines = run_json.get("lines") or {}
    msg = (f"pfgit run {name}\n\nflow: {flow.get('path')}\nflow-tree: {flow.get('tree')}\n"
           f"status: {run_json.get('status')}\nlines: {lines.get('completed')}/{lines.get('total')}\n")
    rj = jsondata.utf8(run_json, separators=(",", ":")).decode("utf-8")
    mj = jsondata.utf8(metrics, separators=(",", ":"), sort_keys=True).decode("utf-8")
    if len(rj) <= TRAILER_MAX and len(mj) <= TRAILER_MAX:
        msg += f"\nPfgit-Run: {rj}\nPfgit-Metrics: {mj}\n"
    return msg


def _crash_hook() -> bool:
    return os.environ.get("PFGIT_TEST_CRASH_BEFORE_REF") == "1"


def record_result(repo: Repo, result: RunResult, force: bool = False,
                  unlinked_tree: bytes | None = None) -> RecordedRun:
    """Record a RunResult (what `runs record`, imports and runners produce)."""
    settings = {
        "data": result.data, "column_mapping": result.column_mapping, "variant": result.variant,
        "status": result.status, "start_time": result.start_time, "end_time": result.end_time,
        "lines_failed": result.lines_failed, "lines_total": result.lines_total,
        "connections": result.connections, "environment": result.environment,
        "secrets": result.secrets, "tools": result.tools, "source": result.source,
        "extra": result.extra,
    }
    return record_run(repo, result.flow, result.name, result.outputs, result.metrics, settings,
                      result.logs, result.base_run, inputs=result.inputs,
                      flow_commit=result.flow_commit, force=force, unlinked_tree=unlinked_tree,
                      flow_src=result.flow_source, flow_rel=result.flow_rel)
