"""HMACAuthenticationPolicy through the demo app: our ServiceAuth and requests-http-signature as signers.

Runs on memory+SQLite and on Redis+PostgreSQL.
"""
from __future__ import annotations

import json
import time

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from pyramid.authorization import Allow
from pyramid.config import Configurator
from pyramid.exceptions import ConfigurationError, ConfigurationExecutionError
from requests_http_signature import HTTPSignatureAuth, algorithms
import webtest

from pyramid_authsuite.hmac.client import ServiceAuth
from pyramid_authsuite.hmac.protocol import sign_request
from tests.apps import basic, make_demo, registry

HOST = "api.example.com"
BASE = f"http://{HOST}"
BILLING_OLD = b"billing-old-secret-0123456789-abcdefghijkl"
BILLING_NEW = b"billing-new-secret-0123456789-mnopqrstuvwx"
OTHER = b"another-secret-0123456789-0123456789-abcdef"
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def reports_key():
    return ed25519.Ed25519PrivateKey.generate()


@pytest.fixture
def keys_setting(tmp_path, monkeypatch, reports_key):
    monkeypatch.setenv("TEST_KEY_BILLING", BILLING_OLD.decode())
    monkeypatch.setenv("TEST_KEY_BILLING_NEW", BILLING_NEW.decode())
    monkeypatch.setenv("TEST_KEY_AUDIT", OTHER.decode())
    public = tmp_path / "reports.pub"
    public.write_bytes(reports_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return (f"billing:hmac-sha256:env:TEST_KEY_BILLING billing-2026@billing:hmac-sha256:env:TEST_KEY_BILLING_NEW "
            f"reports:ed25519:file:{public} audit:hmac-sha256:env:TEST_KEY_AUDIT")


def hmac_settings(keys: str, **extra: str) -> dict:
    settings = {
        "multiauth.policies": "hmac basic",
        "multiauth.policy.hmac.use": "pyramid_authsuite.HMACAuthenticationPolicy",
        "multiauth.policy.hmac.keys": keys,
        "multiauth.policy.basic.use": "pyramid_authsuite.BasicAuthenticationPolicy",
        "demo.internal_services": "billing reports",
    }
    settings.update({f"multiauth.policy.hmac.{name}": value for name, value in extra.items()})
    return settings


@pytest.fixture
def app(backends, keys_setting):
    app = make_demo({**backends, **hmac_settings(keys_setting)})
    app.extra_environ = {**app.extra_environ, "HTTP_HOST": HOST}
    yield app
    registry(app).authsuite_accounts.close()
    registry(app).authsuite_cache.close()


def send(app, auth, path, method="GET", body=b"", content_type=None, status=None, headers=None):
    """Sign a request with a ``requests`` auth object, then send exactly that through WebTest."""
    request_headers = dict(headers or {})
    if content_type:
        request_headers["Content-Type"] = content_type
    prepared = requests.Request(method, BASE + path, data=body or None, headers=request_headers).prepare()
    prepared = auth(prepared)
    sent = {name: value for name, value in prepared.headers.items() if name.lower() not in ("content-length",)}
    sent["Host"] = app.extra_environ["HTTP_HOST"]  # app.request() does not apply extra_environ
    return app.request(path, method=method, body=prepared.body or b"", headers=sent, status=status,
                       expect_errors=status is not None and status >= 400)


def code_of(response) -> str:
    assert response.content_type == "application/problem+json"
    return json.loads(response.body)["type"].rsplit(":", 1)[1]


def http_signature(key_id, key, algorithm=algorithms.HMAC_SHA256, body=False):
    components = ("@method", "@authority", "@target-uri") + (("content-digest",) if body else ())
    return HTTPSignatureAuth(signature_algorithm=algorithm, key=key, key_id=key_id,
                             covered_component_ids=components, use_nonce=True)


# -- accepted -------------------------------------------------------------------------


def test_service_auth_get(app):
    body = send(app, ServiceAuth("billing", BILLING_OLD), "/whoami").json
    assert body["userid"] == "service:billing" and body["scheme"] == "hmac"
    assert set(body["principals"]) >= {"service:billing", "scheme:hmac"}


def test_service_auth_ed25519(app, reports_key):
    assert send(app, ServiceAuth("reports", reports_key, "ed25519"), "/whoami").json["userid"] == "service:reports"


@pytest.mark.parametrize("keyid, secret", [("billing", BILLING_OLD), ("billing-2026", BILLING_NEW)])
def test_rotation_old_and_new_keys_of_one_service(app, keyid, secret):
    assert send(app, ServiceAuth(keyid, secret), "/whoami").json["userid"] == "service:billing"


def test_removed_key_is_refused(backends, keys_setting):
    without_old = " ".join(entry for entry in keys_setting.split() if not entry.startswith("billing:"))
    app = make_demo({**backends, **hmac_settings(without_old)})
    app.extra_environ = {**app.extra_environ, "HTTP_HOST": HOST}
    assert code_of(send(app, ServiceAuth("billing", BILLING_OLD), "/whoami", status=401)) == "unknown_key"
    assert send(app, ServiceAuth("billing-2026", BILLING_NEW), "/whoami").json["userid"] == "service:billing"


@pytest.mark.parametrize("algorithm, keyid", [("hmac", "billing"), ("ed25519", "reports")])
def test_requests_http_signature_interop(app, reports_key, algorithm, keyid):
    if algorithm == "hmac":
        auth = http_signature(keyid, BILLING_OLD)
    else:
        auth = http_signature(keyid, reports_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
            algorithms.ED25519)
    assert send(app, auth, "/whoami?view=full").json["userid"] == f"service:{keyid}"


# -- refused ---------------------------------------------------------------------------


def test_replay_is_refused(app):
    prepared = ServiceAuth("billing", BILLING_OLD)(requests.Request("GET", BASE + "/whoami").prepare())
    headers = {name: prepared.headers[name] for name in ("Signature-Input", "Signature")}
    app.get("/whoami", headers=headers, status=200)
    assert code_of(app.get("/whoami", headers=headers, status=401)) == "replayed_request"


def test_wrong_key_unknown_keyid_and_kind_confusion(app, reports_key):
    assert code_of(send(app, ServiceAuth("billing", OTHER), "/whoami", status=401)) == "invalid_signature"
    assert code_of(send(app, ServiceAuth("nobody", OTHER), "/whoami", status=401)) == "unknown_key"
    # An Ed25519 signature presented under an HMAC key id.
    confused = send(app, ServiceAuth("billing", reports_key, "ed25519"), "/whoami", status=401)
    assert code_of(confused) in ("algorithm_mismatch", "invalid_signature")


def test_old_and_future_created_are_refused(app):
    for created, code in ((int(time.time()) - 301, "expired_signature"), (int(time.time()) + 60, "future_signature")):
        headers = sign_request("GET", BASE + "/whoami", {}, b"", keyid="billing", key=BILLING_OLD,
                               algorithm="hmac-sha256", created=created,
                               components=["@method", "@authority", "@target-uri"])
        assert code_of(app.get("/whoami", headers=headers, status=401)) == code


@pytest.mark.parametrize("path, sent_path, host", [
    ("/whoami", "/admin", HOST),
    ("/whoami?a=1", "/whoami?a=2", HOST),
    ("/whoami", "/whoami", "evil.example.com"),
])
def test_moved_requests_are_refused(app, path, sent_path, host):
    headers = sign_request("GET", BASE + path, {}, b"", keyid="billing", key=BILLING_OLD, algorithm="hmac-sha256",
                           components=["@method", "@authority", "@target-uri"])
    app.extra_environ = {**app.extra_environ, "HTTP_HOST": host}
    assert code_of(app.get(sent_path, headers=headers, status=401)) == "invalid_signature"


def test_a_signature_without_a_nonce_is_refused(app):
    auth = HTTPSignatureAuth(signature_algorithm=algorithms.HMAC_SHA256, key=BILLING_OLD, key_id="billing",
                             covered_component_ids=("@method", "@authority", "@target-uri"), use_nonce=False)
    assert code_of(send(app, auth, "/whoami", status=401)) == "missing_nonce"


def test_refusal_status_setting(backends, keys_setting):
    for status in ("403", "400"):
        app = make_demo({**backends, **hmac_settings(keys_setting, refusal_status=status)})
        app.extra_environ = {**app.extra_environ, "HTTP_HOST": HOST}
        refused = send(app, ServiceAuth("billing", OTHER), "/whoami", status=int(status))
        assert code_of(refused) == "invalid_signature" and refused.json["status"] == int(status)
        send(app, ServiceAuth("billing", BILLING_OLD), "/whoami", status=200)


def test_challenge_names_the_scheme_and_what_to_sign(app):
    response = app.get("/whoami", status=401)
    assert 'Signature realm="authsuite"' in response.headers.getall("WWW-Authenticate")
    assert response.headers["Accept-Signature"].startswith('sig1=("@method" "@authority" "@target-uri")')


# -- per-view restriction --------------------------------------------------------------


def test_services_option_admits_only_the_listed_services(backends, keys_setting, reports_key):
    app = make_demo({**backends, **hmac_settings(keys_setting), "demo.internal_services": "billing"})
    app.extra_environ = {**app.extra_environ, "HTTP_HOST": HOST}
    assert send(app, ServiceAuth("billing", BILLING_OLD), "/internal/ping").json == {
        "pong": True, "service": "service:billing"}
    refused = send(app, ServiceAuth("reports", reports_key, "ed25519"), "/internal/ping", status=403)
    assert code_of(refused) == "forbidden"
    # The same signature from reports is accepted elsewhere.
    assert send(app, ServiceAuth("reports", reports_key, "ed25519"), "/whoami").json["userid"] == "service:reports"
    app.get("/internal/ping", status=401)
    registry(app).authsuite_accounts.create("alice", PASSWORD, roles=["admin"])
    assert code_of(app.get("/internal/ping", headers=basic("alice", PASSWORD), status=403)) == "forbidden"


class ServicesRoot:
    __acl__ = [(Allow, "service:billing", "charge")]

    def __init__(self, request):
        pass


def charge(request):
    return {"charged": True, "by": request.identity.userid, "body": request.json_body}


@pytest.fixture
def acl_app(backends, keys_setting):
    with Configurator(settings={**backends, **hmac_settings(keys_setting)}, root_factory=ServicesRoot) as config:
        config.include("pyramid_authsuite")
        config.add_route("charges", "/charges")
        config.add_view(charge, route_name="charges", permission="charge", renderer="json", request_method="POST")
    app = webtest.TestApp(config.make_wsgi_app(), extra_environ={"HTTP_HOST": HOST, "REMOTE_ADDR": "127.0.0.1"})
    yield app
    config.registry.authsuite_cache.close()


def test_acl_naming_a_service_and_a_signed_body(acl_app, reports_key):
    body = json.dumps({"amount": 42}).encode()
    ok = send(acl_app, ServiceAuth("billing", BILLING_OLD), "/charges", "POST", body, "application/json")
    assert ok.json == {"charged": True, "by": "service:billing", "body": {"amount": 42}}
    denied = send(acl_app, ServiceAuth("reports", reports_key, "ed25519"), "/charges", "POST", body, "application/json",
                  status=403)
    assert code_of(denied) == "forbidden"


def test_body_tamper_and_digest_omission_are_refused(acl_app):
    body = b'{"amount": 42}'
    prepared = ServiceAuth("billing", BILLING_OLD)(
        requests.Request("POST", BASE + "/charges", data=body, headers={"Content-Type": "application/json"}).prepare())
    headers = {name: prepared.headers[name] for name in ("Signature-Input", "Signature", "Content-Digest", "Content-Type")}
    refused = acl_app.post("/charges", b'{"amount": 4200}', headers=headers, status=401)
    assert code_of(refused) == "digest_mismatch"
    # A valid signature that covers no content-digest, sent with a body.
    bare = sign_request("POST", BASE + "/charges", {}, b"", keyid="billing",
                        key=BILLING_OLD, algorithm="hmac-sha256", components=["@method", "@authority", "@target-uri"])
    refused = acl_app.post("/charges", body, headers={**bare, "Content-Type": "application/json"}, status=401)
    assert code_of(refused) == "missing_component"


# -- malformed headers: 401 problem+json, never 500 --------------------------------------

GOOD_INPUT = 'sig1=("@method" "@authority" "@target-uri");created=1700000000;keyid="billing";nonce="abc"'
MALFORMED = [
    ("", ""),
    ("garbage", "garbage"),
    (GOOD_INPUT, ""),
    ("", "sig1=:AAAA:"),
    (GOOD_INPUT, "sig1=AAAA"),
    (GOOD_INPUT, "sig2=:AAAA:"),
    (GOOD_INPUT, "sig1=:!!!!:"),
    ("sig1=()", "sig1=:AAAA:"),
    ('sig1=("@method");keyid="billing"', "sig1=:AAAA:"),
    ('sig1=("@method" "@method");created=1;keyid="billing";nonce="n"', "sig1=:AAAA:"),
    ('sig1=("@method");created="soon";keyid="billing";nonce="n"', "sig1=:AAAA:"),
    ('sig1=("@method");created=1;keyid=billing;nonce="n"', "sig1=:AAAA:"),
    ('sig1=("@method");created=1;keyid="billing";nonce="n";color="red"', "sig1=:AAAA:"),
    ("sig1=" + "(" + " ".join(f'"x{i}"' for i in range(100)) + ")", "sig1=:AAAA:"),
    (GOOD_INPUT + ", " + ", ".join(f"s{i}=()" for i in range(20)), "sig1=:AAAA:"),
    ("x" * 9000, "sig1=:AAAA:"),
    (GOOD_INPUT, "sig1=:" + "A" * 9000 + ":"),
    ('sig1=("@method");created=1;keyid="\u00e9";nonce="n"', "sig1=:AAAA:"),
    ('sig1=("@method");created=-5;keyid="billing";nonce="n"', "sig1=:AAAA:"),
    ('sig1=("@method");created=1;keyid="billing";nonce=""', "sig1=:AAAA:"),
    (GOOD_INPUT + ", " + GOOD_INPUT, "sig1=:AAAA:"),
    ('sig1="@method"', "sig1=:AAAA:"),
    ('sig1=("@method" 5);created=1;keyid="billing";nonce="n"', "sig1=:AAAA:"),
]


@pytest.mark.parametrize("signature_input, signature", MALFORMED)
def test_malformed_signature_headers(app, signature_input, signature):
    headers = {}
    if signature_input:
        headers["Signature-Input"] = signature_input.encode("utf-8").decode("latin-1")
    if signature:
        headers["Signature"] = signature
    if not headers:
        headers = {"Signature": ""}
    response = app.get("/whoami", headers=headers, status=401)
    assert response.json["status"] == 401
    assert code_of(response) not in ("", None)


# -- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize("keys, message", [
    ("", "multiauth.policy.hmac.keys: at least one service key is required"),
    ("billing:hmac-sha256:too-short", "fewer than 32 bytes"),
    ("billing:hmac-md5:" + "x" * 40, "algorithm must be hmac-sha256 or ed25519"),
    ("billing", "expected keyid[@service]:algorithm:source"),
    ("billing:hmac-sha256:env:SURELY_UNSET_AUTHSUITE_VARIABLE", "is not set"),
    ("a:hmac-sha256:" + "x" * 40 + " a:hmac-sha256:" + "y" * 40, "configured twice"),
    ("r:ed25519:" + "x" * 40, "not an Ed25519 public key"),
])
def test_bad_keys_are_configuration_errors(keys, message, tmp_path):
    with pytest.raises((ConfigurationError, ConfigurationExecutionError)) as caught:
        make_demo({"authsuite.accounts_url": f"sqlite:///{tmp_path}/a.sqlite", **hmac_settings(keys)})
    assert message in str(caught.value)
    assert "x" * 40 not in str(caught.value)  # never the secret itself
