"""A flex flow entry's parameter types, judged as promptflow's flow meta generation judges them.

promptflow serves a flex flow, so `generate_flow_meta_dict_by_object` (_core/tool_meta_generator.py)
refuses an input, `__init__` argument or TypedDict/dataclass output field whose type maps to
`object` unless it is annotated `dict` ("The input 'x' is of a complex python type. Please use a
dict instead."; its tests: test_flow_entity.py on eager_flows/invalid_illegal_input_type,
test_flow_save.py). Read from the AST, no import. What counts, as promptflow's
resolve_annotation/param_to_definition do it:

- fine: no annotation, str/int/float/bool/list/dict, promptflow's Secret/PromptTemplate/FilePath/
  Image/AssistantDefinition, connection classes (`...Connection`), an Enum defined in the module,
  `Optional[X]` of any of these, a Union of connections; for `__init__` also the model
  configurations;
- refused: any other class defined in the module (dataclasses, TypedDicts), `object`, `Any`,
  `tuple`, generics such as `List[str]` or `dict[str, int]`, `X | None` (promptflow only unwraps
  `typing.Optional`/`Union`), other Unions, and string annotations (so every annotation of a module
  with `from __future__ import annotations`).

A name imported from elsewhere (it may be an Enum or a connection) is taken on trust.
"""

from __future__ import annotations

from .signatures import annotation_leaves, parse_module

_SIMPLE = {"str", "int", "float", "bool", "list", "dict", "Secret", "PromptTemplate", "FilePath",
           "Image", "AssistantDefinition"}
_MODEL_CONFIGS = {"AzureOpenAIModelConfiguration", "OpenAIModelConfiguration"}
_COMPLEX_NAMES = {"object", "Any", "tuple", "set", "frozenset", "bytes", "complex", "List", "Dict",
                  "Tuple", "Set", "Mapping", "Sequence", "Iterable", "None"}
_ENUM_BASES = {"Enum", "IntEnum", "StrEnum", "Flag", "IntFlag"}


def complex_params(data: bytes, filename: str, function: str) -> list:
    """(port, name, line, why) for each entry port promptflow refuses; [] when it cannot tell."""
    tree = parse_module(data, filename)
    if tree is None:
        return []
    future = any(type(n).__name__ == "ImportFrom" and n.module == "__future__"
                 and any(a.name == "annotations" for a in n.names) for n in tree.body)
    classes = {n.name: n for n in tree.body if type(n).__name__ == "ClassDef"}
    funcs = {n.name: n for n in tree.body if type(n).__name__ in ("FunctionDef", "AsyncFunctionDef")}
    enums = _enums(classes)
    local = set(classes) - enums
    out: list = []
    if function in funcs:
        call, init = funcs[function], None
    elif function in classes:
        methods = {m.name: m for m in classes[function].body
                   if type(m).__name__ in ("FunctionDef", "AsyncFunctionDef")}
        call, init = methods.get("__call__"), methods.get("__init__")
        if call is None:
            return []
    else:
        return []
    for port, fn, skip_self in (("input", call, init is not None or function in classes),
                                ("input", init, True)):
        if fn is None:
            continue
        a = fn.args
        params = list(a.posonlyargs) + list(a.args) + list(a.kwonlyargs)
        if skip_self and params:
            params = params[1:]
        for p in params:
            why = _why(p.annotation, local, future, init_arg=fn is init)
            if why:
                out.append((port, p.arg, p.lineno, why))
    ret = call.returns
    leaves = annotation_leaves(ret)
    if leaves and len(leaves) == 1 and leaves[0] in classes and _is_record(classes[leaves[0]]):
        for st in classes[leaves[0]].body:
            if type(st).__name__ == "AnnAssign" and type(st.target).__name__ == "Name":
                why = _why(st.annotation, local, future)
                if why:
                    out.append(("output", st.target.id, st.lineno, why))
    return out


def _why(ann, local: set, future: bool, init_arg: bool = False) -> str | None:
    leaves = annotation_leaves(ann)
    if leaves is None:
        return None
    if future:
        return "its annotation is a string (from __future__ import annotations)"
    if len(leaves) > 1:
        if all(x.endswith("Connection") for x in leaves) or all(x == "dict" for x in leaves):
            return None
        return "it is a Union of several types"
    leaf = leaves[0] if leaves else "None"
    if leaf in _SIMPLE or leaf.endswith("Connection") or (init_arg and leaf in _MODEL_CONFIGS):
        return None
    if leaf == "[]":
        return "it is a subscripted generic (List[str], dict[str, int], ...)"
    if leaf == "|":
        return "it is an 'X | Y' union, which promptflow does not unwrap (use Optional[X])"
    if leaf == '"':
        return "its annotation is a string"
    if leaf in local:
        return f"'{leaf}' is a class"
    if leaf in _COMPLEX_NAMES:
        return f"'{leaf}' is not a type promptflow can serve"
    return None  # imported from elsewhere: may be an Enum or a connection


def _enums(classes: dict) -> set:
    """Classes of the module that are Enums (directly or through another enum of the module)."""
    out: set = set()
    changed = True
    while changed:
        changed = False
        for name, c in classes.items():
            if name in out:
                continue
            bases = {annotation_leaves(b)[0] for b in c.bases if annotation_leaves(b)}
            if bases & (_ENUM_BASES | out):
                out.add(name)
                changed = True
    return out


def _is_record(cls) -> bool:
    """A dataclass or a TypedDict: promptflow reads its fields as the flow's outputs."""
    decos = [annotation_leaves(d.func if type(d).__name__ == "Call" else d) for d in cls.decorator_list]
    bases = [annotation_leaves(b) for b in cls.bases]
    return ["dataclass"] in decos or ["TypedDict"] in bases
