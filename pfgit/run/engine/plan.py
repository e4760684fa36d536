"""Preparing a DAG flow for the built-in engine: variants chosen (promptflow-runner.md §4),
connection overrides applied (§9), references checked, tools and templates loaded, literal node
inputs converted by the tools' parameter types (§1.3). Everything that can be wrong with the flow
itself is found here, before any line runs, with its file, line and node."""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass, field

from ...flow.load import FlowLoadError, find_flows, flow_file_in, load_flow
from ...flow.model import execution_order
from ...flow.readers import DirReader, outside_repository
from ...flow.refs import parse_ref
from ..convert import KNOWN_TYPES, ConvertError, parse_value
from ..errors import RunError
from ..nodes.python import FlowModules, ToolLoadError, find_tool

VARIANT_RE = re.compile(r"^\$\{([^.]+)\.([^}]+)\}$")
BUILTIN_TYPES = ("python", "prompt", "llm")
EMBEDDING_TOOL = "promptflow.tools.embedding.embedding"   # run through pfgit.run.llm


class NeedsPromptflow(RunError):
    """A node the built-in engine cannot run (package tool, custom tool type, unknown import)."""

    def __init__(self, message, node=None, tool=None, file=None, line=None):
        super().__init__(message, file=file, line=line)
        self.node, self.tool = node, tool


@dataclass
class NodePlan:
    name: str
    type: str
    raw: dict
    literals: dict = field(default_factory=dict)   # input -> converted literal
    refs: dict = field(default_factory=dict)       # input -> Ref
    activate: dict | None = None
    aggregation: bool = False
    deps: list = field(default_factory=list)
    tool: object = None                            # PythonTool
    init_kwargs: dict = field(default_factory=dict)
    template: str | None = None
    connection: str | None = None
    connection_obj: object = None                  # resolved connection of an llm node
    api: str | None = None


@dataclass
class Plan:
    flow_dir: str
    flow_file: str
    kind: str
    data: dict
    inputs: dict                                   # name -> {"type", "default"?}
    outputs: dict                                  # name -> reference text
    nodes: dict                                    # name -> NodePlan (file order)
    order: list                                    # per-line nodes, topological
    agg_order: list                                # aggregation nodes, topological
    modules: FlowModules | None = None
    warnings: list = field(default_factory=list)
    connections: list = field(default_factory=list)   # resolved connections used (their secrets never stored)

    def close(self):
        if self.modules is not None:
            self.modules.close()


def locate(flow: str) -> tuple[str, str]:
    """(flow folder, flow file) for a folder, a flow file or a .prompty path. A path in a
    repository that resolves outside it is refused, as validate refuses it."""
    if os.path.exists(flow):
        _refuse_outside(flow)
    if os.path.isfile(flow):
        return os.path.dirname(os.path.abspath(flow)), os.path.abspath(flow)
    if not os.path.isdir(flow):
        edir = entry_flow(flow)
        if edir is not None:   # the flow file promptflow would write there (never written: see load)
            return edir, os.path.join(edir, ENTRY_FLOW_FILE)
        raise RunError("flow not found", file=flow)
    reader = DirReader(flow, flow)
    here = flow_file_in(reader, ".")
    # a folder with one .prompty is that flow, whatever flow folders it holds below
    locs = [here] if here is not None and here.is_prompty else find_flows(reader, ".")
    if not locs:
        raise RunError("no flow.dag.yaml, flow.flex.yaml or .prompty in this folder", file=flow)
    if len(locs) > 1 or locs[0].dir != ".":
        raise RunError("this folder holds several flows: name one of them", file=flow)
    if locs[0].others:
        raise RunError(f"several flow files in one folder: {', '.join([locs[0].file] + locs[0].others)}", file=flow)
    ffile = os.path.join(flow, locs[0].file)
    if os.path.islink(ffile):   # flows/qa/flow.dag.yaml a link out: the flow is not the repository's
        _refuse_outside(ffile)
    return os.path.abspath(flow), os.path.abspath(ffile)


ENTRY_FLOW_FILE = "flow.flex.yaml"


def _refuse_outside(flow: str) -> None:
    """`flows/g` (or `flows/g/flow.dag.yaml`, or the flow file alone) committed as a symlink to
    another checkout or ~/: a pull request's content; what it points to is not the repository's
    and is never read (`pfgit test` ran it and printed its node names)."""
    from ...flow.readers import OUTSIDE_ARGUMENT

    folder = flow if os.path.isdir(flow) else os.path.dirname(os.path.abspath(flow))
    if outside_repository(folder, folder) or (not os.path.isdir(flow) and outside_repository(flow, folder)):
        raise RunError(OUTSIDE_ARGUMENT, file=flow)


def entry_flow(flow: str) -> str | None:
    """promptflow's `pf flow test|pf run create --flow module:function`: a flex flow with that
    entry, its code in the current folder. That folder (absolute) when `flow` is such an entry
    whose module is a file or package there (and not a path that exists), else None. `FOLDER/
    module:function` names the entry's folder instead of the current one: what a run records as
    its flow (an absolute path), so that `--resume` finds the code from any folder."""
    from ...flow.entry import entry_location

    if os.path.exists(flow):
        return None
    folder, entry = os.path.split(flow)
    if folder and not os.path.isdir(folder):
        return None
    loc = entry_location({"entry": entry}, os.path.abspath(folder or os.getcwd()))
    return loc.root if loc and (os.path.isfile(loc.file) or os.path.isdir(loc.package)) else None


def entry_of(flow: str) -> str | None:
    """The `module:function` of a flow given as an entry (see entry_flow), else None."""
    return os.path.basename(flow) if entry_flow(flow) is not None else None


def entry_flow_text(entry: str) -> bytes:
    """The flow file promptflow writes for an entry (create_temp_flex_flow_yaml: `{entry: ...}`)."""
    return f"entry: {entry}\n".encode()


class _EntryReader(DirReader):
    """The current folder, holding a flow.flex.yaml with the entry that only exists in memory
    (promptflow writes one there for the test and deletes it; pfgit writes nothing)."""

    def __init__(self, root: str, entry: str):
        super().__init__(root, ".")
        self.flow_text = entry_flow_text(entry)

    def read_bytes(self, rel: str) -> bytes:
        return self.flow_text if rel == ENTRY_FLOW_FILE else super().read_bytes(rel)

    def exists(self, rel: str) -> bool:
        return rel == ENTRY_FLOW_FILE or super().exists(rel)


def load(flow: str):
    """The pfgit.flow model of the flow at `flow` (raises RunError with file and line); `flow`
    may also be a flex entry `module:function` (see entry_flow)."""
    from ...flow.load import FlowLocation

    edir = entry_flow(flow)
    if edir is not None:
        flow_file = os.path.join(edir, ENTRY_FLOW_FILE)
        try:
            return (load_flow(_EntryReader(edir, os.path.basename(flow)), FlowLocation(".", ENTRY_FLOW_FILE)),
                    edir, flow_file)
        except FlowLoadError as e:
            raise RunError(e.message, file=flow) from None
    fdir, ffile = locate(flow)
    reader = DirReader(fdir, os.path.relpath(fdir) if not os.path.relpath(fdir).startswith("..") else fdir)
    try:
        return load_flow(reader, FlowLocation(".", os.path.basename(ffile))), fdir, ffile
    except FlowLoadError as e:
        raise RunError(e.message, file=e.file, line=e.line) from None
    except OSError as e:
        raise RunError(e.strerror or str(e), file=ffile) from None


def choose_variants(flow, variant: str | None) -> dict:
    """node name -> node body (dict, with name) after promptflow's overwrite_variant."""
    chosen_node = chosen_id = None
    if variant:
        m = VARIANT_RE.match(variant.strip())
        if not m:
            raise RunError(f"--variant '{variant}' is not of the form '${{node.variant_id}}'")
        chosen_node, chosen_id = m.group(1), m.group(2)
        if chosen_node not in flow.node_variants:
            raise RunError(f"variant node '{chosen_node}' not found in node_variants "
                           f"(known: {', '.join(flow.node_variants) or 'none'})", file=flow.file)
        if chosen_id not in flow.node_variants[chosen_node].variants:
            raise RunError(f"unknown variant '{chosen_id}' for node '{chosen_node}' (known: "
                           f"{', '.join(flow.node_variants[chosen_node].variants)})", file=flow.file)
    bodies = {}
    for node in flow.nodes:
        if node.name is None:
            raise RunError("a node has no name", file=flow.file, line=flow.line(node.base_path))
        if node.name in bodies:
            raise RunError(f"node '{node.name}' appears more than once", file=flow.file,
                           line=flow.line(node.base_path))
        if not node.use_variants:
            bodies[node.name] = copy.deepcopy(node.raw)
            continue
        vs = flow.node_variants.get(node.name)
        if vs is None:
            raise RunError(f"node '{node.name}' uses variants but node_variants has none for it",
                           file=flow.file, line=flow.line(node.base_path))
        vid = chosen_id if chosen_node == node.name else vs.default_variant_id
        if not vid:
            raise RunError(f"default variant id is not specified for '{node.name}'", file=flow.file)
        if vid not in vs.variants:
            raise RunError(f"variant '{vid}' of node '{node.name}' not found", file=flow.file)
        body = vs.variants[vid].raw.get("node")
        bodies[node.name] = {"name": node.name, **copy.deepcopy(body if isinstance(body, dict) else {})}
    return bodies


def apply_connection_overrides(bodies: dict, overrides: dict) -> None:
    for node, fields in (overrides or {}).items():
        if node not in bodies:
            raise RunError(f"--connections names node '{node}' which is not in the flow")
        body = bodies[node]
        if not isinstance(fields, dict):
            raise RunError(f"--connections for node '{node}' must be a mapping")
        inputs = body.setdefault("inputs", {})
        for k, v in fields.items():
            if k in ("deployment_name", "model"):
                inputs[k] = v
            elif body.get("type") == "llm" and k == "connection":
                body["connection"] = v
            elif body.get("type") != "llm" and k in inputs:
                inputs[k] = v
            else:
                raise RunError(f"unsupported connection override '{node}.{k}' (use connection, "
                               "deployment_name, model, or a connection input of a python node)")


def _source_path(flow_dir: str, body: dict, includes: list) -> str | None:
    src = body.get("source")
    path = src.get("path") if isinstance(src, dict) else None
    if path is None and isinstance(body.get("tool"), str) and body["tool"].endswith((".py", ".jinja2")):
        path = body["tool"]
    if path is None:
        return None
    if not os.path.exists(os.path.join(flow_dir, path)):
        for inc in includes:  # additional_includes may provide the file by its base name
            cand = os.path.normpath(os.path.join(flow_dir, inc))
            if os.path.isfile(cand) and os.path.basename(cand) == os.path.basename(path):
                return os.path.relpath(cand, flow_dir)
            if os.path.isdir(cand) and os.path.exists(os.path.join(cand, path)):
                return os.path.relpath(os.path.join(cand, path), flow_dir)
    return path


def check_includes(flow, fdir: str) -> None:
    """Every `additional_includes` entry must exist: promptflow refuses the flow otherwise."""
    for i, inc in enumerate(flow.additional_includes):
        if not os.path.exists(os.path.join(fdir, inc)):
            raise RunError(f"Unable to find additional include {inc}", file=flow.file,
                           line=flow.line(("additional_includes", i)))


# promptflow types whose values promptflow builds from flow data before calling a tool:
# {"data:image/...;path": ...} dicts become Image objects, an assistant-definition YAML path an
# AssistantDefinition; the built-in engine passes the raw values
_UNCONVERTED = {"promptflow.contracts.multimedia": "Image", "promptflow._utils.multimedia": "Image",
                "promptflow.contracts.types.AssistantDefinition": "AssistantDefinition"}


def executor_only_error(found: tuple, flow, flow_dir: str) -> NeedsPromptflow:
    """NeedsPromptflow for a tool importing what only promptflow's executor fills in (pfimports)."""
    u, kind = found
    who = f"node '{u.node}'" if u.node else "the flow"
    return NeedsPromptflow(f"{who} needs the promptflow engine: {u.file} uses promptflow's {kind} "
                           "(filled in only by promptflow's executor)", node=u.node,
                           tool=f"{u.file} ({kind})", file=_disp(flow, u.file), line=u.line)


def _unconverted_type(mod) -> str | None:
    """The promptflow type a tool's module holds (imported) that the built-in engine does not build."""
    for v in list(vars(mod).values()):
        if isinstance(v, type(os)):
            name = v.__name__
        else:
            name = f"{getattr(v, '__module__', '')}.{getattr(v, '__qualname__', '')}"
        for prefix, kind in _UNCONVERTED.items():
            if name.startswith(prefix):
                return kind
    return None


def needs_promptflow(flow_dir: str, body: dict, name: str) -> str | None:
    """Why the built-in engine cannot run this node body (None when it can)."""
    src = body.get("source") if isinstance(body.get("source"), dict) else {}
    ntype = body.get("type")
    if ntype is None and isinstance(body.get("tool"), str) and body["tool"].endswith(".py"):
        ntype = "python"
    if src.get("type") == "package" and src.get("tool") == EMBEDDING_TOOL:
        return None
    if src.get("type") in ("package", "package_with_prompt"):
        return f"package tool '{src.get('tool')}'"
    if ntype not in BUILTIN_TYPES:
        return f"node type '{ntype}'"
    return None


def build_plan(flow_path: str, variant: str | None = None, connection_overrides: dict | None = None,
               get_connection=None) -> Plan:
    flow, fdir, ffile = load(flow_path)
    if flow.kind != "dag":
        raise RunError(f"build_plan handles DAG flows, not {flow.kind}", file=flow.file)
    data = flow.data
    inputs = {}
    for k, d in flow.inputs.items():
        d = d if isinstance(d, dict) else {}
        t = d.get("type", "object")
        if t not in KNOWN_TYPES:
            raise RunError(f"flow input '{k}' has unknown type '{t}'", file=flow.file, line=flow.line(("inputs", k)))
        if t == "image":
            raise NeedsPromptflow(f"flow input '{k}' needs the promptflow engine: images are not loaded by "
                                  "the built-in engine", tool="image input", file=flow.file,
                                  line=flow.line(("inputs", k)))
        inputs[str(k)] = d
    check_includes(flow, fdir)
    bodies = choose_variants(flow, variant)
    apply_connection_overrides(bodies, connection_overrides or {})
    line_of = {n.name: flow.line(n.base_path) for n in flow.nodes}
    plan = Plan(fdir, ffile, "dag", data, inputs, {}, {}, [], [])
    for name, body in bodies.items():
        why = needs_promptflow(fdir, body, name)
        if why:
            raise NeedsPromptflow(f"node '{name}' needs the promptflow engine: {why}", node=name,
                                  tool=why, file=flow.file, line=line_of.get(name))
        ntype = body.get("type") or "python"
        if isinstance(body.get("source"), dict) and body["source"].get("tool") == EMBEDDING_TOOL:
            ntype = "embedding"
        act = body.get("activate") if isinstance(body.get("activate"), dict) else None
        if body.get("activate") is not None and (act is None or "when" not in act or "is" not in act):
            raise RunError(f"node '{name}': activate needs both 'when' and 'is'", file=flow.file, line=line_of.get(name))
        np_ = NodePlan(name=name, type=ntype, raw=body, activate=act,
                       aggregation=bool(body.get("aggregation") or body.get("reduce")))
        raw_inputs = body.get("inputs") if isinstance(body.get("inputs"), dict) else {}
        for k, v in raw_inputs.items():
            r = parse_ref(v)
            if r is not None:
                np_.refs[str(k)] = r
            else:
                np_.literals[str(k)] = v
        np_.connection = body.get("connection")
        np_.api = body.get("api") or "chat"
        plan.nodes[name] = np_
    # references and edges
    for np_ in plan.nodes.values():
        all_refs = list(np_.refs.items())
        if np_.activate is not None and parse_ref(np_.activate.get("when")) is not None:
            all_refs.append(("activate.when", parse_ref(np_.activate.get("when"))))
        for where, r in all_refs:
            if r.kind == "input":
                if r.name not in inputs:
                    raise RunError(f"node '{np_.name}' references flow input '{r.name}' which is not defined",
                                   file=flow.file, line=line_of.get(np_.name))
            elif r.name not in plan.nodes:
                raise RunError(f"node '{np_.name}' references a non-existent node '{r.name}'",
                               file=flow.file, line=line_of.get(np_.name))
            else:
                tgt = plan.nodes[r.name]
                if tgt.aggregation and not np_.aggregation:
                    raise RunError(f"node '{np_.name}' references aggregation node '{r.name}'",
                                   file=flow.file, line=line_of.get(np_.name))
                if r.name not in np_.deps:
                    np_.deps.append(r.name)
    names = list(plan.nodes)
    order, cyc = execution_order(names, {n: plan.nodes[n].deps for n in names})
    if cyc:
        raise RunError(f"circular dependency between nodes {sorted(cyc)}", file=flow.file)
    plan.order = [n for n in order if not plan.nodes[n].aggregation]
    plan.agg_order = [n for n in order if plan.nodes[n].aggregation]
    for k, o in flow.outputs.items():
        ref = o.get("reference") if isinstance(o, dict) else None
        if ref is None or ref == "":
            raise RunError(f"flow output '{k}' has no reference", file=flow.file, line=flow.line(("outputs", k)))
        r = parse_ref(ref)
        if r is not None and r.kind == "node":
            if r.name not in plan.nodes:
                raise RunError(f"flow output '{k}' references non-existent node '{r.name}'",
                               file=flow.file, line=flow.line(("outputs", k)))
            if plan.nodes[r.name].aggregation:
                plan.warnings.append(f"output '{k}' references aggregation node '{r.name}': dropped, as promptflow does")
                continue
        elif r is not None and r.name not in inputs:
            raise RunError(f"flow output '{k}' references flow input '{r.name}' which is not defined",
                           file=flow.file, line=flow.line(("outputs", k)))
        plan.outputs[str(k)] = ref
    _load_tools(plan, flow, line_of, get_connection)
    return plan


def _load_tools(plan: Plan, flow, line_of: dict, get_connection) -> None:
    includes = flow.additional_includes
    sources = [(n.name, _source_path(plan.flow_dir, n.raw, includes)) for n in plan.nodes.values()
               if n.type == "python"]
    plan.modules = FlowModules(plan.flow_dir, sources, get_connection)
    if plan.modules.executor_only:
        raise executor_only_error(plan.modules.executor_only, flow, plan.flow_dir)
    for np_ in plan.nodes.values():
        where = dict(file=flow.file, line=line_of.get(np_.name))
        if np_.type == "embedding":
            np_.api = "embedding"
            _prepare_llm(np_, get_connection, where, plan)
            continue
        path = _source_path(plan.flow_dir, np_.raw, includes)
        if path is None:
            raise RunError(f"node '{np_.name}' has no source path", **where)
        if outside_repository(os.path.join(plan.flow_dir, path), plan.flow_dir):
            # as validate's path-outside-repo: a prompt node would copy the file into its outputs
            plan.close()
            raise RunError(f"node '{np_.name}': source '{path}' is outside the repository "
                           "(pfgit does not read it)", **where)
        if np_.type == "python":
            try:
                mod = plan.modules.load(path)
                np_.tool = find_tool(mod, path)
                kind = _unconverted_type(mod)
                if kind:
                    plan.close()
                    raise NeedsPromptflow(f"node '{np_.name}' needs the promptflow engine: {path} uses promptflow's "
                                          f"{kind} (the built-in engine does not build such inputs)",
                                          node=np_.name, tool=f"{path} ({kind})", **where)
            except ToolLoadError as e:
                name = getattr(e, "import_name", "") or ""
                if name.split(".")[0] == "promptflow" or (name and _is_promptflow_module(name)):
                    plan.close()
                    raise NeedsPromptflow(f"node '{np_.name}' needs the promptflow engine: {path} imports {name}",
                                          node=np_.name, tool=f"{path} (imports {name})", **where) from None
                plan.close()
                raise RunError(f"node '{np_.name}': {e}", file=_disp(flow, e.file), line=e.line) from None
            try:
                conv = np_.tool.convert_literals(np_.literals, lambda n, cls: conn_obj(get_connection, n, cls, plan))
            except ConvertError as e:
                plan.close()
                raise RunError(f"node '{np_.name}': {e}", **where) from None
            init_names = set(np_.tool.init_params)
            np_.init_kwargs = {k: v for k, v in conv.items() if k in init_names}
            for k in init_names:
                if k in np_.refs:
                    raise RunError(f"node '{np_.name}': class tool init input '{k}' must be a literal", **where)
            np_.literals = {k: v for k, v in conv.items() if k not in init_names}
        else:
            full = os.path.join(plan.flow_dir, path)
            try:
                with open(full, encoding="utf-8") as f:
                    np_.template = f.read()
            except OSError as e:
                plan.close()
                raise RunError(f"node '{np_.name}': template '{path}': {e.strerror}", **where) from None
            from ..llm.chat import warm_template

            warm_template(np_.template)
            if np_.type == "llm":
                _prepare_llm(np_, get_connection, where, plan)
            dup = _duplicated_template_inputs(np_)
            if dup:
                plan.close()
                raise RunError(f"node '{np_.name}': {dup}", **where)
                

def _duplicated_template_inputs(np_) -> str | None:
    """promptflow refuses a prompt/llm node whose template reads a variable named like a
    parameter of the tool rendering it (_tool_resolver._validate_duplicated_inputs): its message."""
    try:
        import jinja2
        from jinja2 import meta

        names = meta.find_undeclared_variables(jinja2.Environment().parse(np_.template or ""))
    except Exception:
        return None          # a template that does not parse fails its lines, as in promptflow
    if np_.type == "prompt":
        params, what = {"template"}, "the reserved parameters of prompt tool"
    else:
        from ..llm import connection_dict
        from ..llm.params import SIGNATURES, provider_of

        try:
            provider = provider_of(connection_dict(np_.connection_obj).get("type", ""))
        except Exception:
            return None
        params = {"connection", "prompt"} | {n for n, _, _ in SIGNATURES.get((np_.api, provider), [])}
        what = f"the parameters of {'AzureOpenAI' if provider == 'azure' else 'OpenAI'}.{np_.api}"
    dup = names & params
    if not dup:
        return None
    return f"Invalid inputs {dup} in prompt template of node {np_.name}. These inputs are duplicated with {what}."


def _prepare_llm(np_, get_connection, where, plan) -> None:
    """Resolve the node's connection (a missing one fails the run before any line, as in
    promptflow) and convert its literal inputs by the LLM tool's parameter types (§6.3)."""
    from ..llm import connection_dict, param_types

    name = np_.connection or np_.literals.get("connection")
    if not name:
        raise RunError(f"node '{np_.name}' has no connection", **where)
    if get_connection is None:
        raise RunError(f"node '{np_.name}': connection '{name}' cannot be resolved (no connection store)", **where)
    try:
        np_.connection_obj = get_connection(str(name))
    except KeyError:
        raise RunError(f"node '{np_.name}': connection '{name}' is not found (pfgit connection list)", **where) from None
    plan.connections.append(np_.connection_obj)
    np_.connection = str(name)
    ctype = connection_dict(np_.connection_obj).get("type", "")
    try:
        types = param_types(np_.api, ctype)
    except Exception as e:
        raise RunError(f"node '{np_.name}': {e}", **where) from None
    lits = {}
    for k, v in np_.literals.items():
        if k == "connection":
            continue
        t = types.get(k)
        if t is None:
            lits[k] = v            # a template variable: reaches Jinja unchanged
            continue
        if v is None or v == "":
            continue
        if k == "max_tokens" and str(v) == "inf":
            lits[k] = v
            continue
        try:
            lits[k] = parse_value(v, t)
        except ConvertError as e:
            raise RunError(f"node '{np_.name}': input '{k}' ({v!r}) is not a valid {t}: {e}", **where) from None
    np_.literals = lits


def _is_promptflow_module(name: str) -> bool:
    return name.startswith(("promptflow_", "promptflow."))


def _disp(flow, file):
    if not file:
        return flow.file
    return os.path.join(os.path.dirname(flow.file), file) if os.path.dirname(flow.file) else file


def conn_obj(get_connection, name: str, cls: str, plan):
    from ..compat import make_connection

    if get_connection is None:
        raise ConvertError(f"connection '{name}' cannot be resolved (no connection store)")
    try:
        conn = get_connection(name)
    except KeyError:
        raise ConvertError(f"connection '{name}' is not found (pfgit connection list)") from None
    plan.connections.append(conn)
    if not isinstance(conn, dict):
        from ..llm import connection_dict

        conn = connection_dict(conn)
    return make_connection(conn, pick_connection_class(conn, name, cls),
                           real=plan.modules is not None and plan.modules.real)


def pick_connection_class(conn: dict, name: str, classes) -> str | None:
    """The class a connection literal becomes, as promptflow's tool resolver picks it: the class
    of the connection's stored type, which must be one the parameter accepts (a `Union[...]`
    annotation accepts several); a custom connection becomes the parameter's first class (custom
    strong type connections)."""
    from ..connections import TYPES, type_key

    classes = [classes] if isinstance(classes, str) else list(classes or [])
    if not classes:
        return None
    try:
        ctype = type_key(conn.get("type") or "custom")
    except Exception:
        return classes[0]
    stored = TYPES[ctype][0] + "Connection"
    builtin = {t[0] + "Connection" for t in TYPES.values()}
    if ctype == "custom" and classes[0] not in builtin:
        return classes[0]            # a custom strong type connection class of the tool's module
    if stored in classes:
        return stored
    raise ConvertError(f"connection '{name}' of type {stored!r} is not supported, valid types {classes}")


def convert_flow_inputs(plan_inputs: dict, raw: dict, line_number) -> dict:
    """Flow inputs of one line converted by declared type, defaults applied (§1.4, §1.5).
    Raises LineError. Undeclared keys are kept (they never reach nodes)."""
    from ..errors import input_not_found, input_type_error

    out = dict(raw)
    for k, d in plan_inputs.items():
        if k not in raw:
            if "default" in d:
                v = d["default"]
            else:
                raise input_not_found(k, line_number)
        else:
            v = raw[k]
        t = d.get("type", "object")
        try:
            out[k] = parse_value(v, t)
        except ConvertError:
            raise input_type_error(k, v, t, line_number) from None
    return out
