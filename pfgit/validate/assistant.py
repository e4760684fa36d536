"""Assistant nodes: the `assistant_definition.yaml` a python tool's `AssistantDefinition` input names.

promptflow loads that file when it builds the executor (executor/_tool_resolver.py::
_convert_to_assistant_definition) and resolves every `function` tool in it
(executor/_assistant_tool_invoker.py::AssistantToolResolver.from_dict), so each defect below stops
the flow before its first line. Fixtures: wrong_flows/assistant_package_tool_wrong_source_type
("Tool source type 'package1' is not supported"), wrong_flows/assistant_python_tool_wrong_path
("Tool file './hello.py' can not be found"). Whether a package tool is installed is not checked.
"""

from __future__ import annotations

from ..flow import yamlpos
from ..flow.refs import is_ref_text
from .context import Context, variant_note
from .signatures import annotation_leaves

TOOL_TYPES = ("code_interpreter", "function", "retrieval")


def check_assistant_inputs(ctx: Context, files, rel: str, node, body) -> None:
    """Each literal input of `body` whose @tool parameter is an AssistantDefinition."""
    sig = files.signature(rel)
    if sig is None or not sig.annotations:
        return
    for k, ann in sig.annotations.items():
        if annotation_leaves(ann) != ["AssistantDefinition"]:
            continue
        value = body.inputs.get(k)
        if not isinstance(value, str) or is_ref_text(value) or not value:
            continue  # a reference or nothing: known only at run time
        ipath = body.base_path + ("inputs", k)
        found = files.find(value)
        if found is None or ctx.reader.is_dir(found):
            ctx.add("bad-assistant-definition", f"input '{k}'{variant_note(ipath)}: assistant "
                    f"definition '{value}' is not a file in the flow folder", ipath, node.name)
            continue
        _check_definition(ctx, files, found, node.name, ipath)


def _check_definition(ctx: Context, files, rel: str, node: str, ipath: tuple) -> None:
    raw = files.read(rel, node, ipath)
    if raw is None:
        return
    shown = ctx.display(rel)

    def bad(message: str, path: tuple = ()) -> None:
        ctx.add("bad-assistant-definition", message, node=node, file=shown,
                line=doc.line(path, 1) if doc is not None else 1)

    doc = None
    try:
        doc = yamlpos.parse(raw)
    except yamlpos.YamlError as e:
        ctx.add("bad-assistant-definition", f"invalid YAML: {e.message}", node=node, file=shown,
                line=e.line or 1)
        return
    data = doc.data
    if not isinstance(data, dict):
        bad("an assistant definition is a mapping (model, instructions, tools)")
        return
    tools = data.get("tools")
    if tools is None:
        return
    if not isinstance(tools, list):
        bad("'tools' must be a list", ("tools",))
        return
    for i, tool in enumerate(tools):
        p = ("tools", i)
        if not isinstance(tool, dict):
            bad(f"tool #{i + 1} must be a mapping", p)
            continue
        t = tool.get("type")
        if t not in TOOL_TYPES:
            bad(f"tool #{i + 1} has type {t!r}; promptflow allows {', '.join(TOOL_TYPES)}",
                p + ("type",))
            continue
        if t == "function":
            _check_function(bad, files, tool, i, p, node)


def _check_function(bad, files, tool: dict, i: int, p: tuple, node: str) -> None:
    what = f"function tool #{i + 1}"
    if tool.get("tool_type") != "python":
        bad(f"{what} has tool_type {tool.get('tool_type')!r}; promptflow supports only 'python'",
            p + ("tool_type",))
    src = tool.get("source")
    if not isinstance(src, dict):
        bad(f"{what} has no 'source' mapping", p + ("source",))
        return
    st = src.get("type", "code")
    if st == "package":
        if not src.get("tool"):
            bad(f"{what} has a package source without 'tool'", p + ("source",))
    elif st == "code":
        path = src.get("path")
        if not isinstance(path, str) or not path:
            bad(f"{what} has a code source without 'path'", p + ("source",))
        else:
            found = files.find(path)
            if found is None:
                bad(f"{what}: tool file '{path}' is not in the flow folder", p + ("source", "path"))
            else:
                files.check_syntax(found, node, p)
    else:
        bad(f"{what} has source type {st!r}; promptflow supports 'code' and 'package'",
            p + ("source", "type"))
