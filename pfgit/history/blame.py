"""`pfgit blame`: the commit that last changed each field of a flow semantically, and with a node,
each line of its source files (like `git blame -w -M`, through node and source-file renames).

Fields: every input and output field, node field (node inputs one by one), variant field and node
source file of the flow at the starting commit (versions.flow_fields). A field passes to a parent
unless that commit's semantic change touches it (delta.Fields), renamed to the parent's node names;
reformats change nothing, so they never take blame.

Lines: a node body's source file is compared with the parent's file of the same body (through
the node's rename and the body's `source.path`), lines stripped of whitespace; matched lines pass
to the parent (difflib's longest matching blocks, then identical lines that moved, like `-M`).
"""

from __future__ import annotations

from ..diff.changes import old_body_path
from ..diff.textdiff import BoundedMatcher
from ..errors import UsageError
from .delta import Fields, norm_lines, renames
from .versions import ENTRY, FILE, field_label, flow_fields, node_of


def _commit_info(st, boundary: bool = False) -> dict:
    return {"commit": st.commit, "author": st.author_name, "author_email": _email(st.author),
            "time": st.time, "tz": st.tz, "summary": st.summary, "boundary": boundary}


def _email(author: str) -> str:
    return author.split(" <", 1)[1].rstrip(">") if " <" in author else ""


def _boundary(hist, st) -> bool:
    """Blame ends here because history stops, not because this commit made the field."""
    return st.boundary is not None


def _sources(summary: dict) -> dict:
    return {tuple(b): (rel, bid) for b, rel, bid in summary.get("sources") or []}


# ---------------------------------------------------------------------------------------------
# Fields

def blame_fields(hist, start) -> list:
    """[{field, path, value, file, commit, author, time, tz, summary, boundary, path_then}] in
    the flow's field order."""
    from ..diff.render import fmt_value

    eff = hist.effective(start)
    summary = hist.summary(eff)
    data, err = hist.versions.data(eff)
    if data is None:
        raise UsageError(f"cannot read the flow: {err}")
    fields = flow_fields(data, summary.get("sources") or [])
    files = {p[:-1]: v for p, v in fields if p[-1:] == (FILE,)}
    payload = Fields({p: [p] for p, _ in fields})
    found: dict = {}

    def pass_on(parent, st, kept: Fields):
        d = hist.delta(parent, st)
        changed = kept.take(d["changes"])
        back = {n: o for o, n in renames(d).items()}
        return kept.renamed(back), changed

    def blame(st, kept: Fields):
        for path_then, origs in kept.items():
            for orig in origs:
                found[orig] = dict(_commit_info(st, _boundary(hist, st)), path_then=list(path_then))

    hist.propagate(start, payload, pass_on, blame)
    out = []
    for p, v in fields:
        rec = {"field": field_label(p, files.get(p[:-1]) if p[-1] == FILE else None),
               "path": list(p), "value": v if p[-1] == FILE else fmt_value(v, 200)}
        rec.update(found[p])
        then = tuple(rec["path_then"])
        rec["renamed_from"] = None if then == p else field_label(
            then, files.get(p[:-1]) if p[-1] == FILE else None)
        out.append(rec)
    return out


# ---------------------------------------------------------------------------------------------
# Lines

class Lines:
    """Lines still looking for their commit: body -> [(line index in this commit, origin)]."""

    def __init__(self, bodies: dict | None = None):
        self.bodies = bodies or {}

    def __bool__(self) -> bool:
        return any(self.bodies.values())

    def merge(self, other: "Lines") -> None:
        for b, ls in other.bodies.items():
            self.bodies.setdefault(b, []).extend(ls)


def _text(hist, bid: str | None) -> str | None:
    raw = hist.versions.blob(bid) if bid else None
    if raw is None or b"\0" in raw[:8000]:
        return None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def map_lines(old: str, new: str) -> dict:
    """new line index -> old line index, whitespace-insensitive; moved lines too (`-M`)."""
    a, b = norm_lines(old), norm_lines(new)
    out: dict = {}
    for i, j in BoundedMatcher(a, b, autojunk=False).matching_pairs():
        out[j] = i
    used = set(out.values())
    spare: dict = {}
    for i, line in enumerate(a):
        if i not in used and line:
            spare.setdefault(line, []).append(i)
    for j, line in enumerate(b):
        if j not in out and spare.get(line):
            out[j] = spare[line].pop(0)
    return out


class _Sources:
    """A version's body -> (source file, blob id), looked up body by body (FlowHistory.body_source:
    a walk asks for one node's bodies, not for the whole summary)."""

    def __init__(self, hist, step):
        self.hist, self.step, self.found = hist, step, {}

    def get(self, body, default=None):
        if body not in self.found:
            self.found[body] = self.hist.body_source(self.step, body)
        return self.found[body] or default

    def __contains__(self, body) -> bool:
        return self.get(body) is not None


def blame_lines(hist, start, node: str | None) -> list:
    """[{body, file, lines: [{line, text, commit, ..., orig_line, orig_file}]}] for each body of
    `node` (the node, or each of its variants; None: a flex flow's entry module) whose source
    file is text."""
    eff = hist.effective(start)
    srcs = _sources(hist.summary(eff))
    bodies = [b for b in srcs if (node_of(b) == node if node is not None else b == ENTRY) and srcs[b][1]]
    texts = {b: _text(hist, srcs[b][1]) for b in bodies}
    bodies = [b for b in bodies if texts[b] is not None]
    lines = {b: texts[b].splitlines() for b in bodies}
    payload = Lines({b: [(i, (b, i)) for i in range(len(lines[b]))] for b in bodies})
    found: dict = {}

    memo: dict = {}

    def sources_of(step) -> "_Sources":
        eff = hist.effective(step)
        if eff.vkey not in memo:
            memo[eff.vkey] = _Sources(hist, eff)
        return memo[eff.vkey]

    def pass_on(parent, st, kept: Lines):
        d = hist.delta(parent, st)
        mine = {node_of(b) for b in kept.bodies}
        if not any(node_of(c["path"]) in mine or c.get("new") in mine for c in d["changes"]):
            return kept, Lines()  # nothing of these nodes changed (whitespace-only edits are dropped)
        back = {n: o for o, n in renames(d).items()}
        cur_src, old_src = sources_of(st), sources_of(parent)
        passed, stay = Lines(), Lines()
        for b, ls in kept.bodies.items():
            key = node_of(b)
            ob = old_body_path(b, back.get(key, key), old_src) if b != ENTRY else (b if b in old_src else None)
            cur, old = cur_src.get(b), old_src.get(ob) if ob else None
            if old is None or cur is None or not old[1]:
                stay.bodies.setdefault(b, []).extend(ls)
                continue
            if old[1] == cur[1]:
                passed.bodies.setdefault(ob, []).extend(ls)
                continue
            ta, tb = _text(hist, old[1]), _text(hist, cur[1])
            m = map_lines(ta, tb) if ta is not None and tb is not None else {}
            for i, origin in ls:
                if i in m:
                    passed.bodies.setdefault(ob, []).append((m[i], origin))
                else:
                    stay.bodies.setdefault(b, []).append((i, origin))
        return passed, stay

    def blame(st, kept: Lines):
        src = sources_of(st)
        for b, ls in kept.bodies.items():
            for i, origin in ls:
                found[origin] = dict(_commit_info(st, _boundary(hist, st)), orig_line=i + 1,
                                     orig_file=(src.get(b) or ("?",))[0])

    hist.propagate(start, payload, pass_on, blame)
    out = []
    for b in bodies:
        out.append({"body": list(b), "field": field_label(b + (FILE,), srcs[b][0]),
                    "file": srcs[b][0],
                    "lines": [dict(found[(b, i)], line=i + 1, text=t) for i, t in enumerate(lines[b])]})
    return out


__all__ = ["blame_fields", "blame_lines", "map_lines"]
