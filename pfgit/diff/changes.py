"""The semantic change format, computing it (`diff_flows`) and applying it (`apply_changes`).

One format is shared by JSON output, rendering and merging (the nbdime way: a diff is data).

A `Change` has an `op` (add | remove | change | rename | move), a `path` into the flow that names
nodes by key (their name, see `match.node_keys`) and never by list index, the `old` and `new`
values, and a `detail` dict for what some ops carry:

| op / path                                   | old / new             | detail                       |
|---------------------------------------------|-----------------------|------------------------------|
| rename ["nodes", OLD]                       | old key / new key     | references: [{path, old, new}], matched_by |
| add    ["nodes", KEY]                       | - / node mapping      | after: key of the node before it (None: first) |
| remove ["nodes", KEY]                       | node mapping / -      |                              |
| move   ["nodes", KEY]                       | old index / new index | after (as for add)           |
| add/remove/change [TOP, KEY..., FIELD...]   | values                | (any mapping path, e.g. ["inputs","url","default"], ["node_variants","s","variants","v1","node","inputs","max_tokens"]) |
| change [*BODY, "file", REL]                 | old text / new text   | kind: "file", file, status (modified/added/deleted), diff (unified), binary |
| change ["files", REL]                       | as above              | a changed file of the flow folder no node uses |

BODY is ["nodes", KEY] or ["node_variants", KEY, "variants", ID, "node"]. Paths of changes other
than renames and node removals name nodes by their *new* key: applying the changes means applying
the renames (with their reference rewrites) first, then the rest in list order. Lists other than
`nodes` are values (a change replaces the whole list). Values compare with their types
('256' != 256, 1 != true); mapping key order, comments and YAML style are not data and so never
make a change.
"""

from __future__ import annotations

import copy
import posixpath
from dataclasses import dataclass, field
from collections.abc import Mapping  # not typing's: isinstance on it is ~20x slower
from typing import Any

from .match import (Matching, apply_renames, canon, flow_data, match_nodes, node_keys, node_map)

OPS = ("add", "remove", "change", "rename", "move")
# top-level mappings listed item by item when a whole flow (or the key) appears or disappears
_CONTAINERS = ("inputs", "outputs", "node_variants")


@dataclass
class Change:
    op: str
    path: list
    old: Any = None
    new: Any = None
    detail: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        out = {"op": self.op, "path": list(self.path), "old": self.old, "new": self.new}
        for k, v in self.detail.items():
            if k not in out:
                out[k] = v
        return out

    @classmethod
    def from_json(cls, obj: dict) -> "Change":
        """The Change a `to_json` object describes (so JSON diffs can be applied too)."""
        detail = {k: v for k, v in obj.items() if k not in ("op", "path", "old", "new")}
        return cls(obj["op"], list(obj["path"]), obj.get("old"), obj.get("new"), detail)

    @property
    def is_file(self) -> bool:
        return self.detail.get("kind") == "file"


# ---------------------------------------------------------------------------------------------
# Data diff

def _same(a: Any, b: Any) -> bool:
    return a is b or canon(a) == canon(b)


def diff_values(path: list, a: Any, b: Any, out: list) -> None:
    """Changes turning value `a` into `b`; mappings recurse key by key, everything else is a value."""
    if a is b:
        return  # shared by both versions (see diff.parse)
    if isinstance(a, dict) and isinstance(b, dict):
        for k, v in a.items():
            if k not in b:
                out.append(Change("remove", path + [k], old=v))
        for k, v in b.items():
            if k not in a:
                out.append(Change("add", path + [k], new=v))
            else:
                diff_values(path + [k], a[k], v, out)
    elif not _same(a, b):
        out.append(Change("change", path, old=a, new=b))


def _lcs_keep(old_order: list, new_order: list) -> set:
    """Keys of a longest common subsequence: the nodes that did not move."""
    pos = {k: i for i, k in enumerate(new_order)}
    seq = [pos[k] for k in old_order if k in pos]
    # patience-style LIS in O(n log n)
    import bisect

    tails: list = []
    tails_idx: list = []
    prev = [-1] * len(seq)
    for i, x in enumerate(seq):
        j = bisect.bisect_left(tails, x)
        if j == len(tails):
            tails.append(x)
            tails_idx.append(i)
        else:
            tails[j] = x
            tails_idx[j] = i
        prev[i] = tails_idx[j - 1] if j else -1
    keep = set()
    i = tails_idx[-1] if tails_idx else -1
    while i >= 0:
        keep.add(new_order[seq[i]])
        i = prev[i]
    return keep


def diff_nodes(old_data: dict, new_data: dict, matching: Matching, out: list) -> None:
    """Node-level changes of `mid` (old with renames applied) into new: remove, add, move, fields."""
    mid_map = node_map(old_data)
    new_map = node_map(new_data)
    removed = set(matching.removed)
    for k, raw in mid_map.items():
        if k in removed:
            out.append(Change("remove", ["nodes", k], old=raw))
    new_order = list(new_map)
    common_mid = [k for k in mid_map if k not in removed]
    keep = _lcs_keep(common_mid, new_order)
    added = set(matching.added)
    old_index = {k: i for i, k in enumerate(node_map(old_data))}
    for i, k in enumerate(new_order):
        after = new_order[i - 1] if i else None
        if k in added:
            out.append(Change("add", ["nodes", k], new=new_map[k], detail={"after": after}))
        elif k not in keep:
            out.append(Change("move", ["nodes", k], old=old_index.get(k), new=i, detail={"after": after}))
    for k in new_order:
        if k in added or k not in mid_map:
            continue
        a, b = mid_map[k], new_map[k]
        if isinstance(a, dict) and isinstance(b, dict):
            diff_values(["nodes", k], a, b, out)
        elif not _same(a, b):
            out.append(Change("change", ["nodes", k], old=a, new=b))


def diff_data(old: Any, new: Any, similarity: float | None = None,
              matching: Matching | None = None) -> list:
    """Semantic changes between two parsed flows (dicts, or None for a flow that does not exist)."""
    from .match import DEFAULT_SIMILARITY

    od, nd = flow_data(old), flow_data(new)
    whole = old is None or new is None
    if matching is None:
        matching = match_nodes(od, nd, DEFAULT_SIMILARITY if similarity is None else similarity)
    out: list = []
    rewrites: list = []
    mid = apply_renames(od, matching.renamed, rewrites)
    for o, n in matching.renamed.items():
        refs = [{"path": list(r.path), "old": r.old, "new": r.new} for r in rewrites
                if _ref_target(r.new) == n]
        out.append(Change("rename", ["nodes", o], old=o, new=n,
                          detail={"references": refs, "matched_by": matching.how.get(o)}))
    keys = list(mid) + [k for k in nd if k not in mid]
    for k in keys:
        a, b = mid.get(k), nd.get(k)
        in_a, in_b = k in mid, k in nd
        if k == "nodes" and _listish(a, in_a) and _listish(b, in_b):
            if not in_a:
                out.append(Change("add", ["nodes"], new=[]))
            diff_nodes(mid, nd, matching, out)
            if not in_b:
                out.append(Change("remove", ["nodes"], old=[]))
        elif k in _CONTAINERS and (whole or in_a != in_b) and _dictish(a, in_a) and _dictish(b, in_b):
            if not in_a:
                out.append(Change("add", [k], new={}))
            diff_values([k], a or {}, b or {}, out)
            if not in_b:
                out.append(Change("remove", [k], old={}))
        elif not in_a:
            out.append(Change("add", [k], new=b))
        elif not in_b:
            out.append(Change("remove", [k], old=a))
        else:
            diff_values([k], a, b, out)
    return out


def _listish(v: Any, present: bool) -> bool:
    return isinstance(v, list) or not present


def _dictish(v: Any, present: bool) -> bool:
    return isinstance(v, dict) or not present


def _ref_target(value: Any) -> str | None:
    from ..flow.refs import parse_ref

    r = parse_ref(value)
    return r.name if r is not None and r.kind == "node" else None


# ---------------------------------------------------------------------------------------------
# Source files

FileSource = Any  # Mapping[str, bytes] (keys: files of the flow folder) or Callable[[str], bytes|None]


def _get(files: FileSource, rel: str) -> bytes | None:
    if files is None:
        return None
    if callable(files) and not isinstance(files, Mapping):
        try:
            return files(rel)
        except (OSError, KeyError):
            return None
    try:
        v = files.get(rel)
    except (OSError, KeyError):
        return None
    return v


def _keys(files: FileSource) -> list:
    if files is None or (callable(files) and not isinstance(files, Mapping)):
        return []
    return list(files.keys())


def body_sources(data: dict) -> dict:
    """Body path (tuple) -> code source path, for every node and variant body, in file order."""
    out: dict = {}
    nodes = data.get("nodes")
    nv = data.get("node_variants") if isinstance(data.get("node_variants"), dict) else {}
    for key, raw in zip(node_keys(nodes), nodes if isinstance(nodes, list) else []):
        if not isinstance(raw, dict):
            continue
        bodies = [(("nodes", key), raw)]
        if raw.get("use_variants") and isinstance(nv.get(key), dict) and isinstance(
                nv[key].get("variants"), dict):
            bodies = [(("node_variants", key, "variants", vid, "node"), v.get("node"))
                      for vid, v in nv[key]["variants"].items() if isinstance(v, dict)]
        for path, body in bodies:
            src = _code_path(body)
            if src:
                out[path] = _norm(src)
    return out


def node_source(body: Any) -> str | None:
    """The normalised code source path of one node or variant body (None: none)."""
    src = _code_path(body)
    return _norm(src) if src else None


def _code_path(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    src = body.get("source")
    if isinstance(src, dict) and isinstance(src.get("path"), str):
        return src["path"]
    tool = body.get("tool")
    if isinstance(tool, str) and tool.endswith((".py", ".jinja2")):
        return tool
    return None


def _norm(rel: str) -> str:
    return posixpath.normpath(rel.replace("\\", "/"))


def _resolve(rel: str, data: dict, files: FileSource) -> str:
    """Where a source path's content lives: itself, or an additional_includes entry of that name."""
    if _get(files, rel) is not None:
        return rel
    inc = data.get("additional_includes")
    for item in inc if isinstance(inc, list) else []:
        if isinstance(item, str) and posixpath.basename(_norm(item)) == posixpath.basename(rel):
            return _norm(item)
    return rel


def _text(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    if b"\0" in raw[:8000]:
        return None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def file_change(path: list, rel: str, a: bytes | None, b: bytes | None,
                label_a: str = "a", label_b: str = "b", old_rel: str | None = None,
                with_diff: bool = True) -> Change | None:
    """A change for one file's content, with a unified diff when both sides are text (and
    `with_diff`: history counts changed lines instead)."""
    if a == b:
        return None
    old_rel = old_rel or rel
    status = "added" if a is None else "deleted" if b is None else "modified"
    ta, tb = _text(a), _text(b)
    binary = (a is not None and ta is None) or (b is not None and tb is None)
    detail = {"kind": "file", "file": rel, "status": status, "binary": binary}
    if old_rel != rel and a is not None:
        detail["old_file"] = old_rel
    if not binary and with_diff:
        from .textdiff import unified_diff

        diff = unified_diff((ta or "").splitlines(keepends=True),
                                    (tb or "").splitlines(keepends=True),
                                    f"{label_a}/{old_rel}" if a is not None else "/dev/null",
                                    f"{label_b}/{rel}" if b is not None else "/dev/null", n=3)
        detail["diff"] = "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                                 for line in diff)
    return Change("change", path + ["file", rel] if path[0] != "files" else path,
                  old=ta, new=tb, detail=detail)


def _old_body_path(path: tuple, old_key: str | None, old_sources: dict) -> tuple | None:
    """The old body that a new body continues (same node via the matching, same variant id)."""
    if old_key is None:
        return None
    cands = [("nodes", old_key)] if path[0] == "nodes" else \
        [("node_variants", old_key) + tuple(path[2:]), ("nodes", old_key)]
    for c in cands:
        if c in old_sources:
            return c
    return None


# public names for pfgit.history, which follows a node's source file through history
resolve_source = _resolve
old_body_path = _old_body_path


def diff_files(old_data: dict, new_data: dict, old_files: FileSource, new_files: FileSource,
               matching: Matching | None = None, flow_file_names: tuple = ()) -> list:
    """File changes: one per node or variant whose source content changed, then changed files
    no node uses. A body's old content is read at the old body's source path, so a node whose
    source file was renamed shows the content change between the two files."""
    out: list = []
    new_src, old_src = body_sources(new_data), body_sources(old_data)
    back = {n: o for o, n in (matching.pairs.items() if matching else [])}
    seen: set = set()
    used_old: set = set()
    for path, rel in new_src.items():
        opath = _old_body_path(path, back.get(path[1]), old_src)
        orel = old_src.get(opath) if opath else None
        loc_new = _resolve(rel, new_data, new_files)
        loc_old = _resolve(orel, old_data, old_files) if orel else None
        seen.add(loc_new)
        if opath:
            used_old.add(opath)
            seen.add(loc_old)
        else:  # a new node or variant: its file may be an existing one (unchanged is no change)
            loc_old = loc_new
        a = _get(old_files, loc_old) if loc_old else None
        b = _get(new_files, loc_new)
        if a is None and b is None:
            continue
        ch = file_change(list(path), loc_new, a, b, old_rel=loc_old)
        if ch is not None:
            out.append(ch)
    for opath, orel in old_src.items():  # bodies that are gone: their file, if deleted too
        if opath in used_old:
            continue
        loc_old = _resolve(orel, old_data, old_files)
        seen.add(loc_old)
        a = _get(old_files, loc_old)
        if a is not None and _get(new_files, loc_old) is None:
            out.append(file_change(list(opath), loc_old, a, None))
    listed = _keys(old_files) + [k for k in _keys(new_files) if k not in set(_keys(old_files))]
    for rel in listed:
        if rel in seen or posixpath.basename(rel) in flow_file_names:
            continue
        ch = file_change(["files", rel], rel, _get(old_files, rel), _get(new_files, rel))
        if ch is not None:
            out.append(ch)
    return out


def diff_flows(old: Any, new: Any, old_files: FileSource = None, new_files: FileSource = None,
               similarity: float | None = None) -> list:
    """All semantic changes from flow `old` to `new` (Flow, parsed dict, or None when absent).

    `old_files`/`new_files` give the flow folder's other files, by path relative to the flow
    folder (may start with '../' for additional includes): a Mapping whose keys list the folder
    (so unused changed files are reported too), or a callable rel -> bytes | None.
    """
    from ..flow.model import FLOW_FILES

    from .match import DEFAULT_SIMILARITY

    od, nd = flow_data(old), flow_data(new)
    matching = match_nodes(od, nd, DEFAULT_SIMILARITY if similarity is None else similarity)
    changes = diff_data(None if old is None else od, None if new is None else nd,
                        matching=matching)
    if old_files is not None or new_files is not None:
        changes += diff_files(od, nd, old_files, new_files, matching, FLOW_FILES)
    return changes


# ---------------------------------------------------------------------------------------------
# Patching

class PatchError(ValueError):
    """A change does not fit the data it is applied to."""


def apply_changes(old_data: Any, changes: list) -> dict:
    """The flow data `changes` turn `old_data` into (file changes are ignored). Pure."""
    data = flow_data(old_data)
    renames = {c.path[1]: c.new for c in changes if c.op == "rename"}
    data = copy.deepcopy(apply_renames(data, renames))  # patched in place below
    for c in changes:
        if c.op == "rename" or c.is_file:
            continue
        if len(c.path) == 2 and c.path[0] == "nodes" and c.op in ("add", "remove", "move"):
            _patch_node_list(data, c)
        elif len(c.path) >= 3 and c.path[0] == "nodes":
            nodes = data.get("nodes")
            keys = node_keys(nodes)
            if c.path[1] not in keys:
                raise PatchError(f"no node {c.path[1]!r} for {c.path}")
            _patch_value(nodes, [keys.index(c.path[1])] + list(c.path[2:]), c)
        elif len(c.path) == 2 and c.path[0] == "nodes":
            keys = node_keys(data.get("nodes"))
            data["nodes"][keys.index(c.path[1])] = copy.deepcopy(c.new)
        else:
            _patch_value(data, list(c.path), c)
    return data


def _patch_node_list(data: dict, c: Change) -> None:
    nodes = data.setdefault("nodes", [])
    keys = node_keys(nodes)
    key = c.path[1]
    if c.op == "remove":
        if key not in keys:
            raise PatchError(f"no node {key!r} to remove")
        del nodes[keys.index(key)]
        return
    if c.op == "move":
        if key not in keys:
            raise PatchError(f"no node {key!r} to move")
        item = nodes.pop(keys.index(key))
    else:
        item = copy.deepcopy(c.new)
    keys = node_keys(nodes)
    after = c.detail.get("after")
    pos = 0 if after is None else (keys.index(after) + 1 if after in keys else len(nodes))
    nodes.insert(pos, item)


def _patch_value(root: Any, path: list, c: Change) -> None:
    parent = root
    for seg in path[:-1]:
        if isinstance(parent, dict):
            if seg not in parent and c.op == "add":
                parent[seg] = {}
            parent = parent[seg]
        elif isinstance(parent, list) and isinstance(seg, int):
            parent = parent[seg]
        else:
            raise PatchError(f"cannot follow {path}")
    last = path[-1]
    if c.op == "remove":
        del parent[last]
    elif c.op in ("add", "change"):
        parent[last] = copy.deepcopy(c.new)
    else:
        raise PatchError(f"op {c.op!r} not valid at {path}")


__all__ = ["Change", "OPS", "diff_flows", "diff_data", "diff_values", "diff_files", "file_change",
           "apply_changes", "PatchError", "body_sources", "resolve_source", "old_body_path"]
