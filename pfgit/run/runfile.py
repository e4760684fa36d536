"""`pfgit run --file run.yml`: promptflow's run file (promptflow-format.md §3.1) -> RunSpec.

Relative paths (flow, data, a .env file) resolve against the run file's folder. Cloud-only keys
(`resources`, `identity`, `runtime`) are accepted and listed in RunSpec.ignored; unknown keys are
reported too (promptflow logs a warning for them)."""

from __future__ import annotations

import os

from .errors import RunError
from .spec import RunSpec

KEYS = {"$schema", "flow", "data", "run", "column_mapping", "variant", "connections",
        "environment_variables", "name", "display_name", "description", "tags", "properties", "init",
        "resources", "identity", "runtime"}
CLOUD_ONLY = ("resources", "identity", "runtime")


def load_run_file(path: str) -> tuple[RunSpec, list]:
    """(spec, notes). Raises RunError with file and line on bad YAML or ill-typed keys."""
    from ..flow import yamlpos

    try:
        with open(path, "rb") as f:
            doc = yamlpos.parse(f.read())
    except OSError as e:
        raise RunError(e.strerror or str(e), file=path) from None
    except yamlpos.YamlError as e:
        raise RunError(e.message, file=path, line=e.line) from None
    data = doc.data
    if not isinstance(data, dict):
        raise RunError("a run file must be a YAML mapping", file=path)
    base = os.path.dirname(os.path.abspath(path))

    def rel(p):
        if not isinstance(p, str):
            raise RunError(f"expected a path, got {p!r}", file=path)
        if p.startswith("azureml:"):
            raise RunError(f"remote assets ({p}) need Azure; pfgit runs local flows and data", file=path)
        return p if os.path.isabs(p) else os.path.normpath(os.path.join(base, p))

    def mapping(key):
        v = data.get(key)
        if v is None:
            return {}
        if not isinstance(v, dict):
            raise RunError(f"'{key}' must be a mapping", file=path, line=doc.line((key,)))
        return dict(v)

    if "flow" not in data:
        raise RunError("'flow' is required", file=path)
    env = data.get("environment_variables")
    if isinstance(env, str):
        env = rel(env)
    elif env is None:
        env = {}
    elif not isinstance(env, dict):
        raise RunError("'environment_variables' must be a mapping or a .env path", file=path,
                       line=doc.line(("environment_variables",)))
    init = data.get("init")
    if isinstance(init, str):
        from .testline import read_inputs_file

        init = read_inputs_file(rel(init))
    spec = RunSpec(flow=rel(data["flow"]), data=rel(data["data"]) if data.get("data") else None,
                   column_mapping=mapping("column_mapping"), run=data.get("run"),
                   variant=data.get("variant"), connections=mapping("connections"),
                   environment_variables=env, name=data.get("name"), display_name=data.get("display_name"),
                   description=data.get("description"), tags=mapping("tags"), properties=mapping("properties"),
                   init=init if isinstance(init, dict) else None, run_file=path)
    notes = []
    for k in CLOUD_ONLY:
        if k in data:
            spec.ignored.append(k)
            notes.append(f"{path}: '{k}' is cloud-only: ignored by local runs")
    unknown = sorted(k for k in data if k not in KEYS)
    if unknown:
        notes.append(f"{path}: unknown keys ignored: {', '.join(unknown)}")
    return spec, notes
