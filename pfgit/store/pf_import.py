"""`pfgit runs import`: promptflow's local run records (`~/.promptflow/.runs/<name>/` and the
`run_info` rows of `pf.sqlite`) recorded as run snapshots, each linked to the commit whose flow
folder matches the run's `snapshot/` (see flowmatch), else stored as an unlinked run."""

from __future__ import annotations

import errno
import json
import os
import sqlite3
from dataclasses import dataclass, field

from dulwich.repo import Repo

from ..errors import PfgitError, UsageError
from ..flow.readers import DirReader, within
from ..git import runrefs
from ..git.repo import TreeReader
from .flowmatch import FlowIdentity
from .jsondata import loads
from .names import escape_run_name


@dataclass
class PfRun:
    name: str
    folder: str
    home: str | None
    row: dict = field(default_factory=dict)        # run_info row (if pf.sqlite has it)
    properties: dict = field(default_factory=dict)

    @property
    def created_on(self) -> str | None:
        return self.row.get("created_on")


def default_home() -> str:
    return os.environ.get("PF_HOME_DIRECTORY") or os.path.join(os.path.expanduser("~"), ".promptflow")


def is_run_folder(p: str) -> bool:
    return any(os.path.exists(os.path.join(p, x)) for x in ("snapshot", "flow_outputs", "meta.json"))


def find_runs(paths: list) -> list:
    """PfRun for each run folder named by `paths` (a promptflow home, a `.runs` folder or a run
    folder), oldest first so base runs are imported before their evaluations."""
    found: list = []
    for arg in paths or [default_home()]:
        arg = os.path.abspath(arg)
        if not os.path.isdir(arg):
            raise UsageError("not a promptflow home or run folder", file=arg)
        if os.path.isdir(os.path.join(arg, ".runs")):
            home, folders = arg, _children(os.path.join(arg, ".runs"))
        elif os.path.basename(arg) == ".runs":
            home, folders = os.path.dirname(arg), _children(arg)
        elif is_run_folder(arg):
            parent = os.path.dirname(arg)
            home = os.path.dirname(parent) if os.path.basename(parent) == ".runs" else None
            folders = [arg]
        else:
            raise UsageError("not a promptflow home or run folder", file=arg)
        rows = _rows(home)
        for f in folders:
            name = os.path.basename(f)
            row = rows.get(name, {})
            try:
                props = json.loads(row.get("properties") or "{}")
            except ValueError:
                props = {}
            found.append(PfRun(name, f, home, row, props if isinstance(props, dict) else {}))
    found.sort(key=lambda r: (r.created_on or _mtime(r.folder), r.name))
    return found


def _children(d: str) -> list:
    return [os.path.join(d, n) for n in sorted(os.listdir(d)) if is_run_folder(os.path.join(d, n))]


def _mtime(p: str) -> str:
    from .snapshot import now_iso

    return now_iso(os.path.getmtime(p))


def _query_pf(home: str | None, sql: str) -> list:
    """Rows (as dicts) of a query on promptflow's pf.sqlite, read-only; [] when unreadable."""
    if not home or not os.path.exists(os.path.join(home, "pf.sqlite")):
        return []
    try:
        conn = sqlite3.connect(f"file:{os.path.join(home, 'pf.sqlite')}?mode=ro", uri=True)
        try:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute(sql)]
        finally:
            conn.close()
    except sqlite3.Error:
        return []


def _rows(home: str | None) -> dict:
    return {r["name"]: r for r in _query_pf(home, "SELECT * FROM run_info")}


def _connection_table(home: str | None) -> set:
    """Names of promptflow's local connections (never their secrets)."""
    return {r["connectionName"] for r in _query_pf(home, "SELECT connectionName FROM connection")}


class RunFolderGuard:
    """Nothing is read through a symlink that leaves the run folder (a run folder may come from
    someone else); such links and symlink loops are skipped and reported in `warnings`."""

    def __init__(self, folder: str):
        self.folder = folder
        self.top = os.path.realpath(folder)
        self.warnings: list = []

    def ok(self, path: str) -> bool:
        if not os.path.lexists(path):
            return True  # absent: the caller's usual handling
        shown = os.path.relpath(path, self.folder)
        try:
            os.stat(path)
        except OSError as e:
            if e.errno == errno.ELOOP:
                self.warnings.append(f"{shown}: symbolic link loop; not imported")
                return False
            return True
        if not within(os.path.realpath(path), self.top):
            self.warnings.append(f"{shown}: symbolic link to {os.path.realpath(path)}, outside the "
                                 "run folder; not imported")
            return False
        return True


def snapshot_connections(snapshot_dir: str, known: set, guard: RunFolderGuard | None = None) -> dict:
    """{"node.field": NAME} read from the run's flow: LLM nodes' `connection`, and node inputs whose
    value names one of promptflow's connections (python tools take connections as inputs)."""
    from ..flow.load import load_text

    for fname in ("flow.dag.yaml", "flow.dag.yml"):
        path = os.path.join(snapshot_dir, fname)
        if guard is not None and not guard.ok(path):
            continue
        try:
            with open(path, "rb") as f:
                flow = load_text(f.read(), fname)
            break
        except Exception:  # missing or unreadable: no names rather than a failed import
            continue
    else:
        return {}
    out = {}
    for node in flow.nodes:
        conn = node.raw.get("connection")
        if isinstance(conn, str) and conn:
            out[f"{node.name}.connection"] = conn
        inputs = node.raw.get("inputs")
        for key, value in (inputs.items() if isinstance(inputs, dict) else ()):
            if isinstance(value, str) and value in known:
                out[f"{node.name}.{key}"] = value
    return out


def _jsonl(path: str | None):
    if path is None or not os.path.exists(path):
        return
    with open(path, "rb") as f:
        for line in f:
            if line.strip():
                yield line


def _read_json(path: str | None, default):
    if path is None:
        return default
    try:
        with open(path, encoding="utf-8") as f:
            return loads(f.read())
    except (OSError, ValueError, RecursionError):
        return default


class Linker:
    """Finds the commit whose flow folder is a promptflow snapshot's source."""

    def __init__(self, repo: Repo, idx):
        self.repo = repo
        self.idx = idx
        self.cache: dict = {}

    def candidate_paths(self, pf_flow_path: str | None) -> list:
        paths = []
        if pf_flow_path:
            rel = os.path.relpath(os.path.realpath(pf_flow_path), os.path.realpath(self.repo.path))
            if not rel.startswith(".."):
                paths.append(rel.replace(os.sep, "/"))
                self.idx.track_path(paths[0])
        for p in self.idx.tracked_paths():
            if p not in paths:
                paths.append(p)
        return paths

    def link(self, snapshot_dir: str, pf_flow_path: str | None, variant: str | None,
             created_on: str | None, run_folder: str | None = None) -> tuple | None:
        """(commit, flow path) or None."""
        snap = FlowIdentity(DirReader(snapshot_dir, boundary=run_folder or snapshot_dir), ".", None)
        if snap.flow is None:
            return None
        for path in self.candidate_paths(pf_flow_path):
            # commits that introduced each flow tree (parent's tree differs), as `pfgit log` shows
            trees = self.idx.conn.execute(
                "SELECT c.tree, c.commit_sha, ci.time FROM commits c JOIN commit_info ci "
                "ON ci.commit_sha = c.commit_sha LEFT JOIN commits p ON p.commit_sha = ci.parent "
                "AND p.flow_path = c.flow_path WHERE c.flow_path = ? AND (p.tree IS NULL OR "
                "p.tree != c.tree) ORDER BY ci.time", (path,)).fetchall()
            by_tree: dict = {}
            for tree, sha, t in trees:
                by_tree.setdefault(tree, []).append((t, sha))
            for tree, commits in by_tree.items():
                key = (tree, variant)
                if key not in self.cache:
                    self.cache[key] = FlowIdentity(TreeReader(self.repo, tree.encode()), ".", variant)
                if snap.matches_source(self.cache[key]):
                    return _pick_commit(commits, created_on), path
        return None


def _pick_commit(commits: list, created_on: str | None) -> str:
    """The newest commit made before the run (else the oldest holding that tree)."""
    if created_on:
        from datetime import datetime

        try:
            ts = datetime.fromisoformat(created_on).timestamp()
            before = [c for c in commits if c[0] <= ts + 1]
            if before:
                return before[-1][1]
        except ValueError:
            pass
    return commits[0][1]


def import_runs(repo: Repo, idx, paths: list, dry_run: bool = False,
                overrides: dict | None = None) -> list:
    """Import every promptflow run found at `paths`. `overrides` (`pfgit run --source`, as
    `pf run create --source DIR --set ...`): display_name, description and tags (merged over the
    run's own) recorded in each new snapshot's settings."""
    linker = Linker(repo, idx)
    known_connections: dict = {}
    results = []
    for pr in find_runs(paths):
        try:
            results.append(_import_one(repo, pr, linker, known_connections, dry_run, overrides))
        except PfgitError as e:  # one bad run folder never blocks the others: said, and skipped
            results.append({"run": pr.name, "name": escape_run_name(pr.name), "status": "error",
                            "commit": None, "flow": None, "snapshot": None, "warnings": [],
                            "error": e.one_line()[len("pfgit: "):]})
    return results


def _import_one(repo: Repo, pr: PfRun, linker, known_connections: dict, dry_run: bool,
                overrides: dict | None = None) -> dict:
    from ..run.result import RunResult
    from .snapshot import record_result

    name = escape_run_name(pr.name)
    props = pr.properties
    existing = runrefs.get_run(repo, name)
    if existing is not None:
        from .read import read_snapshot

        snap = read_snapshot(repo, name, existing)
        src = snap.run.get("source") or {}
        same = src.get("tool") == "promptflow" and src.get("run") == pr.name
        flow = snap.run.get("flow") or {}  # what the name holds, with the documented keys
        return {"run": pr.name, "name": name, "status": "exists" if same else "name-taken",
                "commit": flow.get("commit"), "flow": flow.get("path"), "snapshot": existing.decode()}
    guard = RunFolderGuard(pr.folder)
    snapshot = os.path.join(pr.folder, "snapshot")
    variant = props.get("node_variant")
    link = linker.link(snapshot, props.get("flow_path"), variant, pr.created_on, pr.folder) \
        if guard.ok(snapshot) and os.path.isdir(snapshot) else None
    flow_path = link[1] if link else _unlinked_path(props, pr)
    entry = {"run": pr.name, "name": name, "status": "linked" if link else "unlinked",
             "commit": link[0] if link else None, "flow": flow_path, "snapshot": None,
             "warnings": guard.warnings}
    if dry_run:
        return entry

    def inside(p):
        return p if guard.ok(p) else None

    metrics = _read_json(inside(os.path.join(pr.folder, "metrics.json")), {})
    sysm = props.get("system_metrics") or {}
    failed = sysm.get("__pf__.lines.failed")
    base = props.get("run")
    base_name = escape_run_name(base) if base else None
    if base_name and runrefs.get_run(repo, base_name) is None:
        base_name = None
    logs = {}
    for fname in ("logs.txt", "error.json"):
        p = os.path.join(pr.folder, fname)
        if os.path.exists(p) and guard.ok(p):
            logs[fname] = p
    if pr.home not in known_connections:
        known_connections[pr.home] = _connection_table(pr.home)
    connections = snapshot_connections(snapshot, known_connections[pr.home], guard)
    outputs = os.path.join(pr.folder, "outputs.jsonl")
    if not os.path.exists(outputs):
        outputs = os.path.join(pr.folder, "flow_outputs", "output.jsonl")
    outputs = inside(outputs)
    result = RunResult(
        flow=flow_path, name=name, outputs=_jsonl(outputs), metrics=metrics if isinstance(metrics, dict) else {},
        data=pr.row.get("data"), column_mapping=props.get("column_mapping") or {}, variant=variant,
        base_run=base_name, status=pr.row.get("status") or ("Failed" if os.path.exists(
            os.path.join(pr.folder, "error.json")) else "Completed"),
        start_time=_time(pr.row.get("start_time")) or _time(pr.created_on),
        end_time=_time(pr.row.get("end_time")),
        lines_failed=failed, logs=logs, connections=connections, inputs=_jsonl(inside(os.path.join(pr.folder, "inputs.jsonl"))),
        source={"tool": "promptflow", "run": pr.name, "created_on": pr.created_on,
                "display_name": pr.row.get("display_name"), "flow_path": props.get("flow_path"),
                "base_run": base, "tags": _tags(pr.row.get("tags"))},
        extra=_settings(sysm, overrides, _tags(pr.row.get("tags"))),
        flow_commit=link[0] if link else None,
    )
    try:
        rec = record_result(repo, result) if link else _record_unlinked(repo, result, snapshot, guard)
    except UsageError as e:  # say which run folder holds the bad file
        if e.file:
            raise
        raise UsageError(f"run '{pr.name}': {e.message}", file=pr.folder) from None
    entry["snapshot"] = rec.commit
    return entry


def _time(value):
    """promptflow's time, or None when it is not ISO-8601 (the import goes on without it)."""
    from .snapshot import iso_time

    try:
        return iso_time(value, "time")
    except UsageError:
        return None


def _settings(system_metrics: dict, overrides: dict | None, own_tags) -> dict:
    out = {"system_metrics": system_metrics} if system_metrics else {}
    for k, v in (overrides or {}).items():
        out[k] = {**(own_tags if isinstance(own_tags, dict) else {}), **v} if k == "tags" else v
    return out


def _tags(raw):
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        return None


def _unlinked_path(props: dict, pr: PfRun) -> str:
    fp = props.get("flow_path")
    return "promptflow/" + escape_run_name(os.path.basename(fp.rstrip("/\\")) if fp else pr.name)


def _record_unlinked(repo: Repo, result, snapshot_dir: str, guard: RunFolderGuard):
    """No commit holds this flow: the snapshot folder itself becomes the flow tree (no parent)."""
    from .snapshot import record_result

    if guard.ok(snapshot_dir) and os.path.isdir(snapshot_dir):
        tree = _dir_tree(repo, snapshot_dir, guard)
    else:  # a run folder without snapshot/ (deleted, or a run that failed early): an empty flow
        from ..git.objects import make_tree

        tree = make_tree(repo, {})
    result.extra = dict(result.extra, unlinked=True)
    return record_result(repo, result, unlinked_tree=tree)


def _dir_tree(repo: Repo, folder: str, guard: RunFolderGuard) -> bytes:
    """The folder as a tree: symlinks followed only inside the run folder (loops and links out
    are skipped and reported by `guard`); never `.git`-like names, `.env*` or key files."""
    from ..git.objects import DIR_MODE, FILE_MODE, make_tree, put_file, unsafe_entry_name
    from ..git.worktree import is_secret_file

    def build(d, seen):
        entries = {}
        for name in sorted(os.listdir(d)):
            p = os.path.join(d, name)
            if unsafe_entry_name(name) or not guard.ok(p):
                continue
            if os.path.isdir(p):
                real = os.path.realpath(p)
                if name in ("__pycache__", ".runs"):
                    continue
                if real in seen:  # a link back to a folder being imported
                    guard.warnings.append(f"{os.path.relpath(p, guard.folder)}: symbolic link loop "
                                          f"(back to {os.path.relpath(real, guard.top)}); not imported")
                    continue
                sub = build(p, seen | {real})
                if sub:
                    entries[name] = (DIR_MODE, sub)
            elif os.path.isfile(p) and not is_secret_file(name):
                entries[name] = (FILE_MODE, put_file(repo, p))
        return make_tree(repo, entries) if entries else None

    return build(folder, {os.path.realpath(folder)}) or make_tree(repo, {})
