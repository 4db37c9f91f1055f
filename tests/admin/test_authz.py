"""Who may use the admin API: full admins (Basic role:admin, a service key granted
service:ops), tenant admins confined to their tenant, everyone else refused.

The tenant isolation table: every operation of a tenant admin on an account out
of its reach (another tenant, no tenant, or its own tenant's account holding a
role it cannot grant) answers 404, exactly as for an account that does not
exist; every attempt to escalate a role or move an account between tenants
answers 403 and changes nothing. Runs on memory + SQLite and Redis + PostgreSQL.
"""
from __future__ import annotations

from dataclasses import replace

import pytest

from pyramid_authsuite.admin.events import AccountEvent
from pyramid_authsuite.hmac.client import ServiceAuth
from tests.admin.common import (
    OTHER_SECRET,
    PASSWORD,
    ROOT,
    TA_ACME,
    TA_GLOBEX,
    admin_app,
    call,
    close,
    code_of,
    ops,
    seed,
    signed,
    store,
)
from tests.apps import basic, registry


def state(account):
    """An account as a change would alter it (not the bookkeeping of its logins)."""
    return None if account is None else replace(account, last_login_at=None)


@pytest.fixture
def app(backends):
    app = admin_app(backends)
    seed(app)
    yield app
    close(app)


def test_anonymous_gets_the_challenge_and_non_admins_403(app):
    anonymous = call(app, "GET", "/admin/users")
    assert anonymous.status_int == 401 and "WWW-Authenticate" in anonymous.headers
    member = call(app, "GET", "/admin/users/plain", headers=basic("plain", PASSWORD))
    assert member.status_int == 403 and code_of(member) == "forbidden"
    other_service = signed(app, ServiceAuth("other", OTHER_SECRET), "GET", "/admin/users/plain")
    assert other_service.status_int == 403
    nowhere = call(app, "GET", "/admin/users", headers=basic("ta-none", PASSWORD))
    assert nowhere.status_int == 403 and code_of(nowhere) == "forbidden"
    assert call(app, "POST", "/admin/users", {"userid": "x"}, basic("plain", PASSWORD)).status_int == 403
    assert store(app).get("x") is None


def test_a_service_key_with_service_ops_manages_users(app):
    seen = []
    registry(app).registerHandler(seen.append, (AccountEvent,))
    created = signed(app, ops(), "POST", "/admin/users", {"userid": "svc-made", "roles": ["member"]})
    assert created.status_int == 201, created.text
    assert (seen[0].actor, seen[0].actor_scheme, seen[0].userid) == ("service:ops", "hmac", "svc-made")
    got = signed(app, ops(), "GET", "/admin/users/svc-made")
    assert got.status_int == 200 and got.json["roles"] == ["member"]
    patched = signed(app, ops(), "PATCH", "/admin/users/svc-made", {"display_name": "Made by ops"},
                     content_type="application/merge-patch+json", headers={"If-Match": got.headers["ETag"]})
    assert patched.status_int == 200 and patched.json["display_name"] == "Made by ops"
    listed = signed(app, ops(), "GET", "/admin/users?q=svc")
    assert [user["userid"] for user in listed.json["users"]] == ["svc-made"]
    assert signed(app, ops(), "DELETE", "/admin/users/svc-made").status_int == 204


def test_full_admin_reaches_every_tenant(app):
    for userid in ("gina", "nomad", "boss", "ta-acme"):
        assert call(app, "GET", f"/admin/users/{userid}", headers=ROOT).status_int == 200
    listed = call(app, "GET", "/admin/users?tenant=globex", headers=ROOT).json["users"]
    assert [user["userid"] for user in listed] == ["gina", "ta-globex"]


def test_tenant_admin_listing_is_its_tenant_within_its_roles(app):
    listed = call(app, "GET", "/admin/users", headers=TA_ACME)
    assert listed.status_int == 200
    assert [user["userid"] for user in listed.json["users"]] == ["alice", "amy", "plain"]
    own = call(app, "GET", "/admin/users?tenant=acme&role=support", headers=TA_ACME).json["users"]
    assert [user["userid"] for user in own] == ["amy"]
    other = call(app, "GET", "/admin/users?tenant=globex", headers=TA_ACME)
    assert other.status_int == 404 and code_of(other) == "tenant_not_found"
    # Short pages when hidden accounts are skipped, and still every reachable one once.
    seen, url = [], "/admin/users?limit=1"
    while url:
        page = call(app, "GET", url, headers=TA_ACME).json
        seen += [user["userid"] for user in page["users"]]
        url = page["next"] and f"/admin/users?limit=1&after={page['next']}"
    assert seen == ["alice", "amy", "plain"]


# (method, path template, body) for every operation on one account.
OPERATIONS = [
    ("GET", "/admin/users/{userid}", None),
    ("PATCH", "/admin/users/{userid}", {"display_name": "changed"}),
    ("POST", "/admin/users/{userid}/disable", None),
    ("POST", "/admin/users/{userid}/enable", None),
    ("PUT", "/admin/users/{userid}/password", {"password": "another password"}),
    ("DELETE", "/admin/users/{userid}/sessions", None),
    ("GET", "/admin/users/{userid}/keys", None),
    ("POST", "/admin/users/{userid}/keys", {"kind": "hmac"}),
    ("DELETE", "/admin/users/{userid}/keys/{userid}-key", None),
    ("DELETE", "/admin/users/{userid}", None),
]
OUT_OF_REACH = [
    ("gina", "another tenant"),
    ("nomad", "no tenant"),
    ("boss", "own tenant, a role it cannot grant"),
    ("ta-acme", "itself: tenant-admin is not grantable"),
    ("nobody", "does not exist"),
]


@pytest.mark.parametrize("method, template, body", OPERATIONS, ids=[f"{m} {t}" for m, t, _ in OPERATIONS])
@pytest.mark.parametrize("userid, why", OUT_OF_REACH, ids=[userid for userid, _ in OUT_OF_REACH])
def test_tenant_isolation_out_of_reach_is_404(app, method, template, body, userid, why):
    accounts = store(app)
    if accounts.get(userid) is not None:
        accounts.add_key(userid, f"{userid}-key", "hmac", b"k" * 32)
    before = state(accounts.get(userid))
    response = call(app, method, template.format(userid=userid), body, TA_ACME)
    assert response.status_int == 404, (why, response.text)
    assert code_of(response) == "user_not_found"
    assert response.json["detail"] == "There is no such user."  # the same words whatever the reason
    assert state(accounts.get(userid)) == before
    if before is not None:
        assert [key.key_id for key in accounts.list_keys(userid)] == [f"{userid}-key"]


@pytest.mark.parametrize("method, template, body", OPERATIONS, ids=[f"{m} {t}" for m, t, _ in OPERATIONS])
def test_tenant_admin_reaches_its_own(app, method, template, body):
    """The control for the table above: the same operations on alice, of acme, succeed."""
    store(app).add_key("alice", "alice-key", "hmac", b"k" * 32)
    if "sessions" in template:
        pytest.importorskip("pyramid_authsuite.revocation")
    response = call(app, method, template.format(userid="alice"), body, TA_ACME)
    assert response.status_int in (200, 201, 204), response.text


ESCALATIONS = [
    ("POST", "/admin/users", {"userid": "new1", "roles": ["admin"]}),
    ("POST", "/admin/users", {"userid": "new2", "roles": ["member", "tenant-admin"]}),
    ("POST", "/admin/users", {"userid": "new3", "tenant": "globex"}),
    ("PATCH", "/admin/users/alice", {"roles": ["admin"]}),
    ("PATCH", "/admin/users/alice", {"roles": ["member", "tenant-admin"]}),
    ("PATCH", "/admin/users/alice", {"tenant": "globex"}),
    ("PATCH", "/admin/users/alice", {"tenant": None}),
    ("PATCH", "/admin/users/alice", {"tenant": "acme", "display_name": "x"}),
    ("PATCH", "/admin/users/gina", {"roles": ["admin"]}),  # refused before any lookup: no leak either way
]


@pytest.mark.parametrize("method, path, body", ESCALATIONS, ids=[str(body) for _, _, body in ESCALATIONS])
def test_escalation_is_403_and_changes_nothing(app, method, path, body):
    before = store(app).get("alice")
    response = call(app, method, path, body, TA_ACME)
    assert response.status_int == 403 and code_of(response) == "forbidden"
    assert store(app).get("alice") == before
    assert store(app).get(body.get("userid", "new-none")) is None


def test_tenant_admin_creates_in_its_tenant_with_grantable_roles(app):
    created = call(app, "POST", "/admin/users", {"userid": "newbie", "roles": ["member", "support"]}, TA_ACME)
    assert created.status_int == 201 and created.json["tenant"] == "acme"
    explicit = call(app, "POST", "/admin/users", {"userid": "newbie2", "tenant": "acme"}, TA_ACME)
    assert explicit.status_int == 201 and explicit.json["tenant"] == "acme"
    patched = call(app, "PATCH", "/admin/users/alice", {"roles": ["support"]}, TA_ACME)
    assert patched.status_int == 200 and patched.json["roles"] == ["support"]
    # Another tenant's admin sees none of it.
    assert call(app, "GET", "/admin/users/newbie", headers=TA_GLOBEX).status_int == 404
    assert [user["userid"] for user in call(app, "GET", "/admin/users", headers=TA_GLOBEX).json["users"]] == ["gina"]


@pytest.mark.parametrize("site, origin, status", [
    ("cross-site", "https://evil.example", 403),
    ("same-site", "https://other.admin.example.com", 403),
    ("same-origin", "http://admin.example.com", 200),
    ("none", None, 200),
])
def test_a_browser_cannot_be_made_to_write_from_another_site(app, site, origin, status):
    """Basic credentials are ambient: a cross-site form or no-cors fetch must not disable anyone."""
    headers = {**ROOT, "Sec-Fetch-Site": site, **({"Origin": origin} if origin else {})}
    response = call(app, "POST", "/admin/users/alice/disable", headers=headers)
    assert response.status_int == status
    assert store(app).get("alice").disabled is (status == 200)
    # Reads are not refused: a cross-site page cannot read the answer anyway (no CORS).
    assert call(app, "GET", "/admin/users/alice", headers=headers).status_int == 200


def test_a_cross_site_write_from_an_allowed_origin_is_accepted(backends):
    app = admin_app(backends, **{"authsuite.cors_origins": "https://console.example"})
    try:
        seed(app)
        headers = {**ROOT, "Sec-Fetch-Site": "cross-site", "Origin": "https://console.example"}
        assert call(app, "POST", "/admin/users/alice/disable", headers=headers).status_int == 200
    finally:
        close(app)


def test_a_tenant_admin_cursor_never_names_an_account_out_of_reach(app):
    """Pages may end on accounts the store read but the tenant admin cannot see: the cursor hides them."""
    from pyramid_authsuite._b64 import b64url_decode

    for index in range(12):  # a long run of acme accounts holding a role ta-acme cannot grant
        store(app).create(f"q-hidden-{index:02d}", None, roles=("admin",), tenant="acme")
    seen, cursors, empty_pages, url = [], [], 0, "/admin/users?limit=1"
    while url:
        page = call(app, "GET", url, headers=TA_ACME).json
        seen += [user["userid"] for user in page["users"]]
        if page["next"]:
            cursors.append(page["next"])
            empty_pages += not page["users"]
        url = page["next"] and f"/admin/users?limit=1&after={page['next']}"
    assert seen == ["alice", "amy", "plain"]
    # The run was longer than one request reads: some page ended on a hidden account, empty.
    assert empty_pages >= 1
    for cursor in cursors:
        raw = b64url_decode(cursor)
        assert b"hidden" not in raw and b"plain" not in raw and b"alice" not in raw
