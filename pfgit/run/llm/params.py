"""The parameters of promptflow-tools' LLM tools and the request each builds (openai.py,
aoai.py, embedding.py of promptflow-tools 1.6.1). Pure: no I/O.

`param_types` gives each tool parameter's declared type so the runner converts YAML literals the
way promptflow does (§1.3 of the runner brief); node inputs that are not tool parameters are the
template's variables.
"""

from __future__ import annotations

from .errors import LLMError

# (name, declared type, default); a default of REQUIRED means the parameter has none.
REQUIRED = object()

_CHAT_COMMON = [
    ("temperature", "double", 1.0), ("top_p", "double", 1.0), ("stream", "bool", False),
    ("stop", "list", None), ("max_tokens", "int", None), ("presence_penalty", "double", None),
    ("frequency_penalty", "double", None), ("logit_bias", "object", {}), ("user", "string", ""),
    ("function_call", "object", None), ("functions", "list", None), ("tool_choice", "object", None),
    ("tools", "list", None), ("response_format", "object", None), ("seed", "int", None),
]
_COMPLETION_COMMON = [
    ("suffix", "string", None), ("max_tokens", "int", 16), ("temperature", "double", 1.0),
    ("top_p", "double", 1.0), ("n", "int", 1), ("stream", "bool", False), ("logprobs", "int", None),
    ("echo", "bool", False), ("stop", "list", None), ("presence_penalty", "double", None),
    ("frequency_penalty", "double", None), ("best_of", "int", 1), ("logit_bias", "object", {}),
    ("user", "string", ""),
]
SIGNATURES = {
    ("chat", "openai"): [("model", "string", "")] + _CHAT_COMMON,
    ("chat", "azure"): [("deployment_name", "string", REQUIRED)] + _CHAT_COMMON[:2]
    + [("n", "int", 1)] + _CHAT_COMMON[2:],
    ("completion", "openai"): [("model", "string", "text-davinci-003")] + _COMPLETION_COMMON,
    ("completion", "azure"): [("deployment_name", "string", REQUIRED)] + _COMPLETION_COMMON,
    ("embedding", "openai"): [("deployment_name", "string", ""), ("model", "string", "text-embedding-ada-002")],
    ("embedding", "azure"): [("deployment_name", "string", ""), ("model", "string", "text-embedding-ada-002")],
}
APIS = ("chat", "completion", "embedding")
AOAI_HEADER = {"ms-azure-ai-promptflow-called-from": "aoai-tool"}


def provider_of(conn_type: str) -> str:
    """'azure' or 'openai' (serverless endpoints speak OpenAI's API under /v1)."""
    t = (conn_type or "").lower().replace("_", "").replace("connection", "")
    if t in ("azureopenai",):
        return "azure"
    if t in ("openai", "serverless"):
        return "openai"
    raise LLMError(f"connection type '{conn_type}' cannot serve LLM calls; use an open_ai, "
                   "azure_open_ai or serverless connection", "InvalidConnectionType")


def param_types(api: str, conn_type: str) -> dict:
    """{parameter: "int"|"double"|"bool"|"string"|"list"|"object"} of the tool behind an llm node."""
    return {n: t for n, t, _ in SIGNATURES[(api, provider_of(conn_type))]}


def split_params(api: str, provider: str, params: dict) -> tuple:
    """(tool arguments with Python defaults filled, template variables)."""
    sig = SIGNATURES[(api, provider)]
    names = {n for n, _, _ in sig}
    args, variables = {}, {}
    for k, v in params.items():
        (args if k in names else variables)[k] = v
    for n, _, default in sig:
        if n not in args:
            if default is REQUIRED:
                raise LLMError(f"missing required input '{n}' of the {api} API", "MissingRequiredInput")
            args[n] = dict(default) if isinstance(default, dict) else default
    return args, variables


def _to_bool(v) -> bool:
    return str(v).lower() == "true"


def chat_body(provider: str, args: dict, messages: list) -> tuple:
    """(keyword arguments for client.chat.completions.create, names of sent tools/functions)."""
    body = {"model": args["deployment_name"] if provider == "azure" else args["model"],
            "messages": messages, "temperature": args["temperature"], "top_p": args["top_p"]}
    if provider == "azure":
        body["n"] = args["n"]
    body["stream"] = _to_bool(args["stream"])
    if body["stream"]:
        raise LLMError("streaming is not supported in batch runs", "LLMError")
    tools, functions = args["tools"], args["functions"]
    if tools:
        if provider == "azure":
            _validate_tools(tools)
            body["tool_choice"] = _choice(args["tool_choice"], "tool_choice")
        else:
            body["tool_choice"] = args["tool_choice"]
        body["tools"] = tools
    elif functions:
        _validate_functions(functions)
        body["functions"] = functions
        body["function_call"] = _choice(args["function_call"], "function_call")
    if args["stop"]:
        body["stop"] = args["stop"]
    mt = args["max_tokens"]
    if mt is not None and str(mt).lower() != "inf":
        body["max_tokens"] = int(mt)
    for k in ("logit_bias", "response_format"):
        if args[k]:
            body[k] = args[k]
    for k in ("seed", "presence_penalty", "frequency_penalty"):
        if args[k] is not None:
            body[k] = args[k]
    if args["user"]:
        body["user"] = args["user"]
    return body, bool(tools or functions)


def completion_body(provider: str, args: dict, prompt: str) -> dict:
    body = {
        "prompt": prompt,
        "model": args["deployment_name"] if provider == "azure" else _enum_value(args["model"]),
        "suffix": args["suffix"] if args["suffix"] else None,
        "max_tokens": int(args["max_tokens"]) if args["max_tokens"] is not None else None,
        "temperature": float(args["temperature"]), "top_p": float(args["top_p"]), "n": int(args["n"]),
        "stream": _to_bool(args["stream"]),
        "logprobs": int(args["logprobs"]) if args["logprobs"] else None,
        "echo": _to_bool(args["echo"]), "stop": args["stop"] if args["stop"] else None,
        "best_of": int(args["best_of"]),
        "logit_bias": args["logit_bias"] if args["logit_bias"] else {}, "user": args["user"],
    }
    if body["stream"]:
        raise LLMError("streaming is not supported in batch runs", "LLMError")
    pp, fp = args["presence_penalty"], args["frequency_penalty"]
    if provider == "azure":  # Azure's tool sends the penalties only when set
        if pp is not None:
            body["presence_penalty"] = pp
        if fp is not None:
            body["frequency_penalty"] = fp
    else:
        body["presence_penalty"] = float(pp) if pp is not None else None
        body["frequency_penalty"] = float(fp) if fp is not None else None
    return body


def embedding_body(provider: str, conn_type: str, args: dict, text) -> dict:
    if provider == "azure":
        return {"input": text, "model": args["deployment_name"]}
    if "serverless" in conn_type.lower():
        return {"input": [text], "model": _enum_value(args["model"]), "encoding_format": "float"}
    return {"input": text, "model": _enum_value(args["model"])}


def _enum_value(v):
    return getattr(v, "value", v)


def _choice(value, what: str):
    if value is None:
        return "auto"
    if value in ("auto", "none"):
        return value
    if not isinstance(value, dict):
        raise LLMError(f"{what} parameter '{value}' must be a dict, but not {type(value)}.",
                       "ChatAPIInvalidTools" if what == "tool_choice" else "ChatAPIInvalidFunctions")
    need = ("type", "function") if what == "tool_choice" else ("name",)
    for k in need:
        if k not in value:
            raise LLMError(f'{what} parameter {value} must contain "{k}" field.',
                           "ChatAPIInvalidTools" if what == "tool_choice" else "ChatAPIInvalidFunctions")
    return value


def _validate_function(i, fn, error_type: str) -> None:
    if not isinstance(fn, dict):
        raise LLMError(f"function {i} '{fn}' is not a dict.", error_type)
    for key in ("name", "parameters"):
        if key not in fn:
            raise LLMError(f"function {i} '{fn}' does not have '{key}' property.", error_type)
    params = fn["parameters"]
    if not isinstance(params, dict) or "type" not in params or "properties" not in params \
            or params["type"] != "object" or not isinstance(params["properties"], dict):
        raise LLMError(f"function {i} '{fn['name']}' parameters should be a JSON Schema object "
                       "with type 'object' and 'properties'.", error_type)


def _validate_functions(functions) -> None:
    if not isinstance(functions, list) or not functions:
        raise LLMError("functions cannot be an empty list.", "ChatAPIInvalidFunctions")
    for i, fn in enumerate(functions):
        _validate_function(i, fn, "ChatAPIInvalidFunctions")


def _validate_tools(tools) -> None:
    if not isinstance(tools, list) or not tools:
        raise LLMError("tools cannot be an empty list.", "ChatAPIInvalidTools")
    for i, t in enumerate(tools):
        if not isinstance(t, dict) or "type" not in t or "function" not in t:
            raise LLMError(f"tool {i} '{t}' must be a dict with 'type' and 'function'.", "ChatAPIInvalidTools")
        _validate_function(i, t["function"], "ChatAPIInvalidTools")
