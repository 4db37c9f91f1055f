"""Basic authentication end to end through the demo app, on memory+SQLite and Redis+PostgreSQL."""
from __future__ import annotations

import base64
import json

import pytest

from tests.apps import basic, make_demo, registry

PASSWORD = "correct horse battery"


@pytest.fixture
def app(backends):
    app = make_demo(backends)
    store = registry(app).authsuite_accounts
    store.create("alice", PASSWORD, roles=["admin"], tenant="acme", email="alice@example.com")
    store.create("bob", PASSWORD, roles=["reader"])
    yield app
    store.close()
    registry(app).authsuite_cache.close()


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_int == status
    assert response.content_type == "application/problem+json"
    body = json.loads(response.body)
    assert body["status"] == status
    assert body["type"].endswith(":" + code)
    assert body["title"] and body["detail"]
    assert response.headers["Cache-Control"] == "no-store"
    return body


def test_index_is_public_and_lists_the_schemes(app):
    body = app.get("/").json
    assert body["schemes"] == [{"name": "basic", "scheme": "basic"}]


def test_whoami_with_the_right_password(app):
    body = app.get("/whoami", headers=basic("alice", PASSWORD)).json
    assert body["userid"] == "alice"
    assert body["scheme"] == "basic"
    assert {"role:admin", "tenant:acme", "scheme:basic"} <= set(body["principals"])
    assert body["claims"] == {}


def test_admin_needs_the_admin_role(app):
    assert app.get("/admin", headers=basic("alice", PASSWORD)).json["userid"] == "alice"
    response = app.get("/admin", headers=basic("bob", PASSWORD), status=403)
    assert_problem(response, 403, "forbidden")
    assert "WWW-Authenticate" not in response.headers


def test_anonymous_gets_a_basic_challenge(app):
    response = app.get("/whoami", status=401)
    assert_problem(response, 401, "authentication_required")
    assert response.headers.getall("WWW-Authenticate") == ['Basic realm="authsuite-test", charset="UTF-8"']


def test_wrong_password_and_unknown_user_are_alike(app):
    wrong = assert_problem(app.get("/whoami", headers=basic("alice", "nope-nope"), status=401), 401, "invalid_credentials")
    unknown = assert_problem(app.get("/whoami", headers=basic("carol", "nope-nope"), status=401), 401, "invalid_credentials")
    assert wrong == unknown
    assert "nope-nope" not in json.dumps(wrong)


def test_disabled_account_is_refused(app):
    registry(app).authsuite_accounts.update("bob", disabled=True)
    assert_problem(app.get("/whoami", headers=basic("bob", PASSWORD), status=401), 401, "invalid_credentials")
    registry(app).authsuite_accounts.update("bob", disabled=False)
    assert app.get("/whoami", headers=basic("bob", PASSWORD)).json["userid"] == "bob"


GARBAGE_HEADERS = [
    "Basic",
    "Basic ",
    "Basic !!!",
    "Basic " + base64.b64encode(b"nocolon").decode(),
    "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
    "Basic " + "QUFB" * 2000,
    "Basic " + base64.b64encode(b"al ice:" + PASSWORD.encode()).decode(),
    "Basic " + base64.b64encode(b"alice:" + PASSWORD.encode() + b"\x00").decode(),
    "Basic " + base64.b64encode(("x" * 100 + ":pw").encode()).decode(),
    "basic" + "\t" + "abc",
]


@pytest.mark.parametrize("header", GARBAGE_HEADERS)
def test_garbage_authorization_is_a_401_never_a_500(app, header):
    response = app.get("/whoami", headers={"Authorization": header}, status=401)
    body = assert_problem(response, 401, response.json["type"].rsplit(":", 1)[1])
    assert body["type"].rsplit(":", 1)[1] in ("malformed_credentials", "invalid_credentials", "authentication_required")


@pytest.mark.parametrize("header", ["Bearer abc", "Hawk id=\"x\"", "Digest foo", "\u00e9\u00e9", "x" * 10000])
def test_other_schemes_are_anonymous_here(app, header):
    # Only Basic is configured: other schemes carry no credentials for it.
    response = app.get("/whoami", headers={"Authorization": header.encode("utf-8").decode("latin-1")}, status=401)
    assert_problem(response, 401, "authentication_required")


def test_repeated_wrong_passwords_lock_the_userid(app):
    for _ in range(5):
        app.get("/whoami", headers=basic("alice", "wrong-password"), status=401)
    response = app.get("/whoami", headers=basic("alice", PASSWORD), status=429)
    assert_problem(response, 429, "rate_limited")
    assert response.headers["Retry-After"] == "300"
    # Another account from another address is not affected.
    assert app.get("/whoami", headers=basic("bob", PASSWORD), extra_environ={"REMOTE_ADDR": "10.0.0.9"}).status_int == 200


def test_success_resets_the_userid_count(app):
    for _ in range(4):
        app.get("/whoami", headers=basic("alice", "wrong-password"), status=401)
    app.get("/whoami", headers=basic("alice", PASSWORD), status=200)
    for _ in range(4):
        app.get("/whoami", headers=basic("alice", "wrong-password"), status=401)
    app.get("/whoami", headers=basic("alice", PASSWORD), status=200)


def test_one_address_guessing_many_userids_is_limited(app):
    for number in range(20):
        app.get("/whoami", headers=basic(f"user{number}", "wrong-password"), status=401)
    assert_problem(app.get("/whoami", headers=basic("bob", PASSWORD), status=429), 429, "rate_limited")
    # X-Forwarded-For is not trusted by default, so it cannot dodge the limit.
    app.get("/whoami", headers={**basic("bob", PASSWORD), "X-Forwarded-For": "203.0.113.7"}, status=429)


def test_trusted_proxies_reads_x_forwarded_for(backends):
    app = make_demo({**backends, "authsuite.trusted_proxies": "1"})
    registry(app).authsuite_accounts.create("carol", PASSWORD)
    for number in range(20):
        app.get("/whoami", headers={**basic(f"user{number}", "wrong-password"), "X-Forwarded-For": "203.0.113.7"}, status=401)
    blocked = {**basic("carol", PASSWORD), "X-Forwarded-For": "203.0.113.7"}
    app.get("/whoami", headers=blocked, status=429)
    other = {**basic("carol", PASSWORD), "X-Forwarded-For": "198.51.100.1, 203.0.113.8"}
    assert app.get("/whoami", headers=other).json["userid"] == "carol"


def test_policy_verifies_once_per_request(app):
    store = registry(app).authsuite_accounts
    calls = []
    real_authenticate = store.authenticate

    def counting_authenticate(userid, password):
        calls.append(userid)
        return real_authenticate(userid, password)

    store.authenticate = counting_authenticate
    try:
        app.get("/admin", headers=basic("alice", PASSWORD))
        app.get("/whoami", headers=basic("alice", "wrong-password"), status=401)
    finally:
        del store.authenticate
    assert calls == ["alice", "alice"]
