"""The parameters of a Python tool, read from its source without importing it.

promptflow calls a python node's `@tool` function with the node's inputs as keyword arguments, so
an input that is not a parameter is a `TypeError` at run time, and a required parameter without an
input fails too; `pf flow validate` notices neither. The AST comes from the builtin `compile` (the
`ast` module is not needed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ONLY_AST = 0x400  # ast.PyCF_ONLY_AST


def parse_module(data: bytes, filename: str):
    """The module's AST, or None when it does not parse (reported as python-syntax elsewhere)."""
    try:
        return compile(data, filename, "exec", _ONLY_AST, dont_inherit=True)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None


@dataclass
class Signature:
    function: str
    params: list            # names that can be passed as keywords
    required: list          # of those, the ones without a default
    any_keyword: bool       # has **kwargs: every input is accepted
    annotations: dict = None  # parameter name -> its annotation (an AST node) or None


def annotation_leaves(ann) -> list | None:
    """The types an annotation allows, as promptflow's resolve_annotation sees them: `Optional[X]`
    and `Union[X, Y]` are split (NoneType dropped); every other annotation is one leaf: a name
    ("str", "CustomConnection" for `promptflow.connections.CustomConnection`), "[]" for a
    subscripted generic (`List[str]`), "|" for `X | Y` (promptflow does not unwrap it), '"' for a
    string annotation. None when there is no annotation."""
    if ann is None:
        return None
    kind = type(ann).__name__
    if kind == "Subscript":
        base = _leaf_name(ann.value)
        if base in ("Optional", "Union"):
            sl = ann.slice
            if type(sl).__name__ == "Index":  # Python < 3.9 wraps the slice
                sl = sl.value
            args = sl.elts if type(sl).__name__ == "Tuple" else [sl]
            out = [leaf for a in args if not _is_none(a) for leaf in annotation_leaves(a) or []]
            return out
        return ["[]"]
    if kind == "BinOp":
        return ["|"]
    if kind == "Constant" and isinstance(ann.value, str):
        return ['"']
    if _is_none(ann):
        return ["None"]
    name = _leaf_name(ann)
    return [name] if name else ["?"]


def _leaf_name(node) -> str | None:
    kind = type(node).__name__
    if kind == "Name":
        return node.id
    if kind == "Attribute":
        return node.attr
    return None


def _is_none(node) -> bool:
    return type(node).__name__ == "Constant" and node.value is None


def is_connection_annotation(ann) -> bool:
    """A promptflow connection type (`CustomConnection`, `Union[AzureOpenAIConnection, ...]`):
    runs can supply it at submission (`pf run --connections`), so it may be left unset."""
    leaves = annotation_leaves(ann)
    return bool(leaves) and all(leaf.endswith("Connection") for leaf in leaves)


def tool_signature(data: bytes, filename: str, tree=None) -> Signature | None:
    """The signature of the one top-level `@tool` function, or None (none, several, or the
    source does not parse: reported elsewhere). `tree`: the module's AST when already parsed."""
    tree = parse_module(data, filename) if tree is None else tree
    if tree is None:
        return None
    tools = [n for n in tree.body
             if type(n).__name__ in ("FunctionDef", "AsyncFunctionDef")
             and any(_is_tool(d) for d in n.decorator_list)]
    if len(tools) != 1:
        return None
    fn = tools[0]
    a = fn.args
    positional = list(a.posonlyargs) + list(a.args)
    first_default = len(positional) - len(a.defaults)  # defaults belong to the last ones
    keywordable = positional[len(a.posonlyargs):]  # positional-only ones cannot take keywords
    params = [p.arg for p in keywordable] + [p.arg for p in a.kwonlyargs]
    required = [p.arg for i, p in enumerate(positional)
                if len(a.posonlyargs) <= i < first_default]
    required += [p.arg for p, d in zip(a.kwonlyargs, a.kw_defaults) if d is None]
    annotations = {p.arg: p.annotation for p in keywordable + list(a.kwonlyargs)}
    return Signature(fn.name, params, required, a.kwarg is not None, annotations)


def entry_params(data: bytes, filename: str, function: str) -> list | None:
    """The parameters a flex entry takes by keyword, read from its source: a top-level function's,
    or a top-level class's `__call__` without `self` (what the built-in engine's FlexEngine asks
    `inspect` for); None when the source does not tell (no such definition, does not parse)."""
    tree = parse_module(data, filename)
    if tree is None:
        return None
    defs = [n for n in tree.body if getattr(n, "name", None) == function]
    kind = type(defs[-1]).__name__ if defs else None
    if kind in ("FunctionDef", "AsyncFunctionDef"):
        fn, skip = defs[-1], 0
    elif kind == "ClassDef":
        calls = [m for m in defs[-1].body if type(m).__name__ in ("FunctionDef", "AsyncFunctionDef")
                 and m.name == "__call__"]
        if not calls:
            return None
        fn, skip = calls[-1], 1
    else:
        return None
    a = fn.args
    return [p.arg for p in (list(a.posonlyargs) + list(a.args))[skip:] + list(a.kwonlyargs)]


def _is_tool(dec) -> bool:
    if type(dec).__name__ == "Call":
        dec = dec.func
    kind = type(dec).__name__
    return (kind == "Name" and dec.id == "tool") or (kind == "Attribute" and dec.attr == "tool")


def top_level_names(data: bytes, filename: str) -> set | None:
    """Names a module defines at import time (functions, classes, assignments, imports, also
    inside top-level if/try/with blocks), or None when that cannot be told from the source
    (it does not parse, or has a `from x import *`)."""
    tree = parse_module(data, filename)
    if tree is None:
        return None
    names: set = set()
    todo = list(tree.body)
    while todo:
        n = todo.pop()
        kind = type(n).__name__
        if kind in ("FunctionDef", "AsyncFunctionDef", "ClassDef"):
            names.add(n.name)
        elif kind in ("Import", "ImportFrom"):
            for a in n.names:
                if a.name == "*":
                    return None
                names.add(a.asname or a.name.split(".")[0])
        elif kind in ("Assign", "AnnAssign", "AugAssign"):
            targets = n.targets if kind == "Assign" else [n.target]
            names.update(_bound(t) for t in targets)
        else:  # compound statements: their blocks run at import time too
            for attr in ("body", "orelse", "finalbody", "handlers"):
                todo.extend(x for x in getattr(n, attr, None) or () if hasattr(x, "_fields"))
    return names


def _bound(target) -> str | None:
    return target.id if type(target).__name__ == "Name" else None


_TOOL_CALL = re.compile(rb"\btool\s*\(")


def tool_names(data: bytes, filename: str, tree=None) -> list | None:
    """Names of the @tool functions (top level) and @tool methods (of top-level classes) that
    promptflow collects from a python source, which must be exactly one; or None when the source
    cannot tell (it does not parse, imports `tool` under another name, or calls `tool(...)`)."""
    tree = parse_module(data, filename) if tree is None else tree
    if tree is None:
        return None
    for n in tree.body:
        if type(n).__name__ in ("Import", "ImportFrom") and any(
                a.asname and (a.name == "tool" or a.name.endswith(".tool")) for a in n.names):
            return None
    if any(_TOOL_CALL.search(line) for line in data.splitlines()
           if not line.lstrip().startswith(b"@")):
        return None
    names = []
    for n in tree.body:
        kind = type(n).__name__
        if kind in ("FunctionDef", "AsyncFunctionDef") and any(_is_tool(d) for d in n.decorator_list):
            names.append(n.name)
        elif kind == "ClassDef":
            names += [m.name for m in n.body if type(m).__name__ in ("FunctionDef", "AsyncFunctionDef")
                      and any(_is_tool(d) for d in m.decorator_list)]
    return names
