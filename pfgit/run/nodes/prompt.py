"""Jinja rendering as promptflow's tools do it (promptflow-runner.md §6.1) and the escaping of
role markers in flow-input values (§6.2), so user data never splits a chat prompt.

Environment: SandboxedEnvironment(trim_blocks=True, keep_trailing_newline=True), autoescape off,
default Undefined (a missing variable renders ""); PF_USE_SANDBOX_FOR_JINJA=false uses a plain
jinja2.Template with the same options.
"""

from __future__ import annotations

import functools
import os
import re
import uuid

ROLES = ("system", "user", "assistant", "function", "tool")
ROLE_LINE = re.compile(r"(?i)^\s*#?\s*(" + "|".join(ROLES) + r")\s*:\s*\n", re.MULTILINE)


class TemplateError(Exception):
    pass


class PromptResult(str):
    """A prompt node's output: the rendered text, plus its escaped form and escape map so an llm
    node fed by it keeps flow-input role markers escaped (promptflow's PromptResult)."""

    escaped: str = ""
    mapping: dict = {}


@functools.lru_cache(maxsize=256)
def _compiled(text: str, sandbox: bool):
    import jinja2

    if sandbox:
        from jinja2.sandbox import SandboxedEnvironment

        return SandboxedEnvironment(trim_blocks=True, keep_trailing_newline=True).from_string(text)
    return jinja2.Template(text, trim_blocks=True, keep_trailing_newline=True)


def render(template: str, variables: dict, escapes: dict | None = None) -> str:
    sandbox = os.environ.get("PF_USE_SANDBOX_FOR_JINJA", "true").lower() != "false"
    try:
        return _compiled(template, sandbox).render(**variables)
    except Exception as e:
        msg = unescape(str(e), escapes or {})
        raise TemplateError(f"Failed to render jinja template: {type(e).__name__}: {msg}. "
                            "Please modify your prompt to fix the issue.") from None


def escape_map_for(value, into: dict) -> dict:
    """Add a placeholder for every role word found as a role line in `value` (str/list/dict)."""
    if isinstance(value, str):
        for role in ROLE_LINE.findall(value):
            if role not in into.values():
                into[str(uuid.uuid4())] = role
    elif isinstance(value, dict):
        for v in value.values():
            escape_map_for(v, into)
    elif isinstance(value, list):
        for v in value:
            escape_map_for(v, into)
    return into


def escape(value, mapping: dict):
    if not mapping:
        return value
    if isinstance(value, PromptResult):
        return value.escaped or str(value)
    if isinstance(value, str):
        for placeholder, role in mapping.items():
            value = value.replace(role, placeholder)
        return value
    if isinstance(value, dict):
        return {k: escape(v, mapping) for k, v in value.items()}
    if isinstance(value, list):
        return type(value)(escape(v, mapping) for v in value) if type(value) is not list else [escape(v, mapping) for v in value]
    return value


def unescape(value, mapping: dict):
    if not mapping:
        return value
    if isinstance(value, str):
        for placeholder, role in mapping.items():
            value = value.replace(placeholder, role)
        return value
    if isinstance(value, list):
        return [unescape(v, mapping) if not isinstance(v, dict) else
                {**v, **({"text": unescape(v["text"], mapping)} if "text" in v else {})} for v in value]
    return value


def render_escaped(template: str, variables: dict, from_flow_inputs: set) -> tuple[str, dict]:
    """Render with flow-input values (and prompt results fed in) escaped. Returns (text, map)."""
    mapping: dict = {}
    for k, v in variables.items():
        if isinstance(v, PromptResult) and v.mapping:
            mapping.update(v.mapping)
    for k in from_flow_inputs:
        if k in variables:
            escape_map_for(variables[k], mapping)
    if not mapping:
        return render(template, variables), {}
    escaped = {k: (escape(v, mapping) if (k in from_flow_inputs or isinstance(v, PromptResult)) else v)
               for k, v in variables.items()}
    return render(template, escaped, mapping), mapping


def prompt_output(template: str, variables: dict, from_flow_inputs: set) -> PromptResult:
    """A `type: prompt` node: the rendered text (original), carrying its escaped form."""
    text, mapping = render_escaped(template, variables, from_flow_inputs)
    out = PromptResult(unescape(text, mapping) if mapping else text)
    out.escaped, out.mapping = text, mapping
    return out
