"""A lean HTTP/1.1 keep-alive transport for the openai SDK's httpx client, over `http.client`.

The SDK builds every request (URL, headers, the JSON body, auth), raises its status errors,
handles timeouts and reads the reply exactly as with httpx's default transport; only the bytes
on the wire are moved by `http.client` instead of httpcore + h11, which spent ~40% of an LLM
call's CPU (a batch line is ~2-5 ms of CPU, most of it the SDK). The transport is the SDK's
documented extension point (`OpenAI(http_client=httpx.Client(transport=...))`). TLS uses the
SSL context httpx itself would build (`create_ssl_context`: same CA bundle and env settings);
proxies configured by the environment still go through httpx's own proxy transports (the client
mounts them ahead of this one). Anything this transport cannot do is left to httpx: it is not
used when the SDK's HTTP library lacks `create_ssl_context` or `BaseTransport`.

Errors map to httpx's classes so the SDK maps them to its own: socket timeouts to
ConnectTimeout/ReadTimeout (-> APITimeoutError), refused or failed connections to ConnectError,
a kept-alive connection the server closed (retried once on a new connection, as httpcore does)
and broken replies to RemoteProtocolError (-> APIConnectionError).
"""

from __future__ import annotations

import http.client
import socket
import threading


def lean_http_client(openai_mod, timeout):
    """An httpx client for `openai.OpenAI(http_client=...)` with the lean transport, or None
    when this SDK/httpx pair does not offer what it needs (the SDK's default is used then)."""
    import importlib
    import os

    if os.environ.get("PFGIT_LLM_TRANSPORT") == "httpx":   # escape hatch: httpx's own transport
        return None
    # openai 3.x builds its clients on httpx2 (DefaultHttpx2Client), earlier versions on httpx
    for factory_name, module in (("DefaultHttpx2Client", "httpx2"), ("DefaultHttpxClient", "httpx")):
        factory = getattr(openai_mod, factory_name, None)
        if factory is not None:
            break
    else:
        return None
    try:
        httpx = importlib.import_module(module)
        if not (hasattr(httpx, "create_ssl_context") and hasattr(httpx, "BaseTransport")):
            return None
        return factory(transport=_transport_class(httpx)(httpx), timeout=timeout)
    except Exception:   # an SDK or httpx that differs from what this was written against
        return None


_classes: dict = {}


def _transport_class(httpx):
    if httpx.__name__ in _classes:
        return _classes[httpx.__name__]

    class LeanTransport(httpx.BaseTransport):
        def __init__(self, httpx_mod):
            self._httpx = httpx_mod
            self._idle: dict = {}
            self._lock = threading.Lock()
            self._ssl = None

        def _ssl_context(self):
            if self._ssl is None:
                self._ssl = self._httpx.create_ssl_context()
            return self._ssl

        def _connection(self, url, timeout):
            key = (url.scheme, url.host, url.port)
            with self._lock:
                idle = self._idle.get(key)
                if idle:
                    return key, idle.pop(), True
            if url.scheme == "https":
                conn = http.client.HTTPSConnection(url.host, url.port, timeout=timeout, context=self._ssl_context())
            else:
                conn = http.client.HTTPConnection(url.host, url.port, timeout=timeout)
            return key, conn, False

        def handle_request(self, request):
            hx = self._httpx
            t = request.extensions.get("timeout") or {}
            connect_timeout, read_timeout = t.get("connect"), t.get("read")
            body = request.read()
            target = request.url.raw_path.decode("ascii")
            for attempt in (0, 1):
                key, conn, reused = self._connection(request.url, connect_timeout)
                try:
                    if not reused:
                        conn.connect()
                except socket.timeout as e:
                    conn.close()
                    raise hx.ConnectTimeout(str(e) or "timed out", request=request) from e
                except OSError as e:
                    conn.close()
                    raise hx.ConnectError(str(e), request=request) from e
                conn.sock.settimeout(read_timeout)
                try:
                    conn.putrequest(request.method, target, skip_host=True, skip_accept_encoding=True)
                    for name, value in request.headers.raw:
                        conn.putheader(name, value)
                    conn.endheaders(body)
                    resp = conn.getresponse()
                    data = resp.read()
                    break
                except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as e:
                    conn.close()
                    if reused and attempt == 0:
                        continue              # the server closed an idle connection: a new one
                    raise hx.RemoteProtocolError("Server disconnected without sending a response.",
                                                 request=request) from e
                except socket.timeout as e:
                    conn.close()
                    raise hx.ReadTimeout(str(e) or "timed out", request=request) from e
                except (http.client.HTTPException, OSError) as e:
                    conn.close()
                    raise hx.RemoteProtocolError(f"{type(e).__name__}: {e}", request=request) from e
            if resp.will_close:
                conn.close()
            else:
                with self._lock:
                    self._idle.setdefault(key, []).append(conn)
            return hx.Response(resp.status, headers=resp.getheaders(), content=data,
                               extensions={"http_version": b"HTTP/1.1",
                                           "reason_phrase": (resp.reason or "").encode("latin-1", "replace")})

        def close(self):
            with self._lock:
                conns = [c for idle in self._idle.values() for c in idle]
                self._idle.clear()
            for c in conns:
                c.close()

    _classes[httpx.__name__] = LeanTransport
    return LeanTransport
