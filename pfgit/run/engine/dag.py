"""One line of a DAG flow, and the aggregation step (promptflow-runner.md §1-3).

Nodes are scheduled as promptflow's FlowNodesScheduler does: every node whose dependencies are done
is bypassed or started, and up to `node_concurrency` nodes run at once in threads (promptflow: 2 in
batch runs, 16 in `pf flow test`), so independent nodes really run in parallel. A line with one
ready node at a time (a chain) runs it in the line's own thread: no thread hop. `activate` and
bypass propagation follow §2 exactly: with `activate` a node runs iff `when == is` (even when all its
dependencies were bypassed), unless `when` references a bypassed node; without it a node is bypassed
iff it has node references and all of them point at bypassed nodes. The first node to fail fails
the line at once (nodes still running are abandoned, as in promptflow); of nodes failing in the
same wait, the first in flow order is reported, and node records are kept in flow order, so what
is recorded does not depend on thread timing.
"""

from __future__ import annotations

import concurrent.futures as cf
import inspect
import re
import threading
import time
from dataclasses import dataclass, field

from ..errors import LineError, output_unserializable
from ..multimedia import image_inputs
from .plan import Plan, convert_flow_inputs

_PROP_TOKEN = re.compile(r"(\w+)|(\['.*?'\])|(\[\d+\])")
BYPASSED = object()
NODE_CONCURRENCY_BATCH = 2     # promptflow's DEFAULT_CONCURRENCY_BULK
NODE_CONCURRENCY_TEST = 16     # DEFAULT_CONCURRENCY_FLOW (pf flow test)
_POOL_THREADS = 256            # node threads shared by all lines of an engine (made on demand)


@dataclass
class NodeRun:
    node: str
    status: str                 # Completed | Bypassed | Failed
    output: object = None
    duration: float = 0.0
    error: str | None = None


@dataclass
class LineResult:
    line_number: int | None
    inputs: dict                                  # converted flow inputs (or raw when conversion failed)
    outputs: dict | None = None                   # None when the line failed
    error: LineError | None = None
    node_runs: list = field(default_factory=list)
    node_outputs: dict = field(default_factory=dict)  # only what aggregation needs

    @property
    def ok(self) -> bool:
        return self.error is None


def resolve_property(value, prop: str | None, node: str):
    if not prop:
        return value
    for word, key, idx in _PROP_TOKEN.findall(prop):
        try:
            if word:
                value = value[word] if isinstance(value, dict) else getattr(value, word)
            elif key:
                value = value[key[2:-2]]
            else:
                value = value[int(idx[1:-1])]
        except (KeyError, IndexError, AttributeError, TypeError):
            raise invalid_property(prop, node) from None
    return value


def invalid_property(prop: str, node: str) -> LineError:
    """promptflow's InvalidReferenceProperty (_input_assignment_parser.parse_node_property)."""
    return LineError(f"Flow execution failed. Invalid property '{prop}' when accessing the node '{node}'. "
                     "Please check the property and try again.", "InvalidReferenceProperty")


def _node_value(ref, outputs: dict, ref_text: str):
    if ref.section != "output":
        raise LineError(f"The section '{ref.section}' of reference '{ref_text}' is currently unsupported",
                        "UnsupportedReference")
    return resolve_property(outputs[ref.name], ref.prop, ref.name)


def _drain(v):
    if inspect.isasyncgen(v):     # an `async def` tool that yields: joined like a generator
        import asyncio

        async def _join():
            return "".join([str(c) async for c in v])
        return asyncio.run(_join())
    if inspect.isgenerator(v) or (hasattr(v, "__next__") and hasattr(v, "__iter__") and not isinstance(v, (str, bytes, dict, list))):
        return "".join(str(c) for c in v)
    return v


class DagEngine:
    """Runs lines of a prepared Plan. Thread-safe: lines may run in parallel."""

    def __init__(self, plan: Plan, run_name: str | None = None, llm_cache=None, get_connection=None):
        self.plan = plan
        self.run_name = run_name
        self.llm_cache = llm_cache          # pfgit.run.llm.LLMCache or None
        self.get_connection = get_connection
        self.node_concurrency = NODE_CONCURRENCY_BATCH
        self._pool = None
        self._pool_lock = threading.Lock()
        from ..llm.usage import TokenCounter

        self.usage = TokenCounter()
        # inputs where promptflow would load images (pfgit.run.multimedia), checked on every line
        self._list_inputs = {k: d for k, d in plan.inputs.items()
                             if isinstance(d, dict) and d.get("type") in ("list", "object")}
        # what aggregation nodes read from each line: node outputs (by name) and flow inputs
        self.agg_nodes = set()
        for n in plan.agg_order:
            for r in plan.nodes[n].refs.values():
                if r.kind == "node" and not plan.nodes[r.name].aggregation:
                    self.agg_nodes.add(r.name)

    # ---- what batch.py asks of every engine ---------------------------------------------------
    uses_llm = property(lambda self: any(n.type in ("llm", "embedding") for n in self.plan.nodes.values()))
    warnings = property(lambda self: self.plan.warnings)
    splits_over_processes = True   # lines are independent: batch.py may fork workers (procpool.py)

    def input_defs(self) -> dict:
        return self.plan.inputs

    def flow_env(self) -> dict:
        env = self.plan.data.get("environment_variables")
        return env if isinstance(env, dict) else {}

    def cwd(self) -> str:
        return self.plan.flow_dir

    def keeps_for_aggregation(self) -> bool:
        return bool(self.plan.agg_order)

    def connection_names(self) -> dict:
        out = {f"{n.name}.connection": n.connection for n in self.plan.nodes.values()
               if n.type in ("llm", "embedding") and isinstance(n.connection, str)}
        # python tools take connections as inputs named anything: the literal naming one
        used = {c.get("name") for c in self.plan.connections if isinstance(c, dict)}
        for n in self.plan.nodes.values():
            raw = n.raw.get("inputs") if isinstance(n.raw.get("inputs"), dict) else {}
            if n.type == "python":
                out.update({f"{n.name}.{k}": v for k, v in raw.items() if isinstance(v, str) and v in used})
        return out

    def secret_values(self) -> list:
        from ..connections import secret_values_of

        used = self.plan.modules.used_connections if self.plan.modules is not None else []
        return [v for c in self.plan.connections + used for v in secret_values_of(c)]

    def connections_looked_up(self) -> list:
        """Names of the connections tools looked up themselves (through promptflow), not by input."""
        return list(self.plan.modules.used_names) if self.plan.modules is not None else []

    def adopt_connections(self, names) -> None:
        """Those a worker process (or an earlier start of a resumed run) looked up: masked too."""
        if self.plan.modules is not None:
            self.plan.modules.adopt(names)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)   # abandoned nodes of failed lines may still run
        self.plan.close()

    # ---- one line --------------------------------------------------------------------------
    def run_line(self, raw_inputs: dict, line_number: int | None, keep_node_runs: bool = False) -> LineResult:
        res = LineResult(line_number, raw_inputs)
        try:
            # `pf flow test` runs its one line as line 0, and says so in these messages
            inputs = convert_flow_inputs(self.plan.inputs, raw_inputs, 0 if line_number is None else line_number)
        except LineError as e:
            res.error = e
            return res
        res.inputs = inputs
        if self._list_inputs:
            images = image_inputs(self._list_inputs, inputs)
            if images:      # promptflow would pass Image objects (pfgit.run.multimedia)
                res.error = LineError(f"flow input '{images[0]}' holds an image ({{\"data:image/...\": ...}}), "
                                      "which promptflow loads as an Image and the built-in engine does not: run "
                                      "with --engine promptflow", "NeedsPromptflow")
                return res
        outputs: dict = {}
        runs = [] if keep_node_runs else None
        res.error = self._schedule(self.plan.order, inputs, outputs,
                                   lambda np_: self._node_inputs(np_, inputs, outputs), line_number, runs)
        res.node_runs = runs or []
        if res.error is not None:
            return res
        try:
            res.outputs = self._flow_outputs(inputs, outputs)
        except LineError as e:
            res.error = e
            return res
        res.node_outputs = {n: (None if outputs.get(n, BYPASSED) is BYPASSED else outputs[n]) for n in self.agg_nodes}
        return res

    def _schedule(self, names: list, inputs: dict, outputs: dict, prepare, line_number, runs) -> LineError | None:
        """Run the nodes `names` (topological order) into `outputs`; `prepare(node plan)` gives
        (kwargs, inputs to escape). Returns the error of the failing node, or None. Appends a
        NodeRun per node to `runs` (unless None), in flow order."""
        index = {n: i for i, n in enumerate(names)}
        waiting = list(names)
        ready: list = []                  # (name, kwargs, from_inputs), flow order
        running: dict = {}                # future -> name
        done: dict = {}                   # name -> NodeRun
        error = None
        while waiting or ready or running:
            for name in list(waiting):   # one pass in flow order: a bypass is seen by later nodes
                np_ = self.plan.nodes[name]
                if any(d in index and d not in outputs for d in np_.deps):
                    continue
                waiting.remove(name)
                try:
                    if self._bypassed(np_, inputs, outputs):
                        outputs[name] = BYPASSED
                        done[name] = NodeRun(name, "Bypassed")
                        continue
                    kwargs, from_inputs = prepare(np_)
                except LineError as e:
                    e.node = e.node or name
                    done[name] = NodeRun(name, "Failed", None, 0.0, e.message)
                    error = e
                    break
                ready.append((name, kwargs, from_inputs))
            if error is not None:
                break
            if not ready and not running:
                if not waiting:             # this pass bypassed the last nodes: the line is done
                    break
                # cannot happen with an acyclic plan; never spin
                error = LineError("No nodes are ready for execution, but the flow is not completed.",
                                  "NoNodeExecutedError", waiting[0])
                break
            if not running and len(ready) == 1:     # a chain: no thread hop
                name, kwargs, from_inputs = ready.pop()
                runs_done = [self._run_node(name, kwargs, from_inputs, line_number)]
            else:
                while ready and len(running) < self.node_concurrency:
                    name, kwargs, from_inputs = ready.pop(0)
                    running[self._node_pool().submit(self._run_node, name, kwargs, from_inputs, line_number)] = name
                finished, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                runs_done = sorted((f.result() for f in finished), key=lambda r: index[r[0].node])
                for f in finished:
                    del running[f]
            for nr, out, err in runs_done:
                done[nr.node] = nr
                if err is not None:
                    error = error or err
                else:
                    outputs[nr.node] = out
            if error is not None:
                break
        if runs is not None:
            runs.extend(done[n] for n in names if n in done)
        return error

    def _node_pool(self) -> cf.ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = cf.ThreadPoolExecutor(max_workers=_POOL_THREADS, thread_name_prefix="pfgit-node")
            return self._pool

    def _run_node(self, name: str, kwargs: dict, from_inputs: set, line_number):
        """(NodeRun, output, LineError or None): a tool's exception becomes the line's error."""
        np_ = self.plan.nodes[name]
        t0 = time.perf_counter()
        try:
            out = self._call(np_, kwargs, from_inputs, line_number)
        except LineError as e:
            e.node = e.node or name
            return NodeRun(name, "Failed", None, time.perf_counter() - t0, e.message), None, e
        except Exception as e:  # the tool raised
            # promptflow's ToolExecutionError names the node, not the tool's function
            err = LineError(f"Execution failure in '{name}': ({type(e).__name__}) {e}", type(e).__name__, name)
            return NodeRun(name, "Failed", None, time.perf_counter() - t0, err.message), None, err
        return NodeRun(name, "Completed", out, time.perf_counter() - t0), out, None

    def _bypassed(self, np_, inputs: dict, outputs: dict) -> bool:
        from ...flow.refs import parse_ref

        if np_.activate is not None:
            when = np_.activate.get("when")
            r = parse_ref(when)
            if r is not None and r.kind == "node":
                if outputs.get(r.name) is BYPASSED:
                    return True
                value = _node_value(r, outputs, when)
            elif r is not None:
                value = inputs.get(r.name)
            else:
                value = when
            return not (value == np_.activate.get("is"))
        node_refs = [r for r in np_.refs.values() if r.kind == "node"]
        return bool(node_refs) and all(outputs.get(r.name) is BYPASSED for r in node_refs)

    def _node_inputs(self, np_, inputs: dict, outputs: dict) -> tuple[dict, set]:
        kwargs = dict(np_.literals)
        from_inputs = set()
        for k, r in np_.refs.items():
            text = np_.raw["inputs"][k]
            if r.kind == "input":
                kwargs[k] = inputs.get(r.name)
                from_inputs.add(k)
            elif outputs.get(r.name) is BYPASSED:
                if np_.tool is not None and np_.tool.has_default(k):
                    continue          # the tool's default applies (§2)
                kwargs[k] = None
            else:
                kwargs[k] = _node_value(r, outputs, text)
        return kwargs, from_inputs

    def _call(self, np_, kwargs: dict, from_inputs: set, line_number):
        if np_.type == "python":
            return np_.tool.call(kwargs, np_.init_kwargs)
        from .. import llm

        try:
            if np_.type == "prompt":
                return llm.render_prompt(np_.template, kwargs, tuple(from_inputs))
            ctx = llm.LLMContext(node=np_.name, line=line_number, inputs_to_escape=tuple(from_inputs),
                                 cache=self.llm_cache, tokens=self.usage)
            params = {k: v for k, v in kwargs.items() if k != "connection"}
            prompt = np_.template
            if np_.type == "embedding":
                prompt = params.pop("input", None)
            output, _usage = llm.call_llm(np_.api, np_.connection_obj, prompt, params, ctx)
            return output
        except llm.LLMError as e:
            raise LineError(e.message, e.error_type, np_.name) from None

    def _flow_outputs(self, inputs: dict, outputs: dict) -> dict:
        from ...flow.refs import parse_ref

        out = {}
        for k, ref_text in self.plan.outputs.items():
            r = parse_ref(ref_text)
            if r is None:
                v = ref_text
            elif r.kind == "input":
                v = inputs.get(r.name)
            elif outputs.get(r.name, BYPASSED) is BYPASSED:
                if r.prop:           # promptflow reads the property of None
                    raise invalid_property(r.prop, r.name)
                v = None
            else:
                v = _node_value(r, outputs, ref_text)
            v = _drain(v)
            err = output_unserializable(k, v)
            if err is not None:
                raise err
            if isinstance(v, str) and type(v) is not str:
                v = str(v)
            out[k] = v
        return out

    # ---- aggregation -------------------------------------------------------------------------
    def run_aggregation(self, lines) -> tuple[dict, LineError | None]:
        """Aggregation nodes over succeeded lines (`lines`: LineResult-like with .inputs and
        .node_outputs, ascending line numbers). Returns (metrics, error or None)."""
        from ..metrics import collecting

        metrics: dict = {}
        if not self.plan.agg_order:
            return metrics, None
        lines = list(lines)
        outputs: dict = {}

        def prepare(np_):
            kwargs = dict(np_.literals)
            for k, r in np_.refs.items():
                text = np_.raw["inputs"][k]
                if r.kind == "input":
                    kwargs[k] = [ln.inputs.get(r.name) for ln in lines]
                elif self.plan.nodes[r.name].aggregation:
                    kwargs[k] = None if outputs.get(r.name) is BYPASSED else _node_value(r, outputs, text)
                else:
                    vals = []
                    for ln in lines:
                        v = ln.node_outputs.get(r.name)
                        vals.append(None if v is None else resolve_property(v, r.prop, r.name))
                    kwargs[k] = vals
            return kwargs, set()

        with collecting(metrics):
            err = self._schedule(self.plan.agg_order, {}, outputs, prepare, None, None)
        if err is not None:
            return metrics, err
        return metrics, None
