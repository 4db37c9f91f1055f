"""The admin API's endpoints through the real demo app (WebTest): happy paths, documented
errors, ETag / If-Match, Location, Link, merge patch, events and audit lines.

Every test runs on memory + SQLite and on Redis + PostgreSQL.
"""
from __future__ import annotations

import json
import logging
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from pyramid_authsuite.admin import events
from tests.admin.common import MERGE_PATCH, PASSWORD, ROOT, admin_app, call, close, code_of, seed, store
from tests.apps import basic, registry


@pytest.fixture
def app(backends):
    app = admin_app(backends)
    seed(app)
    yield app
    close(app)


@pytest.fixture
def recorded(app):
    """Every AccountEvent the app notifies, in order."""
    seen = []
    registry(app).registerHandler(seen.append, (events.AccountEvent,))
    return seen


def audit_lines(caplog) -> list[dict]:
    return [json.loads(record.getMessage()) for record in caplog.records if record.name == "pyramid_authsuite.audit"]


def audit_text(caplog) -> str:
    """Every line the audit logger wrote."""
    return "\n".join(record.getMessage() for record in caplog.records if record.name == "pyramid_authsuite.audit")


# -- create, read ---------------------------------------------------------------------


def test_create_answers_201_location_etag_and_the_user(app, recorded, caplog):
    caplog.set_level(logging.INFO, logger="pyramid_authsuite.audit")
    body = {"userid": "carol", "password": "a long password", "email": "carol@example.org",
            "display_name": "Carol", "roles": ["member"], "tenant": "acme", "custom_claims": {"plan": "pro"}}
    created = call(app, "POST", "/admin/users", body, ROOT)
    assert created.status_int == 201
    assert created.headers["Location"] == "http://localhost/admin/users/carol"
    user = created.json
    assert user["userid"] == "carol" and user["email"] == "carol@example.org" and user["display_name"] == "Carol"
    assert user["roles"] == ["member"] and user["tenant"] == "acme" and user["custom_claims"] == {"plan": "pro"}
    assert user["version"] == 1 and user["has_password"] is True and user["disabled"] is False
    assert user["created_at"].endswith("Z") and user["last_login_at"] is None
    assert set(user) == {"userid", "email", "display_name", "roles", "tenant", "disabled", "custom_claims",
                         "version", "has_password", "created_at", "updated_at", "last_login_at"}
    assert created.headers["ETag"].startswith('"1-')
    # The Location answers the same representation and ETag.
    got = call(app, "GET", "/admin/users/carol", headers=ROOT)
    assert got.status_int == 200 and got.json == user and got.headers["ETag"] == created.headers["ETag"]
    assert got.headers["Cache-Control"] == "no-store"
    # It can log in at once, with the password given; a login is bookkeeping, not a new version.
    assert app.get("/whoami", headers=basic("carol", "a long password")).json["userid"] == "carol"
    logged_in = call(app, "GET", "/admin/users/carol", headers=ROOT)
    assert logged_in.json["last_login_at"].endswith("Z") and logged_in.headers["ETag"] == created.headers["ETag"]

    [event] = recorded
    assert isinstance(event, events.AccountCreated)
    assert (event.actor, event.actor_scheme, event.userid) == ("root", "basic", "carol")
    assert set(event.changes) == {"email", "display_name", "roles", "tenant", "custom_claims", "password"}
    [line] = audit_lines(caplog)
    assert line["event"] == "account.created" and line["actor"] == "root" and line["userid"] == "carol"
    assert line["at"].endswith("Z") and line["actor_scheme"] == "basic"
    raw = audit_text(caplog)
    for secret in ("a long password", "carol@example.org", '"pro"', "argon2", "Carol"):
        assert secret not in raw and secret not in caplog.text


def test_create_without_password_cannot_log_in_until_one_is_set(app):
    created = call(app, "POST", "/admin/users", {"userid": "keyonly"}, ROOT)
    assert created.status_int == 201 and created.json["has_password"] is False
    assert app.get("/whoami", headers=basic("keyonly", "whatever password"), expect_errors=True).status_int == 401
    assert call(app, "PUT", "/admin/users/keyonly/password", {"password": "now a password"}, ROOT).status_int == 204
    assert app.get("/whoami", headers=basic("keyonly", "now a password")).json["userid"] == "keyonly"
    assert call(app, "GET", "/admin/users/keyonly", headers=ROOT).json["has_password"] is True


def test_create_conflicts(app):
    taken = call(app, "POST", "/admin/users", {"userid": "alice"}, ROOT)
    assert taken.status_int == 409 and code_of(taken) == "userid_taken"
    email = call(app, "POST", "/admin/users", {"userid": "alice2", "email": "ALICE@acme.example"}, ROOT)
    assert email.status_int == 409 and code_of(email) == "email_taken"


def test_get_never_shows_a_hash_and_404s(app):
    got = call(app, "GET", "/admin/users/alice", headers=ROOT)
    assert "argon2" not in got.text and "password_hash" not in got.text
    missing = call(app, "GET", "/admin/users/nobody", headers=ROOT)
    assert missing.status_int == 404 and code_of(missing) == "user_not_found"
    malformed = call(app, "GET", "/admin/users/%20bad%20", headers=ROOT)
    assert malformed.status_int == 404 and code_of(malformed) == "user_not_found"


# -- list -------------------------------------------------------------------------------


def test_list_pages_with_cursor_and_link_keeping_the_filters(app):
    for index in range(7):
        store(app).create(f"m{index:02d}", None, roles=("member",), tenant="initech")
    seen = []
    url = "/admin/users?tenant=initech&limit=3"
    pages = 0
    while url:
        page = call(app, "GET", url, headers=ROOT)
        assert page.status_int == 200 and page.headers["Cache-Control"] == "no-store"
        seen += [user["userid"] for user in page.json["users"]]
        pages += 1
        if page.json["next"] is None:
            assert "Link" not in page.headers
            break
        link = page.headers["Link"]
        assert link.endswith('>; rel="next"') and link.startswith("<http://localhost/admin/users?")
        target = urlsplit(link[1:link.index(">")])
        query = parse_qs(target.query)
        assert query["tenant"] == ["initech"] and query["limit"] == ["3"] and query["after"] == [page.json["next"]]
        url = f"{target.path}?{target.query}"
    assert seen == [f"m{index:02d}" for index in range(7)] and pages == 3


def test_list_filters_role_and_query(app):
    by_role = call(app, "GET", "/admin/users?role=admin", headers=ROOT).json["users"]
    assert [user["userid"] for user in by_role] == ["boss", "root"]
    by_prefix = call(app, "GET", "/admin/users?q=AL", headers=ROOT).json["users"]
    assert [user["userid"] for user in by_prefix] == ["alice"]
    by_email = call(app, "GET", "/admin/users?q=alice%40acme", headers=ROOT).json["users"]
    assert [user["userid"] for user in by_email] == ["alice"]
    everyone = call(app, "GET", "/admin/users", headers=ROOT).json
    assert everyone["next"] is None and len(everyone["users"]) == 10
    assert [user["userid"] for user in everyone["users"]] == sorted(user["userid"] for user in everyone["users"])


# -- patch --------------------------------------------------------------------------------


def test_merge_patch_sets_clears_and_merges_claims(app, recorded, caplog):
    caplog.set_level(logging.INFO, logger="pyramid_authsuite.audit")
    store(app).update("alice", {"display_name": "Alice", "custom_claims": {"plan": "pro", "seats": 3, "nested": {"a": 1, "b": 2}}})
    before = call(app, "GET", "/admin/users/alice", headers=ROOT)
    patch = {"display_name": None, "email": "new@acme.example",
             "custom_claims": {"seats": None, "nested": {"a": None, "c": 3}, "region": "eu"}}
    patched = call(app, "PATCH", "/admin/users/alice", patch, {**ROOT, "If-Match": before.headers["ETag"]})
    assert patched.status_int == 200, patched.text
    user = patched.json
    assert user["display_name"] is None and user["email"] == "new@acme.example"
    assert user["custom_claims"] == {"plan": "pro", "nested": {"b": 2, "c": 3}, "region": "eu"}
    assert user["version"] == before.json["version"] + 1
    assert patched.headers["ETag"] != before.headers["ETag"]
    assert call(app, "GET", "/admin/users/alice", headers=ROOT).json == user

    cleared = call(app, "PATCH", "/admin/users/alice", {"custom_claims": None, "roles": None, "tenant": None}, ROOT)
    assert cleared.status_int == 200
    assert cleared.json["custom_claims"] == {} and cleared.json["roles"] == [] and cleared.json["tenant"] is None

    [first, second] = recorded
    assert isinstance(first, events.AccountUpdated) and first.userid == "alice" and first.actor == "root"
    assert set(first.changes) == {"display_name", "email", "custom_claims"}
    assert set(second.changes) == {"custom_claims", "roles", "tenant"}
    lines = audit_lines(caplog)
    assert [line["event"] for line in lines] == ["account.updated", "account.updated"]
    assert sorted(lines[0]["changes"]) == ["custom_claims", "display_name", "email"]
    for value in ("new@acme.example", "region", '"eu"', '"pro"', "seats"):
        assert value not in audit_text(caplog)


def test_patch_if_match_stale_star_and_list(app):
    first = call(app, "GET", "/admin/users/alice", headers=ROOT)
    tag = first.headers["ETag"]
    assert call(app, "PATCH", "/admin/users/alice", {"display_name": "A"}, {**ROOT, "If-Match": tag}).status_int == 200
    stale = call(app, "PATCH", "/admin/users/alice", {"display_name": "B"}, {**ROOT, "If-Match": tag})
    assert stale.status_int == 412 and code_of(stale) == "precondition_failed"
    assert call(app, "GET", "/admin/users/alice", headers=ROOT).json["display_name"] == "A"
    star = call(app, "PATCH", "/admin/users/alice", {"display_name": "C"}, {**ROOT, "If-Match": "*"})
    assert star.status_int == 200
    current = star.headers["ETag"]
    listed = call(app, "PATCH", "/admin/users/alice", {"display_name": "D"}, {**ROOT, "If-Match": f'"x", {current}'})
    assert listed.status_int == 200
    weak = call(app, "PATCH", "/admin/users/alice", {"display_name": "E"}, {**ROOT, "If-Match": "W/" + listed.headers["ETag"]})
    assert weak.status_int == 412  # If-Match compares strongly


def test_etag_differs_for_a_recreated_account(app):
    first = call(app, "POST", "/admin/users", {"userid": "phoenix"}, ROOT).headers["ETag"]
    assert call(app, "DELETE", "/admin/users/phoenix", headers=ROOT).status_int == 204
    second = call(app, "POST", "/admin/users", {"userid": "phoenix"}, ROOT).headers["ETag"]
    assert first != second and first.startswith('"1-') and second.startswith('"1-')
    stale = call(app, "DELETE", "/admin/users/phoenix", headers={**ROOT, "If-Match": first})
    assert stale.status_int == 412
    assert call(app, "DELETE", "/admin/users/phoenix", headers={**ROOT, "If-Match": second}).status_int == 204


def test_empty_merge_patch_changes_nothing(app, recorded):
    before = call(app, "GET", "/admin/users/alice", headers=ROOT)
    same = call(app, "PATCH", "/admin/users/alice", {}, ROOT)
    assert same.status_int == 200 and same.json == before.json and recorded == []


def test_patch_404_and_409(app):
    missing = call(app, "PATCH", "/admin/users/nobody", {"display_name": "x"}, ROOT)
    assert missing.status_int == 404 and code_of(missing) == "user_not_found"
    taken = call(app, "PATCH", "/admin/users/gina", {"email": "alice@acme.example"}, ROOT)
    assert taken.status_int == 409 and code_of(taken) == "email_taken"


# -- disable, enable, delete, password ------------------------------------------------------


def test_disable_enable_are_idempotent_and_notify(app, recorded, caplog):
    caplog.set_level(logging.INFO, logger="pyramid_authsuite.audit")
    assert app.get("/whoami", headers=basic("alice", PASSWORD)).status_int == 200
    disabled = call(app, "POST", "/admin/users/alice/disable", headers=ROOT)
    assert disabled.status_int == 200 and disabled.json["disabled"] is True
    assert app.get("/whoami", headers=basic("alice", PASSWORD), expect_errors=True).status_int == 401
    again = call(app, "POST", "/admin/users/alice/disable", headers=ROOT)
    assert again.status_int == 200 and again.json["version"] == disabled.json["version"]
    stale = call(app, "POST", "/admin/users/alice/enable", headers={**ROOT, "If-Match": '"1-0"'})
    assert stale.status_int == 412
    enabled = call(app, "POST", "/admin/users/alice/enable", headers={**ROOT, "If-Match": again.headers["ETag"]})
    assert enabled.status_int == 200 and enabled.json["disabled"] is False
    assert app.get("/whoami", headers=basic("alice", PASSWORD)).status_int == 200
    assert [type(event) for event in recorded] == [events.AccountDisabled, events.AccountEnabled]
    assert all(event.changes == ("disabled",) for event in recorded)
    assert [line["event"] for line in audit_lines(caplog)] == ["account.disabled", "account.enabled"]


def test_delete_and_password(app, recorded, caplog):
    caplog.set_level(logging.INFO, logger="pyramid_authsuite.audit")
    changed = call(app, "PUT", "/admin/users/alice/password", {"password": "a brand new one"}, ROOT)
    assert changed.status_int == 204
    assert app.get("/whoami", headers=basic("alice", PASSWORD), expect_errors=True).status_int == 401
    assert app.get("/whoami", headers=basic("alice", "a brand new one")).status_int == 200
    removed = call(app, "PUT", "/admin/users/alice/password", {"password": None}, ROOT)
    assert removed.status_int == 204
    assert call(app, "GET", "/admin/users/alice", headers=ROOT).json["has_password"] is False
    assert call(app, "DELETE", "/admin/users/alice", headers=ROOT).status_int == 204
    gone = call(app, "DELETE", "/admin/users/alice", headers=ROOT)
    assert gone.status_int == 404 and code_of(gone) == "user_not_found"
    assert store(app).get("alice") is None
    assert [type(event) for event in recorded] == [
        events.AccountPasswordChanged, events.AccountPasswordChanged, events.AccountDeleted]
    assert recorded[0].changes == ("password",)
    assert "a brand new one" not in caplog.text
    assert [line["event"] for line in audit_lines(caplog)] == [
        "account.password_changed", "account.password_changed", "account.deleted"]


def test_end_sessions(app, recorded):
    pytest.importorskip("pyramid_authsuite.revocation")
    ended = call(app, "DELETE", "/admin/users/alice/sessions", headers=ROOT)
    assert ended.status_int == 200 and ended.json == {"hawk_sessions_ended": 0}
    assert isinstance(recorded[0], events.AccountSessionsEnded) and recorded[0].userid == "alice"
    missing = call(app, "DELETE", "/admin/users/nobody/sessions", headers=ROOT)
    assert missing.status_int == 404 and code_of(missing) == "user_not_found"


# -- keys ------------------------------------------------------------------------------------


def _public_pem() -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def test_keys_add_list_remove(app, recorded, caplog):
    caplog.set_level(logging.INFO, logger="pyramid_authsuite.audit")
    hmac_key = call(app, "POST", "/admin/users/alice/keys", {"kind": "hmac", "key_id": "alice-hmac"}, ROOT)
    assert hmac_key.status_int == 201
    secret = hmac_key.json["secret"]
    assert len(secret) == 43 and hmac_key.json["fingerprint"] == "-" and hmac_key.json["kind"] == "hmac"
    assert store(app).get_key("alice-hmac").material == secret.encode()
    pem = _public_pem()
    ed = call(app, "POST", "/admin/users/alice/keys", {"kind": "ed25519", "public_key": pem}, ROOT)
    assert ed.status_int == 201 and "secret" not in ed.json
    assert ed.json["key_id"].startswith("key-") and ed.json["fingerprint"].startswith("SHA256:")
    listed = call(app, "GET", "/admin/users/alice/keys", headers=ROOT).json["keys"]
    assert sorted(key["key_id"] for key in listed) == sorted(["alice-hmac", ed.json["key_id"]])
    assert secret not in json.dumps(listed) and "BEGIN" not in json.dumps(listed)
    taken = call(app, "POST", "/admin/users/gina/keys", {"kind": "hmac", "key_id": "alice-hmac"}, ROOT)
    assert taken.status_int == 409 and code_of(taken) == "key_id_taken"
    not_hers = call(app, "DELETE", "/admin/users/gina/keys/alice-hmac", headers=ROOT)
    assert not_hers.status_int == 404 and code_of(not_hers) == "key_not_found"
    assert call(app, "DELETE", "/admin/users/alice/keys/alice-hmac", headers=ROOT).status_int == 204
    assert store(app).get_key("alice-hmac") is None
    again = call(app, "DELETE", "/admin/users/alice/keys/alice-hmac", headers=ROOT)
    assert again.status_int == 404 and code_of(again) == "key_not_found"
    kinds = [type(event) for event in recorded]
    assert kinds == [events.AccountKeyAdded, events.AccountKeyAdded, events.AccountKeyRemoved]
    assert recorded[0].key_id == "alice-hmac"
    lines = audit_lines(caplog)
    assert [line.get("key_id") for line in lines][0::2] == ["alice-hmac", "alice-hmac"]
    assert secret not in caplog.text


# -- rate limit ---------------------------------------------------------------------------------


def test_admin_writes_are_rate_limited_per_caller(backends):
    app = admin_app(backends, **{"authsuite.admin_write_limit": "3", "authsuite.admin_write_window_seconds": "60"})
    try:
        seed(app)
        for index in range(3):
            assert call(app, "PATCH", "/admin/users/alice", {"display_name": f"A{index}"}, ROOT).status_int == 200
        refused = call(app, "PATCH", "/admin/users/alice", {"display_name": "too many"}, ROOT)
        assert refused.status_int == 429 and code_of(refused) == "rate_limited"
        assert refused.headers["Retry-After"] == "60"
        assert call(app, "GET", "/admin/users/alice", headers=ROOT).json["display_name"] == "A2"
        # Reads are not counted; another caller has its own count.
        assert call(app, "GET", "/admin/users", headers=ROOT).status_int == 200
        other = basic("boss", PASSWORD)
        assert call(app, "POST", "/admin/users/alice/disable", headers=other).status_int == 200
    finally:
        close(app)
