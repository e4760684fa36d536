"""`pfgit test`: one line of a flow (or one node alone), like `pf flow test`, writing nothing:
no `.promptflow/` folder, no `__pycache__` (tools are imported without bytecode), no run record.
With the promptflow engine (`--engine promptflow`, or `auto` when a node needs it) promptflow
tests a temporary copy of the flow in a child process (engine/promptflow.py); the result has the
same shape."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field

from .errors import LineError, RunError
from .spec import RunSpec


@dataclass
class TestResult:
    outputs: dict | None
    error: dict | None
    nodes: list = field(default_factory=list)     # {"node", "status", "duration", "output", "error"}
    metrics: dict = field(default_factory=dict)
    duration: float = 0.0
    warnings: list = field(default_factory=list)  # for stderr (not part of the --json result)

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_dict(self) -> dict:
        return {"status": "Completed" if self.ok else "Failed", "outputs": self.outputs, "error": self.error,
                "nodes": self.nodes, "metrics": self.metrics, "duration": round(self.duration, 4)}


def _jsonable(v):
    try:
        json.dumps(v)
        return v
    except (TypeError, ValueError):
        return str(v) if isinstance(v, str) else repr(v)


def read_inputs_file(path: str) -> dict:
    """A JSON object, or the first line of a JSONL file."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            text = f.read()
    except OSError as e:
        raise RunError(e.strerror or str(e), file=path) from None
    try:
        obj = json.loads(text)
    except ValueError:
        first = next((ln for ln in text.splitlines() if ln.strip()), "")
        try:
            obj = json.loads(first)
        except ValueError as e:
            raise RunError(f"not JSON: {e}", file=path, line=1) from None
    if not isinstance(obj, dict):
        raise RunError("inputs must be a JSON object", file=path)
    return obj


def unknown_flow_inputs(spec: RunSpec, inputs: dict, what: str = "input") -> str | None:
    """The unknown-inputs warning from the flow file itself, for the promptflow engine, which has
    no built-in plan to ask (see `declared_inputs`); None when that cannot be told."""
    from ..errors import unknown_inputs

    declared = declared_inputs(spec)
    return None if declared is None else unknown_inputs(inputs, declared, what)


def declared_inputs(spec: RunSpec) -> list | None:
    """The flow's input names as the built-in engine would take them, read from the flow file
    (pfgit.flow's loader): a prompty's sample names when it declares none, a flex flow's entry
    parameters, read from the entry's source (never imported here). None when that cannot be told."""
    from .engine.plan import load

    try:
        flow, fdir, _ = load(spec.flow)
    except RunError:
        return None          # promptflow reports the unreadable flow itself
    declared = list(flow.inputs)
    if flow.kind == "prompty" and not declared:   # as PromptyEngine: the sample's names
        sample = flow.data.get("sample")
        declared = list(sample) if isinstance(sample, dict) else []
    if flow.kind == "flex" and not declared:
        return _flex_entry_params(flow, fdir)
    return declared


def _flex_entry_params(flow, fdir: str) -> list | None:
    from ..flow.entry import EntryPathError, entry_location
    from ..validate.signatures import entry_params

    try:
        loc = entry_location(flow.data, fdir)
    except EntryPathError:
        return None     # refused when the flow is run
    if loc is None:
        return None
    try:
        with open(loc.file, "rb") as f:
            return entry_params(f.read(), loc.file, loc.function)
    except OSError:
        return None     # an installed module, or a package: promptflow finds it


def chat_history_input(inputs: dict) -> str | None:
    """promptflow's chat history input (flow_utils.is_executable_chat_flow): the input marked
    `is_chat_history: true`, else one named `chat_history` not marked false."""
    marked = [k for k, d in inputs.items() if isinstance(d, dict) and d.get("is_chat_history") is True]
    if marked:
        return marked[0]
    d = inputs.get("chat_history")
    return "chat_history" if d is not None and not (isinstance(d, dict) and d.get("is_chat_history") is False) else None


def dag_test_inputs(declared: dict, given: dict, flow_file: str) -> dict:
    """`pf flow test`'s inputs of a DAG flow (test_submitter.resolve_data): a missing input takes
    its default, a chat history without one is `[]`, and any other missing input stops the test
    before it runs (RunError, as promptflow's UserErrorException), not as a failed line."""
    out, missing = dict(given), []
    history = chat_history_input(declared)
    for k, d in declared.items():
        if k in out or (isinstance(d, dict) and d.get("default") is not None):
            continue
        if k == history:
            out[k] = []
        else:
            missing.append(k)
    if missing:
        raise RunError(f'Required input(s) {missing} are missing for "flow".', file=flow_file)
    return out


def test_flow(spec: RunSpec, inputs: dict, node: str | None = None) -> TestResult:
    from .environ import RunEnv, env_for
    from .connections_bridge import connection_getter
    from .engine.select import choose

    if node is not None:
        _check_node(spec.flow, node)   # before every node's tool is loaded (one may not import)
    get_connection = connection_getter()
    engine_name, engine = choose(spec, get_connection, inputs)
    if engine is None:
        from .engine.promptflow import test_line

        t0 = time.perf_counter()
        unknown = None if node is not None else unknown_flow_inputs(spec, inputs)
        res = test_line(spec, inputs, node)
        return TestResult(outputs=res["outputs"], error=res["error"], nodes=res["nodes"],
                          metrics=res["metrics"], duration=time.perf_counter() - t0,
                          warnings=[unknown] if unknown else [])
    if hasattr(engine, "node_concurrency"):
        from .engine.dag import NODE_CONCURRENCY_TEST

        engine.node_concurrency = NODE_CONCURRENCY_TEST   # as pf flow test
    t0 = time.perf_counter()
    shown = os.path.relpath(getattr(getattr(engine, "plan", None), "flow_file", "") or ".")  # before the chdir
    try:
        with RunEnv(env_for(spec, engine.flow_env(), get_connection), engine.cwd()):
            if node is not None:
                return _test_node(engine, node, inputs, t0)
            raw = dict(inputs)
            from ..errors import unknown_inputs

            unknown = unknown_inputs(inputs, engine.input_defs())
            if not raw:     # as pf flow test: the sample stands in for inputs only when none are given
                raw = dict(getattr(engine, "sample_inputs", lambda: {})() or {})
            if hasattr(engine, "plan"):
                raw = dag_test_inputs(engine.plan.inputs, raw,
                                      engine.plan.flow_file if shown.startswith("..") else shown)
            res = engine.run_line(raw, None, keep_node_runs=True) if hasattr(engine, "plan") \
                else engine.run_line(raw, None)
            out = TestResult(outputs=res.outputs, error=res.error.as_dict() if res.error else None,
                             warnings=[unknown] if unknown else [])
            for nr in getattr(res, "node_runs", []):
                out.nodes.append({"node": nr.node, "status": nr.status, "duration": round(nr.duration, 4),
                                  "output": _jsonable(nr.output), "error": nr.error})
            if res.error is None and hasattr(engine, "plan"):
                # DAG aggregation nodes over 1-item lists, as pf flow test does (it never calls a
                # flex flow's __aggregate__)
                metrics, agg_err = engine.run_aggregation([res])
                out.metrics = metrics
                if agg_err is not None:      # a failed test, as through the promptflow engine
                    out.error, out.outputs = agg_err.as_dict(), None
            out.duration = time.perf_counter() - t0
            return out
    finally:
        engine.close()


def _check_node(flow: str, name: str) -> None:
    from .engine.plan import load

    model = load(flow)[0]
    if model.kind != "dag":
        raise RunError("--node applies to DAG flows")
    names = [n.name for n in model.nodes]
    if name not in names:
        raise RunError(f"no node '{name}' in the flow (nodes: {', '.join(names)})")


def _test_node(engine, name: str, given: dict, t0) -> TestResult:
    """Run one node of a DAG flow with its own inputs (given ones override the node's literals;
    every reference must be given)."""
    plan = getattr(engine, "plan", None)
    if plan is None:
        raise RunError("--node applies to DAG flows")
    if name not in plan.nodes:
        raise RunError(f"no node '{name}' in the flow (nodes: {', '.join(plan.nodes)})")
    np_ = plan.nodes[name]
    missing = [k for k in np_.refs if k not in given]
    if missing:
        raise RunError(f"node '{name}' takes {', '.join(missing)} from other nodes or flow inputs: give "
                       + " ".join(f"{k}=..." for k in missing) + " with --inputs")
    unknown = [k for k in given if k not in np_.refs and k not in np_.literals and
               (np_.tool is None or (k not in np_.tool.params and not np_.tool.var_kw))]
    kwargs = dict(np_.literals)
    if np_.tool is not None:
        try:
            from .connections_bridge import connection_getter
            from .engine.plan import conn_obj

            getter = connection_getter()
            kwargs.update(np_.tool.convert_literals(given, lambda n, c: conn_obj(getter, n, c, plan)))
        except Exception as e:
            raise RunError(f"node '{name}': {e}") from None
    else:
        kwargs.update(given)
    t1 = time.perf_counter()
    try:
        if unknown and np_.tool is not None:
            raise LineError(f"node '{name}' has no input {', '.join(unknown)}", "InputNotFound", name)
        output = engine._call(np_, kwargs, set(), None)
        from .engine.dag import _drain

        output = _drain(output)
        rec = {"node": name, "status": "Completed", "duration": round(time.perf_counter() - t1, 4),
               "output": _jsonable(output), "error": None}
        return TestResult(outputs={name: _jsonable(output)}, error=None, nodes=[rec],
                          duration=time.perf_counter() - t0)
    except LineError as e:
        err = e.as_dict()
    except Exception as e:
        err = {"type": type(e).__name__, "node": name,
               "message": f"Execution failure in '{name}': ({type(e).__name__}) {e}"}
    return TestResult(outputs=None, error=err, nodes=[{"node": name, "status": "Failed", "duration": 0,
                                                       "output": None, "error": err["message"]}],
                      duration=time.perf_counter() - t0)
