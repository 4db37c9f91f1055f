"""The httpx auth classes (Basic, Bearer, HTTP Message Signatures) against a real server.

One pserve process serves the demo app (memory cache, SQLite accounts, cheap
hashing) with Basic, JWT (``POST /tokens``) and service keys (an hmac-sha256
key and an Ed25519 key, as ``tests/hmac`` configures them); each auth object is
used by a blocking ``httpx.Client`` and by an ``httpx.AsyncClient``, the same
instance for both. Signatures are also checked by ``requests-http-signature``'s
verifier, built on another implementation of RFC 9421 verification than the
server's.
"""
from __future__ import annotations

import asyncio
import base64
import json
import subprocess

import httpx
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from http_message_signatures import HTTPMessageSignaturesException, HTTPSignatureKeyResolver
from requests_http_signature import HTTPSignatureAuth, algorithms

from pyramid_authsuite.basic.client import BasicAuth
from pyramid_authsuite.hmac.client import SignatureAuth
from pyramid_authsuite.jwt.client import BearerAuth
from tests.servers import PserveServers, script

# User-ids are ASCII (the account store's pattern); the password is not, and
# Latin-1 would encode it differently from UTF-8.
USERID = "zoe"
PASSWORD = "pässwörd-zoë-€-ünïcode"
OPS_SECRET = b"httpx-auth-ops-service-secret-0123456789"
REPORTS_KEY = ed25519.Ed25519PrivateKey.generate()


def _run(coroutine):
    return asyncio.run(coroutine)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory):
    folder = tmp_path_factory.mktemp("httpx-auth")
    public = folder / "reports.pub"
    public.write_bytes(REPORTS_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    ini = folder / "httpx-auth.ini"
    ini.write_text(f"""\
[app:main]
use = egg:pyramid_authsuite#demo
pyramid.includes = pyramid_authsuite
authsuite.cache_url = memory://
authsuite.accounts_url = sqlite:///{folder}/accounts.sqlite
authsuite.endpoints = tokens
authsuite.password_time_cost = 1
authsuite.password_memory_cost = 8
multiauth.policies = hmac jwt basic
multiauth.policy.hmac.use = pyramid_authsuite.HMACAuthenticationPolicy
multiauth.policy.hmac.keys = ops:hmac-sha256:{OPS_SECRET.decode()} reports:ed25519:file:{public}
demo.internal_services = ops reports
multiauth.policy.jwt.use = pyramid_authsuite.JWTAuthenticationPolicy
multiauth.policy.basic.use = pyramid_authsuite.BasicAuthenticationPolicy

[server:main]
use = egg:waitress#main
listen = 127.0.0.1:%(http_port)s
""")
    created = subprocess.run([script("authsuite"), "create-user", "--ini", str(ini), "-u", USERID, "--password-stdin"],
                             input=PASSWORD + "\n", capture_output=True, text=True, timeout=60)
    assert created.returncode == 0, created.stderr
    servers = PserveServers(ini)
    try:
        yield servers.start()
    finally:
        servers.stop()


def _sync_get(base_url: str, auth: httpx.Auth, path: str = "/whoami") -> httpx.Response:
    with httpx.Client(base_url=base_url, auth=auth, timeout=30) as client:
        return client.get(path)


async def _async_get(base_url: str, auth: httpx.Auth, path: str = "/whoami") -> httpx.Response:
    async with httpx.AsyncClient(base_url=base_url, auth=auth, timeout=30) as client:
        return await client.get(path)


def _both(base_url: str, auth: httpx.Auth, path: str = "/whoami") -> list[httpx.Response]:
    """The same auth object used by a blocking and by an async client."""
    return [_sync_get(base_url, auth, path), _run(_async_get(base_url, auth, path))]


# --------------------------------------------------------------------------
# Basic
# --------------------------------------------------------------------------


def test_basic_header_is_utf8():
    request = next(BasicAuth("zoë", "pässword").sync_auth_flow(httpx.Request("GET", "http://x/")))
    scheme, encoded = request.headers["Authorization"].split(" ")
    assert scheme == "Basic" and base64.b64decode(encoded) == "zoë:pässword".encode("utf-8")


def test_basic_refuses_a_colon_in_the_userid_before_any_request():
    with pytest.raises(ValueError):
        BasicAuth("a:b", "password")


def test_basic_with_a_non_ascii_password_logs_in_sync_and_async(base_url):
    auth = BasicAuth(USERID, PASSWORD)
    for response in _both(base_url, auth):
        assert response.status_code == 200
        assert response.json()["userid"] == USERID and response.json()["scheme"] == "basic"


def test_basic_with_a_wrong_password_is_refused(base_url):
    for response in _both(base_url, BasicAuth(USERID, PASSWORD + "x")):
        assert response.status_code == 401
        assert response.headers["Content-Type"] == "application/problem+json"


# --------------------------------------------------------------------------
# Bearer
# --------------------------------------------------------------------------


def _token(base_url: str) -> str:
    login = httpx.post(base_url + "/tokens", auth=BasicAuth(USERID, PASSWORD), timeout=30)
    assert login.status_code == 200, login.text
    return login.json()["access_token"]


def test_bearer_token_from_post_tokens_sync_and_async(base_url):
    auth = BearerAuth(_token(base_url))
    for response in _both(base_url, auth):
        assert response.status_code == 200
        assert response.json()["userid"] == USERID and response.json()["scheme"] == "jwt"


def test_bearer_with_a_forged_token_is_refused(base_url):
    token = _token(base_url)
    head, payload, signature = token.split(".")
    forged = ".".join((head, payload, ("A" if signature[0] != "A" else "B") + signature[1:]))
    for response in _both(base_url, BearerAuth(forged)):
        assert response.status_code == 401 and 'error="invalid_token"' in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize("token", ["", "a b", "abc\r\nX-Injected: 1", "tök", None])
def test_bearer_refuses_what_is_no_b64token(token):
    with pytest.raises(ValueError) as refused:
        BearerAuth(token)
    assert "X-Injected" not in str(refused.value)


# --------------------------------------------------------------------------
# HTTP Message Signatures
# --------------------------------------------------------------------------

SIGNERS = {
    "hmac-sha256": lambda: SignatureAuth("ops", OPS_SECRET),
    "ed25519": lambda: SignatureAuth("reports", REPORTS_KEY, algorithm="ed25519"),
}
SERVICES = {"hmac-sha256": "service:ops", "ed25519": "service:reports"}


@pytest.mark.parametrize("algorithm", sorted(SIGNERS))
def test_signed_get_sync_and_async(base_url, algorithm):
    auth = SIGNERS[algorithm]()
    for response in _both(base_url, auth, "/internal/ping?q=%C3%A9+x"):
        assert response.status_code == 200, response.text
        assert response.json() == {"pong": True, "service": SERVICES[algorithm]}


@pytest.mark.parametrize("algorithm", sorted(SIGNERS))
def test_signed_bodies_sync_and_async_including_streamed_ones(base_url, algorithm):
    """The body (given whole, or streamed from a generator) is covered by Content-Digest and reaches the app."""
    auth = SIGNERS[algorithm]()
    document = {"amount": 12, "note": "prix payé €"}
    encoded = json.dumps(document).encode("utf-8")
    headers = {"Content-Type": "application/json"}

    def chunks():
        yield encoded[:5]
        yield encoded[5:]

    async def async_chunks():
        yield encoded[:5]
        yield encoded[5:]

    with httpx.Client(base_url=base_url, auth=auth, timeout=30) as client:
        whole = client.post("/whoami", json=document)
        streamed = client.post("/whoami", content=chunks(), headers=headers)

    async def send():
        async with httpx.AsyncClient(base_url=base_url, auth=auth, timeout=30) as client:
            return (await client.post("/whoami", json=document),
                    await client.post("/whoami", content=async_chunks(), headers=headers))

    for response in (whole, streamed, *_run(send())):
        assert response.status_code == 200, response.text
        assert response.json()["userid"] == SERVICES[algorithm] and response.json()["received"] == document
        assert '"content-digest"' in response.request.headers["Signature-Input"]


def test_a_changed_body_is_refused(base_url):
    """What the server checks is the signed body: the same headers with another body fail."""
    auth = SIGNERS["hmac-sha256"]()
    signed = next(auth.sync_auth_flow(httpx.Request("POST", base_url + "/whoami", json={"amount": 12})))
    headers = {name: value for name, value in signed.headers.items() if name.lower() != "content-length"}
    tampered = httpx.post(base_url + "/whoami", content=b'{"amount": 13}', headers=headers, timeout=30)
    assert tampered.status_code == 401


def test_a_wrong_key_is_refused(base_url):
    for response in _both(base_url, SignatureAuth("ops", b"x" * 40), "/internal/ping"):
        assert response.status_code == 401 and response.json()["type"].endswith(":invalid_signature")


class _Keys(HTTPSignatureKeyResolver):
    def resolve_public_key(self, key_id: str):
        return {"ops": OPS_SECRET, "reports": REPORTS_KEY.public_key()}[key_id]

    def resolve_private_key(self, key_id: str):
        raise KeyError(key_id)


@pytest.mark.parametrize("algorithm", sorted(SIGNERS))
def test_requests_http_signature_verifies_what_signature_auth_signs(algorithm):
    """The peer verifier (requests-http-signature) accepts our httpx signature, body digest included."""
    auth = SIGNERS[algorithm]()
    signed = next(auth.sync_auth_flow(
        httpx.Request("POST", "https://api.example.com:8443/v1/charges?x=%C3%A9", json={"amount": 12})))
    prepared = requests.Request("POST", str(signed.url), data=signed.content, headers=dict(signed.headers)).prepare()
    result = HTTPSignatureAuth.verify(
        prepared,
        signature_algorithm=algorithms.HMAC_SHA256 if algorithm == "hmac-sha256" else algorithms.ED25519,
        key_resolver=_Keys(),
        require_components=("@method", "@authority", "@target-uri", "content-digest"),
    )
    assert result.parameters["keyid"] == {"hmac-sha256": "ops", "ed25519": "reports"}[algorithm]
    # And a byte changed in the body no longer verifies.
    altered = requests.Request("POST", str(signed.url), data=signed.content.replace(b"12", b"13"),
                               headers=dict(signed.headers)).prepare()
    with pytest.raises(HTTPMessageSignaturesException):
        HTTPSignatureAuth.verify(altered, signature_algorithm=algorithms.HMAC_SHA256 if algorithm == "hmac-sha256"
                                 else algorithms.ED25519, key_resolver=_Keys())


# --------------------------------------------------------------------------
# Secrets stay out of repr()
# --------------------------------------------------------------------------


def test_reprs_never_show_secrets():
    token = "eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl"
    shown = " ".join(repr(auth) for auth in (
        BasicAuth(USERID, PASSWORD), BearerAuth(token), SignatureAuth("ops", OPS_SECRET),
        SignatureAuth("reports", REPORTS_KEY, algorithm="ed25519"),
    ))
    assert PASSWORD not in shown and token not in shown and OPS_SECRET.decode() not in shown
    assert base64.b64encode(f"{USERID}:{PASSWORD}".encode()).decode() not in shown
    assert "ops" in shown and "ed25519" in shown  # the key id and algorithm are no secret
