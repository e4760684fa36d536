"""Flex flows (`flow.flex.yaml`, code-first) and `.prompty` files: what their format allows to check.

Flex: an `entry` of the form `module:function` whose module is a file (or package) in the flow
folder, inputs/outputs with the types promptflow's FlexFlowSchema allows. Prompty: YAML front
matter between `---` lines, `model` a mapping, and a Jinja2 body that parses.
"""

from __future__ import annotations

import re

from ..flow.readers import join
from .context import Context
from .entry_types import complex_params
from .signatures import top_level_names
from .sources import SourceFiles
from .structure import check_duplicate_keys, check_io, check_top, expect

# promptflow's FlexFlowSchema (_sdk/schemas/_flow.py): marshmallow with unknown=RAISE, so any other
# key, also inside inputs/outputs/init, stops `load_flow` ("{'nodes': ['Unknown field.']}", its
# test_flow.py::test_flow_load_invalid on eager_flows/invalid_extra_fields_nodes and
# invalid_illegal_path). A DAG flow's unknown keys are only warnings.
FLEX_TOP = {"$schema": str, "entry": None, "inputs": dict, "outputs": dict, "init": dict,
            "sample": None, "environment": dict, "additional_includes": list,
            "environment_variables": dict, "language": str, "type": str, "description": str,
            "display_name": str, "tags": dict, "code": str}
FLEX_INPUT = {"type": str, "default": None, "description": str, "is_chat_input": bool,
              "is_chat_history": bool}
FLEX_OUTPUT = {"type": str, "reference": str, "description": str, "is_chat_output": bool}
FLEX_TYPES = ("string", "int", "double", "bool", "list", "object")
ENTRY = re.compile(r"^[a-zA-Z0-9_.]+:[a-zA-Z0-9_]+$")  # promptflow's FlowEntryRegex.Python


def check_flex(ctx: Context) -> None:
    data = ctx.flow.data
    check_duplicate_keys(ctx)
    check_top(ctx, FLEX_TOP, unknown="unknown-flex-key")
    check_io(ctx, "inputs", FLEX_INPUT, FLEX_TYPES, unknown="unknown-flex-key")
    check_io(ctx, "outputs", FLEX_OUTPUT, FLEX_TYPES, unknown="unknown-flex-key")
    check_io(ctx, "init", FLEX_INPUT, None, unknown="unknown-flex-key")
    sample = data.get("sample")
    if isinstance(sample, dict):
        for k in sample:
            if k not in ("inputs", "init"):
                ctx.add("bad-value", f"sample key '{k}' is not 'inputs' or 'init'", ("sample", k))
    entry = data.get("entry")
    if entry is None:
        ctx.add("missing-entry", "flex flow has no 'entry' (module:function)", ("entry",))
        return
    if data.get("language") == "csharp":
        return  # a .NET entry ("(FlexFlowClassInit)Ns.Class.Method"): nothing Python to check
    if not isinstance(entry, str) or not ENTRY.match(entry):
        ctx.add("bad-entry", f"entry {entry!r} is not of the form 'module:function'", ("entry",))
        return
    if ctx.reader is not None:
        _check_entry_module(ctx, *entry.split(":", 1))


def _check_entry_module(ctx: Context, module: str, function: str) -> None:
    code = ctx.flow.data.get("code")
    base = join(ctx.rel_dir, code if isinstance(code, str) else ".", module.replace(".", "/"))
    reader = ctx.reader
    if reader.exists(base + ".py"):
        files = SourceFiles(ctx)
        files.check_syntax(base + ".py", None, ("entry",))
        data = files.good_python.get(base + ".py")
        names = top_level_names(data, base + ".py") if data is not None else None
        if names is not None and function not in names:
            ctx.add("missing-entry-function", f"entry '{module}:{function}': "
                    f"'{ctx.display(base + '.py')}' defines no '{function}'", ("entry",))
        elif data is not None:
            shown = ctx.display(base + ".py")
            for port, name, line, why in complex_params(data, base + ".py", function):
                ctx.add("complex-entry-type", f"entry '{module}:{function}': the {port} '{name}' "
                        f"is of a complex Python type ({why}); promptflow refuses it: use a "
                        "dict, or str/int/float/bool/list", file=shown, line=line)
    elif not reader.is_dir(base):
        ctx.add("missing-entry-file", f"entry module '{module}' is neither '{module.replace('.', '/')}"
                ".py' nor a package in the flow folder (fine if it is an installed module)",
                ("entry",))


def check_prompty(ctx: Context) -> None:
    data = ctx.flow.data
    check_duplicate_keys(ctx)
    model = data.get("model")
    if model is not None:
        expect(ctx, model, dict, ("model",), "'model'")
    if ctx.reader is None:
        return
    from ..flow.load import split_prompty

    try:
        text = ctx.reader.read_bytes(ctx.rel_file).decode("utf-8-sig")
        _, _, body, body_line = split_prompty(text)
    except Exception:  # already reported when the file was loaded
        return
    SourceFiles(ctx).check_syntax(ctx.rel_file, None, (), line_offset=body_line - 1,
                                  text_only=body.encode("utf-8"))
