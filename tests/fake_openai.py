"""A loopback fake OpenAI-compatible server for tests and benchmarks (stdlib only).

Serves POST {base}/chat/completions, /completions, /embeddings with or without a `/v1` prefix,
and the Azure paths /openai/deployments/<d>/{chat/completions,completions,embeddings}?api-version=.
Replies are derived from the request (so they are deterministic), carry `usage`, and every request
is recorded (path, query, headers, parsed body). Faults are injected per request from a queue:
`("429", retry_after)`, `("500",)`, `("timeout", seconds)` (reply after a delay), `("malformed",)`
(a 200 whose body is not JSON), `("close",)` (the connection dropped without a reply); `latency`
delays every reply.

    with FakeOpenAI() as srv:  srv.url -> "http://127.0.0.1:PORT/v1"; srv.root -> "http://127.0.0.1:PORT"
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import pytest


def _words(text) -> int:
    if isinstance(text, list):
        return sum(_words(p.get("text", "")) if isinstance(p, dict) else _words(p) for p in text)
    return len(str(text or "").split())


def chat_reply(body: dict) -> dict:
    msgs = body.get("messages") or []
    last = next((m for m in reversed(msgs) if m.get("role") == "user"), msgs[-1] if msgs else {})
    content = last.get("content", "")
    if isinstance(content, list):
        content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    text = f"echo: {content}"
    message = {"role": "assistant", "content": text}
    finish = "stop"
    if body.get("tools"):
        fn = body["tools"][0]["function"]["name"]
        message = {"role": "assistant", "content": None, "tool_calls": [{
            "id": "call_1", "type": "function",
            "function": {"name": fn, "arguments": json.dumps({"q": content})}}]}
        finish = "tool_calls"
    elif body.get("functions"):
        message = {"role": "assistant", "content": None, "function_call": {
            "name": body["functions"][0]["name"], "arguments": json.dumps({"q": content})}}
        finish = "function_call"
    pt = sum(_words(m.get("content")) for m in msgs)
    ct = _words(text)
    return {"id": "chatcmpl-fake", "object": "chat.completion", "created": 1700000000,
            "model": body.get("model", ""),
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct}}


def completion_reply(body: dict) -> dict:
    prompt = body.get("prompt", "")
    text = f"completion: {prompt}"
    pt, ct = _words(prompt), _words(text)
    return {"id": "cmpl-fake", "object": "text_completion", "created": 1700000000,
            "model": body.get("model", ""),
            "choices": [{"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}],
            "usage": {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct}}


def embedding_vector(text) -> list:
    digest = hashlib.sha256(json.dumps(text).encode()).digest()
    return [round(b / 255.0, 3) for b in digest[:8]]


def embedding_reply(body: dict) -> dict:
    inputs = body.get("input")
    inputs = inputs if isinstance(inputs, list) else [inputs]
    data = []
    for i, t in enumerate(inputs):
        vec = embedding_vector(t)
        if body.get("encoding_format") == "base64":
            vec = base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode()
        data.append({"object": "embedding", "index": i, "embedding": vec})
    pt = sum(_words(t) for t in inputs)
    return {"object": "list", "data": data, "model": body.get("model", ""),
            "usage": {"prompt_tokens": pt, "total_tokens": pt}}


REPLIES = {"chat/completions": chat_reply, "completions": completion_reply, "embeddings": embedding_reply}


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128   # a benchmark's 16 workers connect at once

    def handle_error(self, request, client_address):
        """A client that refuses the TLS certificate or drops its connection is what the transport
        tests make happen: not a traceback in the test log."""
        if not isinstance(sys.exc_info()[1], (ssl.SSLError, ConnectionError)):
            super().handle_error(request, client_address)


class FakeOpenAI:
    def __init__(self, latency: float = 0.0):
        self.latency = latency
        self.requests: list = []
        self.faults: list = []          # consumed one per request, in order
        self._lock = threading.Lock()
        srv = self

        class Handler(socketserver.StreamRequestHandler):
            """HTTP/1.1 with keep-alive, parsed by hand: http.server's parsing (email headers,
            Date/Server headers) cost the benchmarks' server more CPU than the client's SDK call
            in places; replies go out in one write with TCP_NODELAY (two small writes made the
            client wait ~40 ms for a delayed ACK)."""
            disable_nagle_algorithm = True

            def handle(self):
                while True:
                    line = self.rfile.readline(65537)
                    if not line:
                        return
                    if not line.strip():
                        continue
                    try:
                        self.command, self.path, version = line.decode("latin-1").split()
                    except ValueError:
                        return
                    self.headers = {}
                    while True:
                        h = self.rfile.readline(65537)
                        if not h.strip():
                            break
                        k, _, v = h.decode("latin-1").partition(":")
                        self.headers[k.strip().lower()] = v.strip()
                    close = self.headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
                    if self.command == "POST":
                        srv._handle(self)
                    else:
                        srv._send(self, 405, {"error": {"message": "POST only"}})
                    if close:
                        return

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.root = f"http://127.0.0.1:{self.port}"
        self.url = self.root + "/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)

    def start(self) -> "FakeOpenAI":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def inject(self, *faults) -> None:
        with self._lock:
            self.faults.extend(faults)

    def bodies(self, kind: str | None = None) -> list:
        return [r["body"] for r in self.requests if kind is None or r["kind"] == kind]

    def _handle(self, h) -> None:
        parts = urlsplit(h.path)
        length = int(h.headers.get("content-length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return self._send(h, 400, {"error": {"message": "bad json"}})
        path = parts.path.rstrip("/")
        deployment = None
        if path.startswith("/openai/deployments/"):
            rest = path[len("/openai/deployments/"):]
            deployment, _, path = rest.partition("/")
            path = "/" + path
        if path.startswith("/v1/"):
            path = path[3:]
        kind = path.lstrip("/")
        if kind not in REPLIES:
            return self._send(h, 404, {"error": {"message": f"no route {parts.path}"}})
        with self._lock:
            self.requests.append({"kind": kind, "path": parts.path, "query": parse_qs(parts.query),
                                  "headers": {k.lower(): v for k, v in h.headers.items()},
                                  "body": body, "deployment": deployment})
            fault = self.faults.pop(0) if self.faults else None
        if self.latency:
            time.sleep(self.latency)
        if fault:
            what = fault[0]
            if what == "429":
                return self._send(h, 429, {"error": {"message": "Rate limit", "type": "requests"}},
                                  {"Retry-After": str(fault[1])} if len(fault) > 1 else {})
            if what == "500":
                return self._send(h, 500, {"error": {"message": "boom"}})
            if what == "close":      # drop the connection without a reply
                h.request.shutdown(socket.SHUT_RDWR)
                return
            if what == "timeout":
                time.sleep(fault[1])
            if what == "malformed":
                return self._send_raw(h, 200, b'{"id": "x", "choices": [', "application/json")
        reply = REPLIES[kind](dict(body, model=deployment or body.get("model", "")))
        self._send(h, 200, reply)

    def _send(self, h, code: int, obj: dict, headers: dict | None = None) -> None:
        self._send_raw(h, code, json.dumps(obj).encode(), "application/json", headers)

    def _send_raw(self, h, code: int, data: bytes, ctype: str, headers: dict | None = None) -> None:
        head = [f"HTTP/1.1 {code} {HTTPStatus(code).phrase}", f"Content-Type: {ctype}",
                f"Content-Length: {len(data)}"] + [f"{k}: {v}" for k, v in (headers or {}).items()]
        try:
            h.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
            pass


@pytest.fixture
def fake_openai():
    with FakeOpenAI() as srv:
        yield srv


if __name__ == "__main__":  # a stand-alone server for benchmarks: prints its base URL, serves until killed
    import argparse
    import sys

    ap = argparse.ArgumentParser()
    ap.add_argument("--latency", type=float, default=0.0)
    args = ap.parse_args()
    srv = FakeOpenAI(latency=args.latency)
    print(srv.url, flush=True)
    try:
        srv.httpd.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        sys.exit(0)
