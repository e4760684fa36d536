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


def _self_signed(tmp_path, names):
    """A certificate for `names` (DNS names and IP addresses) and its key, as PEM files."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    alt = []
    for n in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            alt.append(x509.DNSName(n))
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_pem, key_pem = tmp_path / f"{names[0]}.pem", tmp_path / f"{names[0]}.key"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return cert_pem, key_pem


@pytest.mark.parametrize("names,trusted,expect", [
    (["127.0.0.1"], True, "ok"),
    (["127.0.0.1"], False, "CERTIFICATE_VERIFY_FAILED"),    # a certificate nobody vouches for
    (["example.org"], True, "mismatch"),                   # trusted, but for another host
])
def test_https_is_verified_like_the_sdk_does(tmp_path, monkeypatch, names, trusted, expect):
    """A real TLS handshake through the lean transport: the endpoint's certificate must chain to
    a trusted CA (SSL_CERT_FILE is honoured, as by httpx) and name the host; a failure is the
    node's error, never a silent plain-text or unverified request."""
    import ssl

    from fake_openai import FakeOpenAI
    from pfgit.run.llm.errors import LLMError

    cert, key = _self_signed(tmp_path, names)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    if trusted:
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    else:
        monkeypatch.setenv("SSL_CERT_FILE", str(_self_signed(tmp_path, ["127.0.0.1", "other"])[0]))
    monkeypatch.delenv("PFGIT_LLM_TRANSPORT", raising=False)
    srv = FakeOpenAI()
    srv.httpd.socket = server_ctx.wrap_socket(srv.httpd.socket, server_side=True, do_handshake_on_connect=False)
    with srv:
        conn = {"name": "tls", "type": "open_ai", "api_key": "sk-tls-1", "base_url": f"https://127.0.0.1:{srv.port}/v1"}
        c, _ = ctx(max_retries=0)
        if expect == "ok":
            assert call_llm("chat", conn, "user:\nhi", {"model": "m"}, c)[0] == "echo: hi"
            assert _transport(conn) == "LeanTransport" and len(srv.requests) == 1
            return
        with pytest.raises(LLMError) as e:
            call_llm("chat", conn, "user:\nhi", {"model": "m"}, c)
        assert expect in str(e.value) and srv.requests == []
