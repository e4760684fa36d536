"""`pfgit log --node NAME`: the commits that changed one node - its fields, its variants, the
source files it runs - newest first, through the node's renames and the flow's moves, each with a
one-line semantic summary; formatting-only commits are counted, not listed. With metrics: the
runs of the flow before (the parent's flow tree) and after (the commit's) and the delta.
"""

from __future__ import annotations

import difflib
import heapq

from ..errors import UsageError
from .delta import format_only, renames
from .versions import node_of, source_kind

MAX_PARTS = 4


def _label(path: list) -> str:
    """A change path below a node, as the summary says it."""
    if path[0] == "node_variants":
        rest = path[2:]
        if rest[:1] == ["variants"] and len(rest) >= 2:
            inner = rest[3:] if rest[2:3] == ["node"] else rest[2:]
            return f"variant {rest[1]}" + (": " + ".".join(inner) if inner else "")
        return ".".join(rest) or "variants"
    return ".".join(path[2:])


def change_text(c: dict) -> str:
    """One change as a few words: 'inputs.temperature 0.2 -> 0.7', 'prompt: 3 lines changed'."""
    op, path = c["op"], c["path"]
    if op == "rename":
        return f"renamed from {path[1]}"
    if op == "move":
        return f"moved after {c['after']}" if c.get("after") else "moved to the top"
    if "file" in c:
        kind = source_kind(c["file"] or "")
        where = _label(path[:path.index("file")]) if "file" in path else ""
        head = f"{where} {kind}".strip() if where else kind
        if c.get("status") == "added":
            return f"{head}: {c['file']} added"
        if c.get("status") == "deleted":
            return f"{head}: {c['file']} deleted"
        moved = f" ({c['old_file']} -> {c['file']})" if c.get("old_file") else ""
        n = c.get("lines")
        return f"{head}: " + ("binary file changed" if n is None else
                              f"{n} line{'s' if n != 1 else ''} changed") + moved
    if len(path) == 2 and path[0] == "nodes":
        return {"add": "node added", "remove": "node removed", "change": "node replaced"}[op]
    where = _label(path)
    if op == "add":
        return f"{where} added ({c.get('new')})" if where else f"added ({c.get('new')})"
    if op == "remove":
        return f"{where} removed"
    return f"{where} {c.get('old')} -> {c.get('new')}"


def node_changes(delta: dict, node: str) -> list:
    return [c for c in delta["changes"]
            if (c["op"] == "rename" and c["new"] == node) or
            (c["op"] != "rename" and node_of(c["path"]) == node)]


def one_line(changes: list) -> str:
    parts = [change_text(c) for c in changes]
    if len(parts) > MAX_PARTS:
        parts = parts[:MAX_PARTS] + [f"(+{len(parts) - MAX_PARTS} more)"]
    return "; ".join(parts)


def _born(changes: list, node: str) -> bool:
    return any(c["op"] == "add" and c["path"] == ["nodes", node] for c in changes)


def node_log(hist, start, node: str, limit: int | None = None) -> dict:
    """{"node", "flow", "commits": [...], "formatting_only": n, "history_stops": {...} | None}."""
    check_node(hist, start, node)
    out: list = []
    fmt = 0
    stops = None
    heap = [(-start.time, start.commit, start.path, node)]
    seen: set = set()
    steps = {(start.commit, start.path): start}
    while heap and (limit is None or limit < 0 or len(out) < limit):
        _, c, p, name = heapq.heappop(heap)
        if (c, p, name) in seen:
            continue
        seen.add((c, p, name))
        st = steps[(c, p)]
        parents = hist.parent_steps(st)
        if st.boundary is not None:
            stops = {"commit": st.commit, "reason": st.boundary}
        ds = [hist.delta(ps, st) for ps in parents] or [hist.delta(None, st)]
        if st.boundary is not None and not parents:
            ds = []  # unknown parent: nothing to compare with
        per_parent = [node_changes(d, name) for d in ds]
        mine = per_parent[0] if per_parent and all(per_parent) else []
        if _born(mine, name):  # its fields and files came with it
            mine = [c for c in mine if c["op"] == "add" and c["path"] == ["nodes", name]]
        if mine:
            entry = {"commit": st.commit, "author": st.author_name, "time": st.time, "tz": st.tz,
                     "summary": st.summary, "flow": st.path, "tree": st.tree, "node": name,
                     "merge": len(st.parents) > 1, "changes": mine, "text": one_line(mine),
                     "parent": parents[0].commit if parents and parents[0] else None,
                     "parent_flow": parents[0].path if parents and parents[0] else None,
                     "parent_tree": parents[0].tree if parents and parents[0] else None}
            out.append(entry)
        elif ds and format_only(ds[0]):
            fmt += 1
        for ps, d in zip(parents, ds):
            if ps is None or _born(d["changes"], name):
                continue
            back = {n: o for o, n in renames(d).items()}
            pname = back.get(name, name)
            steps.setdefault((ps.commit, ps.path), ps)
            heapq.heappush(heap, (-ps.time, ps.commit, ps.path, pname))
    return {"node": node, "flow": start.path, "commit": start.commit, "commits": out,
            "formatting_only": fmt, "history_stops": stops, "all_parents": hist.all_parents}


def attach_metrics(idx, log: dict, metrics: list) -> None:
    """Add to each commit of a node log `metrics`: {before, after (run names), values: [{name,
    old, new, delta}]} from the newest run having one of `metrics` of the flow tree before the
    commit (its first parent's) and of the commit's own."""
    from ..index.compare import diff_metrics
    from ..index.query import tree_runs

    memo: dict = {}

    def side(path, tree):
        if path is None:
            return None
        if (path, tree) not in memo:
            runs = [r for r in tree_runs(idx, path, tree, metrics)
                    if any(m in r["effective_metrics"] for m in metrics)]
            memo[(path, tree)] = {"run": runs[0]["name"], "metrics": runs[0]["effective_metrics"]} \
                if runs else None
        return memo[(path, tree)]

    for e in log["commits"]:
        before, after = side(e["parent_flow"], e["parent_tree"]), side(e["flow"], e["tree"])
        rows = {r["name"]: r for r in diff_metrics({"metrics": (before or {}).get("metrics", {})},
                                                   {"metrics": (after or {}).get("metrics", {})})}
        e["metrics"] = {"before": (before or {}).get("run"), "after": (after or {}).get("run"),
                        "values": [rows.get(m, {"name": m, "old": None, "new": None, "delta": None})
                                   for m in metrics]}


# ---------------------------------------------------------------------------------------------
# Unknown nodes

def check_node(hist, start, node: str) -> None:
    """A UsageError naming near names, and when the node existed earlier, where it went."""
    summary = hist.summary(hist.effective(start))
    names = summary.get("nodes") or []
    if node in names:
        return
    if summary.get("kind") == "flex":
        code = next((rel for b, rel, _ in summary.get("sources") or [] if b == ["entry"]), None)
        hist.flush()
        raise UsageError(f"flow {start.path} is a flex flow (no nodes): `pfgit blame {start.path}` "
                         "blames its fields" + (f", `pfgit blame {code}` its code" if code else ""))
    msg = f"no node '{node}' in flow {start.path}"
    where, now = _where_it_went(hist, start, node, set(names))
    if where:
        msg += f"; {where}"
    # suggestions are nodes of the flow as it is: the node's current name, else near names
    near = [now] if now else difflib.get_close_matches(node, names, n=3, cutoff=0.6)
    if near:
        msg += "; did you mean " + " or ".join(f"'{n}'" for n in near) + "?"
    elif names and not where:
        msg += f" (nodes: {', '.join(names[:8])}{', ...' if len(names) > 8 else ''})"
    hist.flush()
    raise UsageError(msg)


def _short(st) -> str:
    import time as _t

    return f"{st.commit[:8]} ({_t.strftime('%Y-%m-%d', _t.gmtime(st.time + st.tz))} {st.summary!r})"


def _where_it_went(hist, start, node: str, current: set) -> tuple:
    """(what became of `node`, its current name or None): the newest first-parent commit that
    renamed or removed it, and what happened to the new name since."""
    hist.prefetch(start)
    chain = []
    st = start
    while st is not None:
        ps = hist.parent_steps(st, all_parents=False)
        parent = ps[0] if ps else None
        d = hist.delta(parent, st) if (parent is not None or st.boundary is None) else {"changes": []}
        chain.append((st, d))
        for c in d["changes"]:
            if c["op"] == "rename" and c["path"] == ["nodes", node]:
                now, gone = _forward(chain[:-1], c["new"])
                text = f"it was renamed to '{c['new']}' in {_short(st)}"
                if now in current:
                    return text + (f", now '{now}'" if now != c["new"] else ""), now
                if gone is not None:
                    return text + f"; '{now}' was removed in {_short(gone)}", None
                return text + ", and is gone since", None
            if c["op"] == "remove" and c["path"] == ["nodes", node]:
                return f"it was removed in {_short(st)}", None
        st = parent
    return None, None


def _forward(newer: list, name: str) -> tuple:
    """(what `name` is called at the start, the step that removed it or None), given the
    (step, delta) pairs newer than its rename."""
    for st, d in reversed(newer):
        r = renames(d)
        if name in r:
            name = r[name]
        elif any(c["op"] == "remove" and c["path"] == ["nodes", name] for c in d["changes"]):
            return name, st
    return name, None


__all__ = ["attach_metrics", "node_log", "check_node", "change_text", "one_line", "node_changes"]
