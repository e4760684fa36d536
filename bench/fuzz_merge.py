"""Fuzz the flow merge: random three-way merges of generated flows, judged by an oracle.

    .venv/bin/python bench/fuzz_merge.py [--cases N] [--seed S] [--jobs J]

Each case (seeded, reproducible alone with `--seed S --cases 1`) writes a random flow (inputs,
python nodes reading flow inputs and earlier nodes, outputs) as YAML in a random style: 2 or 4
spaces, `- ` items indented or not, flow-style `{...}` mappings, comments, `|` block scalars,
anchors with aliases (nodes sharing one mapping). Each side then makes 1-3 edits on distinct
units: change, add or remove a node input; make a node read another node; add, remove or rename a
node (references follow); change a flow input's default; add or remove a flow output; change a
comment. Sometimes one side is re-written in another style (a visual editor's reformat).

Every result of `pfgit.merge.files.merge_bytes` (in process) is classified:
- internal error: an exception, or a fallback whose reason is an internal error;
- invalid YAML: a clean result that PyYAML cannot load, or a conflict that does not load with
  ours (or theirs) kept in every conflict;
- clean but wrong: a clean result that (a) differs from the expected model when the two sides'
  edits touch disjoint units (expected = both edit lists applied to base), (b) loses an edit of a
  node only one side touched, or (c) has a validation error neither side has;
- fallback (git's line merge, with a reason: fine), conflict, needless conflict (disjoint edits
  that still conflicted: not wrong, counted), clean = expected (compared with the expected
  model), clean (overlapping edits: checked by (b) and (c)).
Pass: 0 internal errors, 0 invalid YAML, 0 clean but wrong. Exit 1 otherwise (the first bad
seeds are printed).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import sys
import time
from collections import Counter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import yaml  # noqa: E402

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
WORDS = ["alpha", "beta", "gamma", "delta", "echo", "fox", "golf", "hotel", "india", "kilo"]


# -- generating a flow ---------------------------------------------------------------------------

def gen_value(rng: random.Random):
    k = rng.random()
    if k < 0.25:
        return rng.randint(-5, 500)
    if k < 0.35:
        return round(rng.uniform(0, 2), 2)
    if k < 0.42:
        return rng.choice([True, False])
    if k < 0.5:
        return rng.choice(["256", "true", "0.5", "null", "yes"])   # strings that look like others
    if k < 0.6:
        return "\n".join(rng.choice(WORDS) for _ in range(rng.randint(2, 4))) + "\n"   # block scalar
    if k < 0.65:
        return [rng.choice(WORDS) for _ in range(rng.randint(1, 3))]
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3)))


def gen_flow(rng: random.Random) -> dict:
    inputs = {f"in{i}": {"type": "string", "default": rng.choice(WORDS)}
              for i in range(rng.randint(1, 3))}
    nodes: list = []
    for i in range(rng.randint(2, 7)):
        name = f"n{i}"
        ins: dict = {}
        for j in range(rng.randint(1, 3)):
            r = rng.random()
            if r < 0.35 and nodes:
                ins[f"x{j}"] = "${%s.output}" % rng.choice(nodes)["name"]
            elif r < 0.6:
                ins[f"x{j}"] = "${inputs.%s}" % rng.choice(list(inputs))
            else:
                ins[f"x{j}"] = gen_value(rng)
        node = {"name": name, "type": "python", "source": {"type": "code", "path": f"{name}.py"},
                "inputs": ins}
        if nodes and rng.random() < 0.15:   # an anchored mapping another node aliases
            node["inputs"] = rng.choice(nodes)["inputs"]
        nodes.append(node)
    outputs = {}
    for n in rng.sample(nodes, rng.randint(1, min(2, len(nodes)))):
        outputs[f"out_{n['name']}"] = {"type": "string", "reference": "${%s.output}" % n["name"]}
    return {"inputs": inputs, "outputs": outputs, "nodes": nodes}


# -- writing YAML in a style -------------------------------------------------------------------------

class Style:
    def __init__(self, rng: random.Random):
        self.indent = rng.choice([2, 2, 4])
        self.seq_indent = rng.choice([0, self.indent])
        self.flow_source = rng.random() < 0.5
        self.flow_inputs = rng.random() < 0.2
        self.quote_refs = rng.random() < 0.3
        self.comment_seed = rng.randint(0, 10 ** 6)
        self.comments = rng.random() < 0.6
        self.seed = rng.randint(0, 10 ** 6)


_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_SCALARS: dict = {}


def _scalar(v, flow: bool, quote_refs: bool) -> str:
    if isinstance(v, str) and v.startswith("${") and not flow and not quote_refs:
        return v
    key = (type(v), repr(v))
    text = _SCALARS.get(key)
    if text is None:
        text = _SCALARS[key] = yaml.dump([v], Dumper=_Dumper, default_flow_style=True,
                                         width=10 ** 9, allow_unicode=True).strip()[1:-1]
    return text


class Writer:
    def __init__(self, style: Style, comment_texts: dict):
        self.s = style
        self.comments = comment_texts     # node name -> comment line text
        self.anchors: dict = {}
        self.counts: Counter = Counter()

    def dump(self, data: dict) -> str:
        self._count(data)
        self.anchors = {}
        return "\n".join(self.mapping(data, 0, top=True)) + "\n"

    def _count(self, v) -> None:
        self.counts[id(v)] += 1
        if self.counts[id(v)] > 1:
            return
        if isinstance(v, dict):
            for x in v.values():
                self._count(x)
        elif isinstance(v, list):
            for x in v:
                self._count(x)

    def _anchor(self, v) -> str | None:
        """'&aN' the first time a shared mapping is written, '*aN' after."""
        if not isinstance(v, dict) or self.counts[id(v)] < 2:
            return None
        if id(v) in self.anchors:
            return "*" + self.anchors[id(v)]
        self.anchors[id(v)] = f"a{len(self.anchors)}"
        return "&" + self.anchors[id(v)]

    def key_value(self, k, v, col: int, path: tuple) -> list:
        pad = " " * col
        anchor = self._anchor(v)
        if anchor and anchor.startswith("*"):
            return [f"{pad}{k}: {anchor}"]
        pre = f"{anchor} " if anchor else ""
        flow = (k == "source" and self.s.flow_source) or (k == "inputs" and self.s.flow_inputs)
        if isinstance(v, dict) and v and flow and all(not isinstance(x, (dict, list)) and
                                                      not (isinstance(x, str) and "\n" in x)
                                                      for x in v.values()):
            inner = ", ".join(f"{kk}: {_scalar(x, True, True)}" for kk, x in v.items())
            return [f"{pad}{k}: {pre}{{{inner}}}"]
        if isinstance(v, dict) and v:
            head = f"{pad}{k}: {anchor}" if anchor else f"{pad}{k}:"
            return [head] + self.mapping(v, col + self.s.indent, path=path + (k,))
        if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            return [f"{pad}{k}:"] + self.seq(v, col + self.s.seq_indent, path + (k,))
        if isinstance(v, str) and "\n" in v and v.endswith("\n") and v.count("\n") == len(
                v.splitlines()) and all(ln and ln == ln.strip() for ln in v.splitlines()):
            body = [" " * (col + self.s.indent) + ln for ln in v.splitlines()]
            return [f"{pad}{k}: {pre}|"] + body
        return [f"{pad}{k}: {pre}{_scalar(v, False, self.s.quote_refs)}"]

    def mapping(self, d: dict, col: int, top: bool = False, path: tuple = ()) -> list:
        out: list = []
        for k, v in d.items():
            if top and out and self.s.comments and random.Random(self.s.comment_seed + len(k)).random() < 0.5:
                out.append(f"# {k} of the flow")
            out += self.key_value(k, v, col, path)
        return out

    def seq(self, items: list, col: int, path: tuple) -> list:
        out: list = []
        for it in items:
            name = it.get("name")
            if self.s.comments and name in self.comments:
                out.append(" " * col + "# " + self.comments[name])
            lines = self.mapping(it, col + 2, path=path)
            first = lines[0]
            out.append(" " * col + "- " + first[col + 2:])
            out += lines[1:]
        return out


def dump(data: dict, style: Style, comments: dict) -> str:
    return Writer(style, comments).dump(data)


# -- edits -----------------------------------------------------------------------------------------

def _nodes(d: dict) -> dict:
    return {n["name"]: n for n in d["nodes"]}


def _refs_to(d: dict, name: str) -> set:
    """Units holding a reference to node `name`: node names and 'out:' outputs."""
    units = set()
    for n in d["nodes"]:
        if any(v == "${%s.output}" % name for v in n["inputs"].values()):
            units.add(n["name"])
    for o, spec in d["outputs"].items():
        if spec.get("reference") == "${%s.output}" % name:
            units.add("out:" + o)
    return units


def _own(n: dict) -> None:
    n["inputs"] = dict(n["inputs"])   # an edit of one node: its own copy (the alias is replaced)


def _reads(d: dict, name: str) -> set:
    return {v[2:-1].split(".")[0] for v in _nodes(d)[name]["inputs"].values()
            if isinstance(v, str) and v.startswith("${") and not v.startswith("${inputs.")}


def _ancestors(d: dict, name: str) -> set:
    out, todo = set(), [name]
    while todo:
        for r in _reads(d, todo.pop()):
            if r not in out and r in _nodes(d):
                out.add(r)
                todo.append(r)
    return out


def pick_edit(rng: random.Random, d: dict, side: str, taken: set, comments: dict):
    """Apply one random edit to `d` in place: (kind, touched units, read units) or None."""
    if len(d["nodes"]) < 2:   # keep a node to read and to edit
        return None
    names = [n for n in _nodes(d) if n not in taken]
    kind = rng.choice(["edit", "edit", "add_input", "del_input", "read_node", "add_node",
                       "del_node", "rename", "default", "add_output", "del_output", "comment"])
    if kind in ("edit", "add_input", "del_input", "read_node", "del_node", "rename", "comment") and not names:
        return None
    if kind == "edit":
        n = _nodes(d)[rng.choice(names)]
        keys = [k for k, v in n["inputs"].items() if not (isinstance(v, str) and v.startswith("${"))]
        if not keys:
            return None
        _own(n)
        n["inputs"][rng.choice(keys)] = gen_value(rng)
        return kind, {n["name"]}, set()
    if kind == "add_input":
        n = _nodes(d)[rng.choice(names)]
        _own(n)
        n["inputs"][f"{side}_k{rng.randint(0, 99)}"] = gen_value(rng)
        return kind, {n["name"]}, set()
    if kind == "del_input":
        n = _nodes(d)[rng.choice(names)]
        if len(n["inputs"]) < 2:
            return None
        _own(n)
        del n["inputs"][rng.choice(list(n["inputs"]))]
        return kind, {n["name"]}, set()
    if kind == "read_node":   # may close a cycle with the other side's edit: a conflict then
        n = _nodes(d)[rng.choice(names)]
        others = [m for m in _nodes(d) if m != n["name"] and n["name"] not in _ancestors(d, m)]
        if not others:
            return None
        target = rng.choice(others)
        _own(n)
        n["inputs"][f"{side}_from"] = "${%s.output}" % target
        return kind, {n["name"]}, {target}
    if kind == "add_node":
        name = rng.choice([f"{side}_new", "both_new"])
        if name in _nodes(d):
            return None
        src = rng.choice(list(_nodes(d)))
        d["nodes"].insert(rng.randint(0, len(d["nodes"])), {
            "name": name, "type": "python", "source": {"type": "code", "path": f"{name}.py"},
            "inputs": {"x": "${%s.output}" % src, "k": gen_value(rng)}})
        _fix_order(d)
        return kind, {name}, {src}
    if kind == "del_node":
        name = rng.choice(names)
        users = _refs_to(d, name)
        if users & taken:
            return None
        d["nodes"] = [n for n in d["nodes"] if n["name"] != name]
        for n in d["nodes"]:
            if n["name"] in users:
                _own(n)
                n["inputs"] = {k: v for k, v in n["inputs"].items() if v != "${%s.output}" % name} \
                    or {"x": 0}
        for u in users:
            if u.startswith("out:"):
                del d["outputs"][u[4:]]
        return kind, {name} | users, set()
    if kind == "rename":
        name = rng.choice(names)
        new = f"{name}_{side}"
        users = _refs_to(d, name)
        if users & taken or new in _nodes(d):
            return None
        for n in d["nodes"]:
            if n["name"] == name:
                n["name"] = new
                n["source"] = dict(n["source"])   # the source file keeps its name: matched by body
            if n["name"] in users:
                _own(n)
                n["inputs"] = {k: ("${%s.output}" % new if v == "${%s.output}" % name else v)
                               for k, v in n["inputs"].items()}
        for o in d["outputs"].values():
            if o.get("reference") == "${%s.output}" % name:
                o["reference"] = "${%s.output}" % new
        return kind, {name, new} | users, set()
    if kind == "default":
        k = rng.choice(list(d["inputs"]))
        if "in:" + k in taken:
            return None
        d["inputs"][k] = dict(d["inputs"][k], default=rng.choice(WORDS) + side)
        return kind, {"in:" + k}, set()
    if kind == "add_output":
        name = rng.choice(list(_nodes(d)))
        o = f"{side}_out"
        if o in d["outputs"]:
            return None
        d["outputs"][o] = {"type": "string", "reference": "${%s.output}" % name}
        return kind, {"out:" + o}, {name}
    if kind == "del_output":
        if len(d["outputs"]) < 2:
            return None
        o = rng.choice(list(d["outputs"]))
        if "out:" + o in taken:
            return None
        del d["outputs"][o]
        return kind, {"out:" + o}, set()
    name = rng.choice(names)   # comment: text only
    comments[name] = f"{side} says {rng.choice(WORDS)}"
    return kind, set(), set()


def _fix_order(d: dict) -> None:
    """Keep every node after the nodes it reads (a new node may have been put too early)."""
    done, out, rest = set(), [], list(d["nodes"])
    while rest:
        for i, n in enumerate(rest):
            if _reads(d, n["name"]) - {m["name"] for m in rest} - done == set() and \
                    not (_reads(d, n["name"]) & {m["name"] for m in rest if m is not n}):
                out.append(rest.pop(i))
                done.add(n["name"])
                break
        else:
            out += rest
            break
    d["nodes"] = out


def side(rng: random.Random, base: dict, name: str, comments: dict) -> tuple:
    d = copy.deepcopy(base)
    edits, touched, read = [], set(), set()
    for _ in range(rng.randint(1, 3)):
        e = pick_edit(rng, d, name, touched, comments)
        if e is not None:
            edits.append(e[0])
            touched |= e[1]
            read |= e[2]
    return d, edits, touched, read


# -- the oracle --------------------------------------------------------------------------------------

def canon(d):
    """Flow data with nodes as a name-keyed mapping (order is a tie-break, not content)."""
    if isinstance(d, dict) and isinstance(d.get("nodes"), list):
        d = dict(d, nodes={n.get("name"): n for n in d["nodes"] if isinstance(n, dict)})
    return json.dumps(d, sort_keys=True, default=repr)


def expected_merge(base: dict, ours: dict, theirs: dict, t_touch: set) -> dict:
    """Ours with theirs' changes to the units only theirs touched (disjoint edits)."""
    out = copy.deepcopy(ours)
    tn, bn = _nodes(theirs), _nodes(base)
    on = _nodes(out)
    for u in t_touch:
        if u.startswith("out:"):
            o = u[4:]
            if o in theirs["outputs"]:
                out["outputs"][o] = copy.deepcopy(theirs["outputs"][o])
            else:
                out["outputs"].pop(o, None)
        elif u.startswith("in:"):
            out["inputs"][u[3:]] = copy.deepcopy(theirs["inputs"][u[3:]])
        elif u in tn:
            if u in on:
                out["nodes"] = [copy.deepcopy(tn[u]) if n["name"] == u else n for n in out["nodes"]]
            else:
                out["nodes"].append(copy.deepcopy(tn[u]))
        elif u in bn or u in on:
            out["nodes"] = [n for n in out["nodes"] if n["name"] != u]
    return out


def new_errors(merged: dict, ours: dict, theirs: dict) -> list:
    from pfgit.merge.check import _errors

    old = {(p.code, p.message) for d in (ours, theirs) for p in _errors(d)}
    return [f"{p.code}: {p.message}" for p in _errors(merged) if (p.code, p.message) not in old]


def run_case(seed: int) -> tuple:
    """(outcome, detail) for one seeded case."""
    from pfgit.merge.conflicts import take
    from pfgit.merge.files import merge_bytes

    rng = random.Random(seed)
    base = gen_flow(rng)
    comments = {n["name"]: "node " + n["name"] for n in base["nodes"] if rng.random() < 0.3}
    o_com, t_com = dict(comments), dict(comments)
    ours, o_edits, o_touch, o_read = side(rng, base, "o", o_com)
    theirs, t_edits, t_touch, t_read = side(rng, base, "t", t_com)
    style = Style(rng)
    reformat = rng.random() < 0.1
    texts = [dump(base, style, comments), dump(ours, Style(rng) if reformat and rng.random() < 0.5
                                               else style, o_com),
             dump(theirs, Style(rng) if reformat else style, t_com)]
    for t, d in zip(texts, (base, ours, theirs)):   # the generator's own check
        if canon(yaml.load(t, Loader=_Loader)) != canon(d):
            return "generator", f"seed {seed}: writer output does not load back"
    disjoint = not (o_touch & t_touch or o_touch & t_read or t_touch & o_read)
    exp = expected_merge(base, ours, theirs, t_touch) if disjoint else None
    if exp is not None and new_errors(exp, ours, theirs):   # say a cycle half from each side
        disjoint, exp = False, None
    try:
        res = merge_bytes(*(t.encode() for t in texts))
    except Exception as e:
        return "internal error", f"seed {seed}: {type(e).__name__}: {e}"
    if res.fallback:
        if "internal error" in res.fallback:
            return "internal error", f"seed {seed}: {res.fallback}"
        return "fallback", f"seed {seed}: {res.fallback}"
    text = res.data.decode()
    if not res.clean:
        for s in ("ours", "theirs"):
            try:
                yaml.load(take(text, s)[0], Loader=_Loader)
            except yaml.YAMLError as e:
                return "invalid YAML", f"seed {seed}: {s} kept: {' '.join(str(e).split())[:120]}"
        return ("needless conflict" if disjoint else "conflict"), \
            f"seed {seed}: {o_edits} / {t_edits}: {res.conflicts[0].reason if res.conflicts else ''}"
    try:
        merged = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as e:
        return "invalid YAML", f"seed {seed}: {' '.join(str(e).split())[:120]}"
    if disjoint:
        if canon(merged) != canon(exp):
            return "clean but wrong", f"seed {seed}: {o_edits} / {t_edits}: differs from expected"
    else:   # edits of units only one side touched must be in the result
        mn = _nodes(merged) if isinstance(merged, dict) and isinstance(merged.get("nodes"), list) else {}
        def old_names(units: set) -> set:   # a renamed node is one unit under both names
            return {u.rsplit("_", 1)[0] if u.endswith(("_o", "_t")) else u for u in units}

        for d, touch, other in ((ours, o_touch, t_touch | t_read), (theirs, t_touch, o_touch | o_read)):
            for u in touch - other:
                if old_names({u}) & old_names(other):
                    continue
                if u in _nodes(d) and canon(mn.get(u)) != canon(_nodes(d)[u]) and \
                        not any(r in other for r in _reads(d, u)):
                    return "clean but wrong", f"seed {seed}: {o_edits} / {t_edits}: node {u} lost an edit"
    errs = new_errors(merged, ours, theirs)
    if errs:
        return "clean but wrong", f"seed {seed}: {o_edits} / {t_edits}: {errs[0]}"
    return ("clean = expected" if disjoint else "clean"), ""


def _case(seed: int) -> tuple:
    try:
        return run_case(seed)
    except Exception as e:   # a generator or oracle bug: counted, never hides the other cases
        return "generator", f"seed {seed}: {type(e).__name__}: {e}"


def _chunk(args: tuple) -> list:
    start, n = args
    return [_case(s) for s in range(start, start + n)]


def run(cases: int, seed: int = 0, jobs: int = 2) -> tuple:
    """(Counter of outcomes, {outcome: first details}, seconds, CPU seconds)."""
    import resource

    def cpu() -> float:
        return sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF,
                   resource.RUSAGE_CHILDREN) for f in ("ru_utime", "ru_stime"))

    t0, c0 = time.perf_counter(), cpu()
    step = max(1, min(250, cases // (jobs * 4) or 1))
    chunks = [(s, min(step, seed + cases - s)) for s in range(seed, seed + cases, step)]
    if jobs > 1:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            results = [r for part in pool.imap(_chunk, chunks) for r in part]
    else:
        results = [r for c in chunks for r in _chunk(c)]
    counts: Counter = Counter(k for k, _ in results)
    examples: dict = {}
    for k, detail in results:
        examples.setdefault(k, [])
        if len(examples[k]) < 5:
            examples[k].append(detail)
    return counts, examples, time.perf_counter() - t0, cpu() - c0


BAD = ("internal error", "invalid YAML", "clean but wrong", "generator")


def main(argv: list | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args(argv)
    counts, examples, secs, cpu = run(a.cases, a.seed, a.jobs)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{a.cases:,} merges (seeds {a.seed}..{a.seed + a.cases - 1}) in {secs:.1f} s "
          f"with {a.jobs} process(es): {a.cases / secs:,.0f} merges/s; CPU {cpu:.1f} s, "
          f"{1000 * cpu / a.cases:.1f} ms per case (generation and oracle included); "
          f"load average {load:.1f}")
    for k in ("clean = expected", "clean", "conflict", "needless conflict", "fallback") + BAD:
        print(f"  {k:18} {counts.get(k, 0):6,}")
    for k in ("needless conflict", "fallback") + BAD:
        for d in examples.get(k, [])[:3]:
            print(f"    {k}: {d}")
    return 1 if any(counts.get(k) for k in BAD) else 0


if __name__ == "__main__":
    sys.exit(main())
