"""The lean transport under the SDK's httpx client (pfgit.run.llm.transport): the endpoint gets
the same request as through httpx's own transport, a kept-alive connection the server dropped is
replaced transparently, and PFGIT_LLM_TRANSPORT=httpx switches it off."""

from __future__ import annotations

import pytest

from fake_openai import fake_openai  # noqa: F401  (fixture)
from pfgit.run.llm import client as llm_client
from pfgit.run.llm import call_llm
from test_llm import aoai, ctx, oai


@pytest.fixture(autouse=True)
def fresh_clients(monkeypatch):
    monkeypatch.setattr(llm_client, "_clients", {})


def _transport(conn):
    return type(llm_client.client_for(conn, 600.0)._client._transport).__name__


def _requests_through(srv, monkeypatch, transport):
    if transport == "httpx":
        monkeypatch.setenv("PFGIT_LLM_TRANSPORT", "httpx")
    else:
        monkeypatch.delenv("PFGIT_LLM_TRANSPORT", raising=False)
    llm_client._clients.clear()
    srv.requests.clear()
    c, _ = ctx()
    outs = [call_llm("chat", oai(srv), "user:\n{{q}}", {"model": "m", "q": "hi"}, c)[0],
            call_llm("completion", aoai(srv), "Say {{q}}", {"deployment_name": "d", "q": "x"}, c)[0]]
    assert _transport(oai(srv)) == ("LeanTransport" if transport == "lean" else "HTTPTransport")
    return outs, [(r["path"], r["query"], r["body"], r["headers"]) for r in srv.requests]


def test_same_requests_and_replies_as_httpx_own_transport(fake_openai, monkeypatch):  # noqa: F811
    lean = _requests_through(fake_openai, monkeypatch, "lean")
    own = _requests_through(fake_openai, monkeypatch, "httpx")
    assert lean[0] == own[0] == ["echo: hi", "completion: Say x"]
    strip = {"x-stainless-read-timeout", "x-stainless-retry-count"}   # the SDK's own per-request values

    def same(reqs):
        return [(p, q, b, {k: v for k, v in h.items() if k not in strip}) for p, q, b, h in reqs]
    assert same(lean[1]) == same(own[1])
    assert lean[1][1][3]["api-key"] == "az-key-5678" and lean[1][0][3]["authorization"] == "Bearer sk-test-1234"


def test_a_dropped_keep_alive_connection_is_replaced(fake_openai):  # noqa: F811
    c, slept = ctx()
    conn = oai(fake_openai)
    assert call_llm("chat", conn, "user:\na", {"model": "m"}, c)[0] == "echo: a"   # the connection is kept
    fake_openai.inject(("close",))                    # the server drops it on the next request
    assert call_llm("chat", conn, "user:\nb", {"model": "m"}, c)[0] == "echo: b"
    assert slept == [] and len(fake_openai.requests) == 3   # retried at once on a new connection
