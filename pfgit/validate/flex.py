"""Flex flows (`flow.flex.yaml`, code-first) and `.prompty` files: what their format allows to check.

Flex: an `entry` of the form `module:function` whose module is a file (or package) in the flow
folder, inputs/outputs with the types promptflow's FlexFlowSchema allows. Prompty: YAML front
matter between `---` lines, `model` a mapping, and a Jinja2 body that parses.
"""

from __future__ import annotations

import re

from ..flow.entry import EntryLocation, EntryPathError, entry_location
from ..flow.readers import path_outside
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
    try:
        loc = entry_location(data, ctx.rel_dir)
    except EntryPathError as e:
        ctx.add("code-outside-flow", str(e), e.key)
        return
    if ctx.reader is not None and loc is not None:
        _check_entry_module(ctx, loc)


def _check_entry_module(ctx: Context, loc: EntryLocation) -> None:
    module, function, base = loc.module, loc.function, loc.package
    reader = ctx.reader
    if path_outside(reader, loc.file):
        ctx.add("path-outside-repo", f"entry module '{module}' resolves outside the repository; "
                "pfgit does not read it", ("entry",))
    elif reader.exists(base + ".py"):
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
        where = "the flow folder" if loc.root == ctx.rel_dir else f"'{ctx.display(loc.root)}' (code)"
        ctx.add("missing-entry-file", f"entry module '{module}' is neither '{module.replace('.', '/')}"
                f".py' nor a package in {where} (fine if it is an installed module)",
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
