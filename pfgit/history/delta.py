"""The semantic change between two versions of a flow, as history needs it (cached as JSON).

Computed with pfgit.diff (node matching with renames, the one change format, source files), then
compacted: values as short YAML strings, source-file changes as a count of changed lines. A
source-file change that only moves whitespace is dropped (blame is whitespace-insensitive, like
`git blame -w`). A delta is {"changes": [...], "flow_file": flow file bytes differ, "added": the
flow did not exist before}; no changes with `flow_file` set is a formatting-only commit.

`Fields` holds the fields still looking for the commit that last changed them and takes those a
change touches: a change at a path touches the fields at, above or below it.
"""

from __future__ import annotations

from ..diff.changes import diff_data, diff_files, diff_values, file_change, resolve_source
from ..diff.match import DEFAULT_SIMILARITY, Matching, match_nodes
from ..diff.render import fmt_value
from ..diff.textdiff import BoundedMatcher
from ..flow.model import FLOW_FILES
from .versions import entry_source

_FLOW_NAMES = frozenset(f.encode() for f in FLOW_FILES)

EMPTY = {"changes": [], "flow_file": False}
_FMT_MEMO: dict = {}  # (type, repr) of a scalar -> its short YAML form (a history repeats values)


def norm_lines(text: str) -> list:
    """Lines with all whitespace removed: what whitespace-insensitive comparisons compare."""
    return ["".join(line.split()) for line in text.splitlines()]


def changed_lines(a: str | None, b: str | None) -> int | None:
    """How many lines changed between two texts, ignoring whitespace (None: binary)."""
    if a is None and b is None:
        return None
    na, nb = norm_lines(a or ""), norm_lines(b or "")
    sm = BoundedMatcher(na, nb, autojunk=False)
    return sum(max(i2 - i1, j2 - j1) for op, i1, i2, j1, j2 in sm.get_opcodes() if op != "equal")


_SCALARS = (str, int, float, bool, type(None))


def compact(changes: list) -> list:
    memo: dict = _FMT_MEMO

    def fmt(v):
        if type(v) not in _SCALARS:
            return fmt_value(v, 60)
        k = (type(v), repr(v))
        s = memo.get(k)
        if s is None:
            if len(memo) > 10_000:
                memo.clear()
            s = memo[k] = fmt_value(v, 60)
        return s

    out = []
    for c in changes:
        path = [str(p) for p in c.path]
        if c.op == "rename":
            out.append({"op": "rename", "path": path, "new": str(c.new)})
            continue
        if c.is_file:
            status = c.detail.get("status")
            n = None if c.detail.get("binary") else changed_lines(c.old, c.new)
            if n == 0 and status == "modified":
                continue  # whitespace only
            e = {"op": c.op, "path": path, "file": c.detail.get("file"), "status": status, "lines": n}
            if c.detail.get("old_file"):
                e["old_file"] = c.detail["old_file"]
            out.append(e)
            continue
        e = {"op": c.op, "path": path}
        if c.op == "move":
            e["after"] = c.detail.get("after")
        elif not (len(path) == 2 and path[0] == "nodes"):  # a whole node: its name says it
            if c.op in ("remove", "change"):
                e["old"] = fmt(c.old)
            if c.op in ("add", "change"):
                e["new"] = fmt(c.new)
        out.append(e)
    return out


def _structural(c) -> bool:
    """A change that can give a node or variant another source file."""
    p = c.path
    return c.op == "rename" or len(p) <= 2 or p[0] != "nodes" or str(p[2]) in ("source", "tool", "use_variants")


def _files_may_differ(versions, old, new, changes: list) -> bool:
    if "+" in new.vkey or "+" in old.vkey:  # additional_includes: files outside the folder
        return True
    a, b = versions.entries(old.tree), versions.entries(new.tree)
    if any(k not in _FLOW_NAMES for k, _ in a.items() ^ b.items()):
        return True
    return any(_structural(c) for c in changes)  # same files: only another path can differ


def _same_flow_files(versions, old, new, data: dict) -> list:
    """File changes between two versions of one flow file: a body's file whose blob changed."""
    a, b = versions.entries(old.tree), versions.entries(new.tree)
    changed = {k.decode("utf-8", "surrogateescape") for k, _ in a.items() ^ b.items()}
    out = []
    if not changed:
        return out
    fa, fb = versions.files(old), versions.files(new)
    for body, rel in versions.body_sources(data).items():
        if rel.split("/", 1)[0] not in changed:  # no includes (the caller checked): rel is the file
            continue
        loc = resolve_source(rel, data, fb)
        ch = file_change(list(body), loc, fa(loc), fb(loc), with_diff=False)
        if ch is not None:
            out.append(ch)
    return out


def compute(versions, old, new) -> dict:
    """The delta from Step `old` (None: the flow did not exist) to Step `new` (both readable).

    What pfgit.diff.changes.diff_flows computes, in its three steps, skipping the two that cannot
    find anything: the data diff when the flow file is the same blob, the source files when the
    folder's other files are the same and no node got another source path."""
    od = versions.data(old)[0] if old is not None else None
    nd = versions.data(new)[0]
    if od is nd and "+" not in new.vkey + old.vkey:
        # the same flow file (versions caches parsed data by blob id): only source files changed,
        # each body still runs the file at the same path - the one case diff_files needs not list
        out = {"changes": compact(_same_flow_files(versions, old, new, nd)), "flow_file": False}
        return out
    fast = None if od is nd or od is None else _same_shape_changes(od, nd, versions.node_keys)
    if od is nd or fast is not None:
        keys = versions.node_keys(nd.get("nodes"))
        matching, changes = Matching(pairs={k: k for k in keys}, how={k: "name" for k in keys}), fast or []
    else:
        matching = match_nodes(od or {}, nd, DEFAULT_SIMILARITY)
        changes = diff_data(od, nd, matching=matching)
    if old is None or _files_may_differ(versions, old, new, changes):
        changes += diff_files(od or {}, nd, versions.files(old) if old is not None else None,
                              versions.files(new), matching, FLOW_FILES)
        entry = entry_source(nd)
        for c in changes:  # a flex flow's module is its code, like a node's source file
            if entry is not None and c.is_file and c.path == ["files", entry]:
                c.path = ["entry", "file", entry]
    out = {"changes": compact(changes), "flow_file": od is not nd}
    if old is None:
        out["added"] = True
    return out


def _eq(a, b) -> bool:
    """Equal as pfgit.diff compares values (canon: types kept, 1 != 1.0 != True != '1'; key
    order ignored; 0.0 != -0.0); False also when unsure (non-string keys, NaN), which only costs
    the full diff. Not pfgit.merge.decide.same, which takes 0.0 == -0.0 and keys 1 == True."""
    if a is b:
        return True
    t = type(a)
    if t is not type(b):
        return False
    if t is dict:
        return len(a) == len(b) and all(type(k) is str and k in b and _eq(v, b[k]) for k, v in a.items())
    if t is list:
        return len(a) == len(b) and all(map(_eq, a, b))
    if t is float:
        return repr(a) == repr(b)
    return a == b


def _same_shape_changes(od: dict, nd: dict, node_keys) -> list | None:
    """The changes from `od` to `nd` when they have the same node names in the same order and
    differ only inside nodes (most commits: a field edited, a reformat), else None.

    Then node matching is by name, nothing moved or was renamed, and pfgit.diff's data diff is
    the per-node value diff of the nodes that differ; the others (parsed once when their text is
    the same, see pfgit.diff.parse; else compared here) have no changes."""
    a, b = od.get("nodes"), nd.get("nodes")
    if not isinstance(a, list) or not isinstance(b, list) or len(a) != len(b) or od.keys() != nd.keys():
        return None
    if any(not _eq(v, nd[k]) for k, v in od.items() if k != "nodes"):
        return None
    keys = node_keys(b)
    if node_keys(a) != keys:
        return None
    out: list = []
    for k, x, y in zip(keys, a, b):
        if x is y or _eq(x, y):
            continue
        if not isinstance(x, dict) or not isinstance(y, dict):
            return None
        diff_values(["nodes", k], x, y, out)
    return out


def renames(delta: dict) -> dict:
    """old node key -> new node key."""
    return {c["path"][1]: c["new"] for c in delta["changes"] if c["op"] == "rename"}


def format_only(delta: dict) -> bool:
    return bool(delta.get("flow_file")) and not delta["changes"] and not delta.get("added")


def _node(path) -> str | None:
    return path[1] if len(path) >= 2 and path[0] in ("nodes", "node_variants") else None


class Fields:
    """Fields (path tuples in one commit's naming) -> payload, indexed by node for `take`."""

    def __init__(self, items: dict | None = None):
        self.by_node: dict = {}
        for k, v in (items or {}).items():
            self.add(k, v)

    def add(self, path: tuple, payload) -> None:
        self.by_node.setdefault(_node(path), {}).setdefault(path, []).extend(payload)

    def __bool__(self) -> bool:
        return any(self.by_node.values())

    def items(self):
        for group in self.by_node.values():
            yield from group.items()

    def take(self, changes: list) -> "Fields":
        """Remove and return the fields these changes touch (renames and moves touch none)."""
        out = Fields()
        for c in changes:
            if c["op"] in ("rename", "move"):
                continue
            p = tuple(c["path"])
            node = _node(p)
            groups = [self.by_node.get(node, {})] if node is not None or p[0] not in (
                "nodes", "node_variants") else list(self.by_node.values())
            code = "file" in c  # a source file's change: its body's file field only (not `entry`)
            for group in groups:
                for f in [f for f in group if (f[:len(p)] == p or p[:len(f)] == f)
                          and (not code or f[-1] == "file")]:
                    out.add(f, group.pop(f))
        return out

    def renamed(self, new_to_old: dict) -> "Fields":
        """The fields named as in the parent, given the renames of this commit (new -> old)."""
        if not new_to_old:
            return self
        out = Fields()
        for path, payload in self.items():
            node = _node(path)
            if node in new_to_old:
                path = path[:1] + (new_to_old[node],) + path[2:]
            out.add(path, payload)
        return out

    def merge(self, other: "Fields") -> None:
        for path, payload in other.items():
            self.add(path, payload)


__all__ = ["compute", "compact", "renames", "format_only", "changed_lines", "norm_lines", "Fields",
           "EMPTY"]
