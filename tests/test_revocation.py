"""Ending an account's credentials (:mod:`pyramid_authsuite.revocation`) in one process,
through the demo app, on memory + SQLite and on Redis + PostgreSQL.

Two real server processes sharing Redis and PostgreSQL are in
``test_revocation_servers.py``.
"""
from __future__ import annotations

import math
import time

import jwt
import mohawk
import pytest

from pyramid_authsuite.basic.verified import INDEX_PREFIX as BASIC_INDEX_PREFIX
from pyramid_authsuite.exceptions import CacheUnavailable
from pyramid_authsuite.hawk.protocol import derive_session_credentials
from pyramid_authsuite.hawk.sessions import INDEX_PREFIX as HAWK_INDEX_PREFIX
from pyramid_authsuite.hawk.sessions import sessions_for
from pyramid_authsuite.jwt import protocol
from pyramid_authsuite.jwt.policy import JWTAuthenticationPolicy
from pyramid_authsuite.jwt.settings import MAX_ACCESS_TOKEN_TTL_SECONDS
from pyramid_authsuite.revocation import cutoff_key, cutoff_seconds, end_credentials, read_cutoff
from tests.apps import basic, make_demo, registry

PASSWORD = "correct horse battery"
NEW_PASSWORD = "another horse battery"
HOST = "api.example.com"
CUT_OFF = "The access token was issued before the account's credentials were ended."
SETTINGS = {
    "authsuite.endpoints": "tokens hawk_sessions",
    "multiauth.policies": "jwt hawk basic",
    "multiauth.policy.jwt.use": "pyramid_authsuite.JWTAuthenticationPolicy",
    "multiauth.policy.jwt.secret": "a revocation test secret of more than 32 bytes",
    # Only the cutoff can refuse a token of a disabled account within the hour.
    "multiauth.policy.jwt.account_check_seconds": "3600",
    "multiauth.policy.jwt.leeway_seconds": "45",
    "multiauth.policy.hawk.use": "pyramid_authsuite.HawkAuthenticationPolicy",
    "multiauth.policy.basic.use": "pyramid_authsuite.BasicAuthenticationPolicy",
    "multiauth.policy.basic.credentials_cache_seconds": "60",
}


@pytest.fixture
def app(backends):
    app = make_demo({**backends, **SETTINGS})
    app.extra_environ = {**app.extra_environ, "HTTP_HOST": HOST}
    store = registry(app).authsuite_accounts
    store.create("alice", PASSWORD, roles=["admin"], tenant="acme")
    store.create("bob", PASSWORD)
    yield app
    store.close()
    registry(app).authsuite_cache.close()


def jwt_of(app, userid: str = "alice") -> str:
    return app.post("/tokens", headers=basic(userid, PASSWORD), status=200).json["access_token"]


def session_of(app, userid: str = "alice") -> str:
    return app.post("/hawk-sessions", headers=basic(userid, PASSWORD), status=201).json["token"]


def hawk(token: str, path: str = "/whoami") -> dict[str, str]:
    hawk_id, key = derive_session_credentials(token)
    sender = mohawk.Sender({"id": hawk_id, "key": key.decode(), "algorithm": "sha256"}, f"http://{HOST}{path}", "GET",
                           content=b"", content_type="")
    return {"Authorization": sender.request_header}


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def whoami(app, headers: dict[str, str], status: int):
    return app.get("/whoami", headers=headers, status=status)


def wait_past(cutoff: float) -> None:
    """Wait (polling, no timed assertion) until a token issued now has an iat at or after ``cutoff``."""
    deadline = time.monotonic() + 10
    while time.time() < math.ceil(cutoff):
        assert time.monotonic() < deadline, "the clock did not move"
        time.sleep(0.05)


def stored_cutoff(app, userid: str = "alice"):
    return registry(app).authsuite_cache.get(cutoff_key(userid))


# -- end_credentials ------------------------------------------------------------------


def test_end_credentials_ends_every_credential_of_the_account_only(app):
    value, session = jwt_of(app), session_of(app)
    other_value, other_session = jwt_of(app, "bob"), session_of(app, "bob")
    second_session = session_of(app)
    whoami(app, basic("alice", PASSWORD), 200)  # remembered (credentials_cache_seconds)
    cache = registry(app).authsuite_cache
    assert cache.members(BASIC_INDEX_PREFIX + "alice")
    whoami(app, bearer(value), 200)
    whoami(app, hawk(session), 200)

    before = time.time()
    assert end_credentials(registry(app), "alice") == 2  # both Hawk sessions
    after = time.time()

    assert before <= stored_cutoff(app) <= after
    assert whoami(app, bearer(value), 401).json["detail"] == CUT_OFF
    whoami(app, hawk(session), 401)
    whoami(app, hawk(second_session), 401)
    assert cache.members(HAWK_INDEX_PREFIX + "alice") == set()
    assert cache.members(BASIC_INDEX_PREFIX + "alice") == set()
    # Bob's credentials are untouched.
    whoami(app, bearer(other_value), 200)
    whoami(app, hawk(other_session), 200)
    # Nothing left to end.
    assert end_credentials(registry(app), "alice") == 0


def test_new_credentials_work_once_the_cutoff_second_is_over(app):
    value = jwt_of(app)
    end_credentials(registry(app), "alice")
    cutoff = stored_cutoff(app)
    assert whoami(app, bearer(value), 401).json["detail"] == CUT_OFF
    # A Hawk session made after the change works at once (no clock involved).
    whoami(app, hawk(session_of(app)), 200)
    # A token: once its iat (whole seconds) can be at or after the cutoff.
    wait_past(cutoff)
    whoami(app, bearer(jwt_of(app)), 200)
    # The old one stays refused.
    assert whoami(app, bearer(value), 401).json["detail"] == CUT_OFF


def test_a_token_issued_in_the_cutoffs_second_is_refused_until_it_is_over(app):
    """The one-second granularity, as documented: iat cannot tell before from after within a second."""
    end_credentials(registry(app), "alice")
    cutoff = stored_cutoff(app)
    value = jwt_of(app)
    iat = jwt.decode(value, options={"verify_signature": False})["iat"]
    # Issued after the change: refused only while its iat is the cutoff's second.
    assert iat <= math.ceil(cutoff)
    expected = 401 if iat < cutoff else 200
    response = whoami(app, bearer(value), expected)
    if expected == 401:
        assert response.json["detail"] == CUT_OFF


def test_a_warm_verified_token_cache_does_not_keep_a_token_alive(app, monkeypatch):
    value = jwt_of(app)
    calls = []
    original = protocol.verify_token
    monkeypatch.setattr(protocol, "verify_token", lambda *a, **k: calls.append(1) or original(*a, **k))
    for _ in range(3):
        whoami(app, bearer(value), 200)
    assert len(calls) == 1  # verified once, then served from the verified-token cache
    end_credentials(registry(app), "alice")
    assert whoami(app, bearer(value), 401).json["detail"] == CUT_OFF
    assert len(calls) == 1  # refused from the cached entry, not re-verified


def test_the_cutoff_lives_as_long_as_a_token_issued_before_it(app, backends, redis_url):
    assert cutoff_seconds(registry(app)) == MAX_ACCESS_TOKEN_TTL_SECONDS + 45 + 1
    end_credentials(registry(app), "alice")
    if backends["authsuite.cache_url"].startswith("redis"):
        import redis

        client = redis.Redis.from_url(redis_url)
        ttl_ms = client.pttl("authsuite:" + cutoff_key("alice"))
        client.close()
        assert (MAX_ACCESS_TOKEN_TTL_SECONDS + 45) * 1000 < ttl_ms <= (MAX_ACCESS_TOKEN_TTL_SECONDS + 46) * 1000


@pytest.mark.parametrize(
    ("stored", "expected"),
    [(None, None), (12.5, 12.5), (12, 12.0), ("12", math.inf), (True, math.inf), ([1], math.inf), ({"at": 1}, math.inf)],
)
def test_a_cutoff_not_written_by_this_package_refuses_everything(stored, expected):
    assert read_cutoff(stored) == expected


def test_a_foreign_cutoff_record_refuses_the_token_not_a_500(app):
    value = jwt_of(app)
    registry(app).authsuite_cache.set(cutoff_key("alice"), "not a number", 60)
    assert whoami(app, bearer(value), 401).json["detail"] == CUT_OFF


def test_a_policy_that_does_not_check_accounts_ignores_the_cutoff(backends):
    app = make_demo({**backends, **SETTINGS, "multiauth.policy.jwt.check_account": "false"})
    registry(app).authsuite_accounts.create("alice", PASSWORD)
    value = jwt_of(app)
    end_credentials(registry(app), "alice")
    whoami(app, bearer(value), 200)
    registry(app).authsuite_accounts.close()
    registry(app).authsuite_cache.close()


def test_end_credentials_on_a_dead_cache_raises_rather_than_pass_for_a_logout(throwaway_redis, tmp_path):
    app = make_demo({
        **SETTINGS,
        "authsuite.cache_url": throwaway_redis.url,
        "authsuite.cache_timeout_seconds": "0.5",
        "authsuite.accounts_url": f"sqlite:///{tmp_path}/a.sqlite",
    })
    registry(app).authsuite_accounts.create("alice", PASSWORD)
    throwaway_redis.stop()
    with pytest.raises(CacheUnavailable):
        end_credentials(registry(app), "alice")
    # Through the store: the change is made, the listener's failure reaches the caller.
    with pytest.raises(CacheUnavailable):
        registry(app).authsuite_accounts.update("alice", disabled=True)
    assert registry(app).authsuite_accounts.get("alice").disabled


# -- the store's change listener ------------------------------------------------------


CHANGES = {
    "disable": lambda store: store.update("alice", disabled=True),
    "delete": lambda store: store.delete("alice"),
    "password": lambda store: store.set_password("alice", NEW_PASSWORD),
    "roles": lambda store: store.update("alice", roles=["reader"]),
    "tenant": lambda store: store.update("alice", tenant="other"),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_each_change_through_the_store_ends_the_credentials_at_once(app, change):
    value, session = jwt_of(app), session_of(app)
    whoami(app, bearer(value), 200)  # the account is checked now, and not again for an hour
    whoami(app, hawk(session), 200)
    CHANGES[change](registry(app).authsuite_accounts)
    assert whoami(app, bearer(value), 401).json["detail"] == CUT_OFF
    whoami(app, hawk(session), 401)


def test_a_change_that_grants_nothing_new_ends_nothing(app):
    value, session = jwt_of(app), session_of(app)
    registry(app).authsuite_accounts.update("alice", email="alice@example.org")
    assert stored_cutoff(app) is None
    whoami(app, bearer(value), 200)
    whoami(app, hawk(session), 200)


# -- the Hawk login race ----------------------------------------------------------------


@pytest.mark.parametrize("change", ["disable", "password", "roles"])
def test_a_session_stored_after_a_change_made_from_the_old_account_is_ended(app, change):
    """The login read the account, then the change ended every session (none yet), then
    the login stored its session: it must not authenticate anything."""
    store = registry(app).authsuite_accounts
    sessions = sessions_for(registry(app))
    read_by_the_login = store.get("alice")
    CHANGES[change](store)
    token = sessions.create(read_by_the_login, 600)
    whoami(app, hawk(token), 401)
    assert sessions.lookup(derive_session_credentials(token)[0]) is None
    # A login that reads the account as it now is gets a working session.
    if change != "disable":
        whoami(app, hawk(sessions.create(store.get("alice"), 600)), 200)


def test_a_session_of_a_deleted_account_is_ended(app):
    store = registry(app).authsuite_accounts
    read_by_the_login = store.get("alice")
    store.delete("alice")
    token = sessions_for(registry(app)).create(read_by_the_login, 600)
    whoami(app, hawk(token), 401)


@pytest.mark.parametrize("change", ["disable", "password", "roles"])
def test_a_token_signed_a_second_after_a_change_made_from_the_old_account_is_refused(app, monkeypatch, change):
    """POST /tokens reads the account; the change lands right after that read; the
    token is signed in a later second. Its iat is the second of the read, so the
    cutoff refuses it (an iat taken when signing would be after the cutoff)."""
    store = registry(app).authsuite_accounts
    original_get = store.get
    raced = []

    def get_then_change(userid):
        account = original_get(userid)
        if userid == "alice" and not raced:
            raced.append(True)
            CHANGES[change](store)
            wait_past(time.time())  # signing happens in the next second
        return account

    monkeypatch.setattr(store, "get", get_then_change)
    value = app.post("/tokens", headers=basic("alice", PASSWORD), status=200).json["access_token"]
    monkeypatch.setattr(store, "get", original_get)
    assert raced
    claims = jwt.decode(value, options={"verify_signature": False})
    assert claims["iat"] < read_cutoff(stored_cutoff(app))
    whoami(app, bearer(value), 401)


def test_a_token_may_not_claim_a_read_long_ago_or_in_the_future(app):
    policy = registry(app).authsuite_security_policy.get_policy(JWTAuthenticationPolicy)
    account = registry(app).authsuite_accounts.get("alice")
    for read_at in (time.time() - 120, time.time() + 60):
        with pytest.raises(ValueError):
            policy.token_issuer.issue_token(registry(app), account, read_at=read_at)
    token = policy.token_issuer.issue_token(registry(app), account, read_at=time.time() - 30)["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == policy.settings.access_token_ttl_seconds
    assert time.time() - 32 <= claims["iat"] <= time.time() - 29


def test_the_jwt_policy_reads_revocation_and_cutoff_in_one_cache_call(app, monkeypatch):
    """No second round trip on the JWT request path: one get_many, no get."""
    value = jwt_of(app)
    whoami(app, bearer(value), 200)
    cache = registry(app).authsuite_cache
    calls = []
    for name in ("get", "get_many", "get_and_add"):
        original = getattr(cache, name)
        monkeypatch.setattr(cache, name, lambda *a, _name=name, _original=original: calls.append(_name) or _original(*a))
    whoami(app, bearer(value), 200)
    assert calls == ["get_many"]
    policy = registry(app).authsuite_security_policy.get_policy(JWTAuthenticationPolicy)
    assert policy.check_account
