"""LLM calls for the built-in engine: what promptflow's LLM tools (promptflow-tools 1.6.1
`openai.py`, `aoai.py`, `embedding.py`) do, through the official `openai` SDK.

The runner calls `call_llm` for `type: llm` nodes, for the `promptflow.tools.embedding.embedding`
package tool and for `.prompty` files (with `prompty=True`), and `render_prompt` for `type: prompt`
nodes (so a prompt node's output carries the escape map an LLM node downstream needs).

Interface (stable; the runner codes against it):

    call_llm(api, connection, prompt, params, ctx=None) -> (output, Usage)

    api         "chat" | "completion" | "embedding"
    connection  a `pfgit.run.connections.Connection` (types open_ai, azure_open_ai, serverless),
                secrets already resolved (`Connection.resolved()`), or a dict of the same fields
                ({"type": "open_ai", "api_key": ..., "base_url": ...}).
    prompt      chat/completion: the jinja2 TEMPLATE text (not rendered: promptflow renders inside
                the tool, with flow-input escaping and Azure's list joining, and so does call_llm);
                embedding: the `input` text.
    params      every other node input, already resolved: tool parameters (model/deployment_name,
                temperature, max_tokens, stop, response_format, tools, functions, ...) and the
                template variables. Literal YAML values should be converted first with
                `param_types(api, connection)` (promptflow's §1.3 rule: by declared type, `''`/None
                dropped); `${...}` values are passed as they are.
    ctx         `LLMContext`: node name, line number, `inputs_to_escape` (names of params that
                reference flow inputs: role markers inside them never split messages), the record/
                replay cache, retry policy and timeout. None = defaults.

    output      chat -> content string, or the whole message dict when tools/functions were sent;
                completion -> choices[0].text; embedding -> the vector (list of floats).
    Usage       prompt/completion/total token counts of this call (0 when the server gave none);
                sum them with `TokenCounter` and put `TokenCounter.metrics()` into the run's
                metrics (`__pfgit__.tokens.prompt|completion|total`).

Errors raise `LLMError` (message names the node and says what the endpoint did); the runner
records it as that line's error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .cache import LLMCache, request_key
from .chat import PromptResult, build_messages, convert_to_chat_list, render_jinja_template, render_prompt
from .client import RetryPolicy, send
from .errors import LLMError
from .params import (AOAI_HEADER, APIS, chat_body, completion_body, embedding_body, param_types,
                     provider_of, split_params)
from .usage import TokenCounter, Usage

__all__ = ["call_llm", "send_body", "send_json", "LLMContext", "LLMCache", "LLMError", "RetryPolicy", "TokenCounter",
           "Usage", "PromptResult", "render_prompt", "param_types", "connection_dict"]


@dataclass
class LLMContext:
    node: str | None = None
    line: int | None = None
    inputs_to_escape: tuple = ()                # params that reference flow inputs (§6.2)
    cache: LLMCache | None = None               # --llm-cache/--llm-mode
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    tokens: TokenCounter | None = None          # when given, every call's usage is added to it


def connection_dict(connection) -> dict:
    """A resolved connection as a flat dict: {"name", "type", "api_key", "base_url"/"api_base", ...}."""
    if isinstance(connection, dict):
        return connection
    if hasattr(connection, "resolved_dict"):
        return connection.resolved_dict()
    raise LLMError(f"not a connection: {type(connection).__name__}", "InvalidConnectionType")


def call_llm(api: str, connection, prompt: str, params: dict, ctx: LLMContext | None = None) -> tuple:
    """Run one LLM tool call the way promptflow's tool does; returns (output, Usage). See the
    module docstring for the contract."""
    ctx = ctx or LLMContext()
    try:
        if api not in APIS:
            raise LLMError(f"unknown LLM api '{api}' (chat, completion or embedding)", "InvalidApi")
        conn = connection_dict(connection)
        provider = provider_of(conn.get("type", ""))
        params = dict(params or {})
        if api != "embedding" and "prompt" in params:
            # promptflow binds the template as a keyword the node's own `prompt` input overrides:
            # `prompt: ${some_prompt_node.output}` makes that text the template (corpus:
            # basic-with-builtin-llm)
            prompt = params.pop("prompt")
        args, variables = split_params(api, provider, params)
        headers = AOAI_HEADER if provider == "azure" else None
        if api == "chat":
            images = variables.pop("images", None)
            detail = variables.pop("image_detail", "auto")
            if provider == "azure":  # Azure's tool renders lists one item per line
                variables = convert_to_chat_list(variables)
            messages = build_messages(str(prompt), variables, ctx.inputs_to_escape, images, detail)
            body, whole_message = chat_body(provider, args, messages)
        elif api == "completion":
            body, whole_message = completion_body(provider, args, render_jinja_template(str(prompt), **variables)), False
        else:
            body, whole_message = embedding_body(provider, conn.get("type", ""), args, prompt), False
        reply, usage = send_json(api, conn, body, ctx, headers=headers)
        return _output(api, reply, whole_message), usage
    except LLMError as e:
        if e.node is None:
            e.node = ctx.node
        raise


def send_body(api: str, connection, body: dict, ctx: LLMContext | None = None, headers=None) -> tuple:
    """Send a ready request body (prompty sends its parameters verbatim) through the record/replay
    cache; returns (the reply as the SDK's response model, Usage)."""
    reply, usage = send_json(api, connection, body, ctx, headers)
    return _from_dict(api, reply), usage


def send_json(api: str, connection, body: dict, ctx: LLMContext | None = None, headers=None) -> tuple:
    """`send_body`, the reply left as the endpoint's JSON (a dict): what llm nodes read."""
    ctx = ctx or LLMContext()
    conn = connection_dict(connection)
    provider = provider_of(conn.get("type", ""))
    cache = ctx.cache
    key = request_key(api, provider, body) if cache else None
    reply = None
    if cache and cache.mode in ("replay", "auto"):
        reply = cache.load(key)
        if reply is None and cache.mode == "replay":
            err = cache.miss(key)
            err.node = ctx.node
            raise err
    if reply is None:
        reply = send(api, conn, body, headers, ctx.retry)
        if cache:
            cache.save(key, api, body, _from_dict(api, reply).model_dump(mode="json"))
    usage = Usage.of(reply)
    if ctx.tokens is not None:
        ctx.tokens.add(usage)
    return reply, usage


def _from_dict(api: str, d: dict):
    from openai.types import Completion, CreateEmbeddingResponse
    from openai.types.chat import ChatCompletion

    model = {"chat": ChatCompletion, "completion": Completion, "embedding": CreateEmbeddingResponse}[api]
    return model.construct(**d)


def _output(api: str, reply: dict, whole_message: bool) -> Any:
    try:
        if api == "chat":
            if whole_message:   # every field of the SDK's message, unset ones as None (promptflow's output)
                return _from_dict(api, reply).model_dump()["choices"][0]["message"]
            return reply["choices"][0]["message"].get("content")
        if api == "completion":
            return reply["choices"][0]["text"]
        return reply["data"][0]["embedding"]
    except (KeyError, IndexError, TypeError, AttributeError) as e:
        raise LLMError(f"OpenAI API hits exception: the reply has no {type(e).__name__}: {e} "
                       "(unexpected response shape)", "LLMError") from None
