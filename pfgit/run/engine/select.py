"""Which engine runs a flow. `builtin`: pfgit's own (DAG, flex, prompty); `promptflow`: the
installed promptflow (pfgit.run.engine.promptflow); `auto`: built-in when it can run every node,
else promptflow, else an error naming the node, the tool and how to install promptflow."""

from __future__ import annotations

import importlib.util

from ..errors import RunError
from .plan import NeedsPromptflow, build_plan, load

INSTALL_HINT = "pip install promptflow promptflow-tools"


def promptflow_installed() -> bool:
    # find_spec("promptflow.client") would import promptflow itself (seconds, and it starts
    # telemetry threads in this process): look for the files instead
    spec = importlib.util.find_spec("promptflow")
    if spec is None:
        return False
    import os

    return any(os.path.exists(os.path.join(p, "client")) for p in spec.submodule_search_locations or [])


def open_builtin(spec, get_connection):
    """A built-in engine for the spec's flow (DagEngine, FlexEngine or PromptyEngine)."""
    flow, fdir, ffile = load(spec.flow)
    if flow.kind == "dag":
        from .dag import DagEngine

        plan = build_plan(spec.flow, spec.variant, spec.connections, get_connection)
        return DagEngine(plan, spec.name, llm_cache(spec), get_connection)
    if spec.variant:
        raise RunError(f"--variant applies to DAG flows; {flow.file} is a {flow.kind} flow")
    if flow.kind == "flex":
        from .flex import FlexEngine

        return FlexEngine(flow, fdir, ffile, spec.init, get_connection)
    from .prompty import PromptyEngine

    return PromptyEngine(fdir, ffile, spec.name, llm_cache(spec), get_connection)


def llm_cache(spec):
    """The record/replay cache of --llm-cache/--llm-mode (None without --llm-cache)."""
    if not spec.llm_cache:
        return None
    from ..llm import LLMCache

    try:
        return LLMCache(spec.llm_cache, spec.llm_mode or "auto")
    except ValueError as e:
        raise RunError(str(e)) from None


def choose(spec, get_connection):
    """(engine name, built-in engine or None). Raises RunError when nothing can run the flow."""
    if spec.engine == "promptflow":
        if not promptflow_installed():
            raise RunError(f"--engine promptflow: promptflow is not installed ({INSTALL_HINT})")
        return "promptflow", None
    try:
        return "builtin", open_builtin(spec, get_connection)
    except NeedsPromptflow as e:
        if spec.engine == "builtin":
            raise RunError(f"{e.message} (--engine builtin cannot run it; use --engine promptflow)",
                           file=e.file, line=e.line) from None
        if promptflow_installed():
            return "promptflow", None
        raise RunError(f"{e.message}; promptflow is not installed: {INSTALL_HINT}",
                       file=e.file, line=e.line) from None
