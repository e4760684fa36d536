"""Python tools: loaded from a flow's files in a namespace of their own, called with promptflow's
binding rules (promptflow-runner.md §1.3, §5).

A flow's modules are imported under private names (`pfgit_flow_<hash>.<stem>`), with the flow folder
on sys.path so tools can import their sibling helpers; no bytecode is written (the flow folder stays
as it was: no __pycache__). Helper modules a flow imported are dropped from sys.modules afterwards,
so two flows with a `utils.py` each never see each other's. `import promptflow...` gets pfgit's
compatibility layer or the installed package, decided once per flow (pfimports.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import inspect
import os
import sys
import threading

from ..convert import ConvertError, annotation_type, connection_class_names, parse_value
from .. import compat, pfimports


class ToolLoadError(Exception):
    """A tool that cannot be loaded; `.file`/`.line` when known (syntax errors)."""

    def __init__(self, message, file=None, line=None):
        super().__init__(message)
        self.file, self.line = file, line


_import_lock = threading.RLock()


class FlowModules:
    """Imports the python files of one flow folder; `close()` forgets them. `sources`
    ([(node or None, path)]) are the files the flow runs, scanned for their promptflow imports
    (RunError when they need promptflow and it is not installed)."""

    def __init__(self, flow_dir: str, sources: list | None = None, get_connection=None,
                 import_root: str | None = None):
        self.flow_dir = os.path.abspath(flow_dir)
        # what goes first on sys.path: the flow folder, or a flex flow's `code` folder in it
        self.import_root = os.path.abspath(import_root or flow_dir)
        self.get_connection = get_connection   # pfgit's connections, also for the real package's lookups
        self.used_connections: list = []       # those the real package looked up: their secrets are masked
        self.used_names: list = []             # their names, which worker processes report to the parent
        self._unbridge = None
        root = os.path.relpath(self.import_root, self.flow_dir)
        found = pfimports.scan_sources(self.flow_dir, sources or [], "" if root == "." else root)
        self.executor_only = pfimports.executor_only(found)   # (import, kind): the promptflow engine's
        self.real = pfimports.use_real(self.flow_dir, sources or [], found)
        self.package = "pfgit_flow_" + hashlib.sha1(self.flow_dir.encode()).hexdigest()[:12]
        self.modules: dict = {}
        self._before: set = set()
        self._opened = False

    def open(self) -> None:
        if self._opened:
            return
        self._opened = True
        self._bytecode = sys.dont_write_bytecode
        sys.dont_write_bytecode = True      # never a __pycache__ in the user's flow folder
        if self.real:
            from ..connections_bridge import bridge_promptflow

            os.environ.setdefault("PF_DISABLE_TELEMETRY", "true")   # importing promptflow may start it
            self._hidden = None
            self._unbridge = bridge_promptflow(self.connection if self.get_connection else None)
        else:
            self._hidden = compat.install()
        self._before = set(sys.modules)
        if self.import_root not in sys.path:
            sys.path.insert(0, self.import_root)

    def connection(self, name: str):
        """Connection `name` from pfgit's store (KeyError when unknown or there is no store),
        remembered in `used_connections` so its secrets are masked in the run's snapshot."""
        if self.get_connection is None:
            raise KeyError(name)
        conn = self.get_connection(name)
        if name not in self.used_names:     # once per name, not once per line that looks it up
            self.used_names.append(name)
            self.used_connections.append(conn)
        return conn

    def adopt(self, names) -> None:
        """Take connections looked up elsewhere (a run's worker processes, an interrupted start
        of a resumed run) as used here, so their secrets are masked too; unknown names are
        skipped (they held nothing of pfgit's)."""
        for name in names or ():
            try:
                self.connection(str(name))
            except KeyError:
                pass

    def close(self) -> None:
        if not self._opened:
            return
        self._opened = False
        try:
            sys.path.remove(self.import_root)
        except ValueError:
            pass
        for name in list(sys.modules):
            if name in self._before:
                continue
            mod = sys.modules.get(name)
            f = getattr(mod, "__file__", None) or ""
            if name.startswith(self.package) or (f and os.path.abspath(f).startswith(self.flow_dir + os.sep)):
                del sys.modules[name]
        if self._hidden is not None:
            compat.uninstall(self._hidden)
        if self._unbridge is not None:
            self._unbridge()
            self._unbridge = None
        sys.dont_write_bytecode = self._bytecode

    def load(self, rel_path: str):
        """The module at `rel_path` (a .py file inside the flow, or reached by additional_includes)."""
        path = os.path.normpath(os.path.join(self.flow_dir, rel_path))
        with _import_lock:
            if path in self.modules:
                return self.modules[path]
            self.open()
            stem = os.path.splitext(os.path.basename(path))[0]
            name = f"{self.package}.{''.join(c if c.isalnum() else '_' for c in stem)}_{len(self.modules)}"
            if not os.path.isfile(path):
                raise ToolLoadError(f"tool file '{rel_path}' can not be found", file=rel_path)
            try:
                with open(path, "rb") as f:
                    src = f.read()
                code = compile(src, path, "exec", dont_inherit=True)
            except SyntaxError as e:
                raise ToolLoadError(f"syntax error in tool file: {e.msg}", file=rel_path, line=e.lineno) from None
            spec = importlib.util.spec_from_file_location(name, path)
            mod = importlib.util.module_from_spec(spec)
            # promptflow loads every tool file as `__pf_main__` (not registered in sys.modules);
            # the private name stays the sys.modules key, so flows never share a module
            mod.__name__ = "__pf_main__"
            sys.modules[name] = mod
            try:
                exec(code, mod.__dict__)
            except ImportError as e:
                del sys.modules[name]
                missing = getattr(e, "name", None) or ""
                err = ToolLoadError(f"cannot import: {e}", file=rel_path)
                err.import_name = missing
                raise err from None
            except Exception as e:
                del sys.modules[name]
                raise ToolLoadError(f"loading failed: ({type(e).__name__}) {e}", file=rel_path) from None
            self.modules[path] = mod
            return mod


class PythonTool:
    """One @tool callable with its parameter types; class tools keep one instance per run."""

    def __init__(self, func, owner_class=None, file: str = ""):
        self.func = func
        self.owner_class = owner_class
        self.file = file
        self.name = getattr(func, "__name__", "tool")
        target = inspect.unwrap(func)
        self.signature = inspect.signature(target)
        self.params = dict(self.signature.parameters)
        if owner_class is not None:
            self.params.pop(next(iter(self.params)), None)  # self
        self.var_kw = any(p.kind == p.VAR_KEYWORD for p in self.params.values())
        self.is_async = inspect.iscoroutinefunction(target)
        self.init_params = {}
        if owner_class is not None:
            init_sig = inspect.signature(owner_class.__init__)
            self.init_params = {k: p for i, (k, p) in enumerate(init_sig.parameters.items())
                                if i > 0 and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
        self._instance = None
        self._lock = threading.Lock()

    def param_type(self, name: str, params: dict | None = None) -> str | None:
        p = (params or self.params).get(name)
        if p is None or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            return None      # absorbed by **kwargs: passed raw
        return annotation_type(p.annotation, p.default)

    def connection_classes(self, name: str, params: dict | None = None) -> list:
        p = (params or self.params).get(name)
        return connection_class_names(p.annotation) if p is not None else []

    def has_default(self, name: str) -> bool:
        p = self.params.get(name)
        return p is not None and p.default is not inspect.Parameter.empty

    def convert_literals(self, literals: dict, connections) -> dict:
        """Literal node inputs converted by the declared parameter type (§1.3); '' / null dropped.
        Raises ConvertError naming the input."""
        out = {}
        for k, v in literals.items():
            if v is None or v == "":
                continue
            params = self.init_params if k in self.init_params else self.params
            conn_classes = self.connection_classes(k, params)
            if conn_classes:
                out[k] = connections(str(v), conn_classes)   # the stored type picks among them
                continue
            t = self.param_type(k, params)
            if t is None:
                out[k] = v
                continue
            try:
                out[k] = parse_value(v, t)
            except ConvertError as e:
                raise ConvertError(f"input '{k}' ({v!r}) is not a valid {t}: {e}") from None
        return out

    def instance(self, init_kwargs: dict):
        with self._lock:
            if self._instance is None:
                self._instance = self.owner_class(**init_kwargs)
            return self._instance

    def call(self, kwargs: dict, init_kwargs: dict | None = None):
        if self.owner_class is not None:
            fn = getattr(self.instance(init_kwargs or {}), self.func.__name__)
        else:
            fn = self.func
        result = fn(**kwargs)
        if inspect.isawaitable(result):
            result = asyncio.run(_await(result))
        return result


async def _await(x):
    return await x


def find_tool(module, rel_path: str) -> PythonTool:
    """The module's one @tool function or @tool method of a ToolProvider subclass (§5)."""
    funcs, methods = [], []
    for obj in list(vars(module).values()):
        if inspect.isclass(obj) and obj.__module__ == module.__name__:
            for attr, member in vars(obj).items():
                if callable(member) and compat.is_tool(member):
                    methods.append((obj, member))
        elif callable(obj) and compat.is_tool(obj) and getattr(inspect.unwrap(obj), "__module__", None) == module.__name__:
            funcs.append(obj)
    found = len(funcs) + len(methods)
    if found != 1:
        raise ToolLoadError(f"expected 1 @tool function in the file, found {found}", file=rel_path)
    if funcs:
        return PythonTool(funcs[0], file=rel_path)
    cls, m = methods[0]
    return PythonTool(m, owner_class=cls, file=rel_path)
