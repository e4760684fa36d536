"""The flow model: Flow, Node, variants and references, built from parsed YAML. No I/O here.

The model is lenient: ill-typed parts (a node that is not a mapping, `inputs` that is a list) are
kept in `raw` and simply contribute nothing, so the validator can report them with their lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

from .refs import Ref, parse_ref
from .yamlpos import Document

DAG_FILES = ("flow.dag.yaml", "flow.dag.yml")
FLEX_FILES = ("flow.flex.yaml", "flow.flex.yml")
FLOW_FILES = DAG_FILES + FLEX_FILES


@dataclass
class Source:
    type: str = "code"          # code | package | package_with_prompt
    path: str | None = None
    tool: str | None = None

    @classmethod
    def from_raw(cls, raw: Any) -> "Source | None":
        if not isinstance(raw, dict):
            return None
        path = raw.get("path")
        tool = raw.get("tool")
        return cls(type=str(raw.get("type") or "code"),
                   path=path if isinstance(path, str) else None,
                   tool=tool if isinstance(tool, str) else None)


@dataclass
class Body:
    """What a node or a variant's `node:` holds: the tool, its inputs and their references."""

    raw: dict
    base_path: tuple            # path of this body in the document, e.g. ("nodes", 3)

    @property
    def type(self) -> str | None:
        t = self.raw.get("type")
        return t if isinstance(t, str) else None

    @property
    def source(self) -> Source | None:
        src = Source.from_raw(self.raw.get("source"))
        if src is None and isinstance(self.raw.get("tool"), str):
            # legacy `tool: x.py` nodes name their code file directly
            tool = self.raw["tool"]
            if tool.endswith((".py", ".jinja2")):
                return Source(type="code", path=tool)
        return src

    @property
    def inputs(self) -> dict:
        i = self.raw.get("inputs")
        return i if isinstance(i, dict) else {}

    @property
    def activate(self) -> dict | None:
        a = self.raw.get("activate")
        return a if isinstance(a, dict) else None

    @property
    def aggregation(self) -> bool:
        return bool(self.raw.get("aggregation") or self.raw.get("reduce"))

    def refs(self) -> Iterator[tuple[tuple, Ref]]:
        """(path, Ref) for each reference in inputs and activate.when."""
        for k, v in self.inputs.items():
            r = parse_ref(v)
            if r is not None:
                yield self.base_path + ("inputs", k), r
        act = self.activate
        if act is not None:
            r = parse_ref(act.get("when"))
            if r is not None:
                yield self.base_path + ("activate", "when"), r


@dataclass
class Variant:
    id: str
    raw: dict                   # the variant mapping ({node: ..., description: ...})
    path: tuple                 # ("node_variants", node, "variants", id)

    @property
    def body(self) -> Body:
        node = self.raw.get("node")
        return Body(node if isinstance(node, dict) else {}, self.path + ("node",))


@dataclass
class VariantSet:
    node: str
    raw: dict
    default_variant_id: str | None
    variants: dict = field(default_factory=dict)   # id -> Variant


@dataclass
class Node(Body):
    index: int = 0

    @property
    def name(self) -> str | None:
        n = self.raw.get("name")
        return n if isinstance(n, str) else None

    @property
    def use_variants(self) -> bool:
        return bool(self.raw.get("use_variants"))


@dataclass
class Flow:
    kind: str                   # "dag" | "flex" | "prompty"
    dir: str                    # flow folder, as shown to users ("." style relative path)
    file: str                   # flow file path, as shown to users
    doc: Document
    nodes: list = field(default_factory=list)
    node_variants: dict = field(default_factory=dict)   # node name -> VariantSet

    @property
    def data(self) -> dict:
        return self.doc.data if isinstance(self.doc.data, dict) else {}

    @property
    def inputs(self) -> dict:
        i = self.data.get("inputs")
        return i if isinstance(i, dict) else {}

    @property
    def outputs(self) -> dict:
        o = self.data.get("outputs")
        return o if isinstance(o, dict) else {}

    @property
    def additional_includes(self) -> list:
        a = self.data.get("additional_includes")
        return [x for x in a if isinstance(x, str)] if isinstance(a, list) else []

    def line(self, path, default: int | None = 1) -> int | None:
        return self.doc.line(tuple(path), default)

    def node(self, name: str) -> Node | None:
        for n in self.nodes:
            if n.name == name:
                return n
        return None

    def node_names(self) -> list:
        return [n.name for n in self.nodes if n.name is not None]

    def bodies(self, node: Node) -> list:
        """The bodies that can run as `node`: itself, or each of its variants."""
        if node.use_variants and node.name in self.node_variants:
            return [v.body for v in self.node_variants[node.name].variants.values()]
        return [node]

    def sources(self) -> Iterator[tuple[Node, str | None, Body, Source]]:
        """(node, variant id or None, body, source) for every body with a code source path."""
        for node in self.nodes:
            if node.use_variants and node.name in self.node_variants:
                items = [(vid, v.body) for vid, v in self.node_variants[node.name].variants.items()]
            else:
                items = [(None, node)]
            for vid, body in items:
                src = body.source
                if src is not None and src.path:
                    yield node, vid, body, src

    def dependencies(self, node: Node) -> list:
        """Names of nodes `node` depends on (inputs and activate.when, all variants), in order."""
        deps: list = []
        for body in self.bodies(node):
            for _, ref in body.refs():
                if ref.kind == "node" and ref.name not in deps:
                    deps.append(ref.name)
        return deps

    def edges(self) -> list:
        """(dependency, dependent) pairs between existing nodes."""
        names = set(self.node_names())
        out = []
        for node in self.nodes:
            if node.name is None:
                continue
            for dep in self.dependencies(node):
                if dep in names:
                    out.append((dep, node.name))
        return out


def build(doc: Document, kind: str, dir: str, file: str) -> Flow:
    """Build the Flow model from a parsed document."""
    flow = Flow(kind=kind, dir=dir, file=file, doc=doc)
    data = flow.data
    nodes = data.get("nodes")
    if isinstance(nodes, list):
        for i, raw in enumerate(nodes):
            if isinstance(raw, dict):
                flow.nodes.append(Node(raw=raw, base_path=("nodes", i), index=i))
    nv = data.get("node_variants")
    if isinstance(nv, dict):
        for name, raw in nv.items():
            if not isinstance(raw, dict):
                continue
            vs = VariantSet(node=name, raw=raw, default_variant_id=raw.get("default_variant_id"))
            variants = raw.get("variants")
            if isinstance(variants, dict):
                for vid, vraw in variants.items():
                    if isinstance(vraw, dict):
                        vs.variants[str(vid)] = Variant(
                            str(vid), vraw, ("node_variants", name, "variants", vid))
            flow.node_variants[name] = vs
    return flow


def execution_order(names: list, deps: dict) -> tuple[list, list]:
    """promptflow's order: repeatedly take the first node (file order) whose deps are done.

    Kahn's algorithm with a heap on file position gives the same order in O(n log n).
    Returns (ordered names, names left over because of a cycle). Unknown deps are ignored.
    """
    import heapq

    pos = {n: i for i, n in enumerate(names)}
    waiting = {n: 0 for n in names}
    users: dict = {n: [] for n in names}
    for n in names:
        for d in set(deps.get(n, ())):
            if d in pos:
                waiting[n] += 1
                users[d].append(n)
    ready = [pos[n] for n in names if waiting[n] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        n = names[heapq.heappop(ready)]
        order.append(n)
        for u in users[n]:
            waiting[u] -= 1
            if waiting[u] == 0:
                heapq.heappush(ready, pos[u])
    done = set(order)
    return order, [n for n in names if n not in done]
