"""Client helpers take an HMAC secret as ``bytes`` or ``str`` (its UTF-8 bytes) alike.

``ServiceAuth`` (RFC 9421 service keys) and ``ChallengeAuth`` (challenge-response)
are used with ``requests`` over real HTTP against the demo app, built as
``tests/apps.py`` builds it and served by ``wsgiref`` on a free loopback port.
The server reads its copy of the secret from ``env:`` (text, as an operator
sets it), so a ``str`` secret on the client is what most callers hold.
(The webhook functions have the same rule: tests/hmac/test_webhooks.py.)
"""
from __future__ import annotations

import hashlib
import hmac
import threading
import wsgiref.simple_server

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ed25519

from pyramid_authsuite.challenge.client import ChallengeAuth
from pyramid_authsuite.demo import main as demo_main
from pyramid_authsuite.hmac.client import ServiceAuth
from pyramid_authsuite.hmac.protocol import sign_request
from tests.apps import BASIC_POLICY, CHEAP_HASHING

# Non-ASCII on purpose: 32 characters, 33 UTF-8 bytes.
SERVICE_SECRET = "billing-secret-é-0123456789abcde"
CHALLENGE_SECRET = "3f1c9a" * 6  # hex text, as `authsuite add-key --kind hmac` prints it


class _QuietHandler(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, *args):  # keep pytest's output clean
        pass


@pytest.fixture
def base_url(tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_SERVICE_SECRET", SERVICE_SECRET)
    settings = {
        **CHEAP_HASHING,
        **BASIC_POLICY,
        "authsuite.accounts_url": f"sqlite:///{tmp_path}/accounts.sqlite",
        "authsuite.endpoints": "challenges",
        "multiauth.policies": "hmac challenge basic",
        "multiauth.policy.hmac.use": "pyramid_authsuite.HMACAuthenticationPolicy",
        "multiauth.policy.hmac.keys": "billing:hmac-sha256:env:TEST_SERVICE_SECRET",
        "multiauth.policy.challenge.use": "pyramid_authsuite.ChallengeAuthenticationPolicy",
    }
    app = demo_main({}, **settings)
    accounts = app.registry.authsuite_accounts
    accounts.create("alice", "correct horse battery")
    accounts.add_key("alice", "alice-hmac", "hmac", CHALLENGE_SECRET.encode("ascii"))
    server = wsgiref.simple_server.make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=30)


# -- ServiceAuth ----------------------------------------------------------------------


@pytest.mark.parametrize("key", [SERVICE_SECRET, SERVICE_SECRET.encode("utf-8"),
                                 bytearray(SERVICE_SECRET.encode("utf-8"))], ids=["str", "bytes", "bytearray"])
def test_service_auth_takes_str_and_bytes_alike(base_url, key):
    for method, body in (("GET", None), ("POST", b'{"amount": 3}')):
        response = requests.request(method, base_url + "/whoami", data=body, auth=ServiceAuth("billing", key),
                                    headers={"Content-Type": "application/json"}, timeout=30)
        assert response.status_code == 200, response.text
        assert response.json()["userid"] == "service:billing"


def test_service_auth_str_and_bytes_sign_identically():
    # Same created and nonce: the str key's signature is the bytes key's,
    # byte for byte (the server above accepts both, this shows they are one).
    prepared = requests.Request("POST", "http://api.example.com/charges", data=b"{}").prepare()
    by_str = ServiceAuth("billing", SERVICE_SECRET)
    by_bytes = ServiceAuth("billing", SERVICE_SECRET.encode("utf-8"))
    signed = [
        sign_request("POST", prepared.url, {}, b"{}", keyid="billing", key=auth._key, algorithm="hmac-sha256",
                     created=1_700_000_000, nonce="n-1")
        for auth in (by_str, by_bytes)
    ]
    assert signed[0] == signed[1]
    assert by_str._key == SERVICE_SECRET.encode("utf-8")


def test_service_auth_with_another_secret_is_refused(base_url):
    wrong = SERVICE_SECRET.replace("é", "e") + "x"
    response = requests.get(base_url + "/whoami", auth=ServiceAuth("billing", wrong), timeout=30)
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("key, algorithm, error, message", [
    ("x" * 31, "hmac-sha256", ValueError, "at least 32 bytes (got 31)"),
    (b"x" * 31, "hmac-sha256", ValueError, "at least 32 bytes (got 31)"),
    ("é" * 15 + "x", "hmac-sha256", ValueError, "at least 32 bytes (got 31)"),  # UTF-8 bytes are counted
    (None, "hmac-sha256", TypeError, "bytes or str, not NoneType"),
    (12345, "hmac-sha256", TypeError, "bytes or str, not int"),
    (SERVICE_SECRET, "ed25519", TypeError, "an ed25519 key is an Ed25519PrivateKey, not str"),
    (SERVICE_SECRET, "hmac-sha512", ValueError, "unsupported algorithm 'hmac-sha512'"),
])
def test_service_auth_refuses_a_bad_key_when_built(key, algorithm, error, message):
    # Not at the first request: the mistake shows where the auth is made.
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        ServiceAuth("billing", key, algorithm=algorithm)


def test_service_auth_ed25519_still_works():
    key = ed25519.Ed25519PrivateKey.generate()
    prepared = ServiceAuth("reports", key, algorithm="ed25519")(
        requests.Request("GET", "http://api.example.com/x").prepare())
    assert "Signature" in prepared.headers


# -- ChallengeAuth --------------------------------------------------------------------


@pytest.mark.parametrize("key", [CHALLENGE_SECRET, CHALLENGE_SECRET.encode("ascii")], ids=["str", "bytes"])
def test_challenge_auth_takes_str_and_bytes_alike(base_url, key):
    response = requests.get(base_url + "/whoami", auth=ChallengeAuth(base_url, "alice-hmac", key), timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["userid"] == "alice"


def test_challenge_auth_str_and_bytes_answer_identically(base_url):
    by_str = ChallengeAuth(base_url, "alice-hmac", CHALLENGE_SECRET)
    by_bytes = ChallengeAuth(base_url, "alice-hmac", CHALLENGE_SECRET.encode("ascii"))
    assert by_str.kind == by_bytes.kind == "hmac"
    issued = by_str.fetch_challenge()
    from pyramid_authsuite.challenge import protocol

    answers = {protocol.answer("hmac", auth._key, issued["challenge_id"], "alice-hmac", issued["challenge"])
               for auth in (by_str, by_bytes)}
    message = (b"authsuite-challenge-v1\n" + issued["challenge_id"].encode() + b"\nalice-hmac\n"
               + issued["challenge"].encode())
    assert answers == {hmac.new(CHALLENGE_SECRET.encode(), message, hashlib.sha256).hexdigest()}


@pytest.mark.parametrize("key", ["x" * 31, b"x" * 31])
def test_challenge_auth_refuses_a_short_secret_when_built(key):
    from pyramid_authsuite.challenge.protocol import KeyMaterialError

    with pytest.raises(KeyMaterialError, match="at least 32 bytes"):
        ChallengeAuth("http://127.0.0.1:1", "alice-hmac", key)
