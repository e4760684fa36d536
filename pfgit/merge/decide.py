"""Three-way merge of flow data: a list of decisions and the merged data (pure, no I/O).

Like nbdime's merging: every change either side made becomes a decision (take local, remote,
both, or a custom value); changes that cannot both hold become conflicts. Conflicts are data here —
a `Conflict` object stands in the merged tree at the smallest complete unit (an input value, a
node, a variant) — and only become markers when rendered (apply.py).

Node identity comes from pfgit.diff.match: before merging, every node renamed on one side is
renamed on the base and on the other side too (references rewritten), so an edit of the old node
lands on the renamed one and new references follow the new name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..diff.match import apply_renames, match_nodes, node_keys, rewrite_value


class _Missing:
    """A key or node absent on one side."""

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING = _Missing()


@dataclass
class Conflict:
    """Both sides changed the unit at `path` incompatibly; values are MISSING where absent."""

    path: tuple
    base: Any
    local: Any
    remote: Any
    reason: str


@dataclass
class Decision:
    path: tuple                # into the merged flow, nodes by name: ("nodes", "answer", "inputs", "k")
    action: str                # "local" | "remote" | "both" | "custom" | "conflict"
    conflict: bool = False
    reason: str = ""

    def to_json(self) -> dict:
        return {"path": list(self.path), "action": self.action, "conflict": self.conflict,
                "reason": self.reason}


@dataclass
class MergeResult:
    merged: Any
    decisions: list = field(default_factory=list)
    conflicts: list = field(default_factory=list)        # Conflict objects, document order
    # merged node key -> index of that node in each side's raw `nodes` list
    node_index: dict = field(default_factory=lambda: {"base": {}, "local": {}, "remote": {}})
    renames: dict = field(default_factory=dict)          # base node key -> merged key
    node_keys: list = field(default_factory=list)        # merged `nodes` entries' keys, in order
    sides: dict = field(default_factory=dict)            # base/local/remote with merged node names

    @property
    def clean(self) -> bool:
        return not self.conflicts


def same(a: Any, b: Any) -> bool:
    """Deep equality that keeps YAML types apart ('1' != 1 != 1.0 != True); key order ignored."""
    if a is b:
        return True
    t = type(a)
    if t is not type(b):
        return False
    if t is dict:
        return len(a) == len(b) and all(k in b and same(v, b[k]) for k, v in a.items())
    if t is list:
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def merged_order(ours: list, theirs: list, keep) -> list:
    """Ours' order; each key only theirs has goes after the key it follows on their side."""
    ours_set = set(ours)
    after: dict = {}
    prev = None
    for k in theirs:
        if k not in keep:
            continue
        if k not in ours_set:
            after.setdefault(prev, []).append(k)
        prev = k
    out: list = []

    def put(anchor) -> None:
        for k in after.get(anchor, ()):
            out.append(k)
            put(k)

    put(None)
    for k in ours:
        if k in keep:
            out.append(k)
            put(k)
    placed = set(out)
    out += [k for k in keep if k not in placed]  # keys only base had, kept as conflicts
    return out


def _get(d: Any, k: Any) -> Any:
    return d.get(k, MISSING) if isinstance(d, dict) else MISSING


class _Merger:
    def __init__(self, forced: dict):
        self.forced = forced          # merged path -> reason: make it a conflict whatever happens
        self.prefixes = {p[:i] for p in forced for i in range(len(p))}
        self.decisions: list = []
        self.conflicts: list = []
        self.node_keys: list = []

    def conflict(self, path: tuple, b: Any, o: Any, t: Any, reason: str) -> Conflict:
        c = Conflict(path, b, o, t, reason)
        self.conflicts.append(c)
        self.decisions.append(Decision(path, "conflict", True, reason))
        return c

    def value(self, path: tuple, b: Any, o: Any, t: Any) -> Any:
        if path in self.forced:
            return self.conflict(path, b, o, t, self.forced[path])
        if path in self.prefixes and all(isinstance(x, dict) for x in (b, o, t)):
            return self.mapping(path, b, o, t)   # a forced conflict waits further down
        if path in self.prefixes and path == ("nodes",) and all(_keyable(x) for x in (b, o, t)):
            return self.nodes(path, b, o, t)
        if same(o, t):
            if not same(o, b):
                self.decisions.append(Decision(path, "both", reason="same change on both sides"))
            return o
        if same(o, b):
            self.decisions.append(Decision(path, "remote"))
            return t
        if same(t, b):
            self.decisions.append(Decision(path, "local"))
            return o
        if path == ("nodes",) and all(isinstance(x, list) or x is MISSING for x in (b, o, t)):
            if _keyable(o) and _keyable(t) and _keyable(b if b is not MISSING else []):
                return self.nodes(path, b if b is not MISSING else [], o, t)
        if path == ("additional_includes",) and all(_str_list(x) for x in (o, t)) and (
                b is MISSING or _str_list(b)):
            return self.string_set(path, b if b is not MISSING else [], o, t)
        if isinstance(o, dict) and isinstance(t, dict) and (isinstance(b, dict) or b is MISSING):
            if not (b is MISSING and len(path) == 2 and path[0] == "nodes"):
                return self.mapping(path, b if b is not MISSING else {}, o, t)
            return self.conflict(path, b, o, t, f"node '{path[1]}' added on both sides, differently")
        return self.conflict(path, b, o, t, self._why(path, b, o, t))

    def _why(self, path: tuple, b: Any, o: Any, t: Any) -> str:
        what = _describe(path)
        if b is MISSING:
            return f"{what} added on both sides with different values"
        return f"{what} changed on both sides"

    def mapping(self, path: tuple, b: dict, o: dict, t: dict) -> dict:
        keys = [k for k in o] + [k for k in t if k not in o] + [k for k in b if k not in o and k not in t]
        out: dict = {}
        keep: dict = {}
        for k in keys:
            v = self.entry(path + (k,), _get(b, k), _get(o, k), _get(t, k))
            if v is not MISSING:
                keep[k] = v
        for k in merged_order(list(o), list(t), keep):
            out[k] = keep[k]
        if path and path != ("nodes",) and out and all(isinstance(v, Conflict) for v in out.values()) \
                and any(all(getattr(v, s) is MISSING for v in out.values()) for s in ("local", "remote")):
            return self._widen(path, b, o, t, list(out.values()))
        return out

    def _widen(self, path: tuple, b: Any, o: Any, t: Any, inner: list) -> Conflict:
        """One side emptied a mapping the other changed: the mapping is the unit (markers inside
        it would leave `key:` with nothing under it, which reads as null, not `{}`)."""
        ids = {id(c) for c in inner}
        self.conflicts = [c for c in self.conflicts if id(c) not in ids]
        paths = {c.path for c in inner}
        self.decisions = [d for d in self.decisions if not (d.conflict and d.path in paths)]
        return self.conflict(path, b, o, t, "; ".join(c.reason for c in inner))

    def entry(self, path: tuple, b: Any, o: Any, t: Any) -> Any:
        """One key (or node) of a mapping: additions, removals, changes."""
        if path in self.forced:
            return self.conflict(path, b, o, t, self.forced[path])
        if o is MISSING and t is MISSING:
            if b is not MISSING:
                self.decisions.append(Decision(path, "both", reason="removed on both sides"))
            return MISSING
        if o is MISSING or t is MISSING:
            present, side, other = (t, "remote", "ours") if o is MISSING else (o, "local", "theirs")
            if b is MISSING:
                self.decisions.append(Decision(path, side, reason="added"))
                return present
            if same(present, b):
                self.decisions.append(Decision(path, "local" if side == "remote" else "remote",
                                               reason="removed"))
                return MISSING
            changed = "theirs" if other == "ours" else "ours"
            return self.conflict(path, b, o, t,
                                 f"{_describe(path)} removed by {other}, changed by {changed}")
        return self.value(path, b, o, t)

    def nodes(self, path: tuple, b: list, o: list, t: list) -> list:
        bm, om, tm = (dict(zip(node_keys(x), x)) for x in (b, o, t))
        merged = self.mapping(path, bm, om, tm)
        self.node_keys = list(merged)
        return list(merged.values())

    def string_set(self, path: tuple, b: list, o: list, t: list) -> list:
        """additional_includes: ours' list, minus what theirs removed, plus what theirs added."""
        removed = set(b) - set(t)
        out = [x for x in o if x not in removed]
        out += [x for x in t if x not in set(out) and x not in b]
        self.decisions.append(Decision(path, "custom", reason="entries added/removed on both sides"))
        return out


def _keyable(nodes: Any) -> bool:
    return isinstance(nodes, list) and all(isinstance(n, dict) for n in nodes)


def _str_list(x: Any) -> bool:
    return isinstance(x, list) and all(isinstance(s, str) for s in x)


def _describe(path: tuple) -> str:
    if len(path) >= 2 and path[0] == "nodes":
        rest = ".".join(str(p) for p in path[2:])
        return f"node '{path[1]}'" + (f" {rest}" if rest else "")
    if len(path) >= 4 and path[0] == "node_variants" and path[2] == "variants":
        rest = ".".join(str(p) for p in path[4:])
        return f"variant '{path[3]}' of node '{path[1]}'" + (f" {rest}" if rest else "")
    if len(path) >= 2 and path[0] in ("inputs", "outputs"):
        rest = ".".join(str(p) for p in path[2:])
        return f"flow {path[0][:-1]} '{path[1]}'" + (f" {rest}" if rest else "")
    return "'" + ".".join(str(p) for p in path) + "'" if path else "the flow"


def _normalise(base: dict, ours: dict, theirs: dict) -> tuple:
    """Rename nodes so that all three versions call each node by its merged name.

    Returns (base', ours', theirs', forced conflicts, renames, key maps per side).
    """
    mo = match_nodes(base, ours)
    mt = match_nodes(base, theirs)
    forced: dict = {}
    names: dict = {}   # forced rename conflict -> (base name, theirs' name), for its sections
    final: dict = {}
    for b in node_keys(base.get("nodes")):
        ok, tk = mo.pairs.get(b), mt.pairs.get(b)
        if ok is not None and tk is not None and ok != b and tk != b and ok != tk:
            final[b] = ok
            forced[("nodes", ok)] = f"node '{b}' renamed to '{ok}' by ours and to '{tk}' by theirs"
            names[("nodes", ok)] = (b, tk)
        elif ok is not None and ok != b:
            final[b] = ok
            if tk is None:   # git's rename/delete: keeping either silently loses the other's intent
                forced[("nodes", ok)] = f"node '{b}' renamed to '{ok}' by ours, removed by theirs"
        elif tk is not None and tk != b:
            final[b] = tk
            if ok is None:
                forced[("nodes", tk)] = f"node '{b}' renamed to '{tk}' by theirs, removed by ours"
    # a rename onto a name the other side gave a different node: leave it to the add/add conflict
    okeys, tkeys = set(node_keys(ours.get("nodes"))), set(node_keys(theirs.get("nodes")))
    for b, f in list(final.items()):
        ok, tk = mo.pairs.get(b), mt.pairs.get(b)
        if (f in okeys and ok != f) or (f in tkeys and tk != f):
            del final[b]
            forced.pop(("nodes", f), None)
            names.pop(("nodes", f), None)
    ren_b = dict(final)
    ren_o = {mo.pairs[b]: f for b, f in final.items() if b in mo.pairs and mo.pairs[b] != f}
    ren_t = {mt.pairs[b]: f for b, f in final.items() if b in mt.pairs and mt.pairs[b] != f}
    nb = apply_renames(base, ren_b) if ren_b else base
    no = apply_renames(ours, ren_o) if ren_o else ours
    nt = apply_renames(theirs, ren_t) if ren_t else theirs
    return nb, no, nt, forced, final, (ren_b, ren_o, ren_t), names


def merge(base: Any, ours: Any, theirs: Any, forced: dict | None = None) -> MergeResult:
    """Merge three parsed flow documents (dicts; None/MISSING base for add/add)."""
    base = base if isinstance(base, dict) else {}
    ours = ours if isinstance(ours, dict) else {}
    theirs = theirs if isinstance(theirs, dict) else {}
    nb, no, nt, forced_ren, final, (ren_b, ren_o, ren_t), names = _normalise(base, ours, theirs)
    m = _Merger({**forced_ren, **(forced or {})})
    for b, f in final.items():
        by_o, by_t = b not in ren_o, b not in ren_t   # the side that renamed keeps the new key
        action = "both" if by_o and by_t else ("local" if by_o else "remote")
        who = {"both": "both sides", "local": "ours", "remote": "theirs"}[action]
        m.decisions.append(Decision(("nodes", f), action, reason=f"renamed from '{b}' by {who}"))
    merged = m.value((), nb, no, nt)
    for c in m.conflicts:  # a node both sides renamed differently: each section keeps its name
        if c.path in names:
            for side, name in zip(("base", "remote"), names[c.path]):
                if isinstance(getattr(c, side), dict):
                    setattr(c, side, dict(getattr(c, side), name=name))
        elif len(c.path) == 2 and c.path[0] == "nodes" and c.base is not MISSING and \
                (c.local is MISSING) != (c.remote is MISSING):
            c.reason += _also_removed(c.path[1], nb, no if c.local is MISSING else nt,
                                      "ours" if c.local is MISSING else "theirs")
    if names:
        merged = _conflict_references(m, merged, names, nb)
    res = MergeResult(merged, m.decisions, m.conflicts, renames=final,
                      sides={"base": nb, "local": no, "remote": nt})
    nodes = merged.get("nodes") if isinstance(merged, dict) else None
    res.node_keys = m.node_keys if m.node_keys else node_keys(nodes)
    for side, raw, ren in (("base", base, ren_b), ("local", ours, ren_o), ("remote", theirs, ren_t)):
        res.node_index[side] = {ren.get(k, k): i for i, k in enumerate(node_keys(raw.get("nodes")))}
    return res


def _also_removed(node: str, base: dict, deleter: dict, who: str) -> str:
    """'; ours also removed flow output 'x', flow input 'q'': what the side that removed a node
    removed with it (outputs that read it, flow inputs it read), so keeping the node is informed."""
    from .check import references

    gone = []
    outs, d_outs = base.get("outputs"), deleter.get("outputs")
    ins, d_ins = base.get("inputs"), deleter.get("inputs")
    for path, holder, r in references(base):
        if path[0] == "outputs" and r.kind == "node" and r.name == node and isinstance(outs, dict) \
                and not (isinstance(d_outs, dict) and path[1] in d_outs):
            gone.append(f"flow output '{path[1]}'")
        elif holder == node and r.kind == "input" and isinstance(ins, dict) and r.name in ins \
                and not (isinstance(d_ins, dict) and r.name in d_ins):
            gone.append(f"flow input '{r.name}'")
    gone = list(dict.fromkeys(gone))
    return f"; {who} also removed {', '.join(gone)}" if gone else ""


def _conflict_references(m: "_Merger", merged: Any, names: dict, base: dict) -> Any:
    """Every reference to a node both sides renamed differently becomes a conflict too: ours'
    name against theirs' (taking one side's node and the other's references would dangle)."""
    from .check import references

    to_theirs = {p[1]: t for p, (_, t) in names.items()}
    to_base = {p[1]: b for p, (b, _) in names.items()}
    out = merged
    for path, _holder, r in references(resolve(merged, "local")):
        if r.kind != "node" or r.name not in to_theirs:
            continue
        value = get_path(merged, path)
        if not isinstance(value, str):
            continue
        b = get_path(base, path)
        c = Conflict(path, rewrite_value(b, to_base) if b is not MISSING else MISSING, value,
                     rewrite_value(value, to_theirs),
                     f"reads node '{to_base[r.name]}', renamed to '{r.name}' by ours and to "
                     f"'{to_theirs[r.name]}' by theirs")
        m.conflicts.append(c)
        m.decisions.append(Decision(path, "conflict", True, c.reason))
        out = _replace(out, path, c)
    return out


def get_path(data: Any, path: tuple) -> Any:
    """The value at `path` in flow data (nodes by name), MISSING when absent."""
    cur = data
    for i, k in enumerate(path):
        if isinstance(cur, dict):
            cur = cur.get(k, MISSING)
        elif isinstance(cur, list) and path[:i] == ("nodes",):
            cur = next((n for n in cur if isinstance(n, dict) and n.get("name") == k), MISSING)
        else:
            return MISSING
        if cur is MISSING:
            return cur
    return cur


def _replace(data: Any, path: tuple, value: Any) -> Any:
    """`data` with the value at `path` replaced, copying only the containers on the way."""
    if not path:
        return value
    k = path[0]
    if isinstance(data, dict):
        return {**data, k: _replace(data[k], path[1:], value)}
    return [_replace(n, path[1:], value) if isinstance(n, dict) and n.get("name") == k else n
            for n in data]


def walk_conflicts(value: Any) -> list:
    """Conflict objects in a merged tree, in document order."""
    out: list = []
    if isinstance(value, Conflict):
        out.append(value)
    elif isinstance(value, dict):
        for v in value.values():
            out += walk_conflicts(v)
    elif isinstance(value, list):
        for v in value:
            out += walk_conflicts(v)
    return out


def resolve(value: Any, side: str = "local") -> Any:
    """The merged tree with every conflict replaced by one side's value (MISSING drops it)."""
    if isinstance(value, Conflict):
        v = getattr(value, side)
        return MISSING if v is MISSING else resolve(v, side)
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            r = resolve(v, side)
            if r is not MISSING:
                out[k] = r
        return out
    if isinstance(value, list):
        return [r for r in (resolve(v, side) for v in value) if r is not MISSING]
    return value
