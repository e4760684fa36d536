"""Template rendering and chat-message parsing exactly as promptflow-tools 1.6.1 does them
(`common.py`: render_jinja_template, Escaper, PromptResult, parse_chat, build_messages;
`template_rendering.py`). Pure: no I/O.

Role markers inside values that come from flow inputs (or from a prompt node's output built from
them) are swapped for uuids before rendering and restored after splitting, so user data never
opens a new message; values from python nodes are not escaped (promptflow's behaviour).
"""

from __future__ import annotations

import ast
import functools
import os
import re
import uuid

from .errors import LLMError

VALID_ROLES = ["system", "user", "assistant", "function", "tool"]
_ROLE_SEP = r"(?i)^\s*#?\s*(" + "|".join(VALID_ROLES) + r")\s*:\s*\n"


class ChatInputList(list):
    """A list whose str() joins items by newlines (the Azure OpenAI chat tool renders lists so)."""

    def __str__(self) -> str:
        return "\n".join(map(str, self))


class PromptResult(str):
    """A prompt node's output: the rendered text, plus the escaped text and its escape map so an LLM
    node fed by it does not split on role markers that came from flow inputs."""

    def __new__(cls, string):
        obj = super().__new__(cls, string)
        obj.escaped_string = ""
        obj.escaped_mapping = {}
        return obj

    def need_to_escape(self) -> bool:
        return bool(self.escaped_mapping)


@functools.lru_cache(maxsize=256)
def _compiled(template: str, sandbox: bool):
    """Compiled once per template text: compiling costs more than rendering, and every line of a
    batch renders the same few templates (jinja2 templates are safe to render from many threads)."""
    if not sandbox:
        from jinja2 import Template

        return Template(template, trim_blocks=True, keep_trailing_newline=True)
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(trim_blocks=True, keep_trailing_newline=True).from_string(template)


def _is_plain_text(template: str) -> bool:
    """True when Jinja would render `template` unchanged: no tag, expression or comment markers,
    no line-ending normalisation (`\\r`). An llm node whose `prompt` is a prompt node's output
    renders a different text on every line (corpus: basic-with-builtin-llm), and compiling it
    cost more than the rest of the line's own work."""
    return "{" not in template and "\r" not in template


def _sandboxed() -> bool:
    return os.environ.get("PF_USE_SANDBOX_FOR_JINJA", "true").lower() != "false"


def warm_template(template: str) -> None:
    """Import Jinja and compile a node's template now, while the plan is built: otherwise a
    batch's first lines (sixteen threads) each import and compile it at once, contending for
    the import locks (~50 ms of the first round). A template that does not compile fails its
    lines later, exactly as without this."""
    if _is_plain_text(template):
        return
    try:
        _compiled(template, _sandboxed())
    except Exception:
        pass


def render_jinja_template(template: str, escape_dict: dict | None = None, **kwargs) -> str:
    if _is_plain_text(template):
        return str(template)
    try:
        return _compiled(template, _sandboxed()).render(**kwargs)
    except Exception as e:
        msg = unescape_roles(str(e), escape_dict or {})
        raise LLMError(f"Failed to render jinja template: {type(e).__name__}: {msg}. "
                       "Please modify your prompt to fix the issue.", "JinjaTemplateError") from e


def convert_to_chat_list(obj):
    if isinstance(obj, dict):
        return {k: convert_to_chat_list(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return ChatInputList([convert_to_chat_list(v) for v in obj])
    return obj


# --- escaping (promptflow's Escaper) -----------------------------------------------------------

def _flow_input_escape_dict(val, escape_dict: dict) -> dict:
    if isinstance(val, ChatInputList):
        for item in val:
            _flow_input_escape_dict(item, escape_dict)
    elif isinstance(val, dict):
        for v in val.values():
            _flow_input_escape_dict(v, escape_dict)
    elif isinstance(val, str):
        for role in re.findall(_ROLE_SEP, val, flags=re.MULTILINE):
            if role not in escape_dict.values():
                escape_dict[str(uuid.uuid4())] = role
    return escape_dict


def _escape_value(val, escape_dict: dict):
    if not escape_dict:
        return val
    if isinstance(val, ChatInputList):
        return ChatInputList([_escape_value(v, escape_dict) for v in val])
    if isinstance(val, str):
        for encoded, role in escape_dict.items():
            val = val.replace(role, encoded)
        return val
    if isinstance(val, dict):
        for k, v in val.items():
            val[k] = _escape_value(v, escape_dict)
        return val
    return val


def unescape_roles(val, escape_dict: dict):
    if not escape_dict:
        return val
    if isinstance(val, str):
        for encoded, role in escape_dict.items():
            val = val.replace(encoded, role)
        return val
    if isinstance(val, list):
        for item in val:
            if isinstance(item, dict) and "text" in item:
                for encoded, role in escape_dict.items():
                    item["text"] = item["text"].replace(encoded, role)
    return val


def build_escape_dict(inputs_to_escape, kwargs: dict) -> dict:
    escape: dict = {}
    for v in kwargs.values():
        if isinstance(v, PromptResult) and v.need_to_escape():
            escape.update(v.escaped_mapping)
    for k, v in kwargs.items():
        if inputs_to_escape and k in inputs_to_escape:
            _flow_input_escape_dict(v, escape)
    return escape


def escape_kwargs(escape_dict: dict, inputs_to_escape, kwargs: dict) -> dict:
    out = {}
    for k, v in kwargs.items():
        if isinstance(v, PromptResult) and v.need_to_escape():
            out[k] = v.escaped_string
        elif inputs_to_escape and k in inputs_to_escape:
            out[k] = _escape_value(v, escape_dict)
        else:
            out[k] = v
    return out


def render_prompt(template: str, variables: dict, inputs_to_escape=()) -> PromptResult:
    """A `type: prompt` node (promptflow's render_template_jinja2): the rendered text as a
    PromptResult carrying what a downstream LLM node needs to keep flow-input role markers inert."""
    result = PromptResult(render_jinja_template(template, **variables))
    escape = build_escape_dict(inputs_to_escape, variables)
    if escape:
        result.escaped_mapping = escape
        result.escaped_string = render_jinja_template(
            template, escape_dict=escape, **escape_kwargs(escape, inputs_to_escape, variables))
    return result


# --- chat parsing (promptflow's parse_chat) ----------------------------------------------------

def _name_and_content(chunk: str):
    m = re.search(r"\n*#{0,2}\s*name\s*:\s*\n+\s*(\S+)\s*\n*#{0,2}\s*content\s*:\s*\n?(.*)", chunk, re.DOTALL)
    return (m.group(1), m.group(2)) if m else None


def _tool_call_id_and_content(chunk: str):
    m = re.search(r"\n*#{0,2}\s*tool_call_id\s*:\s*\n+\s*(\S+)\s*\n*#{0,2}\s*content\s*:\s*\n?(.*)",
                  chunk, re.DOTALL)
    return (m.group(1), m.group(2)) if m else None


def _tool_calls(chunk: str):
    m = re.search(r"\n*#{0,2}\s*tool_calls\s*:\s*\n+\s*(\[.*?\])", chunk, re.DOTALL)
    if m:
        try:
            return ast.literal_eval(m.group(1))
        except Exception:
            return None
    return None


def to_content(text: str, hash2images: dict, image_detail: str):
    """A message's content: the stripped string, or a list of text/image_url parts when a line is
    one of the referenced images (duck-typed like promptflow's Image: source_url or to_base64())."""
    text = text.strip()
    parts, has_image = [], False
    for line in text.split("\n"):
        key = line.strip()
        if key in hash2images:
            img = hash2images[key]
            url = getattr(img, "source_url", None)
            if not url:
                url = f"data:{getattr(img, '_mime_type', 'image/*')};base64,{img.to_base64()}"
            parts.append({"type": "image_url", "image_url": {"url": url, "detail": image_detail}})
            has_image = True
        elif key:
            parts.append({"type": "text", "text": line})
    return parts if has_image else text


def _invalid_role(role: str, escape_dict: dict) -> LLMError:
    roles = ",".join(f"'{r}:\\n'" for r in VALID_ROLES)
    return LLMError(
        "The Chat API requires a specific format for prompt definition, and the prompt should include "
        f"separate lines as role delimiters: {roles}. Current parsed role "
        f"'{unescape_roles(role, escape_dict)}' does not meet the requirement. If you intend to use the "
        "Completion API, please select the appropriate API type and deployment name. If you do intend "
        "to use the Chat API, please refer to the guideline at https://aka.ms/pfdoc/chat-prompt or view "
        "the samples in our gallery that contain 'Chat' in the name.", "ChatAPIInvalidRole")


def parse_chat(chat_str: str, images=None, image_detail: str = "auto", escape_dict: dict | None = None) -> list:
    escape_dict = escape_dict or {}
    hash2images = {str(x): x for x in images or []}
    messages: list = []
    for chunk in re.split(_ROLE_SEP, chat_str, flags=re.MULTILINE):
        last = messages[-1] if messages else None
        if last and last.get("role") == "tool" and "content" not in last:
            parsed = _tool_call_id_and_content(chunk)
            if parsed is None:
                raise LLMError("Failed to parse tool role prompt. Please make sure the prompt follows the "
                               "format: 'tool_call_id:\\ntool_call_id\\ncontent:\\ntool_content'.",
                               "ChatAPIToolRoleInvalidFormat")
            last["tool_call_id"] = parsed[0]
            last["content"] = to_content(parsed[1], hash2images, image_detail)
            continue
        if last and last.get("role") == "assistant":
            calls = _tool_calls(chunk)
            if calls is not None:
                last["tool_calls"] = calls
                continue
        if last and "content" not in last and "tool_calls" not in last:
            parsed = _name_and_content(chunk)
            if parsed is None:
                if last["role"] == "function":
                    raise LLMError("Failed to parse function role prompt. Please make sure the prompt "
                                   "follows the format: 'name:\\nfunction_name\\ncontent:\\nfunction_content'. "
                                   "'name' is required if role is function.", "ChatAPIFunctionRoleInvalidFormat")
                last["content"] = to_content(chunk, hash2images, image_detail)
            else:
                last["name"] = parsed[0]
                last["content"] = to_content(parsed[1], hash2images, image_detail)
        else:
            if chunk.strip() == "":
                continue
            role = chunk.strip().lower()
            if role not in VALID_ROLES:
                raise _invalid_role(role, escape_dict)
            messages.append({"role": role})
    return messages


def preprocess_template(template: str) -> str:
    """`![image]({{x}})` -> `{{x}}` on its own line (vision prompts, prompty)."""
    pattern = re.compile(r"\!\[(\s*image\s*)\]\(\{\{(\s*[^\s{}]+\s*)\}\}\)")
    for label, var in pattern.findall(template):
        template = template.replace(f"![{label}]({{{{{var}}}}})", f"\n{{{{{var}}}}}\n")
    return template


def build_messages(template: str, variables: dict, inputs_to_escape=(), images=None,
                   image_detail: str = "auto") -> list:
    """Render `template` with `variables` and split it into chat messages (promptflow's build_messages)."""
    escape = build_escape_dict(inputs_to_escape, variables)
    rendered = render_jinja_template(template, escape_dict=escape,
                                     **escape_kwargs(escape, inputs_to_escape, variables))
    messages = parse_chat(rendered, images=images, image_detail=image_detail, escape_dict=escape)
    if escape:
        for m in messages:
            for k, v in m.items():
                m[k] = unescape_roles(v, escape)
    return messages
