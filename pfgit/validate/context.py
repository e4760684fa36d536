"""What every check receives: the flow, where its files come from, and a place to put problems."""

from __future__ import annotations

import posixpath

from ..flow.model import Flow, Node
from ..flow.readers import Reader, join
from .problems import Problem, problem


class Context:
    """One flow being validated. Checks call `add`; lines come from the YAML document."""

    def __init__(self, flow: Flow, reader: Reader | None = None, rel_dir: str | None = None,
                 rel_file: str | None = None):
        self.flow = flow
        self.reader = reader
        self.rel_dir = join(rel_dir if rel_dir is not None else flow.dir)
        self.rel_file = rel_file or join(self.rel_dir, posixpath.basename(flow.file))
        self.problems: list[Problem] = []
        # name -> first node of that name: one dict so that lookups stay O(1) with 5,000 nodes
        self.nodes: dict[str, Node] = {}
        for n in flow.nodes:
            if n.name is not None:
                self.nodes.setdefault(n.name, n)
        self._by_index = {n.index: n for n in flow.nodes}

    def add(self, code: str, message: str, path: tuple | None = None, node: str | None = None,
            line: int | None = None, file: str | None = None) -> None:
        if line is None and file is None:
            line = self.flow.line(path) if path is not None else 1
        self.problems.append(problem(code, message, file or self.flow.file, line, node))

    def node_at(self, path: tuple) -> str | None:
        """The node a document path belongs to (a node or a node's variants), if any."""
        if len(path) >= 2 and path[0] == "nodes" and isinstance(path[1], int):
            n = self._by_index.get(path[1])
            return n.name if n is not None else None
        if len(path) >= 2 and path[0] == "node_variants" and isinstance(path[1], str):
            return path[1]
        return None

    def display(self, rel: str) -> str:
        return self.reader.display(rel) if self.reader is not None else rel


def where(path: tuple, base: tuple) -> str:
    """A short human name for a value inside a node body: "input 'x'", "activate.when", ..."""
    rest = path[len(base):]
    if len(rest) >= 2 and rest[0] == "inputs":
        return f"input '{rest[1]}'"
    return ".".join(str(p) for p in rest) or "node"


def variant_note(path: tuple) -> str:
    """' in variant 'v1'' for paths inside node_variants, else ''."""
    if len(path) >= 4 and path[0] == "node_variants" and path[2] == "variants":
        return f" in variant '{path[3]}'"
    return ""
