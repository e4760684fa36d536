"""`pfgit run --resume-from NAME`: promptflow's `pf run create --resume-from` over a recorded run.

A NEW run with the recorded run's settings (flow as it ran, data, column mapping, variant,
connections, environment variables, init, display name, description, tags; `--name`,
`--display-name`, `--description` and `--tags` may override the last four): the lines that
succeeded in NAME are copied into the new run (outputs, inputs and what aggregation nodes read),
the failed or missing ones run, and aggregation runs over all lines, as promptflow's
`BatchEngine._copy_previous_run_result` does. Through the active-run machinery of `--resume`
(runstate.py): the copied lines are written into the new run's active folder before any line
runs, so the run skips them like lines done before an interrupt.

What the recorded run must hold, else one line and exit 2 (never a guess):
- its flow commit (an unlinked import has none) — the flow runs from that tree: the worktree's
  folder when it is the same tree, else a temporary checkout of the commit;
- its data file, unchanged (sha256 as recorded; a folder has no checksum and is refused);
- its base run (evaluation runs), the same snapshot as recorded;
- its request (`settings.request`, recorded since this feature): connection overrides and init
  values — unless its flow needs none (a DAG flow without LLM nodes whose run used no
  connection: an import or an older pfgit's run of such a flow resumes); the values of its environment variables (never in a snapshot) come from
  `.git/pfgit/run-env/` of the clone that made the run, except secret-named ones (never kept):
  those, and all of a run made elsewhere, are given again with `--environment-variables K=V`
  (only those are accepted).
A copied line whose aggregation inputs the record lacks (a run made through the promptflow
engine, or before pfgit kept them in logs/aggregation.jsonl) is run again, said in one line.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
from dataclasses import replace

from .errors import RunError
from .spec import RunSpec

AGGREGATION_LOG = "aggregation.jsonl"


# what `--set` may change of a resumed run (promptflow's PFClient.run refuses the rest)
SET_WITH_RESUME_FROM = ("display_name", "description", "tags")


def check_set(items: list) -> list:
    """`--set` items allowed with --resume-from (cloud-only ones pass: apply_set notes them)."""
    from .runfile import CLOUD_ONLY

    for it in items or []:
        top = it.split("=", 1)[0].strip().split(".")[0]
        if top not in SET_WITH_RESUME_FROM + CLOUD_ONLY:
            raise RunError(f"--resume-from cannot be combined with --set {top} (only "
                           f"{', '.join(SET_WITH_RESUME_FROM)}: the run's settings are the recorded run's)")
    return items


def request_of(spec: RunSpec) -> dict:
    """What a resume needs of a run's request beyond run.json's fields, kept in its settings: the
    connection overrides, the init values (secret-named keys are dropped when settings are
    stored) and the flow file when the flow was given as a file (a .prompty). Environment
    variable values never enter a snapshot (docs/security.md): see save_environment."""
    out = {"connections": spec.connections or {}}
    if spec.init:
        out["init"] = spec.init
    if spec.flow and os.path.isfile(spec.flow):
        out["flow_file"] = os.path.basename(spec.flow)
    return out


def _env_file(repo, name: str) -> str:
    import hashlib

    return os.path.join(repo.controldir(), "pfgit", "run-env", hashlib.sha256(name.encode()).hexdigest() + ".json")


def save_environment(repo, name: str, commit: str, env: dict) -> None:
    """The run's environment variables that are not secret-named, kept in this clone only
    (`.git/pfgit/run-env/`, never pushed) for `--resume-from`; secret-named ones are given again."""
    from ..store.secrets import is_secret_key

    path = _env_file(repo, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"run": name, "commit": commit, "environment_variables": {str(k): str(v) for k, v in (env or {}).items()
                                                          if not is_secret_key(k)}}, f)
    os.replace(tmp, path)


def _saved_environment(repo, name: str, commit: str) -> dict:
    try:
        with open(_env_file(repo, name), encoding="utf-8") as f:
            saved = json.load(f)
    except (OSError, ValueError):
        return {}
    mine = isinstance(saved, dict) and saved.get("run") == name and saved.get("commit") == commit
    env = saved.get("environment_variables") if mine else None   # not a deleted run's of that name
    return env if isinstance(env, dict) else {}


def _load(repo, name: str):
    from ..errors import PfgitError
    from ..store.read import load_run

    try:
        return load_run(repo, name)
    except PfgitError:
        raise RunError(f"run '{name}' not found (pfgit runs list)") from None


def _data(repo, name: str, rec: dict | None) -> str | None:
    from ..store.snapshot import file_sha256

    if not rec:
        return None
    path = rec.get("path")
    if not isinstance(path, str) or not path:
        raise RunError(f"run '{name}' records no data path")
    full = path if os.path.isabs(path) else os.path.join(repo.path, *path.split("/"))
    if not os.path.isfile(full):
        what = "is a folder (no checksum recorded: cannot tell it is unchanged)" if os.path.isdir(full) \
            else "is gone"
        raise RunError(f"data of run '{name}' {what}: run it again with --flow and --data", file=path)
    if not rec.get("sha256") or file_sha256(full) != rec["sha256"]:
        raise RunError(f"data changed since run '{name}' (sha256 differs): its line numbers no longer "
                       "name the same lines; run it again with --flow and --data", file=path)
    return full


def _base(repo, name: str, rec: dict | None) -> str | None:
    from ..git import runrefs

    if not rec:
        return None
    base = rec.get("name")
    sha = runrefs.get_run(repo, base) if isinstance(base, str) else None
    if sha is None or sha.decode() != rec.get("commit"):
        raise RunError(f"base run '{base}' of run '{name}' is gone or was recorded again since")
    return base


def _env(repo, snap, given) -> dict:
    from .environ import read_dotenv

    name = snap.name
    names = snap.run.get("environment") or []
    env = {k: v for k, v in _saved_environment(repo, name, snap.commit).items() if k in names}
    lacking = [k for k in names if k not in env]
    if isinstance(given, str):
        given = read_dotenv(given)
    given = dict(given or {})
    if (snap.run.get("source") or {}).get("tool") == "promptflow":
        return given   # a promptflow run folder records no environment variables: any given are used
    extra = sorted(set(given) - set(lacking))
    if extra:
        raise RunError(f"--environment-variables with --resume-from gives only the values run '{name}' "
                       f"does not record ({', '.join(lacking) or 'none'}), not {', '.join(extra)}")
    missing = [k for k in lacking if k not in given]
    if missing:
        raise RunError(f"run '{name}' set environment variable(s) {', '.join(missing)} whose values "
                       "are not recorded (secrets, or a run made in another clone): give them again with "
                       "--environment-variables K=V")
    return {**env, **given}


@contextlib.contextmanager
def flow_folder(repo, flow_rel: str, flow_src):
    """A folder holding the flow tree `flow_src` = [commit, tree, dirty]: the worktree's when it
    holds that very tree, else a temporary checkout of the commit (removed afterwards)."""
    from ..git.tempcheckout import checkout
    from ..git.worktree import worktree_flow_tree

    here = os.path.join(repo.path, *[p for p in flow_rel.split("/") if p not in ("", ".")])
    if worktree_flow_tree(repo, flow_rel) == flow_src[1].encode():
        yield here
        return
    with checkout(repo.path, flow_src[0]) as tmp:
        fdir = os.path.join(tmp, *[p for p in flow_rel.split("/") if p not in ("", ".")])
        _write_generated(repo, flow_src, fdir)
        yield fdir


GENERATED_MAX = 1 << 16


def _write_generated(repo, flow_src, fdir: str) -> None:
    """The flow file a `--flow module:function` run generated (flow_src[3], in its recorded tree
    but not in its commit), written into the temporary checkout. Only that file name, and only a
    small blob: run.json may come from a fetched run."""
    from ..git.objects import object_size, tree_entries
    from .engine.plan import ENTRY_FLOW_FILE

    if len(flow_src) < 4 or not isinstance(flow_src[3], list) or ENTRY_FLOW_FILE not in flow_src[3]:
        return
    try:
        mode, sha = tree_entries(repo, flow_src[1].encode())[ENTRY_FLOW_FILE]
    except (KeyError, AttributeError, ValueError):
        raise RunError(f"the run's flow tree has no {ENTRY_FLOW_FILE}, which its run.json says it generated") from None
    size = object_size(repo, sha)
    if mode & 0o170000 != 0o100000 or size is None or size > GENERATED_MAX:
        raise RunError(f"the run's generated {ENTRY_FLOW_FILE} is not a small file: not used")
    path = os.path.join(fdir, ENTRY_FLOW_FILE)   # in a temporary checkout: ours to change
    if os.path.lexists(path):    # the commit's own file (a link, maybe): replaced, never followed
        os.unlink(path)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644),
                   "wb") as f:
        f.write(repo[sha].data)


def _needs_request(repo, run: dict) -> str | None:
    """Why a run whose record lacks `settings.request` (connection overrides, init values, the
    flow file; an import, or an older pfgit's run) cannot be resumed faithfully, or None when its
    flow needs none of them: a DAG flow (no init, found by its folder) whose run used no
    connection and that has no LLM node (so no override could have changed a line's result)."""
    from ..flow.load import FlowLoadError, flow_file_in, load_text
    from ..flow.model import DAG_FILES
    from ..git.repo import TreeReader

    if run.get("connections"):
        return "it used connections (their overrides are unknown)"
    try:
        reader = TreeReader(repo, run["flow"]["tree"].encode())
        loc = flow_file_in(reader, ".")
        if loc is None or loc.others or loc.file not in DAG_FILES:
            return "its flow is not a DAG flow (its init values and flow file are unknown)"
        flow = load_text(reader.read_bytes(loc.file), loc.file)
    except (FlowLoadError, OSError, KeyError, ValueError):
        return "its flow cannot be read"
    if any(n.type in ("llm", "embedding") for n in flow.nodes):
        return "its flow has LLM nodes (their connection overrides are unknown)"
    return None


def _is_dag(repo, tree: str, flow_file) -> bool:
    """Whether the recorded flow is a DAG flow, for the new run's default name (`pfgit run` names
    a flex or .prompty flow's runs without a variant; a resumed flex run was named `_variant_0_`:
    its flow path is a folder, not a .prompty)."""
    from ..flow.load import flow_file_in
    from ..flow.model import DAG_FILES
    from ..git.repo import TreeReader

    if isinstance(flow_file, str) and flow_file:
        return flow_file in DAG_FILES
    try:
        loc = flow_file_in(TreeReader(repo, tree.encode()), ".")
    except (OSError, KeyError, ValueError):
        return True
    return loc is None or posixpath.basename(loc.file) in DAG_FILES


@contextlib.contextmanager
def resume_from(repo, given: RunSpec, console):
    """Yields (spec, flow_rel, flow_src, seed) for batch._start (see the module doc)."""
    from ..store.names import default_run_name, validate_run_name
    from ..git import runrefs

    name = given.resume_from
    snap = _load(repo, name)
    run = snap.run
    settings = run.get("settings") or {}
    request = settings.get("request")
    flow = run.get("flow") or {}
    if not flow.get("commit") or not flow.get("tree"):
        raise RunError(f"run '{name}' records no flow commit (an unlinked import): nothing to run")
    if not isinstance(request, dict):
        why = _needs_request(repo, run)
        if why:
            raise RunError(f"run '{name}' does not record its connections and init (recorded "
                           f"by an older pfgit or imported) and {why}: run it again with --flow and --data")
        request = {"connections": {}}   # a DAG flow using no connection: nothing to record
    init = request.get("init")
    lost = sorted(set(settings.get("init") or []) - set(init or {}))
    if lost:
        raise RunError(f"run '{name}' does not record the value of init {', '.join(lost)} (secret): "
                       "run it again with --flow and --init")
    data = _data(repo, name, run.get("data"))
    base = _base(repo, name, run.get("base_run"))
    flow_rel = flow.get("path") or "."
    new = validate_run_name(given.name) if given.name else default_run_name(
        flow_rel, folder=repo.path, variant=run.get("variant"),
        dag=_is_dag(repo, flow["tree"], request.get("flow_file")))
    if runrefs.get_run(repo, new) is not None:
        raise RunError(f"run '{new}' already exists (choose another --name)")
    flow_src = [flow["commit"], flow["tree"], bool(flow.get("dirty"))] + (
        [flow["generated"]] if isinstance(flow.get("generated"), list) else [])   # still not in the commit
    spec = RunSpec(
        flow=".", data=data, column_mapping=dict(run.get("column_mapping") or {}), run=base,
        variant=run.get("variant"), connections=request.get("connections") or {},
        environment_variables=_env(repo, snap, given.environment_variables),
        name=new, display_name=given.display_name or settings.get("display_name"),
        description=given.description or settings.get("description"),
        tags={**(settings.get("tags") or {}), **(given.tags or {})}, init=init or None,
        workers=given.workers, processes=given.processes, engine=settings.get("engine") or "auto",
        resume_from=name, llm_cache=given.llm_cache, llm_mode=given.llm_mode or settings.get("llm_mode"))
    with flow_folder(repo, flow_rel, flow_src) as fdir:
        ffile = request.get("flow_file")
        spec = replace(spec, flow=os.path.join(fdir, ffile) if ffile else fdir)
        yield spec, flow_rel, flow_src, _seeder(repo, snap, console)


def continue_run(repo, state: dict):
    """The flow folder for `--resume` of an interrupted --resume-from run (its flow may have
    been a temporary checkout, gone since)."""
    return flow_folder(repo, state.get("flow_rel") or ".", state["flow_source"])


def _seeder(repo, snap, console):
    def seed(active, engine) -> int:
        """Copies NAME's succeeded lines into `active`; returns how many."""
        from ..store.read import log_lines, stream_file
        from .baserun import SortedLookup

        def lines(fname):
            for raw in stream_file(repo, snap, fname):
                try:
                    obj = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(obj, dict) and isinstance(obj.get("line_number"), int):
                    yield obj["line_number"], obj

        agg = None
        if engine.keeps_for_aggregation():
            def agg_lines():   # streamed: written sorted by line number, as outputs.jsonl
                for raw in log_lines(repo, snap, AGGREGATION_LOG):
                    try:
                        obj = json.loads(raw)
                    except (ValueError, TypeError):    # TypeError: None, a line too long
                        continue
                    if isinstance(obj, dict) and isinstance(obj.get("line_number"), int):
                        yield obj["line_number"], obj
            agg = SortedLookup(agg_lines())
        inputs = SortedLookup(lines("inputs.jsonl"))
        copied, rerun = 0, 0
        for ln, out in lines("outputs.jsonl"):
            ins = inputs.get(ln)
            kept = agg.get(ln) if agg is not None else None
            if ins is None or (agg is not None and kept is None):
                rerun += 1
                continue
            active.append("inputs", ins)
            active.append("outputs", out)
            if agg is not None:
                active.append("aggregation", kept)
            copied += 1
        if rerun:
            console.note(f"{rerun} succeeded line(s) of '{snap.name}' run again: the record lacks their "
                         "inputs or what aggregation nodes read from them")
        return copied
    return seed
