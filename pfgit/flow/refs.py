"""Reference syntax exactly as promptflow reads it (contracts/flow.py::InputAssignment).

A value is a reference only when the *whole* string is `${...}`; `"a ${x}"` is a literal that
promptflow passes through unchanged (we warn about it). Inside the braces: `inputs.x` / `flow.x` is a
flow input; `node`, `node.output`, `node.output.a.b` (and `node.<section>`) name a node.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator

FLOW_INPUT_PREFIXES = ("inputs.", "flow.")
_EMBEDDED = re.compile(r"\$\{[^}]*\}")


@dataclass(frozen=True)
class Ref:
    kind: str            # "input" (flow input) or "node"
    name: str            # input name or node name
    section: str = "output"
    prop: str | None = None  # property path inside a dict output, e.g. "a.b"

    def text(self) -> str:
        if self.kind == "input":
            return "${inputs.%s}" % self.name
        if self.prop is not None:
            return "${%s.%s.%s}" % (self.name, self.section, self.prop)
        return "${%s.%s}" % (self.name, self.section)


def is_ref_text(value: Any) -> bool:
    return isinstance(value, str) and len(value) > 2 and value.startswith("${") and value.endswith("}")


def parse_ref(value: Any) -> Ref | None:
    """The Ref a value denotes, or None for a literal."""
    if not is_ref_text(value):
        return None
    body = value[2:-1]
    if not body:
        return None
    for prefix in FLOW_INPUT_PREFIXES:
        if body.startswith(prefix):
            return Ref("input", body[len(prefix):])
    parts = body.split(".", 2)
    if len(parts) == 1:
        return Ref("node", parts[0])
    return Ref("node", parts[0], parts[1], parts[2] if len(parts) == 3 else None)


def embedded_refs(value: Any) -> list[str]:
    """`${...}` fragments inside a longer string (promptflow treats the string as a literal)."""
    if not isinstance(value, str) or is_ref_text(value) and value.count("${") == 1:
        return []
    return _EMBEDDED.findall(value)


def rename_node_in_value(value: Any, old: str, new: str) -> Any:
    """The value with references to node `old` pointed at `new` (other values unchanged)."""
    ref = parse_ref(value)
    if ref is None or ref.kind != "node" or ref.name != old:
        return value
    return "${" + new + value[2 + len(old):]


def iter_values(obj: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    """Every leaf value under obj with its path (dict keys / list indexes)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from iter_values(v, path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from iter_values(v, path + (i,))
    else:
        yield path, obj
