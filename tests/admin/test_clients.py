"""The admin clients end to end: the whole ``/admin/users`` API over a real pserve server.

Each scenario runs with :class:`SyncAdminClient` and with :class:`AdminClient`,
on memory + SQLite and on Redis + PostgreSQL (the ``backends`` fixture),
authenticated with Basic, with a Bearer token from ``POST /tokens`` and with a
service key (hmac-sha256 and Ed25519, ``service:ops`` in
``authsuite.admin_principals``). The scenario is written once, as a coroutine,
and calls either client through :class:`Users` (awaiting only what must be).

At the end, the decoding that needs no server (timestamps, ``Retry-After``
dates, the error classes a problem maps to) is checked on answers built with
``httpx.MockTransport``: pure parsing, no backend stands in for anything.
"""
from __future__ import annotations

import asyncio
import datetime
import email.utils
import inspect
import json
import subprocess
import uuid

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from pyramid_authsuite.admin.client import AdminClient, SyncAdminClient, User, parse_timestamp
from pyramid_authsuite.admin.errors import (
    AuthenticationError,
    AuthSuiteError,
    ConflictError,
    ForbiddenError,
    KeyExistsError,
    NotFoundError,
    PreconditionFailedError,
    RateLimitError,
    ServiceUnavailableError,
    UnexpectedResponseError,
    UserExistsError,
    UserNotFoundError,
    ValidationError,
    parse_retry_after,
)
from pyramid_authsuite.basic.client import BasicAuth
from pyramid_authsuite.hmac.client import SignatureAuth
from pyramid_authsuite.jwt.client import BearerAuth
from tests.servers import PserveServers, script

PASSWORD = "correct horse battery"
NEW_PASSWORD = "an entirely new passphrase"
OPS_SECRET = b"admin-clients-ops-service-secret-0123456789"
OPS_KEY = ed25519.Ed25519PrivateKey.generate()
PREFIX = "tag:pyramid-authsuite,2026:"


class AdminServers(PserveServers):
    """The demo app with the admin API, tokens, Hawk sessions, Basic, JWT and two ``ops`` service keys."""

    def __init__(self, tmp_path, backends: dict[str, str], write_limit: int = 1000):
        public = tmp_path / "ops.pub"
        public.write_bytes(OPS_KEY.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        ini = tmp_path / "admin-clients.ini"
        ini.write_text(f"""\
[app:main]
use = egg:pyramid_authsuite#demo
pyramid.includes = pyramid_authsuite
authsuite.cache_url = {backends["authsuite.cache_url"]}
authsuite.cache_prefix = admin-clients-{uuid.uuid4().hex[:8]}:
authsuite.accounts_url = {backends["authsuite.accounts_url"].replace('%', '%%')}
authsuite.endpoints = admin tokens hawk_sessions
authsuite.admin_principals = role:admin service:ops
authsuite.admin_write_limit = {write_limit}
authsuite.password_time_cost = 1
authsuite.password_memory_cost = 8
multiauth.policies = hawk hmac jwt basic
multiauth.policy.hawk.use = pyramid_authsuite.HawkAuthenticationPolicy
multiauth.policy.hmac.use = pyramid_authsuite.HMACAuthenticationPolicy
multiauth.policy.hmac.keys = ops:hmac-sha256:{OPS_SECRET.decode()} ops-ed@ops:ed25519:file:{public}
multiauth.policy.jwt.use = pyramid_authsuite.JWTAuthenticationPolicy
multiauth.policy.basic.use = pyramid_authsuite.BasicAuthenticationPolicy
# Every run's deliberate wrong passwords come from 127.0.0.1.
multiauth.policy.basic.max_failed_attempts_per_address = 10000

[server:main]
use = egg:waitress#main
listen = 127.0.0.1:%(http_port)s
""")
        super().__init__(ini)

    def create_user(self, userid: str, *extra: str) -> None:
        created = subprocess.run(
            [script("authsuite"), "create-user", "--ini", str(self.ini), "-u", userid, "--password-stdin", *extra],
            input=PASSWORD + "\n", capture_output=True, text=True, timeout=60,
        )
        assert created.returncode == 0, created.stderr


@pytest.fixture(scope="module", params=["memory-sqlite", "redis-postgresql"])
def base(request, tmp_path_factory):
    """One server per backend pair for the whole-API runs (each run in its own userids, tenant and role)."""
    folder = tmp_path_factory.mktemp("admin-clients")
    if request.param == "memory-sqlite":
        backends = {"authsuite.cache_url": "memory://", "authsuite.accounts_url": f"sqlite:///{folder}/a.sqlite"}
    else:  # the cache prefix is the server's own (see AdminServers), the schema the module's own
        backends = {"authsuite.cache_url": request.getfixturevalue("redis_url"),
                    "authsuite.accounts_url": request.getfixturevalue("postgres_schema_url")}
        from tests.conftest import drop_account_tables

        drop_account_tables(backends["authsuite.accounts_url"])
    servers = AdminServers(folder, backends)
    servers.create_user("root", "--role", "admin")
    servers.create_user("bob")  # no role: authenticated, not an admin
    try:
        yield servers.start()
    finally:
        servers.stop()


def login_status(base: str, userid: str, password: str) -> int:
    """The status of a Basic-authenticated ``GET /whoami``."""
    return httpx.get(base + "/whoami", auth=BasicAuth(userid, password), timeout=30).status_code


def make_auth(kind: str, base: str) -> httpx.Auth:
    if kind == "basic":
        return BasicAuth("root", PASSWORD)
    if kind == "bearer":
        login = httpx.post(base + "/tokens", auth=BasicAuth("root", PASSWORD), timeout=30)
        assert login.status_code == 200, login.text
        return BearerAuth(login.json()["access_token"])
    if kind == "hmac":
        return SignatureAuth("ops", OPS_SECRET)
    return SignatureAuth("ops-ed", OPS_KEY, algorithm="ed25519")


def make_client(kind: str, base: str, auth: httpx.Auth | None):
    return (SyncAdminClient if kind == "sync" else AdminClient)(base, auth=auth, timeout=30)


class Users:
    """``client.users`` of either client, each method awaitable (``iterate`` answers a list)."""

    def __init__(self, client):
        self._users = client.users

    def __getattr__(self, name):
        method = getattr(self._users, name)

        async def call(*args, **kwargs):
            result = method(*args, **kwargs)
            if name == "iterate":
                if inspect.isasyncgen(result):
                    return [user async for user in result]
                return list(result)
            return await result if inspect.isawaitable(result) else result

        return call


async def close(client) -> None:
    if isinstance(client, AdminClient):
        await client.aclose()
    else:
        client.close()


async def scenario(base: str, client_kind: str, auth_kind: str) -> None:
    """The whole API with one client and one auth; every name starts with the run's own prefix."""
    prefix = f"{client_kind}-{auth_kind}-"
    client = make_client(client_kind, base, make_auth(auth_kind, base))
    users = Users(client)
    try:
        await _accounts(base, users, prefix)
        await _paging(users, prefix)
        await _keys(users, prefix)
    finally:
        await close(client)
    await _refusals(base, client_kind, prefix)


async def _accounts(base: str, users: Users, prefix: str) -> None:
    carol, dave, frank = prefix + "carol", prefix + "dave", prefix + "frank"
    # Create, with a password and every field, and without a password.
    created = await users.create(carol, password=PASSWORD, email=f"{prefix}Carol@Example.org", display_name="Carol",
                                 roles=["editor", "support"], tenant="acme", custom_claims={"plan": "pro", "seats": 3})
    assert isinstance(created, User) and created.userid == carol and created.version == 1 and created.has_password
    assert created.roles == ("editor", "support") and created.tenant == "acme" and not created.disabled
    assert created.custom_claims == {"plan": "pro", "seats": 3} and created.display_name == "Carol"
    assert created.etag and created.etag.startswith('"1-')
    assert created.created_at.tzinfo == datetime.timezone.utc and created.last_login_at is None
    assert login_status(base, carol, PASSWORD) == 200

    without = await users.create(dave)
    assert not without.has_password and without.roles == () and without.email is None and without.custom_claims == {}
    assert login_status(base, dave, PASSWORD) == 401  # no password: cannot log in with one

    fetched = await users.get(carol)
    assert (fetched.userid, fetched.email, fetched.version, fetched.etag) == (carol, created.email, 1, created.etag)
    assert fetched.last_login_at is not None  # the Basic login above

    # Taken userid, taken email (case-insensitively), invalid fields.
    with pytest.raises(UserExistsError) as taken:
        await users.create(carol, password=PASSWORD)
    assert (taken.value.code, taken.value.status) == ("userid_taken", 409)
    with pytest.raises(UserExistsError) as taken:
        await users.create(prefix + "erin", email=f"{prefix}carol@example.ORG")
    assert taken.value.code == "email_taken"
    with pytest.raises(ValidationError) as invalid:
        await users.create("not a userid!", password="short")
    assert invalid.value.code == "validation_error" and invalid.value.status == 400
    assert {"userid", "password"} <= set(invalid.value.fields)
    assert "short" not in json.dumps(invalid.value.problem)  # no submitted value echoed
    with pytest.raises(ValidationError) as invalid:
        await users.update(carol, {"userid": prefix + "mallory", "password": PASSWORD})
    assert invalid.value.errors and PASSWORD not in str(invalid.value.errors)
    with pytest.raises(UserNotFoundError) as missing:
        await users.get(prefix + "nobody")
    assert (missing.value.code, missing.value.status) == ("user_not_found", 404)

    # Update: set, clear (None), merge claims; If-Match current, then stale.
    updated = await users.update(carol, {"display_name": "Carol C.", "email": None,
                                         "custom_claims": {"seats": None, "team": "blue"}}, if_match=fetched)
    assert updated.version == 2 and updated.etag != fetched.etag
    assert (updated.display_name, updated.email) == ("Carol C.", None)
    assert updated.custom_claims == {"plan": "pro", "team": "blue"}
    cleared = await users.update(carol, {"custom_claims": None, "tenant": None, "roles": ["editor"]})
    assert cleared.custom_claims == {} and cleared.tenant is None and cleared.roles == ("editor",)
    for stale_write in (lambda: users.update(carol, {"display_name": "X"}, if_match=fetched.etag),
                        lambda: users.disable(carol, if_match=fetched),
                        lambda: users.delete(carol, if_match=updated)):
        with pytest.raises(PreconditionFailedError) as stale:
            await stale_write()
        assert (stale.value.code, stale.value.status) == ("precondition_failed", 412)
    assert (await users.get(carol)).display_name == "Carol C."  # the stale writes changed nothing

    # Disable (Basic refused at once), enable (accepted again); both idempotent.
    disabled = await users.disable(carol, if_match=cleared)
    assert disabled.disabled and (await users.disable(carol)).version == disabled.version
    assert login_status(base, carol, PASSWORD) == 401
    enabled = await users.enable(carol)
    assert not enabled.disabled and login_status(base, carol, PASSWORD) == 200

    # A new password: the old one refused, the new one works.
    assert await users.set_password(carol, NEW_PASSWORD) is None
    assert login_status(base, carol, PASSWORD) == 401
    assert login_status(base, carol, NEW_PASSWORD) == 200
    # A password for dave, who had none.
    await users.set_password(dave, NEW_PASSWORD)
    assert login_status(base, dave, NEW_PASSWORD) == 200 and (await users.get(dave)).has_password

    # End sessions: a Hawk session and a JWT stop working. Done with an account
    # no change has touched: a change refuses the tokens issued in its second
    # (revocation.py: iat has whole seconds), which would make this depend on time.
    await users.create(frank, password=PASSWORD)
    hawk = httpx.post(base + "/hawk-sessions", auth=BasicAuth(frank, PASSWORD), timeout=30)
    assert hawk.status_code == 201, hawk.text
    token = httpx.post(base + "/tokens", auth=BasicAuth(frank, PASSWORD), timeout=30).json()["access_token"]
    assert httpx.get(base + "/whoami", auth=BearerAuth(token), timeout=30).status_code == 200
    assert await users.end_sessions(frank) == 1
    assert httpx.get(base + "/whoami", auth=BearerAuth(token), timeout=30).status_code == 401
    assert await users.end_sessions(frank) == 0

    # Delete (If-Match current), then the user is gone.
    current = await users.get(dave)
    assert await users.delete(dave, if_match=current) is None
    with pytest.raises(UserNotFoundError):
        await users.get(dave)
    with pytest.raises(UserNotFoundError):
        await users.delete(dave)
    with pytest.raises(UserNotFoundError):
        await users.set_password(dave, NEW_PASSWORD)


async def _paging(users: Users, prefix: str) -> None:
    tenant, role = prefix + "paging", prefix + "member"
    names = [f"{prefix}page-{number:02d}" for number in range(8)]
    for name in reversed(names):
        await users.create(name, tenant=tenant, roles=[role])
    first = await users.list(tenant=tenant, limit=3)
    assert [user.userid for user in first.users] == names[:3] and first.next
    assert all(user.etag is None for user in first.users)
    second = await users.list(tenant=tenant, limit=3, after=first.next)
    assert [user.userid for user in second.users] == names[3:6]
    assert [user.userid for user in await users.iterate(tenant=tenant, limit=3)] == names
    assert [user.userid for user in await users.iterate(query=f"{prefix}PAGE-0".upper(), limit=5)] == names
    assert [user.userid for user in await users.iterate(role=role, limit=2)] == names
    last = await users.list(tenant=tenant, limit=8)
    assert len(last.users) == 8 and last.next is None
    everyone = [user.userid for user in await users.iterate(limit=200)]
    assert everyone == sorted(set(everyone))  # code-point order, each once
    assert {"root", "bob", prefix + "carol", *names} <= set(everyone) and prefix + "dave" not in everyone
    with pytest.raises(ValidationError) as invalid:
        await users.list(limit=0)
    assert invalid.value.fields == ["limit"]
    with pytest.raises(ValidationError) as invalid:
        await users.list(after=first.next[:-2] + ("AA" if first.next[-2:] != "AA" else "BB"))
    assert invalid.value.fields == ["after"]


async def _keys(users: Users, prefix: str) -> None:
    carol, key_id = prefix + "carol", prefix + "carol-hmac"
    added = await users.add_key(carol, "hmac", key_id=key_id)
    assert added["key_id"] == key_id and added["kind"] == "hmac" and added["fingerprint"] == "-"
    assert isinstance(added["secret"], str) and len(added["secret"]) >= 32
    pem = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    signing = await users.add_key(carol, "ed25519", public_key=pem)
    assert signing["kind"] == "ed25519" and signing["fingerprint"] not in ("", "-") and "secret" not in signing
    listed = await users.list_keys(carol)
    assert sorted(key["key_id"] for key in listed) == sorted([key_id, signing["key_id"]])
    assert all("secret" not in key and "material" not in key for key in listed)
    with pytest.raises(KeyExistsError) as taken:
        await users.add_key(carol, "hmac", key_id=key_id)
    assert isinstance(taken.value, ConflictError) and taken.value.code == "key_id_taken"
    with pytest.raises(ValidationError):
        await users.add_key(carol, "hmac", public_key=pem)  # an hmac key's secret is the server's to make
    with pytest.raises(NotFoundError) as foreign:
        await users.remove_key("root", key_id)  # carol's key, asked of root
    assert foreign.value.code == "key_not_found" and not isinstance(foreign.value, UserNotFoundError)
    assert await users.remove_key(carol, key_id) is None
    assert [key["key_id"] for key in await users.list_keys(carol)] == [signing["key_id"]]
    with pytest.raises(NotFoundError):
        await users.remove_key(carol, key_id)
    with pytest.raises(UserNotFoundError):
        await users.list_keys(prefix + "nobody")


async def _refusals(base: str, client_kind: str, prefix: str) -> None:
    """Wrong admin credentials: 401 with the challenges; a non-admin: 403; none: 401."""
    # A wrong password for the run's own user (root's failures would lock root out of later runs).
    for auth in (BasicAuth(prefix + "carol", "wrong password"), SignatureAuth("ops", b"w" * 40), None):
        client = make_client(client_kind, base, auth)
        try:
            with pytest.raises(AuthenticationError) as refused:
                await Users(client).get(prefix + "carol")
        finally:
            await close(client)
        assert refused.value.status == 401 and refused.value.challenges
        assert any(challenge.scheme == "Basic" for challenge in refused.value.challenges)
    client = make_client(client_kind, base, BasicAuth("bob", PASSWORD))
    try:
        with pytest.raises(ForbiddenError) as forbidden:
            await Users(client).list()
        assert forbidden.value.status == 403
        with pytest.raises(ForbiddenError):
            await Users(client).create(prefix + "bobs-friend", password=PASSWORD)
    finally:
        await close(client)


@pytest.mark.parametrize("auth_kind", ["basic", "bearer", "hmac", "ed25519"])
@pytest.mark.parametrize("client_kind", ["sync", "async"])
def test_the_whole_api(base, client_kind, auth_kind):
    asyncio.run(scenario(base, client_kind, auth_kind))


@pytest.mark.parametrize("cache", ["memory", "redis"])
def test_admin_writes_are_rate_limited_per_caller(tmp_path, request, cache):
    """The limit lives in the cache: memory:// and Redis (the accounts' database plays no part)."""
    cache_url = "memory://" if cache == "memory" else request.getfixturevalue("redis_url")
    servers = AdminServers(tmp_path, {"authsuite.cache_url": cache_url,
                                      "authsuite.accounts_url": f"sqlite:///{tmp_path}/a.sqlite"}, write_limit=3)
    servers.create_user("root", "--role", "admin")
    try:
        base = servers.start()
        with SyncAdminClient(base, auth=BasicAuth("root", PASSWORD), timeout=30) as admin:
            for number in range(3):
                admin.users.create(f"limited-{number}")
            with pytest.raises(RateLimitError) as limited:
                admin.users.create("limited-3")
            assert (limited.value.code, limited.value.status) == ("rate_limited", 429)
            assert limited.value.retry_after is not None and 0 < limited.value.retry_after <= 3600
            assert admin.users.get("limited-0").userid == "limited-0"  # reads are not limited

        async def another_caller():
            # The service key is another caller, with its own allowance.
            async with AdminClient(base, auth=SignatureAuth("ops", OPS_SECRET), timeout=30) as admin:
                for number in range(3):
                    await admin.users.delete(f"limited-{number}")
                with pytest.raises(RateLimitError) as limited:
                    await admin.users.create("limited-4")
                return limited.value.retry_after

        assert asyncio.run(another_caller()) > 0
    finally:
        servers.stop()


# --------------------------------------------------------------------------
# Decoding without a server (httpx.MockTransport: parsing only)
# --------------------------------------------------------------------------

USER_JSON = {
    "userid": "alice", "email": None, "display_name": "Alice", "roles": ["admin"], "tenant": None,
    "disabled": False, "custom_claims": {"plan": "pro"}, "version": 3, "has_password": True,
    "created_at": "2026-12-04T18:00:00.123456Z", "updated_at": "2026-12-04T19:00:00+01:00", "last_login_at": None,
}


def _answering(status: int, body=None, headers=None, content_type: str = "application/json"):
    def handler(request: httpx.Request) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.Response(status, content=content, headers={"Content-Type": content_type, **(headers or {})})
    return handler


def _problem(status: int, code: str, **extra):
    return _answering(status, {"type": PREFIX + code, "title": "t", "status": status, "detail": f"{code}!", **extra},
                      content_type="application/problem+json")


def test_a_user_is_decoded_with_aware_utc_times_and_its_etag():
    transport = httpx.MockTransport(_answering(200, USER_JSON, {"ETag": '"3-1a2b"'}))
    with SyncAdminClient("http://admin.test/prefix", transport=transport) as admin:
        user = admin.users.get("alice")
    assert user.etag == '"3-1a2b"' and user.roles == ("admin",) and user.version == 3
    assert user.created_at == datetime.datetime(2026, 12, 4, 18, 0, 0, 123456, tzinfo=datetime.timezone.utc)
    assert user.updated_at == datetime.datetime(2026, 12, 4, 18, 0, tzinfo=datetime.timezone.utc)
    assert user.last_login_at is None


def test_requests_go_under_the_base_url_with_userids_as_one_segment():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.raw_path, request.headers.get("Content-Type"),
                     request.headers.get("If-Match")))
        return httpx.Response(200, json=USER_JSON)

    with SyncAdminClient("http://admin.test/v1", transport=httpx.MockTransport(handler)) as admin:
        admin.users.get("a/b@c")
        admin.users.update("..", {"email": None}, if_match="*")
    assert seen == [("GET", b"/v1/admin/users/a%2Fb%40c", None, None),
                    ("PATCH", b"/v1/admin/users/%2E%2E", "application/merge-patch+json", "*")]
    with pytest.raises(ValueError):
        SyncAdminClient("http://admin.test").users.get("")


@pytest.mark.parametrize("body", [
    {**USER_JSON, "created_at": "yesterday"},
    {**USER_JSON, "created_at": "2026-12-04T18:00:00"},  # no zone
    {**USER_JSON, "version": True},
    {**USER_JSON, "roles": "admin"},
    {key: value for key, value in USER_JSON.items() if key != "userid"},
    [USER_JSON],
])
def test_a_user_that_is_not_one_is_an_unexpected_response(body):
    transport = httpx.MockTransport(_answering(200, body))
    with SyncAdminClient("http://admin.test", transport=transport) as admin:
        with pytest.raises(UnexpectedResponseError):
            admin.users.get("alice")


def test_a_proxy_page_is_an_unexpected_response_or_the_status_class():
    html = _answering(502, b"<html>Bad Gateway</html>", content_type="text/html")
    with SyncAdminClient("http://admin.test", transport=httpx.MockTransport(html)) as admin:
        with pytest.raises(AuthSuiteError) as failed:
            admin.users.get("alice")
    assert (failed.value.status, failed.value.code, failed.value.problem) == (502, None, None)
    ok_but_html = _answering(200, b"<html>login page</html>", content_type="text/html")
    with SyncAdminClient("http://admin.test", transport=httpx.MockTransport(ok_but_html)) as admin:
        with pytest.raises(UnexpectedResponseError):
            admin.users.get("alice")


@pytest.mark.parametrize("status, code, error_class", [
    (404, "user_not_found", UserNotFoundError),
    (404, "key_not_found", NotFoundError),
    (404, "tenant_not_found", NotFoundError),
    (409, "userid_taken", UserExistsError),
    (409, "email_taken", UserExistsError),
    (409, "key_id_taken", KeyExistsError),
    (400, "validation_error", ValidationError),
    (415, "unsupported_media_type", ValidationError),
    (412, "precondition_failed", PreconditionFailedError),
    (403, "forbidden", ForbiddenError),
    (401, "invalid_credentials", AuthenticationError),
    (401, "otp_required", AuthenticationError),
    (429, "rate_limited", RateLimitError),
    (503, "unavailable", ServiceUnavailableError),
    (404, "some_future_code", NotFoundError),  # a code this client does not know: by status
    (418, "teapot", AuthSuiteError),
])
def test_errors_are_typed_from_the_problem_code_on_both_clients(status, code, error_class):
    transport = _problem(status, code, errors=[{"field": "email", "message": "not an email address"}])
    with SyncAdminClient("http://admin.test", transport=httpx.MockTransport(transport)) as admin:
        with pytest.raises(error_class) as raised:
            admin.users.get("alice")
    assert type(raised.value) is error_class
    assert (raised.value.code, raised.value.status, raised.value.message) == (code, status, f"{code}!")

    async def via_async():
        async with AdminClient("http://admin.test", transport=httpx.MockTransport(transport)) as admin:
            with pytest.raises(error_class) as raised:
                await admin.users.get("alice")
            return raised.value

    assert type(asyncio.run(via_async())) is error_class
    if error_class is ValidationError:
        assert raised.value.errors == [{"field": "email", "message": "not an email address"}]


def test_retry_after_in_seconds_or_as_an_http_date():
    now = datetime.datetime(2026, 12, 4, 18, 0, tzinfo=datetime.timezone.utc)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(email.utils.format_datetime(now + datetime.timedelta(seconds=90), usegmt=True),
                             now=now) == 90.0
    assert parse_retry_after("Fri, 04 Dec 2026 17:00:00 GMT", now=now) == 0.0
    for nonsense in (None, "", "soon", "-5", "1.5", "9" * 100):
        assert parse_retry_after(nonsense) is None
    transport = _problem(429, "rate_limited")
    limited = httpx.MockTransport(lambda request: httpx.Response(
        429, content=transport(request).content,
        headers={"Content-Type": "application/problem+json", "Retry-After": "42"}))
    with SyncAdminClient("http://admin.test", transport=limited) as admin:
        with pytest.raises(RateLimitError) as raised:
            admin.users.create("x")
    assert raised.value.retry_after == 42.0


def test_timestamps():
    assert parse_timestamp("2026-12-04T18:00:00Z") == datetime.datetime(2026, 12, 4, 18, tzinfo=datetime.timezone.utc)
    assert parse_timestamp(None) is None
    for nonsense in ("2026-13-04T18:00:00Z", 12, "2026-12-04T18:00:00" + "0" * 40):
        with pytest.raises(UnexpectedResponseError):
            parse_timestamp(nonsense)


def test_errors_and_clients_never_show_credentials():
    auth = BasicAuth("root", PASSWORD)
    with SyncAdminClient("http://admin.test", auth=auth,
                         transport=httpx.MockTransport(_problem(401, "invalid_credentials"))) as admin:
        with pytest.raises(AuthenticationError) as refused:
            admin.users.get("alice")
        shown = " ".join((repr(admin), repr(auth), repr(refused.value), str(refused.value)))
    assert PASSWORD not in shown and "cm9vdDpj" not in shown  # nor its base64


def test_a_call_never_shows_its_body():
    from pyramid_authsuite.admin.client import _Calls

    shown = repr(_Calls.create("alice", password=PASSWORD)) + repr(_Calls.set_password("alice", NEW_PASSWORD))
    assert PASSWORD not in shown and NEW_PASSWORD not in shown and "alice" in shown


def test_both_clients_have_every_operation_with_one_signature_and_docstring():
    from pyramid_authsuite.admin.client import AsyncUsers, SyncUsers, _Calls

    for name in ("list", "get", "create", "update", "disable", "enable", "delete", "set_password",
                 "end_sessions", "list_keys", "add_key", "remove_key"):
        built = inspect.signature(getattr(_Calls, name))
        sync, asynchronous = getattr(SyncUsers, name), getattr(AsyncUsers, name)
        assert inspect.iscoroutinefunction(asynchronous) and not inspect.iscoroutinefunction(sync)
        for method in (sync, asynchronous):
            assert method.__doc__ == getattr(_Calls, name).__doc__
            signature = inspect.signature(method)
            assert list(signature.parameters)[1:] == list(built.parameters)
            assert not str(signature.return_annotation).startswith("_Call")
