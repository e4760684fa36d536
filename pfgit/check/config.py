"""The checks file, `pfgit.yaml` at the repository root: per flow, the run to make, the evaluation
flows over it, and the gates its metrics must meet (schema in docs/ci.md).

    flows:
    - flow: flows/qa                     # flow folder, from the repository root
      run:                               # run.yml keys inline, or the path of a run.yml
        data: data/qa.jsonl
        column_mapping: {question: ${data.question}}
      evaluations:
      - flow: flows/eval_accuracy
        column_mapping: {groundtruth: ${data.answer}, prediction: ${run.outputs.answer}}
      gates:
        accuracy: {min: 0.8, max_drop: 0.02}
      max_failed_lines: 0

Parsing is pure (text in, CheckConfig out); every error names pfgit.yaml and the line.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from ..errors import UsageError
from ..flow import yamlpos
from ..flow.readers import in_git_dir
from .gates import Gate, GateError, parse_gate

FILE = "pfgit.yaml"
FLOW_KEYS = {"flow", "run", "evaluations", "gates", "max_failed_lines"}
# run.yml keys a check may set (docs/run.md); flow/run/name are pfgit's to choose
RUN_KEYS = {"data", "column_mapping", "variant", "connections", "environment_variables", "init",
            "display_name", "description", "tags", "properties", "engine", "workers",
            "llm_cache", "llm_mode"}
EVAL_KEYS = RUN_KEYS | {"flow"}


@dataclass
class Evaluation:
    flow: str
    settings: dict = field(default_factory=dict)   # run.yml keys (column_mapping, data, ...)


@dataclass
class FlowCheck:
    flow: str
    run: dict | str | None = None                   # run.yml keys, or a run.yml path
    evaluations: list = field(default_factory=list)  # [Evaluation]
    gates: list = field(default_factory=list)        # [Gate]
    max_failed_lines: int | None = None
    line: int | None = None


@dataclass
class CheckConfig:
    flows: list = field(default_factory=list)        # [FlowCheck]

    def for_flow(self, path: str) -> FlowCheck | None:
        for fc in self.flows:
            if fc.flow == path:
                return fc
        return None


def _rel_path(value, what: str, line) -> str:
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"{what} must be a path", file=FILE, line=line)
    p = posixpath.normpath(value.strip().replace("\\", "/"))
    if p.startswith("/") or p == ".." or p.startswith("../") or in_git_dir(p):
        raise UsageError(f"{what} '{value}' is outside the repository", file=FILE, line=line)
    return p


MAX_WORKERS = 256   # lines in flight: each a thread; a pull request's 10**8 would start one per line


def _check_paths(settings: dict, doc, path: tuple) -> None:
    """The files a run reads or writes stay in the repository too (a pull request's pfgit.yaml
    naming `data: /home/runner/.config/...` would feed that file to its flow and the report);
    the other settings have the types and ranges `pfgit run` gives its options."""
    from ..run.spec import ENGINES, LLM_MODES as MODES

    for k in ("data", "llm_cache"):
        if settings.get(k) is not None:
            _rel_path(settings[k], k, doc.line(path + (k,)))
    for k in ("environment_variables", "init"):
        if isinstance(settings.get(k), str):
            _rel_path(settings[k], k, doc.line(path + (k,)))

    def bad(k, why):
        raise UsageError(f"{k} {why}, got {settings[k]!r}", file=FILE, line=doc.line(path + (k,)))

    for k in ("column_mapping", "connections", "tags", "properties", "environment_variables", "init"):
        if settings.get(k) is not None and not isinstance(settings[k], (dict, str) if k in (
                "environment_variables", "init") else dict):
            bad(k, "must be a mapping" + (" or a file" if k in ("environment_variables", "init") else ""))
    w = settings.get("workers")
    if w is not None and (isinstance(w, bool) or not isinstance(w, int) or not 1 <= w <= MAX_WORKERS):
        bad("workers", f"must be a whole number from 1 to {MAX_WORKERS}")
    if settings.get("engine") is not None and settings["engine"] not in ENGINES:
        bad("engine", f"must be one of {', '.join(ENGINES)}")
    if settings.get("llm_mode") is not None and settings["llm_mode"] not in MODES:
        bad("llm_mode", f"must be one of {', '.join(MODES)}")


def _check_keys(data: dict, allowed: set, where: str, doc, path: tuple) -> None:
    for k in data:
        if k not in allowed:
            raise UsageError(f"{where}: unknown key '{k}' (known: {', '.join(sorted(allowed))})",
                             file=FILE, line=doc.line(path + (k,)))


def parse_config(text: str | bytes) -> CheckConfig:
    """Read pfgit.yaml. Raises UsageError (exit 2) naming the line of the first problem."""
    try:
        doc = yamlpos.parse(text)
    except yamlpos.YamlError as e:
        raise UsageError(f"not valid YAML: {e.message}", file=FILE, line=e.line) from None
    data = doc.data
    if data is None:
        return CheckConfig()
    if not isinstance(data, dict):
        raise UsageError("the top level must be a mapping with 'flows'", file=FILE, line=1)
    _check_keys(data, {"flows", "version"}, "top level", doc, ())
    if data.get("version", 1) != 1:
        raise UsageError(f"unsupported version {data.get('version')!r} (this pfgit reads 1)",
                         file=FILE, line=doc.line(("version",)))
    flows = data.get("flows") or []
    if not isinstance(flows, list):
        raise UsageError("'flows' must be a list", file=FILE, line=doc.line(("flows",)))
    cfg = CheckConfig()
    seen: set = set()
    for i, entry in enumerate(flows):
        p = ("flows", i)
        line = doc.line(p)
        if not isinstance(entry, dict):
            raise UsageError("each entry of 'flows' must be a mapping with 'flow'", file=FILE,
                             line=line)
        _check_keys(entry, FLOW_KEYS, f"flows[{i}]", doc, p)
        if "flow" not in entry:
            raise UsageError(f"flows[{i}] has no 'flow'", file=FILE, line=line)
        flow = _rel_path(entry["flow"], "flow", doc.line(p + ("flow",)))
        if flow in seen:
            raise UsageError(f"flow '{flow}' is listed twice", file=FILE, line=line)
        seen.add(flow)
        fc = FlowCheck(flow=flow, line=line)
        run = entry.get("run")
        if isinstance(run, str):
            fc.run = _rel_path(run, "run", doc.line(p + ("run",)))
        elif isinstance(run, dict):
            _check_keys(run, RUN_KEYS, f"flow '{flow}' run", doc, p + ("run",))
            _check_paths(run, doc, p + ("run",))
            fc.run = run
        elif run is not None:
            raise UsageError(f"flow '{flow}': 'run' must be run.yml keys or a run.yml path",
                             file=FILE, line=doc.line(p + ("run",)))
        evals = entry.get("evaluations") or []
        if not isinstance(evals, list):
            raise UsageError(f"flow '{flow}': 'evaluations' must be a list", file=FILE,
                             line=doc.line(p + ("evaluations",)))
        for j, ev in enumerate(evals):
            ep = p + ("evaluations", j)
            if not isinstance(ev, dict) or "flow" not in ev:
                raise UsageError(f"flow '{flow}': each evaluation needs a 'flow'", file=FILE,
                                 line=doc.line(ep))
            _check_keys(ev, EVAL_KEYS, f"flow '{flow}' evaluation", doc, ep)
            _check_paths(ev, doc, ep)
            settings = {k: v for k, v in ev.items() if k != "flow"}
            fc.evaluations.append(Evaluation(_rel_path(ev["flow"], "evaluation flow",
                                                       doc.line(ep + ("flow",))), settings))
        gates = entry.get("gates") or {}
        if not isinstance(gates, dict):
            raise UsageError(f"flow '{flow}': 'gates' must map metric names to bounds", file=FILE,
                             line=doc.line(p + ("gates",)))
        for metric, spec in gates.items():
            try:
                fc.gates.append(parse_gate(str(metric), spec))
                fc.gates[-1].line = doc.line(p + ("gates", metric))
            except GateError as e:
                raise UsageError(f"flow '{flow}': {e}", file=FILE,
                                 line=doc.line(p + ("gates", metric))) from None
        mfl = entry.get("max_failed_lines")
        if mfl is not None:
            if isinstance(mfl, bool) or not isinstance(mfl, int) or mfl < 0:
                raise UsageError(f"flow '{flow}': max_failed_lines must be a whole number >= 0",
                                 file=FILE, line=doc.line(p + ("max_failed_lines",)))
            fc.max_failed_lines = mfl
        cfg.flows.append(fc)
    return cfg


def load_config(repo_path: str, path: str | None = None) -> CheckConfig | None:
    """The checks file: `path`, else pfgit.yaml at the repository root; None when there is none
    (a `path` that does not exist is an error: the user named it)."""
    import os

    file = path or os.path.join(repo_path, FILE)
    if path is None and not os.path.exists(file):
        return None
    try:
        with open(file, "rb") as f:
            return parse_config(f.read())
    except OSError as e:
        raise UsageError(e.strerror or str(e), file=file) from None


def cli_gates(metrics: list, min_: float | None, max_: float | None, max_drop: float | None,
              max_rise: float | None) -> list:
    """Gates from `--metric NAME [--min X] [--max X] [--max-drop X] [--max-rise X]`: the same
    bounds for every named metric."""
    spec = {k: v for k, v in (("min", min_), ("max", max_), ("max_drop", max_drop),
                              ("max_rise", max_rise)) if v is not None}
    if not metrics:
        if spec:
            raise UsageError("--min/--max/--max-drop/--max-rise need --metric NAME")
        return []
    if not spec:
        raise UsageError("--metric needs a bound: --min, --max, --max-drop or --max-rise")
    out: list[Gate] = []
    for m in metrics:
        try:
            out.append(parse_gate(m, spec))
        except GateError as e:
            raise UsageError(str(e)) from None
    return out
