"""A flow as one line per value, in a canonical order: what git's textconv diffs.

`git log -p` and `git show` run external diff drivers only with `--ext-diff`, but they do apply
`diff.pfgit.textconv`. Diffing this form instead of the raw YAML makes formatting-only edits
(indentation, key order, quoting, comments, flow style) vanish there too, and every changed line
names its full path (`nodes.summarize.inputs.temperature: 0.2`). A multi-line string (an inline
prompt) is written as a block: `path: |` (`|-` without a final newline), then its lines indented
by two spaces.

Mapping keys are sorted (after a few well-known keys, so the form reads naturally); nodes keep
their file order (that order breaks ties in promptflow's execution order).
"""

from __future__ import annotations

from typing import Any

from .match import node_keys
from .render import fmt_value, is_text, text_lines

_TOP = ["$schema", "inputs", "outputs", "nodes", "node_variants"]
_NODE = ["name", "type", "source", "inputs"]


def _ordered(d: dict, first: list) -> list:
    head = [k for k in first if k in d]
    rest = sorted((k for k in d if k not in first), key=lambda k: (type(k).__name__, str(k)))
    return head + rest


def _key(k: Any) -> str:
    # a line break in a key or node name would start a line of its own: a made-up value line
    return str(k).replace("\r", "\\r").replace("\n", "\\n")


def _leaves(prefix: str, value: Any, out: list, first: list | None = None) -> None:
    if isinstance(value, dict) and value:
        for k in _ordered(value, first or []):
            _leaves(f"{prefix}.{_key(k)}" if prefix else _key(k), value[k], out)
    elif is_text(value):
        # a block scalar as its lines, so git's line diff shows which line of a prompt changed;
        # each indented: no line of the text can pass for a value line (those start at column 0)
        lines = text_lines(value)
        out.append(f"{prefix}: |" + ("" if lines[-1].endswith("\n") else "-"))
        out += ["  " + ln.rstrip("\n") for ln in lines]
    else:
        out.append(f"{prefix}: {fmt_value(value)}")


def outline(data: Any) -> str:
    """The canonical one-line-per-value text of parsed flow data."""
    if not isinstance(data, dict):
        return fmt_value(data) + "\n"
    out: list = []
    for k in _ordered(data, _TOP):
        v = data[k]
        if k == "nodes" and isinstance(v, list) and v:
            for key, node in zip(node_keys(v), v):
                key = _key(key)
                out.append("")
                if isinstance(node, dict):
                    for nk in _ordered(node, _NODE):
                        if nk == "name" and node[nk] == key:
                            continue  # already in every line's path
                        _leaves(f"nodes.{key}.{nk}", node[nk], out)
                else:
                    out.append(f"nodes.{key}: {fmt_value(node)}")
            out.append("")
        else:
            _leaves(_key(k), v, out)
    return "\n".join(out).strip("\n") + "\n"


def outline_bytes(raw: bytes, file: str = "flow.dag.yaml") -> bytes:
    """Textconv of a flow file; text that cannot be parsed is passed through unchanged."""
    from ..flow.load import FlowLoadError, parse_flow_bytes

    if file.endswith(".prompty"):
        return raw  # the prompt body is the point of a .prompty: keep it as it is
    try:
        doc = parse_flow_bytes(raw, file)
    except FlowLoadError:
        return raw
    from ..output import neutralise

    # git prints textconv's output as it is (`git log -p`, `git show`): keys are shown as parsed,
    # so YAML's "\e" or "\u202e" in a node name would reach the terminal as a real escape
    return neutralise(outline(doc.data)).encode("utf-8")


__all__ = ["outline", "outline_bytes"]
