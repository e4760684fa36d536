"""Which node of one flow version is which node of another: by name, then rename detection.

Pure functions on plain flow data (the dict parsed from flow.dag.yaml; a `Flow` is accepted too).
Shared by the semantic diff and the three-way merge, so both agree on what "the same node" means.

Nodes are identified by *key*: the node's name, made unique when a file repeats a name (`name#2`
for the second `name`) or omits it (`#<index>`), so every node has exactly one key.

Matching, in this order (each pass only looks at nodes still unmatched):
1. same key;
2. rename: an old and a new node whose bodies (everything but `name`, plus their
   `node_variants` entry) are identical once references are rewritten through the renames found so
   far; repeated to a fixed point, so a chain `a -> a2`, `b -> b2` where b reads `${a.output}` is
   found even though b's text changed;
3. rename: the only remaining old and new node using the same code source file (`source.path`,
   or any variant's); or the only old and new node of one type read by exactly the same places
   (inputs of the same nodes, same outputs) and still alike (USERS_SIMILARITY): its users were
   re-pointed at the new name. Then pass 2 again;
4. rename (optional, `similarity`): same `type` and a share of identical leaf values (after rewriting)
   of at least `similarity`, best pairs first.

`apply_renames` rewrites a flow for a set of renames (node names, `node_variants` keys and every
reference in node inputs, `activate.when` and output `reference`) and lists the references it
rewrote, which the diff reports as part of a rename.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

from ..flow.refs import is_ref_text, parse_ref, rename_node_in_value

DEFAULT_SIMILARITY = 0.7
USERS_SIMILARITY = 0.5   # a re-pointed node must still resemble the old one this much


@dataclass
class Matching:
    """Result of `match_nodes`. Keys are node keys (see `node_keys`)."""

    pairs: dict = field(default_factory=dict)    # old key -> new key, every node in both versions
    renamed: dict = field(default_factory=dict)  # old key -> new key where they differ
    added: list = field(default_factory=list)    # new keys without an old node (new file order)
    removed: list = field(default_factory=list)  # old keys without a new node (old file order)
    how: dict = field(default_factory=dict)  # old key -> name | body | source | references | similar

    def new_key(self, old: str) -> str | None:
        return self.pairs.get(old)

    def old_key(self, new: str) -> str | None:
        for o, n in self.pairs.items():
            if n == new:
                return o
        return None


@dataclass
class VariantMatching:
    """Result of `match_variants`: variant ids in both, only in the new, only in the old set."""

    common: list = field(default_factory=list)   # old order
    added: list = field(default_factory=list)    # new order
    removed: list = field(default_factory=list)  # old order


@dataclass(frozen=True)
class Rewrite:
    """A reference rewritten by a rename. `path` is in the renamed flow (nodes by new key)."""

    path: tuple
    old: Any
    new: Any


# ---------------------------------------------------------------------------------------------
# Plain-data views of a flow

def flow_data(flow: Any) -> dict:
    """The parsed flow dict of a Flow or of a dict (anything else: empty)."""
    data = getattr(flow, "data", flow)
    return data if isinstance(data, dict) else {}


def node_keys(nodes: Any) -> list:
    """One unique key per entry of a `nodes` list (see module doc)."""
    if not isinstance(nodes, list):
        return []
    seen: dict = {}
    out = []
    for i, raw in enumerate(nodes):
        name = raw.get("name") if isinstance(raw, dict) else None
        if not isinstance(name, str):
            out.append(f"#{i}")
            continue
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return out


def node_map(data: Any) -> dict:
    """key -> node mapping (file order). Non-mapping entries are kept as they are."""
    d = flow_data(data)
    nodes = d.get("nodes")
    if not isinstance(nodes, list):
        return {}
    return dict(zip(node_keys(nodes), nodes))


def node_body(data: dict, key: str, raw: Any) -> Any:
    """What identifies a node's behaviour: the node without its name, plus its variants entry."""
    if not isinstance(raw, dict):
        return raw
    body = {k: v for k, v in raw.items() if k != "name"}
    nv = data.get("node_variants")
    if raw.get("use_variants") and isinstance(nv, dict) and key in nv:
        body["\0variants"] = nv[key]
    return body


def source_paths(data: dict, key: str, raw: Any) -> frozenset:
    """Code source files a node (or any of its variants) runs."""
    out = set()
    body = node_body(data, key, raw)
    if not isinstance(body, dict):
        return frozenset()
    bodies = [body]
    vs = body.get("\0variants")
    if isinstance(vs, dict) and isinstance(vs.get("variants"), dict):
        bodies += [v.get("node") for v in vs["variants"].values() if isinstance(v, dict)]
    for b in bodies:
        if not isinstance(b, dict):
            continue
        src = b.get("source")
        if isinstance(src, dict) and isinstance(src.get("path"), str) and src.get("type", "code") in (
                "code", "package_with_prompt", None):
            out.add(src["path"])
        elif isinstance(b.get("tool"), str) and b["tool"].endswith((".py", ".jinja2")):
            out.add(b["tool"])
    return frozenset(out)


def canon(value: Any) -> Any:
    """A hashable form of parsed YAML that ignores key order but keeps types ('256' != 256)."""
    if isinstance(value, dict):
        return ("{}", tuple(sorted(((repr(k), canon(v)) for k, v in value.items()),
                                   key=lambda kv: kv[0])))
    if isinstance(value, list):
        return ("[]", tuple(canon(v) for v in value))
    return (type(value).__name__, repr(value))


# ---------------------------------------------------------------------------------------------
# Rewriting references for renames

def rewrite_value(value: Any, renames: dict) -> Any:
    """`value` with a reference to a renamed node pointed at its new name."""
    if not renames or not is_ref_text(value):
        return value
    ref = parse_ref(value)
    if ref is None or ref.kind != "node" or ref.name not in renames:
        return value
    return rename_node_in_value(value, ref.name, renames[ref.name])


def _rewrite_body(body: Any, renames: dict, path: tuple, rewrites: list | None) -> Any:
    """A node/variant body with its input and activate.when references rewritten (in place)."""
    if not isinstance(body, dict):
        return body
    inputs = body.get("inputs")
    if isinstance(inputs, dict):
        for k, v in inputs.items():
            nv = rewrite_value(v, renames)
            if nv is not v and nv != v:
                inputs[k] = nv
                if rewrites is not None:
                    rewrites.append(Rewrite(path + ("inputs", k), v, nv))
    act = body.get("activate")
    if isinstance(act, dict) and "when" in act:
        nv = rewrite_value(act["when"], renames)
        if nv != act["when"]:
            if rewrites is not None:
                rewrites.append(Rewrite(path + ("activate", "when"), act["when"], nv))
            act["when"] = nv
    return body


def _reads_renamed(body: Any, renames: dict) -> bool:
    if not isinstance(body, dict):
        return False
    vals = list(body["inputs"].values()) if isinstance(body.get("inputs"), dict) else []
    if isinstance(body.get("activate"), dict):
        vals.append(body["activate"].get("when"))
    return any(rewrite_value(v, renames) is not v for v in vals)


def apply_renames(data: Any, renames: dict, rewrites: list | None = None) -> dict:
    """Flow data with nodes renamed (old key -> new key) and references rewritten.

    Renames node `name`s, `node_variants` keys (keeping their position) and references in node
    inputs, `activate.when`, variant bodies and output `reference`s. Appends a `Rewrite` per
    rewritten reference to `rewrites` when given. The input is not modified; nodes that need no
    change are shared with it (deep-copy the result before modifying it in place).
    """
    src = flow_data(data)
    data = dict(src)
    if not renames:
        return data
    nodes = src.get("nodes")
    if isinstance(nodes, list):
        touched = []
        new_nodes = []
        for key, raw in zip(node_keys(nodes), nodes):
            rename = isinstance(raw, dict) and key in renames and "name" in raw
            if rename or _reads_renamed(raw, renames):
                raw = copy.deepcopy(raw)
                if rename:
                    raw["name"] = renames[key]
                touched.append(len(new_nodes))
            new_nodes.append(raw)
        data["nodes"] = new_nodes
        new_keys = node_keys(new_nodes)
        for i in touched:
            _rewrite_body(new_nodes[i], renames, ("nodes", new_keys[i]), rewrites)
    nv = src.get("node_variants")
    if isinstance(nv, dict):
        renamed_nv = {}
        for name, vs in nv.items():
            new_name = renames.get(name, name)
            vs = copy.deepcopy(vs)
            renamed_nv[new_name] = vs
            variants = vs.get("variants") if isinstance(vs, dict) else None
            if isinstance(variants, dict):
                for vid, v in variants.items():
                    if isinstance(v, dict):
                        _rewrite_body(v.get("node"), renames,
                                      ("node_variants", new_name, "variants", vid, "node"), rewrites)
        data["node_variants"] = renamed_nv
    outs = src.get("outputs")
    if isinstance(outs, dict):
        outs = data["outputs"] = copy.deepcopy(outs)
        for oname, o in outs.items():
            if isinstance(o, dict) and "reference" in o:
                nv2 = rewrite_value(o["reference"], renames)
                if nv2 != o["reference"]:
                    if rewrites is not None:
                        rewrites.append(Rewrite(("outputs", oname, "reference"), o["reference"], nv2))
                    o["reference"] = nv2
    return data


def _rewritten_body(data: dict, key: str, raw: Any, renames: dict) -> Any:
    body = copy.deepcopy(node_body(data, key, raw))
    if not isinstance(body, dict):
        return body
    _rewrite_body(body, renames, (), None)
    vs = body.get("\0variants")
    if isinstance(vs, dict) and isinstance(vs.get("variants"), dict):
        for v in vs["variants"].values():
            if isinstance(v, dict):
                _rewrite_body(v.get("node"), renames, (), None)
    return body


# ---------------------------------------------------------------------------------------------
# Matching

def match_nodes(old: Any, new: Any, similarity: float | None = DEFAULT_SIMILARITY) -> Matching:
    """Match the nodes of two flow versions (Flow or parsed dict). See the module doc.

    `similarity=None` turns off the fuzzy pass (only exact-body and same-source renames).
    """
    od, nd = flow_data(old), flow_data(new)
    omap, nmap = node_map(od), node_map(nd)
    m = Matching()
    for k in omap:
        if k in nmap:
            m.pairs[k] = k
            m.how[k] = "name"
    rem_old = [k for k in omap if k not in m.pairs]
    rem_new = [k for k in nmap if k not in omap]

    def renames() -> dict:
        return {o: n for o, n in m.pairs.items() if o != n}

    def pair(o: str, n: str, how: str) -> None:
        m.pairs[o] = n
        m.how[o] = how
        rem_old.remove(o)
        rem_new.remove(n)

    def by_body() -> bool:
        found = False
        while rem_old and rem_new:
            r = renames()
            # a renamed node is itself called by its new name in the new version
            new_by_canon: dict = {}
            for n in rem_new:
                new_by_canon.setdefault(canon(node_body(nd, n, nmap[n])), []).append(n)
            progress = False
            for o in list(rem_old):
                c = canon(_rewritten_body(od, o, omap[o], r))
                cands = new_by_canon.get(c)
                if cands:
                    pair(o, cands.pop(0), "body")
                    progress = found = True
            if not progress:
                break
        return found

    def by_source() -> bool:
        """A removed node and an added one that are the only ones running some source file."""
        found = False
        osrc = {o: source_paths(od, o, omap[o]) for o in rem_old}
        nsrc = {n: source_paths(nd, n, nmap[n]) for n in rem_new}
        # source path -> the remaining nodes running it (scanning every node for every node was
        # quadratic: 2,000 nodes renamed, 9 s)
        o_by, n_by = _by_path(osrc), _by_path(nsrc)

        def alone(index: dict, paths: frozenset) -> list:
            """The nodes running any of `paths`, as soon as there are two (all of them if fewer)."""
            out: dict = {}
            for p in paths:
                for x in index.get(p, ()):
                    out[x] = True
                    if len(out) > 1:
                        return list(out)
            return list(out)

        for o in list(rem_old):
            if not osrc[o]:
                continue
            same_old = alone(o_by, osrc[o])
            cands = alone(n_by, osrc[o])
            if len(same_old) == 1 and len(cands) == 1:
                others = alone(o_by, nsrc[cands[0]])
                if others == [o]:
                    pair(o, cands[0], "source")
                    for index, key, paths in ((o_by, o, osrc[o]), (n_by, cands[0], nsrc[cands[0]])):
                        for p in paths:
                            del index[p][key]
                    found = True
        return found

    def by_users() -> bool:
        # the places that read the old node now read the new one: its users were re-pointed
        found = False
        r = renames()
        oidx = _users_index(od, lambda h: m.pairs.get(h, r.get(h, h)), set(rem_old))
        nidx = _users_index(nd, lambda h: h, set(rem_new))
        ousers = {o: oidx.get(o, frozenset()) for o in rem_old}
        nusers = {n: nidx.get(n, frozenset()) for n in rem_new}
        for o in list(rem_old):
            if not ousers[o]:
                continue
            cands = [n for n in rem_new if nusers[n] == ousers[o]
                     and _type(nmap[n]) == _type(omap[o])
                     and _similarity(_rewritten_body(od, o, omap[o], r),
                                     node_body(nd, n, nmap[n])) >= USERS_SIMILARITY]
            if len(cands) == 1 and [x for x in rem_old if ousers[x] == ousers[o]] == [o]:
                pair(o, cands[0], "references")
                found = True
        return found

    by_body()
    while rem_old and rem_new and (by_source() or by_users()):
        by_body()
    if similarity is not None and rem_old and rem_new:
        _by_similarity(m, od, nd, omap, nmap, rem_old, rem_new, renames(), similarity, pair)
        by_body()
    m.renamed = {o: n for o, n in m.pairs.items() if o != n}
    # keep pairs in old file order for callers that walk them
    m.pairs = {o: m.pairs[o] for o in omap if o in m.pairs}
    m.added = list(rem_new)
    m.removed = list(rem_old)
    return m


def _by_path(sources: dict) -> dict:
    """source path -> {node key: True} (in node order) from node key -> source paths."""
    out: dict = {}
    for key, paths in sources.items():
        for p in paths:
            out.setdefault(p, {})[key] = True
    return out


def _type(raw: Any) -> Any:
    return raw.get("type") if isinstance(raw, dict) else None


def _users_index(data: dict, holder_key, targets: set) -> dict:
    """node key -> frozenset of the places referencing it: (holder, [variant,] field, section, prop).

    Only references to `targets` are collected (a cheap text test skips the others)."""
    out: dict = {}
    for hkey, raw in node_map(data).items():
        body = node_body(data, hkey, raw)
        if not isinstance(body, dict):
            continue
        bodies = [((), body)]
        vs = body.get("\0variants")
        if isinstance(vs, dict) and isinstance(vs.get("variants"), dict):
            bodies += [((vid,), v.get("node")) for vid, v in vs["variants"].items() if isinstance(v, dict)]
        holder = holder_key(hkey)
        for where, b in bodies:
            if not isinstance(b, dict):
                continue
            vals = list(b["inputs"].items()) if isinstance(b.get("inputs"), dict) else []
            if isinstance(b.get("activate"), dict):
                vals.append(("\0activate", b["activate"].get("when")))
            for field_name, v in vals:
                if not (isinstance(v, str) and v.startswith("${")
                        and v[2:-1].split(".", 1)[0] in targets):
                    continue
                ref = parse_ref(v)
                if ref is not None and ref.kind == "node":
                    out.setdefault(ref.name, set()).add(
                        (holder,) + where + (field_name, ref.section, ref.prop))
    outs = data.get("outputs")
    for oname, o in (outs.items() if isinstance(outs, dict) else []):
        ref = parse_ref(o.get("reference")) if isinstance(o, dict) else None
        if ref is not None and ref.kind == "node":
            out.setdefault(ref.name, set()).add(("\0outputs", oname, ref.section, ref.prop))
    return {k: frozenset(v) for k, v in out.items()}


def _leaves(value: Any, path: tuple = ()) -> set:
    if isinstance(value, dict):
        out: set = set()
        for k, v in value.items():
            out |= _leaves(v, path + (repr(k),))
        return out or {(path, "{}")}
    return {(path, canon(value))}


def _similarity(a: Any, b: Any) -> float:
    if not isinstance(a, dict) or not isinstance(b, dict):
        return 0.0
    la, lb = _leaves(a), _leaves(b)
    return len(la & lb) / max(1, len(la | lb))


def _by_similarity(m, od, nd, omap, nmap, rem_old, rem_new, renames, threshold, pair) -> None:
    """Pair the remaining nodes most alike first (leaf-set Jaccard >= threshold, same type).

    Each node's leaves are computed once, and only pairs that can reach the threshold are
    scored: two sets with Jaccard >= t share a leaf among the first |X| - ceil(t|X|) + 1 of
    each, in any fixed order of the leaves (prefix filtering; rarest first, so few pairs meet).
    Comparing every removed node with every added one was quadratic: 400 nodes all renamed
    took 4 s, 2,000 would take minutes."""
    olv = {}
    for o in rem_old:
        ob = _rewritten_body(od, o, omap[o], renames)
        if isinstance(ob, dict):
            olv[o] = (ob.get("type"), _leaves(ob))
    nlv = {}
    for n in rem_new:
        nb = node_body(nd, n, nmap[n])
        if isinstance(nb, dict):
            nlv[n] = (nb.get("type"), _leaves(nb))
    opos = {o: i for i, o in enumerate(omap)}
    npos = {n: i for i, n in enumerate(nmap)}
    if threshold > 0:
        freq: dict = {}
        for _, lv in list(olv.values()) + list(nlv.values()):
            for leaf in lv:
                freq[leaf] = freq.get(leaf, 0) + 1
        rank = {leaf: i for i, leaf in enumerate(sorted(freq, key=freq.__getitem__))}

        def prefix(lv: set) -> list:
            ranked = sorted(rank[leaf] for leaf in lv)
            return ranked[:len(ranked) - math.floor(threshold * len(ranked)) + 1]

        index: dict = {}
        for n, (_, lv) in nlv.items():
            for r in prefix(lv):
                index.setdefault(r, []).append(n)

        def candidates(lv: set):   # in any order: the sort below decides
            return {n for r in prefix(lv) for n in index.get(r, ())}
    else:
        def candidates(lv: set):
            return rem_new
    scored = []
    for o, (otype, la) in olv.items():
        for n in candidates(la):
            if n not in nlv or nlv[n][0] != otype:
                continue
            lb = nlv[n][1]
            score = len(la & lb) / max(1, len(la | lb))
            if score >= threshold:
                scored.append((-score, opos[o], npos[n], o, n))
    for _, _, _, o, n in sorted(scored):
        if o in rem_old and n in rem_new:
            pair(o, n, "similar")


def match_variants(old_set: Any, new_set: Any) -> VariantMatching:
    """Match variants by id. Arguments: a VariantSet, its raw dict, or a {id: variant} dict."""
    def ids(s: Any) -> list:
        if s is None:
            return []
        if hasattr(s, "variants"):
            return list(s.variants)
        if isinstance(s, dict) and isinstance(s.get("variants"), dict):
            return [str(k) for k in s["variants"]]
        return [str(k) for k in s] if isinstance(s, dict) else []
    o, n = ids(old_set), ids(new_set)
    return VariantMatching(common=[v for v in o if v in n], added=[v for v in n if v not in o],
                           removed=[v for v in o if v not in n])


__all__ = ["Matching", "VariantMatching", "Rewrite", "match_nodes", "match_variants",
           "apply_renames", "rewrite_value", "node_keys", "node_map", "node_body", "source_paths",
           "canon", "flow_data", "DEFAULT_SIMILARITY"]
