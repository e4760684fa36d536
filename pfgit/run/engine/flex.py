"""Flex flows (`flow.flex.yaml`, `entry: module:function` or `module:Class`), promptflow-runner.md §8.1.

Inputs are the entry's parameters (or the YAML `inputs`), converted by their annotations; outputs
become a dict (dict as is, dataclass fields, anything else `{"output": value}`); a class entry is
built once with its init kwargs (`--init`, run.yml `init:`, else `sample.init`) and its
`__aggregate__` receives the succeeded lines' outputs, a dict return becoming the metrics.
"""

from __future__ import annotations

import dataclasses
import inspect
import os

from ...flow.entry import EntryPathError, entry_location
from ...flow.readers import outside_repository
from ..convert import ConvertError, annotation_type, parse_value
from ..errors import LineError, RunError, input_not_found, input_type_error, output_unserializable
from ..nodes.python import FlowModules, ToolLoadError
from .dag import LineResult, _drain


class _AttrDict(dict):
    __getattr__ = dict.get


class FlexEngine:
    uses_llm = True          # flex entries usually call models: LLM-friendly worker default
    warnings: list = []

    def __init__(self, flow, fdir: str, ffile: str, init: dict | None, get_connection=None):
        from ..llm.usage import TokenCounter

        self.flow, self.fdir, self.ffile = flow, fdir, ffile
        from .plan import check_includes

        check_includes(flow, fdir)
        self.usage = TokenCounter()
        entry = flow.data.get("entry")
        try:
            loc = entry_location(flow.data)
        except EntryPathError as e:
            raise RunError(str(e), file=flow.file, line=flow.line(e.key)) from None
        if loc is None:
            raise RunError("'entry' must be 'module:function' or 'module:Class'", file=flow.file,
                           line=flow.line(("entry",)))
        attr, rel = loc.function, loc.file
        if not os.path.isfile(os.path.join(fdir, rel)) and os.path.isfile(os.path.join(fdir, loc.package, "__init__.py")):
            rel = loc.package + "/__init__.py"   # a package: promptflow's import_module finds it too
        if outside_repository(os.path.join(fdir, rel), fdir):   # a symlinked `code` folder or module
            raise RunError(f"entry module '{rel}' is outside the repository (pfgit does not read it)",
                           file=flow.file, line=flow.line(("entry",)))
        self.root = os.path.normpath(os.path.join(fdir, loc.root))
        self.modules = FlowModules(fdir, [(None, rel)], get_connection, import_root=self.root)
        if self.modules.executor_only:
            from .plan import executor_only_error

            raise executor_only_error(self.modules.executor_only, flow, fdir)
        try:
            mod = self.modules.load(rel)
        except ToolLoadError as e:
            self.modules.close()
            raise RunError(str(e), file=os.path.join(os.path.dirname(flow.file), e.file or rel), line=e.line) from None
        target = getattr(mod, attr, None)
        if target is None:
            self.modules.close()
            raise RunError(f"entry '{entry}': '{attr}' not found in {rel}", file=flow.file)
        self.instance = None
        if inspect.isclass(target):
            sample = flow.data.get("sample") if isinstance(flow.data.get("sample"), dict) else {}
            declared = flow.data.get("init")
            # YAML init defaults, then the given init (else the sample's), as promptflow
            kwargs = {k: d["default"] for k, d in (declared or {}).items()
                      if isinstance(d, dict) and d.get("default") not in (None, "")} if isinstance(declared, dict) else {}
            kwargs.update(init if init is not None else (sample.get("init") or {}))
            if isinstance(declared, dict) and init is not None:
                params = [p for p in list(inspect.signature(target.__init__).parameters)[1:]]
                if set(declared) != set(params):
                    self.modules.close()
                    raise RunError("Provided signature of init does not match the entry", file=flow.file)
            kwargs = _resolve_init(target, kwargs, self.modules.connection, self.modules.real, entry, flow.file)
            try:
                self.instance = target(**kwargs)
            except Exception as e:
                self.modules.close()
                raise RunError(f"entry '{entry}': __init__ failed: ({type(e).__name__}) {e}", file=flow.file) from None
            self.func = self.instance.__call__ if hasattr(target, "__call__") else None
            if self.func is None:
                raise RunError(f"class entry '{entry}' has no __call__", file=flow.file)
        else:
            self.func = target
        self.name = getattr(target, "__name__", attr)
        self.params = {k: p for k, p in inspect.signature(self.func).parameters.items()
                       if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}

    def input_defs(self) -> dict:
        declared = self.flow.data.get("inputs")
        if isinstance(declared, dict) and declared:
            return {k: (v if isinstance(v, dict) else {}) for k, v in declared.items()}
        out = {}
        for k, p in self.params.items():
            d = {"type": annotation_type(p.annotation, p.default)}
            if p.default is not inspect.Parameter.empty:
                d["default"] = p.default
            out[k] = d
        return out

    def sample_inputs(self) -> dict:
        s = self.flow.data.get("sample")
        return dict(s.get("inputs") or {}) if isinstance(s, dict) else {}

    def flow_env(self) -> dict:
        env = self.flow.data.get("environment_variables")
        return env if isinstance(env, dict) else {}

    def cwd(self) -> str:
        return self.root        # promptflow runs a flex flow in its `code` folder

    def keeps_for_aggregation(self) -> bool:
        return self.instance is not None and hasattr(self.instance, "__aggregate__")

    def connection_names(self) -> dict:
        return {}

    def secret_values(self) -> list:
        from ..connections import secret_values_of

        return [v for c in self.modules.used_connections for v in secret_values_of(c)]

    def connections_looked_up(self) -> list:
        return list(self.modules.used_names)

    def adopt_connections(self, names) -> None:
        self.modules.adopt(names)

    def close(self) -> None:
        self.modules.close()

    def run_line(self, raw: dict, line_number, keep_node_runs: bool = False) -> LineResult:
        res = LineResult(line_number, raw)
        kwargs = {}
        declared = self.flow.data.get("inputs") if isinstance(self.flow.data.get("inputs"), dict) else {}
        for k, p in self.params.items():
            d = declared.get(k) if isinstance(declared.get(k), dict) else {}
            if k in raw:
                v = raw[k]
            elif d.get("default") not in (None, ""):   # the YAML default wins over the code's ('' = none)
                v = d["default"]
            elif p.default is inspect.Parameter.empty:
                res.error = input_not_found(k)   # no line: as promptflow's ScriptExecutor
                return res
            else:
                continue
            # a type declared in the YAML is the one promptflow checks, defaults included
            t = d.get("type") or annotation_type(p.annotation, p.default)
            try:
                kwargs[k] = parse_value(v, t)
            except ConvertError:
                res.error = input_type_error(k, v, t)
                return res
        try:
            out = _drain(self.func(**kwargs))
            if inspect.isawaitable(out):
                import asyncio

                async def _aw(x):
                    return await x
                out = asyncio.run(_aw(out))
        except Exception as e:
            res.error = LineError(f"Execution failure in '{self.name}': ({type(e).__name__}) {e}",
                                  type(e).__name__, self.name)
            return res
        if isinstance(out, dict):        # generator values are joined, as promptflow does
            outputs = {k: _drain(v) for k, v in out.items()}
        elif dataclasses.is_dataclass(out) and not isinstance(out, type):
            outputs = {f.name: _drain(getattr(out, f.name)) for f in dataclasses.fields(out)}
        else:
            outputs = {"output": out}
        for k, v in outputs.items():
            err = output_unserializable(k, v)
            if err is not None:
                res.error = err
                return res
        res.outputs = outputs
        res.node_outputs = {"__outputs__": outputs}
        return res

    def run_aggregation(self, lines):
        if not self.keeps_for_aggregation():
            return {}, None
        outs = [_AttrDict(ln.node_outputs.get("__outputs__") or {}) for ln in lines]
        try:
            result = self.instance.__aggregate__(outs)
        except Exception as e:
            return {}, LineError(f"__aggregate__ failed: ({type(e).__name__}) {e}", type(e).__name__, "__aggregate__")
        return (dict(result) if isinstance(result, dict) else {}), None


# model configuration class -> (its model field, the connection type its from_connection reads)
_MODEL_CONFIGS = {"AzureOpenAIModelConfiguration": ("azure_deployment", "azure_open_ai"),
                  "OpenAIModelConfiguration": ("model", "open_ai")}


def _annotation(cls, ann):
    if isinstance(ann, str):   # `from __future__ import annotations`: the name, in the class's module
        ann = getattr(cls.__init__, "__globals__", {}).get(ann)
    return ann if isinstance(ann, type) else None


def _resolve_init(cls, kwargs: dict, lookup, real: bool, entry: str, ffile: str) -> dict:
    """promptflow's `_resolve_init_kwargs`: a model configuration given as a dict becomes the
    parameter's class; one naming a connection is rebuilt from that connection (`from_connection`:
    endpoint and key set, `connection` None); a connection parameter given by name becomes the
    connection object. A name pfgit's store lacks is left to promptflow's own store when the real
    package runs the flow, and fails the run otherwise."""
    from ..compat import CONNECTION_CLASSES, make_connection

    try:
        params = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return kwargs
    out = dict(kwargs)
    for key, p in params.items():
        ann = _annotation(cls, p.annotation)
        if key not in out or ann is None:
            continue
        val = out[key]
        try:
            if ann.__name__ in _MODEL_CONFIGS:
                if isinstance(val, dict):
                    val = ann(**val)
                name = getattr(val, "connection", None)
                if name:   # the real class or the compatibility layer's, which has the same from_connection
                    field, wanted = _MODEL_CONFIGS[ann.__name__]
                    record = lookup(str(name))
                    conn = make_connection(record, None, real=real)
                    try:
                        if str(record.get("type") or "custom") not in (wanted, "custom"):
                            raise AttributeError  # promptflow's from_connection fails on the fields
                        val = ann.from_connection(connection=conn, **{field: getattr(val, field)})
                    except AttributeError:  # e.g. an open_ai connection for an Azure configuration
                        raise RunError(f"entry '{entry}': init '{key}': connection '{name}' is of type "
                                       f"{type(conn).__name__}: {ann.__name__} cannot use it",
                                       file=ffile) from None
            elif ann.__name__ in CONNECTION_CLASSES and isinstance(val, str):
                val = make_connection(lookup(val), ann.__name__, real=real)
        except KeyError as e:
            if real:           # promptflow's own store may know it (connections_bridge)
                out[key] = val
                continue
            raise RunError(f"entry '{entry}': init '{key}': connection {e} is not found (pfgit connection list)",
                           file=ffile) from None
        except TypeError as e:
            raise RunError(f"entry '{entry}': init '{key}': {e}", file=ffile) from None
        out[key] = val
    return out
