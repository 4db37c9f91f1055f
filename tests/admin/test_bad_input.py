"""Bad input to the admin API: every case a 4xx problem+json naming what is wrong, never a 500,
and never echoing what was sent. Runs on memory + SQLite and Redis + PostgreSQL."""
from __future__ import annotations

import json

import pytest

from pyramid_authsuite._b64 import b64url_encode
from tests.admin.common import MERGE_PATCH, ROOT, TA_ACME, admin_app, call, close, code_of, seed, store

JSON = "application/json"
BIG_CLAIMS = {"blob": "x" * (5 * 1024)}
SECRET_LOOKING = "s3cr3t-value-never-echoed"


@pytest.fixture
def app(backends):
    app = admin_app(backends)
    seed(app)
    yield app
    close(app)


def case(name, method, path, body=None, status=400, field=None, content_type=None, headers=None):
    return pytest.param(method, path, body, status, field, content_type, headers or {}, id=name)


CASES = [
    # -- POST /admin/users ------------------------------------------------------------
    case("unknown field", "POST", "/admin/users", {"userid": "x1", "colour": SECRET_LOOKING}, field="colour"),
    case("userid missing", "POST", "/admin/users", {"email": "a@example.org"}, field="userid"),
    case("userid wrong type", "POST", "/admin/users", {"userid": 42}, field="userid"),
    case("userid with a blank", "POST", "/admin/users", {"userid": "bad user"}, field="userid"),
    case("userid with a colon", "POST", "/admin/users", {"userid": "a:b"}, field="userid"),
    case("userid too long", "POST", "/admin/users", {"userid": "u" * 65}, field="userid"),
    case("invalid email", "POST", "/admin/users", {"userid": "x2", "email": "not an email"}, field="email"),
    case("email wrong type", "POST", "/admin/users", {"userid": "x3", "email": 5}, field="email"),
    case("display_name wrong type", "POST", "/admin/users", {"userid": "x4", "display_name": {"a": 1}},
         field="display_name"),
    case("roles not a list", "POST", "/admin/users", {"userid": "x5", "roles": "admin"}, field="roles"),
    case("role with a blank", "POST", "/admin/users", {"userid": "x6", "roles": ["bad role"]}, field="roles"),
    case("role not a string", "POST", "/admin/users", {"userid": "x7", "roles": [1]}, field="roles"),
    case("tenant with a blank", "POST", "/admin/users", {"userid": "x8", "tenant": "acme corp"}, field="tenant"),
    case("5 KiB custom claims", "POST", "/admin/users", {"userid": "x9", "custom_claims": BIG_CLAIMS},
         field="custom_claims"),
    case("reserved claim sub", "POST", "/admin/users", {"userid": "x10", "custom_claims": {"sub": "root"}},
         field="custom_claims"),
    case("reserved claim roles", "POST", "/admin/users", {"userid": "x11", "custom_claims": {"roles": ["admin"]}},
         field="custom_claims"),
    case("custom claims not an object", "POST", "/admin/users", {"userid": "x12", "custom_claims": [1]},
         field="custom_claims"),
    case("password too short", "POST", "/admin/users", {"userid": "x13", "password": "short"}, field="password"),
    case("password too long", "POST", "/admin/users", {"userid": "x14", "password": "p" * 1025}, field="password"),
    case("password wrong type", "POST", "/admin/users", {"userid": "x15", "password": 12345678}, field="password"),
    case("form content type", "POST", "/admin/users", b"userid=x16", 415, content_type="application/x-www-form-urlencoded"),
    case("no content type", "POST", "/admin/users", b'{"userid": "x17"}', 415, content_type=""),
    case("malformed JSON", "POST", "/admin/users", b'{"userid": ', field="body"),
    case("non-object JSON", "POST", "/admin/users", b'["userid"]', field="body"),
    case("JSON string", "POST", "/admin/users", b'"x18"', field="body"),
    case("duplicate member names", "POST", "/admin/users", b'{"userid": "x19", "userid": "x20"}', field="body"),
    case("NaN", "POST", "/admin/users", b'{"userid": "x21", "custom_claims": {"n": NaN}}', field="body"),
    case("nesting bomb", "POST", "/admin/users", b"[" * 60000, field="body"),
    case("not UTF-8", "POST", "/admin/users", b'{"userid": "x22\xff"}', field="body"),
    case("UTF-16 JSON", "POST", "/admin/users", '{"userid": "x23"}'.encode("utf-16"), field="body"),
    case("huge body", "POST", "/admin/users", b'{"userid": "x24", "display_name": "' + b"x" * 70000 + b'"}', 413),
    # -- PATCH ------------------------------------------------------------------------------
    case("patch as application/json", "PATCH", "/admin/users/alice", {"display_name": "a"}, 415, content_type=JSON),
    case("patch as text/plain", "PATCH", "/admin/users/alice", b'{"display_name": "a"}', 415,
         content_type="text/plain"),
    case("patch JSON Patch media type", "PATCH", "/admin/users/alice", [{"op": "remove", "path": "/email"}], 415,
         content_type="application/json-patch+json"),
    case("patch malformed", "PATCH", "/admin/users/alice", b"{nope", field="body"),
    case("patch non-object", "PATCH", "/admin/users/alice", b"[1, 2]", field="body"),
    case("patch null document", "PATCH", "/admin/users/alice", b"null", field="body"),
    case("patch userid", "PATCH", "/admin/users/alice", {"userid": "mallory"}, field="userid"),
    case("patch password", "PATCH", "/admin/users/alice", {"password": SECRET_LOOKING}, field="password"),
    case("patch disabled", "PATCH", "/admin/users/alice", {"disabled": True}, field="disabled"),
    case("patch version", "PATCH", "/admin/users/alice", {"version": 99}, field="version"),
    case("patch created_at", "PATCH", "/admin/users/alice", {"created_at": "2020-01-01T00:00:00Z"}, field="created_at"),
    case("patch unknown", "PATCH", "/admin/users/alice", {"shoe_size": 44}, field="shoe_size"),
    case("patch roles wrong type", "PATCH", "/admin/users/alice", {"roles": {"admin": True}}, field="roles"),
    case("patch reserved claim", "PATCH", "/admin/users/alice", {"custom_claims": {"exp": 1}}, field="custom_claims"),
    case("patch claims too big", "PATCH", "/admin/users/alice", {"custom_claims": BIG_CLAIMS}, field="custom_claims"),
    case("patch claims a string", "PATCH", "/admin/users/alice", {"custom_claims": "plan=pro"}, field="custom_claims"),
    case("patch invalid email", "PATCH", "/admin/users/alice", {"email": "@"}, field="email"),
    case("bad If-Match", "PATCH", "/admin/users/alice", {"display_name": "a"}, field="If-Match",
         headers={"If-Match": "not-quoted"}),
    case("If-Match half quoted", "PATCH", "/admin/users/alice", {"display_name": "a"}, field="If-Match",
         headers={"If-Match": '"1-abc'}),
    case("If-Match too long", "PATCH", "/admin/users/alice", {"display_name": "a"}, field="If-Match",
         headers={"If-Match": '"' + "1" * 2000 + '"'}),
    case("bad If-Match on delete", "DELETE", "/admin/users/alice", field="If-Match", headers={"If-Match": "W/x"}),
    # -- GET /admin/users -------------------------------------------------------------------
    case("limit 0", "GET", "/admin/users?limit=0", field="limit"),
    case("limit 10000", "GET", "/admin/users?limit=10000", field="limit"),
    case("limit 201", "GET", "/admin/users?limit=201", field="limit"),
    case("limit negative", "GET", "/admin/users?limit=-1", field="limit"),
    case("limit not a number", "GET", "/admin/users?limit=ten", field="limit"),
    case("limit unicode digits", "GET", "/admin/users?limit=%D9%A5", field="limit"),
    case("limit twice", "GET", "/admin/users?limit=1&limit=2", field="limit"),
    case("forged cursor", "GET", "/admin/users?after=forged", field="after"),
    case("cursor without a tag", "GET", f"/admin/users?after={b64url_encode(b'alice')}", field="after"),
    case("cursor with a made-up tag", "GET", f"/admin/users?after={b64url_encode(bytes(16) + b'alice')}", field="after"),
    case("cursor too long", "GET", "/admin/users?after=" + "A" * 500, field="after"),
    case("empty cursor", "GET", "/admin/users?after=", field="after"),
    case("unknown query parameter", "GET", "/admin/users?sort=email", field="sort"),
    case("empty q", "GET", "/admin/users?q=", field="q"),
    case("q too long", "GET", "/admin/users?q=" + "a" * 101, field="q"),
    case("bad tenant filter", "GET", "/admin/users?tenant=a%20b", field="tenant"),
    case("bad role filter", "GET", "/admin/users?role=%00", field="role"),
    case("query value not UTF-8", "GET", "/admin/users?q=%ff", field="query"),
    case("query name not UTF-8", "GET", "/admin/users?%ff=1", field="query"),
    # -- password, keys ---------------------------------------------------------------------
    case("password body empty", "PUT", "/admin/users/alice/password", {}, field="password"),
    case("password body extra", "PUT", "/admin/users/alice/password", {"password": None, "old": "x"}, field="old"),
    case("password body short", "PUT", "/admin/users/alice/password", {"password": "1234567"}, field="password"),
    case("password as text", "PUT", "/admin/users/alice/password", b"new password here", 415,
         content_type="text/plain"),
    case("key kind unknown", "POST", "/admin/users/alice/keys", {"kind": "dsa"}, field="kind"),
    case("key kind missing", "POST", "/admin/users/alice/keys", {}, field="kind"),
    case("hmac key with a public key", "POST", "/admin/users/alice/keys", {"kind": "hmac", "public_key": "x"},
         field="public_key"),
    case("ed25519 key without one", "POST", "/admin/users/alice/keys", {"kind": "ed25519"}, field="public_key"),
    case("ed25519 key garbage PEM", "POST", "/admin/users/alice/keys",
         {"kind": "ed25519", "public_key": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"},
         field="public_key"),
    case("key id malformed", "POST", "/admin/users/alice/keys", {"kind": "hmac", "key_id": "-bad"}, field="key_id"),
    case("key id wrong type", "POST", "/admin/users/alice/keys", {"kind": "hmac", "key_id": 7}, field="key_id"),
]


@pytest.mark.parametrize("method, path, body, status, field, content_type, headers", CASES)
def test_bad_input_is_a_4xx_problem(app, method, path, body, status, field, content_type, headers):
    before = store(app).get("alice")
    response = call(app, method, path, body, {**ROOT, **headers}, content_type)
    assert response.status_int == status, response.text
    code = code_of(response)
    if status == 400:
        assert code == "validation_error"
        fields = [error["field"] for error in response.json["errors"]]
        assert field in fields, fields
        assert all(set(error) == {"field", "message"} for error in response.json["errors"])
    elif status == 415:
        assert code == "unsupported_media_type"
    assert SECRET_LOOKING not in response.text
    assert "xxxxxxxx" not in response.text
    # Nothing was written.
    assert store(app).get("alice").version == before.version
    assert [user.userid for user in store(app).list(50)[0] if user.userid.startswith("x")] == []


def test_at_least_25_cases():
    assert len(CASES) >= 25


def test_a_cursor_of_another_server_secret_is_refused(backends):
    first = admin_app(backends, **{"authsuite.secret": "a" * 40})
    try:
        seed(first)
        cursor = call(first, "GET", "/admin/users?limit=2", headers=ROOT).json["next"]
        assert call(first, "GET", f"/admin/users?after={cursor}", headers=ROOT).status_int == 200
    finally:
        close(first)
    second = admin_app(backends, **{"authsuite.secret": "b" * 40})
    try:
        refused = call(second, "GET", f"/admin/users?after={cursor}", headers=ROOT)
        assert refused.status_int == 400 and refused.json["errors"][0]["field"] == "after"
    finally:
        close(second)


def test_tenant_admin_bad_input_is_400_before_anything_else(app):
    """Validation comes first, so a tenant admin learns nothing about other tenants' accounts from it."""
    for userid in ("gina", "alice", "nobody"):
        response = call(app, "PATCH", f"/admin/users/{userid}", {"shoe_size": 1}, TA_ACME)
        assert response.status_int == 400 and json.loads(response.body)["errors"][0]["field"] == "shoe_size"


@pytest.mark.parametrize("path", ["/admin/users/%ff", "/admin/users/%c3%28/keys", "/admin/users/a/keys/%ff"])
def test_a_path_that_is_not_utf8_is_400(app, path):
    response = call(app, "GET" if "keys/" not in path else "DELETE", path, headers=ROOT)
    assert response.status_int == 400 and code_of(response) == "invalid_request"
