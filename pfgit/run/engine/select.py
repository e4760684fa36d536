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


def choose(spec, get_connection, inputs: dict | None = None):
    """(engine name, built-in engine or None). Raises RunError when nothing can run the flow.
    `inputs`: the one line `pfgit test` runs (else the run's data file is looked at)."""
    if spec.engine == "promptflow":
        if not promptflow_installed():
            raise RunError(f"--engine promptflow: promptflow is not installed ({INSTALL_HINT})")
        return "promptflow", None
    try:
        engine = open_builtin(spec, get_connection)
        if spec.engine == "auto" and _images_in_inputs(engine, spec, inputs):
            engine.close()   # first: an open engine's compatibility layer hides the installed package
            if promptflow_installed():
                return "promptflow", None
            engine = open_builtin(spec, get_connection)   # its lines with images fail, saying why
        return "builtin", engine
    except NeedsPromptflow as e:
        if spec.engine == "builtin":
            raise RunError(f"{e.message} (--engine builtin cannot run it; use --engine promptflow)",
                           file=e.file, line=e.line) from None
        if promptflow_installed():
            return "promptflow", None
        raise RunError(f"{e.message}; promptflow is not installed: {INSTALL_HINT}",
                       file=e.file, line=e.line) from None


def _images_in_inputs(engine, spec, inputs) -> bool:
    """Does a DAG flow get images inside its list/object inputs (pfgit.run.multimedia)?"""
    from ..multimedia import data_may_hold_images, image_inputs

    plan = getattr(engine, "plan", None)
    if plan is None or not any(isinstance(d, dict) and d.get("type") in ("list", "object")
                               for d in plan.inputs.values()):
        return False
    if inputs is not None:
        from ..convert import ConvertError, parse_value

        converted = {}
        for k, v in inputs.items():
            try:
                converted[k] = parse_value(v, plan.inputs[k].get("type", "object")) if k in plan.inputs else v
            except (ConvertError, AttributeError):
                converted[k] = v
        return bool(image_inputs(plan.inputs, converted))
    return bool(spec.data) and data_may_hold_images(spec.data)
