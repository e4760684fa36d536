"""Sending one request through the official `openai` SDK, with promptflow's retry rules but
bounded: 429, 5xx, 422 (3 in a row at most), timeouts and dropped connections are retried with
backoff `min(3 + 2^i - 1, 60)` s or the server's `Retry-After`; other errors fail at once.

SDK clients are cached per connection (they pool HTTP connections; building one per call would
cost more than a fast endpoint's reply) and are built with `max_retries=0`, as promptflow's are.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from .errors import LLMError

_clients: dict = {}
_SECURITY = None   # make_request_options(security=...) exists in newer SDKs only
_clients_lock = threading.Lock()
_inherited: list = []


def _forget_clients_after_fork() -> None:
    """In a forked child (batch worker processes, or a tool's own): the parent's clients hold
    pooled sockets the parent keeps using, so the child must not send on them, nor close them
    (kept referenced: the SDK closes a client when it is collected)."""
    global _clients_lock
    _inherited.extend(_clients.values())
    _clients.clear()
    _clients_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_clients_after_fork)


@dataclass
class RetryPolicy:
    max_retries: int = 8            # promptflow tries 100 times; a batch should not hang that long
    max_backoff: float = 60.0
    timeout: float = 600.0          # per request, seconds (the SDK's default)
    sleep: Callable = field(default=time.sleep)  # tests pass a recorder


def preload() -> None:
    """Import the SDK now, in the calling thread: a batch calls this before its worker threads
    or processes start, so they share one import instead of sixteen threads contending for the
    import locks, or each forked process importing it again. Its re-export packages
    (`openai.types`, ...) stay lazy (lazy_packages): ~0.4 s of CPU for openai 3.x, not ~1.1 s."""
    global _SECURITY
    import encodings.idna  # noqa: F401  (a first connection encodes its host name: ~10 ms, under the import lock)

    from . import transport  # noqa: F401
    from .lazy_packages import import_lazily

    import_lazily("openai")

    if _SECURITY is None:
        _SECURITY = _security()


def client_for(conn: dict, timeout: float):
    """An SDK client for a resolved connection dict (type, api_key, base_url/api_base, ...);
    one per connection and timeout, built once even when many threads ask at the same time."""
    key = (json.dumps(conn, sort_keys=True, default=str), timeout)
    c = _clients.get(key)
    if c is not None:
        return c
    with _clients_lock:
        c = _clients.get(key)
        if c is None:
            c = _clients[key] = _new_client(conn, timeout)
    return c


def _new_client(conn: dict, timeout: float):
    if _SECURITY is None:
        preload()
    import openai

    from .transport import lean_http_client

    http = {"http_client": hc} if (hc := lean_http_client(openai, timeout)) is not None else {}

    t = conn.get("type", "").lower().replace("_", "")
    if t == "azureopenai":
        if not conn.get("api_key"):
            raise LLMError(f"connection '{conn.get('name')}' has no api_key (Azure AD auth is run "
                           "through the promptflow engine: --engine promptflow)", "InvalidConnectionType")
        return openai.AzureOpenAI(max_retries=0, timeout=timeout, api_key=conn["api_key"], **http,
                                  api_version=conn.get("api_version") or "2024-02-01",
                                  azure_endpoint=conn.get("api_base"))
    if t == "serverless":
        base = conn.get("api_base") or ""
        return openai.OpenAI(max_retries=0, timeout=timeout, api_key=conn.get("api_key"), **http,
                             base_url=base if base.endswith("/v1") else base + "/v1")
    return openai.OpenAI(max_retries=0, timeout=timeout, api_key=conn.get("api_key"), **http,
                         organization=conn.get("organization") or None,
                         base_url=conn.get("base_url") or None)


_PATHS = {"chat": "/chat/completions", "completion": "/completions"}


def _poster(client, api: str, body: dict, headers: dict | None):
    """A call sending `body` as the SDK's `create(**body)` would and returning the reply's JSON as
    a dict. Chat and completion bodies go through the client's own `post` with the body already
    built: `create` would first walk it against the SDK's TypedDicts (`maybe_transform`), which
    costs more CPU than everything else in a line and is the identity on the plain JSON values
    promptflow's tools send. The reply is taken as bytes (the SDK still raises its status errors)
    and parsed with `json`: building the SDK's pydantic models for it cost ~15% of the call, and
    only the content and usage are read. Embeddings keep `create`, which picks and decodes the
    vector encoding."""
    if api == "embedding":
        kwargs = dict(body, extra_headers=headers) if headers else dict(body)
        return lambda: client.embeddings.create(**kwargs).model_dump()
    from openai._base_client import make_request_options

    opts = make_request_options(extra_headers=headers, **_SECURITY)
    path = _PATHS[api]
    return lambda: json.loads(client.post(path, body=body, options=opts, cast_to=bytes))


def _security() -> dict:
    import inspect

    from openai._base_client import make_request_options

    ok = "security" in inspect.signature(make_request_options).parameters
    return {"security": {"bearer_auth": True}} if ok else {}


def send(api: str, conn: dict, body: dict, headers: dict | None, policy: RetryPolicy):
    """The endpoint's reply to `body` (keyword arguments of `create`), as a JSON dict."""
    if _SECURITY is None:
        preload()
    import openai
    client = client_for(conn, policy.timeout)
    call = _poster(client, api, body, headers)
    consecutive_422 = 0
    for attempt in range(policy.max_retries + 1):
        try:
            return call()
        except (openai.APIStatusError, openai.APIConnectionError) as e:
            status = e.response.status_code if isinstance(e, openai.APIStatusError) else None
            retriable = (
                isinstance(e, openai.APITimeoutError)
                or (status is not None and (status >= 500 or status in (429, 422)))
                or (status is None and _dropped_connection(e))
            )
            if isinstance(e, openai.RateLimitError) and getattr(e, "type", None) == "insufficient_quota":
                retriable = False
            if not retriable:
                raise LLMError(_describe(e, conn), "WrappedOpenAIError") from e
            consecutive_422 = consecutive_422 + 1 if status == 422 else 0
            if attempt == policy.max_retries or consecutive_422 == 3:
                raise LLMError(f"{_describe(e, conn)} (gave up after {attempt + 1} attempts)",
                               "ExceedMaxRetryTimes") from e
            wait = _retry_after(e)
            if wait is None:
                wait = 3 + (2 ** attempt) - 1
            wait = min(wait, policy.max_backoff)
            print(f"pfgit: {type(e).__name__} #{attempt}, retrying in {wait:g} s", file=sys.stderr)
            policy.sleep(wait)
        except openai.OpenAIError as e:
            raise LLMError(_describe(e, conn), "WrappedOpenAIError") from e
        except LLMError:
            raise
        except Exception as e:  # e.g. a 200 whose body is not JSON
            raise LLMError(f"OpenAI API hits exception: {type(e).__name__}: {_one_line(e)}"
                           f"{_malformed_hint(e)}", "LLMError") from e
    raise AssertionError("unreachable")


def _dropped_connection(e) -> bool:
    text = (str(e) + " " + str(e.__cause__)).lower()
    return "connection aborted" in text or "server disconnected without sending a response" in text


def _retry_after(e):
    resp = getattr(e, "response", None)
    value = resp.headers.get("retry-after") if resp is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _one_line(e) -> str:
    return " ".join(str(e).split())


def _malformed_hint(e) -> str:
    return " (the endpoint's reply is not valid JSON)" if isinstance(e, json.JSONDecodeError) else ""


def _describe(e, conn: dict) -> str:
    import openai

    where = conn.get("base_url") or conn.get("api_base") or "the endpoint"
    if isinstance(e, openai.APITimeoutError):
        return f"{where} timed out: {type(e).__name__}: {_one_line(e)}"
    if isinstance(e, openai.APIConnectionError):
        cause = e.__cause__
        detail = f" ({type(cause).__name__}: {_one_line(cause)})" if cause else ""
        return f"cannot reach {where}: {type(e).__name__}: {_one_line(e)}{detail}"
    return f"OpenAI API hits {type(e).__name__}: {_one_line(e)}"
