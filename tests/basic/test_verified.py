"""The Basic verified-credentials cache (``credentials_cache_seconds``), through the demo app,
on memory+SQLite and Redis+PostgreSQL, and shared by two apps on one Redis."""
from __future__ import annotations

import pytest

from pyramid_authsuite.basic.policy import BasicAuthenticationPolicy
from pyramid_authsuite.basic.verified import ENTRY_PREFIX, REF_KEY_PURPOSE, forget_verified_logins, login_ref
from pyramid_authsuite.exceptions import SettingError
from pyramid_authsuite.secret import derived_key
from tests.apps import basic, make_demo, registry

PASSWORD = "correct horse battery"
NEW_PASSWORD = "another horse battery"
CACHED = {"multiauth.policy.basic.credentials_cache_seconds": "60"}


class Counting:
    """Counts the account store's password checks (the Argon2id verifications)."""

    def __init__(self, app):
        self.store = registry(app).authsuite_accounts
        self.real = self.store.authenticate
        self.calls = 0
        self.store.authenticate = self.authenticate

    def authenticate(self, userid, password):
        self.calls += 1
        return self.real(userid, password)


def build(settings):
    app = make_demo(settings)
    store = registry(app).authsuite_accounts
    if store.get("alice") is None:
        store.create("alice", PASSWORD, roles=["admin"], tenant="acme")
    return app


@pytest.fixture
def app(backends):
    app = build({**backends, **CACHED})
    yield app
    registry(app).authsuite_accounts.close()
    registry(app).authsuite_cache.close()


def ok(app, password=PASSWORD):
    return app.get("/whoami", headers=basic("alice", password), status=200).json


def test_repeated_credentials_are_verified_once(app):
    counting = Counting(app)
    first = ok(app)
    for _ in range(5):
        assert ok(app) == first
    assert counting.calls == 1
    assert {"role:admin", "tenant:acme", "scheme:basic"} <= set(first["principals"])


def test_off_by_default(backends):
    app = build(backends)
    counting = Counting(app)
    for _ in range(3):
        ok(app)
    assert counting.calls == 3
    ref = login_ref(derived_key(registry(app), REF_KEY_PURPOSE), "alice", PASSWORD)
    assert registry(app).authsuite_cache.get(ENTRY_PREFIX + ref) is None


def test_wrong_passwords_are_never_cached_and_still_count(app):
    counting = Counting(app)
    ok(app)
    for _ in range(5):
        app.get("/whoami", headers=basic("alice", "wrong-password"), status=401)
    assert counting.calls == 6
    # Locked out: a cached right password is refused too (else a locked-out
    # guesser would learn which guess is right).
    app.get("/whoami", headers=basic("alice", PASSWORD), extra_environ={"REMOTE_ADDR": "192.0.2.44"}, status=429)


def test_a_hit_counts_nothing(app):
    ok(app)
    cache = registry(app).authsuite_cache
    app.get("/whoami", headers=basic("alice", "wrong-password"), status=401)
    before = (cache.get("failed:user:alice"), cache.get("failed:addr:127.0.0.1"))
    for _ in range(3):
        ok(app)
    assert (cache.get("failed:user:alice"), cache.get("failed:addr:127.0.0.1")) == before == (1, 1)


def test_the_record_is_keyed_by_an_hmac_and_holds_no_password(app):
    ok(app)
    ref = login_ref(derived_key(registry(app), REF_KEY_PURPOSE), "alice", PASSWORD)
    record = registry(app).authsuite_cache.get(ENTRY_PREFIX + ref)
    assert record == {"u": "alice", "r": ["admin"], "t": "acme"}
    assert len(ref) == 64 and PASSWORD not in ref


@pytest.mark.parametrize("change", ["password", "disable", "delete"])
def test_forget_drops_the_login_on_every_change(app, change):
    store = registry(app).authsuite_accounts
    ok(app)
    if change == "password":
        store.set_password("alice", NEW_PASSWORD)
    elif change == "disable":
        store.update("alice", disabled=True)
    else:
        store.delete("alice")
    # The store's change listener has already forgotten the login: calling
    # forget_verified_logins again finds nothing left.
    assert forget_verified_logins(registry(app).authsuite_cache, "alice") == 0
    app.get("/whoami", headers=basic("alice", PASSWORD), status=401)
    if change == "password":
        ok(app, NEW_PASSWORD)


def test_forget_reaches_every_process_sharing_redis(redis_client, redis_url, clean_postgres_url):
    settings = {"authsuite.cache_url": redis_url, "authsuite.accounts_url": clean_postgres_url, **CACHED}
    first, second = build(settings), build(settings)
    counting = Counting(first)
    ok(first)
    ok(first)
    assert counting.calls == 1
    # Another process (the authsuite command) changes the password and forgets.
    registry(second).authsuite_accounts.set_password("alice", NEW_PASSWORD)
    forget_verified_logins(registry(second).authsuite_cache, "alice")
    first.get("/whoami", headers=basic("alice", PASSWORD), status=401)
    ok(first, NEW_PASSWORD)


def test_a_login_verified_while_the_password_changed_is_not_kept(app):
    store = registry(app).authsuite_accounts
    cache = registry(app).authsuite_cache
    real = store.authenticate

    def racing(userid, password):
        account = real(userid, password)  # read with the old password...
        store.set_password("alice", NEW_PASSWORD)  # ...changed meanwhile elsewhere
        forget_verified_logins(cache, "alice")
        return account

    store.authenticate = racing
    ok(app)
    store.authenticate = real
    app.get("/whoami", headers=basic("alice", PASSWORD), status=401)


@pytest.mark.parametrize("value", ["301", "-1", "soon"])
def test_bad_credentials_cache_seconds(value):
    with pytest.raises(SettingError, match="credentials_cache_seconds"):
        BasicAuthenticationPolicy(credentials_cache_seconds=value)


def test_credentials_cache_seconds_takes_a_duration():
    assert BasicAuthenticationPolicy(credentials_cache_seconds="5m").credentials_cache_seconds == 300


@pytest.mark.parametrize("change, password, status", [
    ("set_password", PASSWORD, 401),
    ("set_password", NEW_PASSWORD, 200),
    ("disable", PASSWORD, 401),
    ("delete", PASSWORD, 401),
])
def test_account_changes_through_the_store_forget_remembered_logins(app, change, password, status):
    # What an application's own change-password or admin view calls: the
    # store itself tells the cache, with no CLI involved.
    ok(app)
    ok(app)  # remembered
    store = registry(app).authsuite_accounts
    if change == "set_password":
        store.set_password("alice", NEW_PASSWORD)
    elif change == "disable":
        store.update("alice", disabled=True)
    else:
        store.delete("alice")
    app.get("/whoami", headers=basic("alice", password), status=status)


def test_new_roles_take_effect_at_once_for_a_remembered_login(app):
    assert "role:admin" in ok(app)["principals"]
    registry(app).authsuite_accounts.update("alice", roles=["reader"])
    principals = ok(app)["principals"]
    assert "role:reader" in principals and "role:admin" not in principals


def test_an_application_may_listen_to_account_changes(app):
    seen = []
    registry(app).authsuite_accounts.on_change(seen.append)
    registry(app).authsuite_accounts.update("alice", display_name="Alice")  # nothing granted changes
    registry(app).authsuite_accounts.update("alice", tenant="other")
    registry(app).authsuite_accounts.set_password("alice", NEW_PASSWORD)
    assert seen == ["alice", "alice"]
