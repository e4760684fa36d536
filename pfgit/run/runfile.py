"""`pfgit run --file run.yml`: promptflow's run file (promptflow-format.md §3.1) -> RunSpec.

Relative paths (flow, data, a .env file, an init file) resolve against the run file's folder and
must stay inside the repository holding it: a run file is repository content (a pull request's,
in CI), and `data: /etc/hostname` would be read into the run's snapshot and pushed with it (the
same path given on the command line, `--data`, is the user's choice and stays allowed). Cloud-only keys
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


def load_run_file(path: str, given: tuple = ()) -> tuple[RunSpec, list]:
    """(spec, notes). Raises RunError with file and line on bad YAML, ill-typed keys or a path
    outside the repository. The path-valued keys in `given` (set on the command line instead) are
    neither checked nor read."""
    from ..flow import yamlpos
    from ..flow.readers import outside_repository

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

    def rel(p, key):
        line = doc.line((key,))
        if not isinstance(p, str):
            raise RunError(f"'{key}': expected a path, got {p!r}", file=path, line=line)
        if p.startswith("azureml:"):
            raise RunError(f"remote assets ({p}) need Azure; pfgit runs local flows and data", file=path,
                           line=line)
        full = p if os.path.isabs(p) else os.path.normpath(os.path.join(base, p))
        if outside_repository(full, base):
            raise RunError(f"'{key}' names '{p}', outside the repository (give it on the command "
                           "line to use it)", file=path, line=line)
        return full

    def mapping(key):
        v = data.get(key)
        if v is None:
            return {}
        if not isinstance(v, dict):
            raise RunError(f"'{key}' must be a mapping", file=path, line=doc.line((key,)))
        return dict(v)

    if "flow" not in data and "flow" not in given:
        raise RunError("'flow' is required", file=path)
    env = data.get("environment_variables")
    if "environment_variables" in given:
        env = None
    if isinstance(env, str):
        env = rel(env, "environment_variables")
    elif env is None:
        env = {}
    elif not isinstance(env, dict):
        raise RunError("'environment_variables' must be a mapping or a .env path", file=path,
                       line=doc.line(("environment_variables",)))
    init = data.get("init") if "init" not in given else None
    if isinstance(init, str):
        from .testline import read_inputs_file

        init = read_inputs_file(rel(init, "init"))
    spec = RunSpec(flow=rel(data["flow"], "flow") if "flow" not in given else "",
                   data=rel(data["data"], "data") if data.get("data") and "data" not in given else None,
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


_SET_FIELDS = {"display_name": 1, "description": 1, "variant": 1, "tags": 2, "properties": 2,
               "column_mapping": 2, "environment_variables": 2, "connections": 3}


def apply_set(spec: RunSpec, items) -> tuple[RunSpec, list]:
    """pf's `--set KEY=VALUE` on `pf run create`: a run field by its path in the run file
    (`tags.team=qa`, `connections.chat.deployment_name=gpt-4o`), applied after the other
    options. Cloud-only fields are noted and ignored; anything else is refused (exit 2)."""
    from dataclasses import replace

    over: dict = {}
    notes: list = []
    for it in items or []:
        if "=" not in it:
            raise RunError(f"--set must be KEY=VALUE, got '{it}'")
        key, value = it.split("=", 1)
        path = key.strip().split(".")
        top = path[0]
        if top in CLOUD_ONLY:
            notes.append(f"--set {key.strip()}: '{top}' is cloud-only: ignored by local runs")
            continue
        if _SET_FIELDS.get(top) != len(path) or not all(path):
            fields = "display_name, description, variant, tags.K, properties.K, column_mapping.K, " \
                     "environment_variables.K, connections.NODE.FIELD"
            raise RunError(f"--set {key.strip()}: not a run field pfgit sets ({fields})")
        if len(path) == 1:
            over[top] = value
            continue
        cur = over.get(top)
        if cur is None:
            cur = getattr(spec, top)
            if top == "environment_variables" and isinstance(cur, str):
                from .environ import read_dotenv

                cur = read_dotenv(cur)
            cur = {k: (dict(v) if isinstance(v, dict) else v) for k, v in (cur or {}).items()}
            over[top] = cur
        if len(path) == 3:
            node = cur.get(path[1])
            cur[path[1]] = node = dict(node) if isinstance(node, dict) else {}
            node[path[2]] = value
        else:
            cur[path[1]] = value
    return replace(spec, **over), notes
