"""Entry points: validate the flows at a path (through any Reader) or one loaded Flow.

    validate_path(reader, rel)       -> [FlowReport]   every flow at/below rel, or containing it
    validate_location(reader, loc)   -> FlowReport     one flow file, read and parsed here
    validate_flow(flow, reader=None) -> [Problem]      a parsed flow; reader=None skips file checks

A Reader is a folder on disk, a git tree or the index (pfgit.flow.readers, pfgit.git.repo), so the
same checks judge the worktree, a commit, or what is staged.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from ..flow import yamlpos
from ..gcpause import gc_paused
from ..flow.load import FlowLoadError, FlowLocation, find_flows, flow_from_doc, parse_flow_bytes
from ..flow.model import FLOW_FILES, Flow
from ..flow.readers import Reader, join
from . import activate, aggregation, chat, markers, references, sources, structure, variants
from .context import Context
from .flex import check_flex, check_prompty
from .problems import ERROR, WARNING, problem


@dataclass
class FlowReport:
    path: str                   # flow folder, as shown to users
    file: str                   # flow file, as shown to users
    kind: str | None            # "dag" | "flex" | "prompty"; None when the file could not be read
    problems: list = field(default_factory=list)

    @property
    def errors(self) -> int:
        return sum(p.severity == ERROR for p in self.problems)

    @property
    def warnings(self) -> int:
        return sum(p.severity == WARNING for p in self.problems)

    def ok(self, strict: bool = False) -> bool:
        return not self.errors and not (strict and self.warnings)

    def to_json(self, strict: bool = False) -> dict:
        return {"path": self.path, "file": self.file, "kind": self.kind, "ok": self.ok(strict),
                "problems": [p.to_json() for p in self.problems]}


def validate_flow(flow: Flow, reader: Reader | None = None, rel_dir: str | None = None,
                  rel_file: str | None = None) -> list:
    """All problems of one parsed flow. `rel_dir`: the flow folder in reader paths (default flow.dir)."""
    ctx = Context(flow, reader, rel_dir, rel_file)
    if not isinstance(flow.doc.data, dict):
        _not_a_mapping(ctx)
    elif flow.kind == "flex":
        check_flex(ctx)
        chat.check(ctx)
    elif flow.kind == "prompty":
        check_prompty(ctx)
    else:
        structure.check_dag(ctx)
        chat.check(ctx)
        references.check(ctx)
        variants.check(ctx)
        aggregation.check(ctx)
        activate.check(ctx)
        sources.check(ctx)
    return sort_problems(ctx.problems, flow.file)


def _not_a_mapping(ctx: Context) -> None:
    data = ctx.flow.doc.data
    if data is None:
        if ctx.flow.kind == "prompty":
            ctx.add("missing-front-matter", "no YAML front matter: a .prompty file starts with "
                    "'---', its settings, and another '---'", line=1)
        else:
            ctx.add("empty-file", "the flow file has no content (only comments or blank lines)", line=1)
        return
    kind = "a list" if isinstance(data, list) else f"a {type(data).__name__} scalar"
    ctx.add("not-a-mapping", f"the top level is {kind}; a flow file must be a mapping of keys "
            "(inputs, outputs, nodes, ...)", line=ctx.flow.line((), 1))


def sort_problems(problems: list, flow_file: str) -> list:
    """Flow file first, then other files; by line within each file (stable for equal lines)."""
    return sorted(problems, key=lambda p: (p.file != flow_file, p.file, p.line or 0))


def validate_location(reader: Reader, loc: FlowLocation) -> FlowReport:
    """Read, parse and validate one flow file. Never raises for bad content."""
    with gc_paused():   # parsing a big flow or source builds objects the collector re-walks
        return _validate_location(reader, loc)


def _validate_location(reader: Reader, loc: FlowLocation) -> FlowReport:
    file_shown = reader.display(loc.file)
    report = FlowReport(reader.display(loc.dir), file_shown, None)
    for other in loc.others:
        report.problems.append(problem(
            "multiple-flow-files", f"the folder also holds '{posixpath.basename(other)}'; promptflow "
            "refuses a folder with more than one flow file", file_shown, 1))
    raw = _read(reader, loc.file, file_shown, report)
    if raw is None:
        return report
    if not raw.strip():
        report.problems.append(problem("empty-file", "the flow file is empty", file_shown, 1))
        return report
    try:
        yamlpos.decode(raw)
    except yamlpos.YamlError as e:
        report.problems.append(problem("bad-encoding", f"the flow file is {e.message}", file_shown,
                                       e.line))
        return report
    marked = markers.check(reader, loc, raw)
    if marked:  # markers in the flow file would only read as a YAML syntax error
        report.problems.extend(marked)
        if any(p.file == file_shown for p in marked):
            report.problems = sort_problems(report.problems, file_shown)
            return report
    try:
        doc = parse_flow_bytes(raw, file_shown, prompty=loc.is_prompty)
    except FlowLoadError as e:
        report.problems.append(problem("yaml-syntax", f"invalid YAML: {e.message}", file_shown,
                                       e.line or 1))
        return report
    flow = flow_from_doc(doc, loc, report.path, file_shown)
    report.kind = flow.kind
    report.problems.extend(validate_flow(flow, reader, loc.dir, loc.file))
    report.problems = sort_problems(report.problems, file_shown)
    return report


def _read(reader: Reader, rel: str, shown: str, report: FlowReport) -> bytes | None:
    limit = yamlpos.MAX_YAML_BYTES
    too_big = (f"the flow file is larger than {limit // (1024 * 1024)} MB; a flow file is a few KB, "
               "so it is not read")
    try:
        size = getattr(reader, "size", None)
        if size is not None and size(rel) > limit:  # don't even read 50 MB
            report.problems.append(problem("file-too-large", too_big, shown, 1))
            return None
        raw = reader.read_bytes(rel)
    except IsADirectoryError:
        report.problems.append(problem("unreadable-file", "is a folder, not a flow file", shown, 1))
        return None
    except OSError as e:
        report.problems.append(problem("unreadable-file", f"cannot read the flow file: "
                                       f"{e.strerror or e}", shown, 1))
        return None
    if len(raw) > limit:
        report.problems.append(problem("file-too-large", too_big, shown, 1))
        return None
    return raw


def locate(reader: Reader, rel: str) -> list:
    """Flow locations for one path: a flow file, a folder (searched), or a file inside a flow.

    A file that belongs to no flow gives no location, except a YAML file: outside any flow folder
    it is taken as a flow file, as promptflow takes it.
    """
    rel = join(rel)
    name = posixpath.basename(rel)
    if reader.is_dir(rel) and name not in FLOW_FILES:  # a folder named flow.dag.yaml is a problem
        return with_prompties(reader, find_flows(reader, rel))
    d = posixpath.dirname(rel) or "."
    if name in FLOW_FILES:
        here = flow_at(reader, d)
        others = [f for f in ([here.file] + here.others if here else []) if f != rel]
        return [FlowLocation(d, rel, others)]
    if name.endswith(".prompty"):
        return [FlowLocation(d, rel)]
    found = containing_flow(reader, d)
    if found is not None:
        return [found]
    if name.endswith((".yaml", ".yml")) and reader.exists(rel):
        return [FlowLocation(d, rel)]  # promptflow takes any YAML file named as a flow file
    return []


def with_prompties(reader: Reader, locs: list) -> list:
    """`locs` plus the .prompty files in and below each DAG/flex flow folder: find_flows sees such
    a folder as one flow, but flex flows load .prompty files from code, so each is checked too."""
    out = list(locs)
    have = {loc.file for loc in locs}
    for loc in locs:
        if loc.is_prompty:
            continue
        for f in reader.walk_files(loc.dir):
            if f.endswith(".prompty") and f not in have:
                have.add(f)
                out.append(FlowLocation(posixpath.dirname(f) or ".", f))
    return out


def flow_at(reader: Reader, d: str) -> FlowLocation | None:
    """The DAG/flex flow whose folder is `d`, by name lookups only (cheap on the git index)."""
    found = [join(d, f) for f in FLOW_FILES if reader.exists(join(d, f))]
    return FlowLocation(d, found[0], found[1:]) if found else None


def containing_flow(reader: Reader, rel_dir: str) -> FlowLocation | None:
    """The flow whose folder is `rel_dir` or its nearest ancestor that is a flow folder."""
    d = join(rel_dir)
    while True:
        loc = flow_at(reader, d)
        if loc is not None:
            return loc
        if d in (".", "/", "..") or d.endswith("/.."):
            return None
        d = posixpath.dirname(d) or "."


def validate_path(reader: Reader, rel: str = ".") -> list:
    """Reports for every flow at `rel` (see `locate`), sorted by flow file."""
    return validate_locations(reader, locate(reader, rel))


def validate_locations(reader: Reader, locs: list) -> list:
    seen: dict = {}
    for loc in locs:
        seen.setdefault(loc.file, loc)
    return [validate_location(reader, seen[f]) for f in sorted(seen)]
