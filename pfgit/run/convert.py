"""promptflow's value conversion (contracts/tool.py::ValueType.parse), used for flow inputs
(by their declared `type`) and for literal node inputs (by the tool parameter's annotation).
Brief: promptflow-runner.md §1.3, §1.4."""

from __future__ import annotations

import inspect
import json
from typing import Any

KNOWN_TYPES = {"int", "double", "bool", "string", "list", "object", "secret", "prompt_template",
               "file_path", "image", "assistant_definition"}


class ConvertError(ValueError):
    pass


def parse_value(value: Any, vtype: str) -> Any:
    """ValueType(vtype).parse(value); raises ConvertError with promptflow's reason."""
    try:
        if vtype == "int":
            return int(value)
        if vtype == "double":
            return float(value)
        if vtype == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            raise ConvertError(f"Invalid boolean value {value!r}")
        if vtype in ("string", "secret", "prompt_template"):
            return str(value)
        if vtype == "list":
            if isinstance(value, str):
                value = json.loads(value)
            if not isinstance(value, list):
                raise ConvertError(f"Invalid list value {value!r}")
            return value
        if vtype == "object" and isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value
    except ConvertError:
        raise
    except (TypeError, ValueError, OverflowError) as e:
        raise ConvertError(str(e)) from None


def annotation_type(annotation: Any, default: Any = inspect.Parameter.empty) -> str:
    """The ValueType promptflow infers for a tool parameter (tool_meta_generator.py)."""
    if annotation is inspect.Parameter.empty:
        if default is inspect.Parameter.empty or default is None:
            return "object"
        return value_type_of(default)
    if isinstance(annotation, str):  # `from __future__ import annotations` leaves strings
        annotation = {"int": int, "float": float, "bool": bool, "str": str, "list": list}.get(annotation, annotation)
    return {int: "int", float: "double", bool: "bool", str: "string", list: "list"}.get(annotation, "object")


def value_type_of(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "double"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "list"
    return "object"


def connection_class_names(annotation: Any) -> list:
    """Names of connection classes an annotation accepts ([] when it is not a connection type)."""
    import typing

    args = typing.get_args(annotation) if typing.get_origin(annotation) is typing.Union else (annotation,)
    names = []
    for a in args:
        name = a if isinstance(a, str) else getattr(a, "__name__", "")
        if isinstance(name, str) and name.endswith("Connection"):
            names.append(name)
    return names
