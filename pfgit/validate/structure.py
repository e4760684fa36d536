"""Shape of the flow file: known keys with the right types, required keys, unique names.

What promptflow accepts comes from its schemas (`_sdk/schemas/_flow.py`) and from what the executor
reads (`contracts/flow.py`): keys the executor reads but the schema does not list (`name`, `id`,
node `comment`, ...) are accepted silently; anything else is an `unknown-key` warning, as in
`pf flow validate`.
"""

from __future__ import annotations

from .context import Context

_TYPE_NAMES = {dict: "a mapping", list: "a list", str: "a string", bool: "true or false"}

DAG_TOP = {"$schema": str, "inputs": dict, "outputs": dict, "nodes": list, "node_variants": dict,
           "environment": dict, "additional_includes": list, "environment_variables": dict,
           "language": str, "type": str, "description": str, "display_name": str, "tags": dict,
           # read by the executor (and written into run snapshots), not in the SDK schema
           "name": str, "id": str, "message_format": str, "tools": list}
NODE = {"name": str, "type": str, "source": dict, "inputs": dict, "connection": str, "api": str,
        "provider": str, "module": str, "use_variants": bool, "activate": dict, "aggregation": bool,
        "reduce": bool, "enable_cache": bool, "comment": str, "tool": str}
SOURCE = {"type": str, "path": str, "tool": str}
ACTIVATE = {"when": None, "is": None}
INPUT_DEF = {"type": str, "default": None, "description": str, "enum": list,
             "is_chat_input": bool, "is_chat_history": bool}
OUTPUT_DEF = {"type": str, "reference": str, "description": str, "is_chat_output": bool,
              "evaluation_only": bool}
VARIANT_SET = {"default_variant_id": str, "variants": dict}
VARIANT = {"node": dict, "description": str}

NODE_TYPES = ("python", "llm", "prompt", "custom_llm", "csharp", "action")
SOURCE_TYPES = ("code", "package", "package_with_prompt")
# promptflow.contracts.tool.ValueType: any other input type dies in `pf flow test` with a traceback
VALUE_TYPES = ("string", "int", "double", "bool", "list", "object", "image", "secret",
               "prompt_template", "file_path", "assistant_definition")
FLOW_TYPES = ("standard", "evaluation", "chat")
LANGUAGES = ("python", "csharp")


def check_mapping(ctx: Context, value: dict, path: tuple, schema: dict, what: str,
                  node: str | None = None, unknown: str = "unknown-key") -> None:
    """Unknown keys (`unknown`: a warning code, or an error code where promptflow's schema
    refuses them) and values of the wrong type (error) in one mapping."""
    for k, v in value.items():
        if k not in schema:
            why = "" if unknown == "unknown-key" else " (promptflow's schema refuses the flow)"
            ctx.add(unknown, f"unknown key '{k}' in {what}{why}", path + (k,), node)
            continue
        typ = schema[k]
        if typ is None or v is None or isinstance(v, typ):
            continue
        if typ is str and isinstance(v, (int, float)) and not isinstance(v, bool) and k in (
                "description", "display_name", "comment", "name", "id"):
            continue  # free text that YAML read as a number: harmless
        ctx.add("bad-type", f"'{k}' in {what} must be {_TYPE_NAMES[typ]}, not {_kind(v)}",
                path + (k,), node)


def expect(ctx: Context, value, typ: type, path: tuple, what: str, node: str | None = None) -> bool:
    """True if value has the type; else report bad-type and return False."""
    if isinstance(value, typ):
        return True
    ctx.add("bad-type", f"{what} must be {_TYPE_NAMES[typ]}, not {_kind(value)}", path, node)
    return False


def _kind(v) -> str:
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, (int, float)):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "a mapping"
    return "empty" if v is None else type(v).__name__


def check_top(ctx: Context, schema: dict, unknown: str = "unknown-key") -> None:
    data = ctx.flow.data
    check_mapping(ctx, data, (), schema, "the flow file", unknown=unknown)
    for key, allowed in (("type", FLOW_TYPES), ("language", LANGUAGES)):
        v = data.get(key)
        if isinstance(v, str) and v not in allowed:
            ctx.add("bad-value", f"flow {key} '{v}' is not one of {', '.join(allowed)}", (key,))
    inc = data.get("additional_includes")
    if isinstance(inc, list):
        for i, item in enumerate(inc):
            if not isinstance(item, str):
                ctx.add("bad-type", f"additional_includes item must be a string, not {_kind(item)}",
                        ("additional_includes", i))


def check_io(ctx: Context, key: str, schema: dict, types: tuple | None, needs_type: bool = True,
             unknown: str = "unknown-key") -> None:
    """Flow `inputs` / `outputs` (also `init` of flex flows): each a mapping with a `type`."""
    defs = ctx.flow.data.get(key)
    if not isinstance(defs, dict):
        return
    what = key[:-1] if key.endswith("s") else key
    for name, d in defs.items():
        p = (key, name)
        if d is None or not expect(ctx, d, dict, p, f"{what} '{name}'"):
            if d is None:
                ctx.add("missing-key", f"{what} '{name}' has no 'type'", p)
            continue
        check_mapping(ctx, d, p, schema, f"{what} '{name}'", unknown=unknown)
        t = d.get("type")
        if t is None:
            if needs_type:
                ctx.add("missing-key", f"{what} '{name}' has no 'type'", p)
        elif isinstance(t, str) and types is not None and t not in types:
            ctx.add("bad-value", f"{what} '{name}' has type '{t}', which is not one of "
                    f"{', '.join(types)}", p + ("type",))


def check_nodes(ctx: Context) -> None:
    nodes = ctx.flow.data.get("nodes")
    if nodes is None:
        return
    if not expect(ctx, nodes, list, ("nodes",), "'nodes'"):
        return
    seen: dict = {}
    for i, raw in enumerate(nodes):
        p = ("nodes", i)
        if not expect(ctx, raw, dict, p, f"node #{i + 1}"):
            continue
        name = raw.get("name")
        if name is None:
            ctx.add("missing-key", f"node #{i + 1} has no 'name'", p)
        elif not isinstance(name, str):
            ctx.add("bad-type", f"node #{i + 1} name must be a string, not {_kind(name)}", p + ("name",))
            name = None
        elif name in seen:
            ctx.add("duplicate-node", f"node name '{name}' is used more than once "
                    f"(first at line {ctx.flow.line(seen[name])})", p + ("name",), name)
        else:
            seen[name] = p + ("name",)
        check_mapping(ctx, raw, p, NODE, f"node '{name}'" if name else f"node #{i + 1}", name)
        if raw.get("use_variants") is True:
            continue  # its body lives in node_variants (checked there)
        check_body(ctx, raw, p, name, f"node '{name}'" if name else f"node #{i + 1}")


def check_body(ctx: Context, raw: dict, path: tuple, node: str | None, what: str) -> None:
    """A runnable body (a node, or a variant's `node:`): type, source and their combination."""
    t = raw.get("type")
    src = raw.get("source")
    legacy_tool = isinstance(raw.get("tool"), str)
    if t is None:
        if not legacy_tool:
            ctx.add("missing-key", f"{what} has no 'type' (python, llm, prompt, ...)", path, node)
    elif isinstance(t, str) and t not in NODE_TYPES:
        ctx.add("bad-value", f"{what} has type '{t}', which is not one of {', '.join(NODE_TYPES)}",
                path + ("type",), node)
    if src is None:
        if not legacy_tool:
            ctx.add("missing-key", f"{what} has no 'source'", path, node)
        return
    if not isinstance(src, dict):
        return  # bad-type already reported by check_mapping
    sp = path + ("source",)
    check_mapping(ctx, src, sp, SOURCE, f"the source of {what}", node)
    st = src.get("type", "code")
    if isinstance(st, str) and st not in SOURCE_TYPES:
        ctx.add("bad-value", f"{what} has source type '{st}', which is not one of "
                f"{', '.join(SOURCE_TYPES)}", sp + ("type",), node)
        return
    if st == "code" and not src.get("path"):
        ctx.add("missing-key", f"{what} has a code source without 'path'", sp, node)
    if st in ("package", "package_with_prompt") and not src.get("tool"):
        ctx.add("missing-key", f"{what} has a {st} source without 'tool'", sp, node)
    # the combinations promptflow's tool resolver refuses (executor/_tool_resolver.py)
    if t == "python" and st == "package_with_prompt":
        ctx.add("bad-value", f"{what}: a python node cannot use source type 'package_with_prompt'",
                sp + ("type",), node)
    if t == "custom_llm" and st != "package_with_prompt":
        ctx.add("bad-value", f"{what}: a custom_llm node needs source type 'package_with_prompt'",
                sp + ("type",) if "type" in src else sp, node)
    act = raw.get("activate")
    if isinstance(act, dict):
        check_mapping(ctx, act, path + ("activate",), ACTIVATE, f"the activate of {what}", node)


def check_variant_shapes(ctx: Context) -> None:
    nv = ctx.flow.data.get("node_variants")
    if not isinstance(nv, dict):
        return
    for name, vs in nv.items():
        p = ("node_variants", name)
        if not expect(ctx, vs, dict, p, f"node_variants entry '{name}'", name):
            continue
        check_mapping(ctx, vs, p, VARIANT_SET, f"node_variants entry '{name}'", name)
        variants = vs.get("variants")
        if variants is None:
            ctx.add("missing-key", f"node_variants entry '{name}' has no 'variants'", p, name)
            continue
        if not isinstance(variants, dict):
            continue
        for vid, v in variants.items():
            vp = p + ("variants", vid)
            what = f"variant '{vid}' of node '{name}'"
            if not expect(ctx, v, dict, vp, what, name):
                continue
            check_mapping(ctx, v, vp, VARIANT, what, name)
            body = v.get("node")
            if body is None:
                ctx.add("missing-key", f"{what} has no 'node'", vp, name)
            elif isinstance(body, dict):
                check_mapping(ctx, body, vp + ("node",), NODE, what, name)
                check_body(ctx, body, vp + ("node",), name, what)


def check_duplicate_keys(ctx: Context) -> None:
    for path, line in ctx.flow.doc.duplicate_keys:
        where = ".".join(str(p) for p in path)
        ctx.add("duplicate-key", f"key '{path[-1]}' appears twice ({where})", node=ctx.node_at(path),
                line=line)


def check_dag(ctx: Context) -> None:
    check_duplicate_keys(ctx)
    check_top(ctx, DAG_TOP)
    check_io(ctx, "inputs", INPUT_DEF, VALUE_TYPES)
    check_io(ctx, "outputs", OUTPUT_DEF, None)
    check_nodes(ctx)
    check_variant_shapes(ctx)
