"""Finding flows in a tree and loading them into the model (reads through a Reader)."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

from . import yamlpos
from .model import DAG_FILES, FLEX_FILES, FLOW_FILES, Flow, build
from .readers import Reader, join


class FlowLoadError(Exception):
    """The flow file cannot be read as YAML. Carries the display file and 1-based line."""

    def __init__(self, file: str, message: str, line: int | None = None, code: str = "yaml-syntax"):
        super().__init__(message)
        self.file = file
        self.message = message
        self.line = line
        self.code = code


@dataclass
class FlowLocation:
    dir: str                  # folder of the flow (reader-relative)
    file: str                 # flow file (reader-relative)
    others: list = field(default_factory=list)  # further flow files in the same folder

    @property
    def is_prompty(self) -> bool:
        return self.file.endswith(".prompty")


def flow_file_in(reader: Reader, rel: str) -> FlowLocation | None:
    """The flow in folder `rel` (None if it has no flow file), following promptflow's rules."""
    names = set(reader.list_dir(rel))
    found = [f for f in FLOW_FILES if f in names]
    if found:
        return FlowLocation(rel, join(rel, found[0]), [join(rel, f) for f in found[1:]])
    prompty = sorted(n for n in names if n.endswith(".prompty"))
    if len(prompty) == 1:
        return FlowLocation(rel, join(rel, prompty[0]))
    return None


def find_flows(reader: Reader, rel: str = ".") -> list:
    """Flows at `rel`: a flow file, a flow folder, or every flow below a folder (sorted by path)."""
    rel = join(rel)
    if not reader.is_dir(rel):
        if rel.endswith((".yaml", ".yml", ".prompty")):
            return [FlowLocation(posixpath.dirname(rel) or ".", rel)]
        return []
    here = flow_file_in(reader, rel)
    if here is not None and not here.is_prompty:
        return [here]
    # a folder whose flow is a .prompty may hold flow folders too (a repository with one
    # .prompty at its root): the walk below finds that .prompty and the flows under it
    return walk_flows(reader, rel)


def walk_flows(reader: Reader, rel: str) -> list:
    """Every flow in folder `rel` and below it, by its flow files (sorted by path)."""
    out: dict = {}
    prompties: dict = {}
    for f in reader.walk_files(rel):
        d, name = posixpath.split(f)
        d = d or "."
        if name in FLOW_FILES:
            if d in out:
                out[d].others.append(f)
            else:
                out[d] = FlowLocation(d, f)
        elif name.endswith(".prompty"):
            prompties.setdefault(d, []).append(f)
    for d, files in prompties.items():
        if d not in out:
            for f in files:
                out[f] = FlowLocation(d, f)
    # within a folder prefer flow.dag.yaml's order of precedence
    for loc in out.values():
        if loc.others:
            allf = sorted([loc.file] + loc.others, key=lambda p: FLOW_FILES.index(posixpath.basename(p)))
            loc.file, loc.others = allf[0], allf[1:]
    return [out[k] for k in sorted(out)]


_PROMPTY = re.compile(r"-{3,}\n(.*)-{3,}\n(.*)", re.DOTALL)  # promptflow core/_flow.py::_parse_prompty
_DASHES = re.compile(r"-{3,}\n")


def split_prompty(text: str) -> tuple[str, int, str, int]:
    """(front matter, its first line, body, body's first line) of a .prompty file, found as
    promptflow finds them: anywhere in the text (read with universal newlines), and the closing
    `---` is the last one (its match is greedy). No `---` at all: ("", 1, text, 1)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    m = _PROMPTY.search(text)
    if m is None:
        opening = _DASHES.search(text)
        if opening is None:
            return "", 1, text, 1
        raise yamlpos.YamlError("front matter starts with '---' but never ends",
                                text.count("\n", 0, opening.start()) + 1)
    front, body = m.start(1), m.start(2)
    return m.group(1), text.count("\n", 0, front) + 1, m.group(2), text.count("\n", 0, body) + 1


def parse_flow_bytes(raw: bytes, file_display: str, prompty: bool = False) -> yamlpos.Document:
    """Parse a flow file's bytes; raise FlowLoadError with the line of the problem."""
    off = 0  # lines of the front matter are shifted by the lines above it; other lines are the file's
    try:
        if prompty:
            text = yamlpos.decode(raw)
            front, first, _, _ = split_prompty(text)
            off = first - 1
            doc = yamlpos.parse(front)
            doc.lines = {k: v + off for k, v in doc.lines.items()}
            doc.end_lines = {k: v + off for k, v in doc.end_lines.items()}
            doc.duplicate_keys = [(p, ln + off) for p, ln in doc.duplicate_keys]
            return doc
        return yamlpos.parse(raw)
    except yamlpos.YamlError as e:
        line = e.line + off if e.line is not None else None
        raise FlowLoadError(file_display, e.message, line) from None


def load_flow(reader: Reader, loc: FlowLocation) -> Flow:
    """Read and parse the flow at `loc`. Raises FlowLoadError (with line) or OSError."""
    file_display = reader.display(loc.file)
    raw = reader.read_bytes(loc.file)
    doc = parse_flow_bytes(raw, file_display, prompty=loc.is_prompty)
    return flow_from_doc(doc, loc, reader.display(loc.dir), file_display)


def flow_from_doc(doc: yamlpos.Document, loc: FlowLocation, dir_display: str,
                  file_display: str) -> Flow:
    if loc.is_prompty:
        kind = "prompty"
    elif isinstance(doc.data, dict) and "entry" in doc.data:
        kind = "flex"     # promptflow decides by content, not by file name
    elif posixpath.basename(loc.file) in FLEX_FILES:
        kind = "flex"
    else:
        kind = "dag"
    return build(doc, kind, dir_display, file_display)


def load_text(text: str | bytes, file: str = "flow.dag.yaml") -> Flow:
    """A Flow from YAML text alone (no folder): for diff and merge of single files."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    loc = FlowLocation(posixpath.dirname(file) or ".", file)
    doc = parse_flow_bytes(raw, file, prompty=file.endswith(".prompty"))
    return flow_from_doc(doc, loc, loc.dir, file)


__all__ = ["FlowLoadError", "FlowLocation", "find_flows", "flow_file_in", "load_flow", "load_text",
           "parse_flow_bytes", "split_prompty", "DAG_FILES"]
