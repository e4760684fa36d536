"""Which `promptflow` a flow's python tools import: pfgit's compatibility layer (compat.py) or the
installed package. Decided once per flow, before any of its modules is imported, so one run never
mixes the layer's classes with the real ones.

PFGIT_PROMPTFLOW_IMPORTS=auto (default): the layer when every `promptflow` import in the python
files the flow runs (each node's source and the flow's own modules it imports, followed
transitively; an `if __name__ == "__main__":` block excluded, it never runs as a tool) names
something the layer provides with the real package's name; else the installed package, and
without it a run error naming the node, the file, the module and `pip install promptflow`.
Already imported in this process, the real package costs nothing and is used.
`real` always uses the installed package (an error without it), `compat` always the layer.
"""

from __future__ import annotations

import ast
import os
import sys
from dataclasses import dataclass

from .errors import RunError

MODE_ENV = "PFGIT_PROMPTFLOW_IMPORTS"
MODES = ("auto", "real", "compat")
INSTALL_HINT = "pip install promptflow"


@dataclass(frozen=True)
class Uncovered:
    """A `promptflow` import the compatibility layer does not provide."""
    node: str | None
    file: str           # relative to the flow folder
    line: int
    name: str           # the module (or module.name) imported

    def describe(self) -> str:
        return (f"node '{self.node}' imports " if self.node else "imports ") + self.name


def mode() -> str:
    m = (os.environ.get(MODE_ENV) or "auto").strip().lower()
    if m not in MODES:
        raise RunError(f"{MODE_ENV}={m!r}: use one of {', '.join(MODES)}")
    return m


def real_loaded() -> bool:
    mod = sys.modules.get("promptflow")
    return mod is not None and not getattr(mod, "__pfgit_compat__", False)


def _covered(dotted: str) -> bool:
    """`promptflow.x.y` (a module, or a name in one) is provided by the layer."""
    from .compat import MODULES

    if dotted in MODULES:
        return True
    mod, _, name = dotted.rpartition(".")
    return mod in MODULES and name in MODULES[mod]


def _is_main_guard(node) -> bool:
    t = node.test if isinstance(node, ast.If) else None
    return (isinstance(t, ast.Compare) and isinstance(t.left, ast.Name) and t.left.id == "__name__"
            and len(t.comparators) == 1 and isinstance(t.comparators[0], ast.Constant)
            and t.comparators[0].value == "__main__")


def _dotted(node) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def scan_module(tree: ast.Module) -> tuple[list, list]:
    """([(line, dotted name)] of uncovered promptflow imports, [other imported module names])."""
    body = [n for n in tree.body if not _is_main_guard(n)]
    nodes = [x for n in body for x in ast.walk(n)]
    bound: dict = {}          # local name -> promptflow module it is bound to by `import`
    bad, others = [], []
    for n in nodes:
        if isinstance(n, ast.Import):
            for a in n.names:
                if a.name.split(".")[0] != "promptflow":
                    others.append(a.name)
                    continue
                if not _covered(a.name):
                    bad.append((n.lineno, a.name))
                bound[a.asname or "promptflow"] = a.name if a.asname else "promptflow"
        elif isinstance(n, ast.ImportFrom):
            if n.level or not n.module:
                others.append("." * n.level + (n.module or ""))
                continue
            if n.module.split(".")[0] != "promptflow":
                others.append(n.module)
                continue
            for a in n.names:
                full = n.module + "." + a.name
                if a.name == "*" or not _covered(full):
                    bad.append((n.lineno, n.module if a.name == "*" or n.module not in _modules() else full))
    if bound:   # attribute use of an imported promptflow module: `promptflow.tools.common.x`
        for n in nodes:
            d = _dotted(n) if isinstance(n, ast.Attribute) and not isinstance(getattr(n, "ctx", None), ast.Store) else None
            head = d.split(".")[0] if d else None
            if head in bound:
                full = bound[head] + d[len(head):]
                parts = full.split(".")
                # the longest prefix that is a module of the layer, then one name in it
                for i in range(len(parts) - 1, 0, -1):
                    prefix = ".".join(parts[:i])
                    if prefix in _modules():
                        nxt = prefix + "." + parts[i]
                        if not _covered(nxt):
                            bad.append((n.lineno, nxt))
                        break
    return list(dict.fromkeys(bad)), others


def _modules():
    from .compat import MODULES

    return MODULES


def _local_file(flow_dir: str, from_file: str, module: str, root: str = "") -> str | None:
    """The flow's own python file a module name refers to (relative to flow_dir), if any; `root`:
    the import root inside the flow (a flex flow's `code` folder)."""
    if module.startswith("."):
        level = len(module) - len(module.lstrip("."))
        base = os.path.dirname(from_file)
        for _ in range(level - 1):
            base = os.path.dirname(base)
        rest = module.lstrip(".")
        cands = [os.path.join(base, *rest.split("."))] if rest else []
    else:
        parts = module.split(".")
        cands = [os.path.join(*parts), os.path.join(os.path.dirname(from_file), *parts)]
        if root:
            cands.append(os.path.join(root, *parts))
    for c in cands:
        for f in (c + ".py", os.path.join(c, "__init__.py")):
            if os.path.isfile(os.path.join(flow_dir, f)):
                return os.path.normpath(f)
    return None


def scan_sources(flow_dir: str, sources: list, root: str = "") -> list:
    """Uncovered imports of the python files `sources` ([(node or None, path relative to
    flow_dir)]) and of the flow's modules they import (found beside the importer, at the flow's
    top, or under `root`, relative to flow_dir). Unreadable or unparsable files are skipped
    (loading the tool reports them)."""
    from ..validate.signatures import parse_module

    todo = [(node, os.path.normpath(rel)) for node, rel in sources if rel]
    done: set = set()
    out = []
    while todo:
        node, rel = todo.pop(0)
        if rel in done:
            continue
        done.add(rel)
        try:
            with open(os.path.join(flow_dir, rel), "rb") as f:
                tree = parse_module(f.read(), rel)
        except (OSError, ValueError):   # ValueError: a NUL in the flow's source path
            continue
        if tree is None:
            continue
        bad, others = scan_module(tree)
        out += [Uncovered(node, rel, line, name) for line, name in bad]
        for m in others:
            local = _local_file(flow_dir, rel, m, root)
            if local is not None and local not in done:
                todo.append((node, local))
    return out


# What only promptflow's executor fills in, so no import of the real package gives it: inside a
# line `OperationContext.get_instance()` holds `flow_id`, `root_run_id`, `run_mode`, the user
# agent and tracing keys (executor/flow_executor.py::_update_operation_context; promptflow's own
# eager_flows/flow_with_operation_context asserts them), and `FlowExecutionContext.active_instance()`
# the running flow. A flow importing them runs on the promptflow engine (engine/select.py).
EXECUTOR_ONLY = {"promptflow._core.operation_context": "OperationContext",
                 "promptflow.tracing._operation_context": "OperationContext",
                 "promptflow._core.flow_execution_context": "FlowExecutionContext"}


def executor_only(found: list) -> tuple | None:
    """(Uncovered import, what it is) of the first import in `found` (scan_sources) that only
    promptflow's executor serves, else None."""
    for u in found:
        for prefix, kind in EXECUTOR_ONLY.items():
            if u.name == prefix or u.name.startswith(prefix + "."):
                return u, kind
    return None


def use_real(flow_dir: str, sources: list, found: list | None = None) -> bool:
    """True when the flow's tools must import the installed promptflow (see the module doc).
    Raises RunError when they need it and it is not installed, or the mode is unknown.
    `found`: the scan_sources result when the caller has it already."""
    from .engine.select import promptflow_installed

    m = mode()
    if m == "compat":
        return False
    if m == "real":
        if not promptflow_installed():
            raise RunError(f"{MODE_ENV}=real but promptflow is not installed ({INSTALL_HINT})")
        return True
    if real_loaded():
        return True
    missing = scan_sources(flow_dir, sources) if found is None else found
    if not missing:
        return False
    if promptflow_installed():
        return True
    first = missing[0]
    more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
    path = os.path.join(flow_dir, first.file)
    shown = os.path.relpath(path) if not os.path.relpath(path).startswith("..") else path
    raise RunError(f"{first.describe()}{more}, which pfgit's promptflow compatibility layer does not "
                   f"provide; promptflow is not installed: {INSTALL_HINT}", file=shown, line=first.line)
