"""Which earlier version of a flow a studio zip started from: the merge base of an import.

1. The last import of the flow (`refs/pfgit/imports/<flow path>`): the studio holds what it got.
2. First import: the flow folder's history (commits reachable from HEAD, newest first): the
   newest commit whose flow folder is identical to the zip's (the flow file compared as data: the
   studio re-formats flow.dag.yaml, so bytes alone would match nothing); else the closest one, by
   the files that differ plus the units of the flow (inputs, outputs, nodes, ...) that differ.
   Ties go to the older commit: an older base can only turn a silent overwrite into a visible
   conflict, never the reverse.
3. No commit has the flow: the current commit's (none: an empty base, every file is new).
"""

from __future__ import annotations

import stat
from dataclasses import dataclass, field

from ...errors import UsageError
from ...store.names import problem
from .files import from_tree, is_studio_only, left_out, tree_listing

IMPORTS_PREFIX = "refs/pfgit/imports/"
# outside refs/pfgit/* on purpose: `pfgit push` shares imports, never a user's worktree backups
BACKUPS_PREFIX = "refs/pfgit-backups/imports/"
ROOT_NAME = "_root"       # the ref name of a flow at the repository's top
HISTORY_LIMIT = 1000      # commits searched for the first import


@dataclass
class Base:
    kind: str                 # import | identical | closest | head | none
    files: dict = field(default_factory=dict)
    commit: str | None = None
    distance: int = 0

    def describe(self) -> str:
        c = (self.commit or "")[:12]
        return {"import": f"the last import {c}",
                "identical": f"commit {c} (identical to the zip)",
                "closest": f"commit {c} (closest to the zip: {self.distance} difference(s))",
                "head": f"the current commit {c}",
                "none": "nothing (a new flow)"}[self.kind]

    def to_json(self) -> dict:
        return {"kind": self.kind, "commit": self.commit, "distance": self.distance}


def ref_name(prefix: str, flow_rel: str) -> bytes:
    """refs/pfgit/imports/<flow path>; each path component must be a valid ref component."""
    name = ROOT_NAME if flow_rel in (".", "") else flow_rel
    for seg in name.split("/"):
        why = problem(seg)
        if why:
            raise UsageError(f"the flow path '{flow_rel}' cannot name a ref: '{seg}' {why}")
    return (prefix + name).encode("utf-8")


def read_ref(repo, ref: bytes) -> bytes | None:
    """The commit a ref names, None when absent; import refs travel with `pfgit fetch`, so one
    naming a blob, a tree or a missing object is a usage error saying how to drop it."""
    from dulwich.objects import Commit

    try:
        sha = repo.refs[ref]
    except KeyError:
        return None
    try:
        ok = isinstance(repo[sha], Commit)
    except KeyError:
        ok = False
    if not ok:
        raise UsageError(f"{ref.decode('utf-8', 'replace')} does not name a commit (a hand-made or "
                         f"fetched ref?): remove it with `git update-ref -d {ref.decode('utf-8', 'replace')}`")
    return sha


def _blob_ids(repo, tree_id: bytes) -> dict:
    """{path: blob id} below a tree, as the exchange sees it (no blob is read)."""
    return {p: sha for p, (mode, sha) in tree_listing(repo, tree_id).items()
            if stat.S_ISREG(mode) and not left_out(p) and not is_studio_only(p)}


def _flow_data(raw: bytes, cache: dict | None = None):
    """The flow file's data (None if unreadable). History blobs go through the diff's node-cached
    parse (versions share most nodes); the zip's own file through the checked full parse."""
    from ...flow import yamlpos

    try:
        if cache is not None and len(raw) <= yamlpos.MAX_YAML_BYTES:
            from ...diff.parse import parse_data

            return parse_data(yamlpos.decode(raw).lstrip("\ufeff"), cache, min_bytes=0)
        return yamlpos.parse(raw).data
    except Exception:
        return None


_MAPS = ("inputs", "outputs", "node_variants", "environment_variables")


def _units(data) -> dict:
    """The flow as comparable units: each input, output, node (by name), variant set, and other
    top-level key. Order and formatting do not matter."""
    if not isinstance(data, dict):
        return {("", ""): data}
    out = {}
    for k, v in data.items():
        if k == "nodes" and isinstance(v, list):
            for i, n in enumerate(v):
                name = n.get("name") if isinstance(n, dict) else None
                out[("nodes", name if isinstance(name, str) else f"#{i}")] = n
        elif k in _MAPS and isinstance(v, dict):
            for kk, vv in v.items():
                out[(k, str(kk))] = vv
        else:
            out[(str(k), "")] = v
    return out


def flow_distance(a, b) -> int:
    """How many units (an input, an output, a node, ...) differ between two flows' data."""
    ua, ub = _units(a), _units(b)
    return sum(1 for key in set(ua) | set(ub) if ua.get(key, _MISSING) != ub.get(key, _MISSING))


_MISSING = object()


def distance(repo, ids: dict, theirs_ids: dict, flow_file: str, theirs_flow,
             memo: dict | None = None) -> int:
    """Files that differ, with the flow file counted by the units that differ (`memo`: flow blob
    id -> its count, shared by the commits that only changed other files; also the parse cache)."""
    d = 0
    for p in set(ids) | set(theirs_ids):
        if ids.get(p) == theirs_ids.get(p) or p == flow_file:
            continue
        d += 1
    a, b = ids.get(flow_file), theirs_ids.get(flow_file)
    if a != b:
        if a is None or b is None:
            d += 1
        elif memo is not None and a in memo:
            d += memo[a]
        else:
            ours = _flow_data(repo[a].data, memo.setdefault("parse", {}) if memo is not None else None)
            n = 1 if ours is None or theirs_flow is None else flow_distance(ours, theirs_flow)
            if memo is not None:
                memo[a] = n
            d += n
    return d


def find_base(repo, flow_rel: str, theirs: dict, flow_file: str) -> Base:
    last = read_ref(repo, ref_name(IMPORTS_PREFIX, flow_rel))
    if last is not None:
        files, _ = from_tree(repo, repo[last].tree, "last import")
        return Base("import", files, last.decode())
    try:
        head = repo.refs[b"HEAD"]
    except KeyError:
        return Base("none")
    from ...git.objects import tree_at

    theirs_ids = {p: f.blob_id for p, f in theirs.items() if not is_studio_only(p)}
    theirs_flow = _flow_data(theirs[flow_file].data) if flow_file in theirs else None
    memo: dict = {}
    flow_memo: dict = {}
    scores: dict = {}     # flow tree id -> distance
    best = None           # (distance, commit, tree)
    for entry in repo.get_walker(include=[head], max_entries=HISTORY_LIMIT):
        c = entry.commit
        sub = tree_at(repo, c.tree, flow_rel, memo)
        if sub is None:
            continue
        if sub not in scores:
            scores[sub] = distance(repo, _blob_ids(repo, sub), theirs_ids, flow_file, theirs_flow,
                                   flow_memo)
        d = scores[sub]
        if d == 0:
            best = (0, c.id, sub)
            break
        if best is None or d <= best[0]:   # newest first: '<=' lets the older commit win a tie
            best = (d, c.id, sub)
    if best is None:
        sub = tree_at(repo, repo[head].tree, flow_rel)
        if sub is None:
            return Base("none")
        files, _ = from_tree(repo, sub, "HEAD")
        return Base("head", files, head.decode())
    d, commit, sub = best
    files, _ = from_tree(repo, sub, commit.decode()[:12])
    return Base("identical" if d == 0 else "closest", files, commit.decode(), d)
