"""The promptflow engine: runs a flow through the installed promptflow and hands every line to the
batch writer, so the run is recorded exactly like a built-in one (pfgit.run.batch).

Why a child process (pf_child.py) rather than PFClient in this process: promptflow reconfigures
logging, tracing and the environment of whatever imports it, and spawns worker processes; a child
with its own temporary HOME and PF_HOME_DIRECTORY keeps all of that away from pfgit and from the
user's ~/.promptflow (no run, connection or lock file left behind). The flow folder is copied into
that temporary place too, because promptflow writes `.promptflow/` and `__pycache__/` into the
flow it runs. Tracing is switched off in the temporary home's pf.yaml so no local service starts;
if one did, it is stopped. Connections the flow names are created in the temporary home from
pfgit's connection store. An evaluation run's base run lives in pfgit, not in promptflow, so its
outputs and inputs are joined into the data file (columns `__run_outputs.<x>`/`__run_inputs.<x>`,
and promptflow's `line_number` column keeps the base run's numbering).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile

from ...store.pf_import import _read_json
from ..errors import RunError

_IGNORE = shutil.ignore_patterns(".git", "__pycache__", ".runs", ".promptflow", ".pfgit")
_RUN_REF = "${run."


class PromptflowRun:
    """What batch._record asks of an engine: connection names and the secret values to mask."""

    def __init__(self, connections: dict, secrets: list):
        self._connections = connections
        self._secrets = secrets

    def connection_names(self) -> dict:
        return self._connections

    def secret_values(self) -> list:
        return self._secrets


class _Sandbox:
    """A throw-away promptflow home and a copy of the flow (see the module doc)."""

    def __init__(self, spec, tmp: str):
        from .plan import ENTRY_FLOW_FILE, entry_flow, locate

        edir = entry_flow(spec.flow)     # `--flow module:function`: the current folder's code
        self.fdir, ffile = (edir, os.path.join(edir, ENTRY_FLOW_FILE)) if edir else locate(spec.flow)
        if not edir:
            _refuse_outside_code(spec.flow)
        self.tmp = tmp
        home = os.path.join(tmp, "home")
        self.pf_home = os.path.join(home, ".promptflow")
        os.makedirs(self.pf_home)
        with open(os.path.join(self.pf_home, "pf.yaml"), "w") as f:   # no tracing service, no telemetry
            f.write("telemetry:\n  enabled: 'false'\ntrace:\n  destination: none\n")
        flow_copy = os.path.join(tmp, "flow")
        shutil.copytree(self.fdir, flow_copy, ignore=_IGNORE, symlinks=True)
        self.flow = flow_copy if os.path.isdir(spec.flow) else os.path.join(flow_copy, os.path.basename(ffile))
        if edir:   # the flow file promptflow writes for such an entry, in the copy
            with open(self.flow, "w", encoding="utf-8") as f:
                f.write(f"entry: {os.path.basename(spec.flow)}\n")
        self.conns = _connections_used(self.fdir, spec)
        self.env = dict(os.environ, HOME=home, PF_HOME_DIRECTORY=self.pf_home, PF_DISABLE_TELEMETRY="true",
                        PYTHONDONTWRITEBYTECODE="1")

    def launch(self, job: dict) -> dict:
        """Run pf_child.py on `job` (connections and the result path added); its result dict."""
        job = dict(job, connections=[c for _, c in self.conns.values()],
                   result=os.path.join(self.tmp, "result.json"))
        job_path = os.path.join(self.tmp, "job.json")
        fd = os.open(job_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # holds secrets
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(job, f)
        child = os.path.join(self.tmp, "pf_child.py")  # run from tmp: pfgit's own modules must not shadow
        shutil.copy(os.path.join(os.path.dirname(__file__), "pf_child.py"), child)  # stdlib ones (select)
        try:
            proc = subprocess.run([sys.executable, child, job_path], cwd=self.tmp, env=self.env,
                                  capture_output=True, text=True)
        finally:
            _stop_service(self.pf_home, self.env)
        result = _read_json(job["result"], None)
        if result is None:
            tail = " ".join((proc.stderr or "").strip().splitlines()[-1:]) or f"exit code {proc.returncode}"
            raise RunError(f"promptflow failed: {tail}")
        return result

    def secrets(self) -> list:
        return [v for c, _ in self.conns.values() for v in c.secret_values()]


def _refuse_outside_code(flow_path: str) -> None:
    """promptflow imports a flex flow's entry from its `code` folder wherever it points (`..`, an
    absolute path): refused as the built-in engine refuses it (pfgit.flow.entry)."""
    from ...flow.entry import EntryPathError, code_root
    from .plan import load

    flow, _, _ = load(flow_path)
    if flow.kind == "flex":
        try:
            code_root(flow.data)
        except EntryPathError as e:
            raise RunError(str(e), file=flow.file, line=flow.line(e.key)) from None


def run(spec, writer) -> PromptflowRun:
    with tempfile.TemporaryDirectory(prefix="pfgit-pf-") as tmp:
        sb = _Sandbox(spec, tmp)
        data, mapping, base_failed = _data_and_mapping(spec, tmp)
        if spec.workers:
            sb.env["PF_WORKER_COUNT"] = str(spec.workers)
        if spec.line_timeout:
            sb.env["PF_LINE_TIMEOUT_SEC"] = str(int(spec.line_timeout))
        result = sb.launch({
            "mode": "run", "name": spec.name, "flow": sb.flow, "data": data, "column_mapping": mapping,
            "variant": spec.variant, "connections_override": spec.connections or None,
            "environment_variables": _env_vars(spec), "display_name": spec.display_name,
            "tags": spec.tags or None, "init": spec.init,
        })
        folder = result.get("folder") or os.path.join(sb.pf_home, ".runs", spec.name)
        lines = _lines(folder)
        if not lines and result.get("status") != "Completed":
            err = result.get("error") or _read_json(os.path.join(folder, "error.json"), {}).get("message")
            raise RunError(f"promptflow: {err or 'run failed'}")
        for ln, msg in base_failed.items():  # promptflow drops them silently; pfgit records them
            lines.setdefault(ln, ({}, None, {"type": "BaseRunLineFailed", "node": None, "message":
                                             f"line {ln} of base run '{spec.run}' failed ({msg}): nothing to evaluate"}))
        for ln in sorted(lines):
            inputs, outputs, error = lines[ln]
            writer.line(ln, inputs, outputs, error)
        writer.metrics(_read_json(os.path.join(folder, "metrics.json"), {}) or {})
        return PromptflowRun(_connection_fields(sb.fdir, spec, set(sb.conns)), sb.secrets())


def test_line(spec, inputs: dict, node: str | None = None) -> dict:
    """One line (or one node) through promptflow's flow test, on a copy of the flow (promptflow
    writes `.promptflow/` and `__pycache__` into the flow it tests): {"outputs", "error", "nodes",
    "metrics"} shaped like the built-in engine's (testline.TestResult); aggregation nodes run over
    the one line, as `pf flow test` does, and only per-line nodes are listed."""
    with tempfile.TemporaryDirectory(prefix="pfgit-pf-") as tmp:
        sb = _Sandbox(spec, tmp)
        res = sb.launch({"mode": "test", "flow": sb.flow, "inputs": inputs, "node": node,
                         "variant": spec.variant, "environment_variables": _env_vars(spec),
                         "init": spec.init})
    if res.get("fatal"):
        raise RunError(f"promptflow: {res['fatal']}")
    nodes = []
    for n in res.get("nodes") or []:
        err = _error(n["error"], n["status"])["message"] if n.get("error") else None
        nodes.append({"node": n["node"], "status": n["status"], "duration": round(n.get("duration") or 0, 4),
                      "output": n.get("output") if n["status"] == "Completed" else None, "error": err})
    error = _error(res["error"], res.get("status")) if res.get("error") else None
    if error is not None and error.get("node") is None:
        error["node"] = next((n["node"] for n in nodes if n["status"] == "Failed"), None)
    return {"outputs": None if error else res.get("outputs"), "error": error, "nodes": nodes,
            "metrics": res.get("metrics") or {}}


def _connection_fields(fdir: str, spec, names: set) -> dict:
    """{"node.field": NAME} for run.json: llm nodes' `connection`, inputs naming a connection."""
    from ...store.pf_import import snapshot_connections

    out = snapshot_connections(fdir, names)
    for node, over in (spec.connections or {}).items():
        if isinstance(over, dict) and isinstance(over.get("connection"), str):
            out[f"{node}.connection"] = over["connection"]
    return out


def _lines(folder: str) -> dict:
    """{line_number: (inputs, outputs or None, error or None)} from promptflow's flow_artifacts."""
    out = {}
    art = os.path.join(folder, "flow_artifacts")
    for name in sorted(os.listdir(art)) if os.path.isdir(art) else []:
        if not name.endswith(".jsonl"):   # promptflow also writes the lines' images here
            continue
        with open(os.path.join(art, name), encoding="utf-8") as f:
            for raw in f:
                try:
                    rec = json.loads(raw)
                except ValueError:
                    continue
                info = rec.get("run_info") or {}
                ln = rec.get("line_number", info.get("index"))
                inputs = {k: v for k, v in (info.get("inputs") or {}).items() if k != "line_number"}
                if info.get("status") == "Completed":
                    out[ln] = (inputs, info.get("output") or {}, None)
                else:
                    out[ln] = (inputs, None, _error(info.get("error") or {}, info.get("status")))
    return out


def _error(err: dict, status) -> dict:
    """promptflow's error record -> pfgit's {"type", "message", "node"}."""
    node = (err.get("messageParameters") or {}).get("node_name")
    etype = None
    for extra in err.get("additionalInfo") or []:
        info = extra.get("info") if isinstance(extra, dict) else None
        if isinstance(info, dict) and info.get("type"):
            etype = info["type"]
    inner, code = err.get("innerError"), err.get("code")
    while isinstance(inner, dict):
        code = inner.get("code") or code
        inner = inner.get("innerError")
    return {"type": etype or code or "UserError",
            "message": err.get("message") or f"line {status or 'failed'}", "node": node}


def _stop_service(pf_home: str, env: dict) -> None:
    """Stop a promptflow service the child may have started (tracing is off, so normally none)."""
    pfs = os.path.join(pf_home, "pfs")
    if not os.path.isdir(pfs) or not any(n.endswith(".port") for n in os.listdir(pfs)):
        return
    pf = shutil.which("pf", path=os.path.dirname(sys.executable)) or shutil.which("pf")
    if pf:
        subprocess.run([pf, "service", "stop"], env=env, capture_output=True, timeout=120)


def _strings(obj, acc: set) -> set:
    if isinstance(obj, str):
        acc.add(obj)
    elif isinstance(obj, dict):
        for v in obj.values():
            _strings(v, acc)
    elif isinstance(obj, list):
        for v in obj:
            _strings(v, acc)
    return acc


def _connections_used(fdir: str, spec) -> dict:
    """{name: (Connection, dict for the child)} of pfgit's connections whose names appear as values
    in the flow files or the run's --connections (promptflow resolves the rest itself, or fails)."""
    import yaml

    from ..connections import ConnectionStore

    store = ConnectionStore()
    names = set(store.names())
    if not names:
        return {}
    seen: set = set()
    for fname in os.listdir(fdir):
        if fname.endswith((".yaml", ".yml", ".prompty")):
            try:
                with open(os.path.join(fdir, fname), encoding="utf-8") as f:
                    text = f.read()
                if fname.endswith(".prompty"):
                    text = text.split("---")[1] if text.count("---") >= 2 else ""
                _strings(yaml.safe_load(text), seen)
            except (OSError, yaml.YAMLError, IndexError):
                continue
    _strings(spec.connections or {}, seen)
    out = {}
    for n in sorted(names & seen):
        c = store.get(n)
        out[n] = (c, c.resolved_dict())
    return out


def _env_vars(spec):
    ev = spec.environment_variables
    if isinstance(ev, str):  # a .env file: read as the built-in engine reads it
        from ..environ import read_dotenv

        ev = read_dotenv(ev)
    return {str(k): str(v) for k, v in (ev or {}).items()} or None


def _data_and_mapping(spec, tmp: str) -> tuple:
    """(data path, column mapping, {failed base line: message}) for promptflow; for an evaluation
    run, the base run's lines are joined into a data file of our own, since promptflow does not
    know pfgit's runs."""
    mapping = dict(spec.column_mapping or {})
    if not spec.run:
        return spec.data, mapping, {}
    from ...git.repo import open_repo
    from ..baserun import load_base
    from ..data import iter_rows
    from .plan import locate

    repo = open_repo(locate(spec.flow)[0])
    base = load_base(repo, spec.run)
    outs = dict(base.outputs())
    ins = dict(base.inputs())
    rows = list(iter_rows(spec.data)) if spec.data else None
    if rows is not None and len(rows) != len(base.line_numbers):
        raise RunError(f"base run '{base.name}' has {len(base.line_numbers)} lines but the data has {len(rows)}")
    path = os.path.join(tmp, "joined.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        for i, ln in enumerate(base.line_numbers):
            if ln not in outs:
                continue  # a failed base line: promptflow never runs it either
            row = dict(rows[i]) if rows is not None else {}
            for k, v in outs[ln].items():
                row[f"__run_outputs.{k}"] = v
            for k, v in (ins.get(ln) or {}).items():
                row[f"__run_inputs.{k}"] = v
            row["line_number"] = ln
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    for k, v in mapping.items():
        if isinstance(v, str) and v.startswith(_RUN_REF):
            mapping[k] = v.replace("${run.outputs.", "${data.__run_outputs.").replace(
                "${run.inputs.", "${data.__run_inputs.")
    return path, mapping, dict(base.failed)

