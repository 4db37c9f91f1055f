"""The account store contract, as tests every SQL backend runs.

A backend's test module subclasses :class:`AccountStoreContractTests` (its name
does not start with ``Test``, so pytest collects it only through subclasses)
and supplies one fixture:

``store``
    A fresh :class:`SQLAccountStore` on an empty database (no authsuite
    tables yet), hashing with :func:`cheap_hasher`, closed after the test.

The tests that need a second store on the same database (rehash on login,
schema version, concurrent first use) get it from ``store_factory``, which
reuses the first store's URL; the ones that read raw rows use ``store.engine``.
"""
from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from pyramid_authsuite.accounts import (
    KEY_KINDS,
    Account,
    AccountExists,
    AccountKey,
    AccountNotFound,
    InvalidAccountField,
    InvalidUserid,
    KeyExists,
)
from pyramid_authsuite.accounts.passwords import PasswordHasher
from pyramid_authsuite.accounts.sql import SCHEMA_VERSION, SQLAccountStore

# The smallest sensible cost (8 MiB, one pass): the contract is about the
# store, not about argon2's strength, and the suite must stay fast.
CHEAP = {"time_cost": 1, "memory_cost": 8 * 1024, "parallelism": 1}
PASSWORD = "correct horse battery staple"
THREADS = 8


def cheap_hasher(**overrides) -> PasswordHasher:
    return PasswordHasher(**{**CHEAP, **overrides})


class CountingHasher(PasswordHasher):
    """A real hasher that counts how often each method is called."""

    def __init__(self, **parameters):
        super().__init__(**{**CHEAP, **parameters})
        self.calls: Counter = Counter()

    def hash(self, password):
        self.calls["hash"] += 1
        return super().hash(password)

    def verify(self, stored_hash, password):
        self.calls["verify"] += 1
        return super().verify(stored_hash, password)

    def verify_dummy(self, password):
        self.calls["verify_dummy"] += 1
        return super().verify_dummy(password)


def raw(store: SQLAccountStore, statement: str, **parameters) -> list[tuple]:
    """Run SQL straight on the store's database, around the store's API."""
    with store.engine.begin() as connection:
        result = connection.execute(sa.text(statement), parameters)
        return [tuple(row) for row in result] if result.returns_rows else []


def stored_hash(store: SQLAccountStore, userid: str) -> str | None:
    [(value,)] = raw(store, "SELECT password_hash FROM authsuite_accounts WHERE userid = :u", u=userid)
    return value


def all_accounts(store: SQLAccountStore, **filters) -> list[Account]:
    """Every account, walking the pages of ``store.list``."""
    accounts: list[Account] = []
    after = None
    while True:
        page, after = store.list(100, after, **filters)
        accounts.extend(page)
        if after is None:
            return accounts


def without_login(account: Account) -> Account:
    """``account`` as it was before any login (for comparing with what ``create`` returned)."""
    return dataclasses.replace(account, last_login_at=None)


def run_at_once(count: int, work) -> list:
    """Run ``work(i)`` in ``count`` threads released together; return what each
    returned or raised, in thread order."""
    barrier = threading.Barrier(count)
    outcomes: list = [None] * count

    def target(index: int) -> None:
        barrier.wait(timeout=30)
        try:
            outcomes[index] = work(index)
        except Exception as error:  # collected and asserted on by the caller
            outcomes[index] = error

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    return outcomes


def assert_utc(value: datetime) -> None:
    assert value.tzinfo is not None and value.utcoffset() == timedelta(0)
    # Far from "now" would mean local time stored as UTC (or the reverse).
    assert abs(datetime.now(timezone.utc) - value) < timedelta(minutes=10)


class AccountStoreContractTests:
    """Every account store backend passes these."""

    @pytest.fixture
    def store_factory(self, store):
        """Make more stores on the store's database; closed after the test."""
        url = store.engine.url.render_as_string(hide_password=False)
        made: list[SQLAccountStore] = []

        def make(hasher: PasswordHasher | None = None) -> SQLAccountStore:
            other = SQLAccountStore(url, hasher or cheap_hasher())
            made.append(other)
            return other

        yield make
        for other in made:
            other.close()

    # -- create and get -----------------------------------------------------

    def test_create_returns_every_field(self, store):
        account = store.create(
            "alice", PASSWORD, roles=["admin", "editor"], tenant="acme",
            email="alice@example.org", display_name="Alice Liddell",
        )
        assert isinstance(account, Account)
        assert account.userid == "alice"
        assert account.roles == ("admin", "editor")
        assert account.tenant == "acme"
        assert account.email == "alice@example.org"
        assert account.display_name == "Alice Liddell"
        assert account.disabled is False
        assert_utc(account.created_at)
        assert account.updated_at == account.created_at

    def test_get_round_trips_every_field(self, store):
        created = store.create(
            "alice", PASSWORD, roles=("admin",), tenant="acme",
            email="alice@example.org", display_name="Älice – ☃",
        )
        fetched = store.get("alice")
        assert fetched == created
        assert_utc(fetched.created_at)
        assert_utc(fetched.updated_at)

    def test_create_defaults(self, store):
        account = store.create("bob", None)
        assert store.get("bob") == account
        assert (account.roles, account.tenant, account.email, account.display_name, account.disabled) == (
            (), None, None, None, False,
        )

    def test_get_unknown_or_malformed_userid_is_none(self, store):
        store.create("alice", PASSWORD)
        assert store.get("bob") is None
        assert store.get("ALICE") is None  # userids are case-sensitive
        assert store.get("a:b") is None
        assert store.get("a\x00b") is None

    def test_roles_are_sorted_and_lose_duplicates(self, store):
        # The roles table keeps no order: every read sorts by code point.
        account = store.create("alice", PASSWORD, roles=["b", "a", "b", "c", "a", "B"])
        assert account.roles == ("B", "a", "b", "c")
        assert store.get("alice").roles == ("B", "a", "b", "c")
        assert store.update("alice", roles=["z", "z", "y"]).roles == ("y", "z")
        assert store.get("alice").roles == ("y", "z")

    def test_roles_as_a_single_string_are_refused(self, store):
        with pytest.raises(InvalidAccountField) as info:
            store.create("alice", PASSWORD, roles="admin")
        assert info.value.field == "roles"
        assert store.get("alice") is None

    def test_duplicate_create_raises_account_exists(self, store):
        store.create("alice", PASSWORD, email="first@example.org")
        with pytest.raises(AccountExists):
            store.create("alice", "other password", email="second@example.org")
        assert store.get("alice").email == "first@example.org"
        assert store.authenticate("alice", PASSWORD) is not None
        assert store.authenticate("alice", "other password") is None

    @pytest.mark.parametrize(
        "userid", ["", "x" * 65, "a:b", " a", "a ", ".a", "-a", "a/b", "a\x00", "é", "usér", "日本"]
    )
    def test_invalid_userids_are_refused(self, store, userid):
        with pytest.raises(InvalidUserid):
            store.create(userid, PASSWORD)
        assert all_accounts(store) == []

    @pytest.mark.parametrize("userid", ["a", "x" * 64, "A.b_c@d+e-f", "0"])
    def test_edge_valid_userids(self, store, userid):
        store.create(userid, PASSWORD)
        assert store.get(userid).userid == userid

    # -- update -------------------------------------------------------------

    def test_update_changes_given_fields_only(self, store):
        before = store.create(
            "alice", PASSWORD, roles=["admin"], tenant="acme",
            email="alice@example.org", display_name="Alice",
        )
        after = store.update("alice", tenant="globex", disabled=True)
        assert after.tenant == "globex"
        assert after.disabled is True
        assert (after.roles, after.email, after.display_name) == (("admin",), "alice@example.org", "Alice")
        assert after.created_at == before.created_at
        assert after.updated_at > before.updated_at
        assert_utc(after.updated_at)
        assert store.get("alice") == after

    def test_update_every_field(self, store):
        store.create("alice", PASSWORD)
        after = store.update(
            "alice", roles=("r1", "r2"), tenant="t", email="e@x", display_name="d", disabled=True,
        )
        assert (after.roles, after.tenant, after.email, after.display_name, after.disabled) == (
            ("r1", "r2"), "t", "e@x", "d", True,
        )
        assert store.get("alice") == after

    def test_update_roles_to_empty(self, store):
        store.create("alice", PASSWORD, roles=["admin"])
        assert store.update("alice", roles=()).roles == ()
        assert store.get("alice").roles == ()

    def test_update_bumps_updated_at_every_time(self, store):
        first = store.create("alice", PASSWORD)
        second = store.update("alice", email="a@x")
        third = store.update("alice", email="b@x")
        assert first.updated_at < second.updated_at < third.updated_at
        assert third.created_at == first.created_at

    def test_update_only_touches_that_account(self, store):
        bob = store.create("bob", PASSWORD, email="bob@example.org")
        store.create("alice", PASSWORD)
        store.update("alice", email="alice@example.org", disabled=True)
        assert store.get("bob") == bob

    @pytest.mark.parametrize("userid", ["nobody", "a:b"])
    def test_update_unknown_raises(self, store, userid):
        with pytest.raises(AccountNotFound):
            store.update(userid, email="x@example.org")

    # -- set_password -------------------------------------------------------

    def test_set_password_replaces_the_password(self, store):
        before = store.create("alice", PASSWORD)
        store.set_password("alice", "new password")
        assert store.authenticate("alice", PASSWORD) is None
        assert store.authenticate("alice", "new password").userid == "alice"
        assert store.get("alice").updated_at > before.updated_at

    def test_set_password_none_removes_password_login(self, store):
        store.create("alice", PASSWORD)
        store.set_password("alice", None)
        assert stored_hash(store, "alice") is None
        assert store.authenticate("alice", PASSWORD) is None
        assert store.get("alice") is not None

    def test_set_password_on_a_keys_only_account(self, store):
        store.create("alice", None)
        store.set_password("alice", PASSWORD)
        assert store.authenticate("alice", PASSWORD).userid == "alice"

    @pytest.mark.parametrize("userid", ["nobody", "a:b"])
    def test_set_password_unknown_raises(self, store, userid):
        with pytest.raises(AccountNotFound):
            store.set_password(userid, PASSWORD)

    def test_hash_is_argon2id_and_salted(self, store):
        store.create("alice", PASSWORD)
        store.create("bob", PASSWORD)
        alice, bob = stored_hash(store, "alice"), stored_hash(store, "bob")
        assert alice.startswith("$argon2id$")
        assert PASSWORD not in alice
        assert alice != bob

    # -- delete and list ----------------------------------------------------

    def test_delete(self, store):
        store.create("alice", PASSWORD)
        store.create("bob", PASSWORD)
        assert store.delete("alice") is True
        assert store.get("alice") is None
        assert store.delete("alice") is False
        assert store.get("bob") is not None
        assert store.authenticate("alice", PASSWORD) is None

    def test_delete_unknown_or_malformed(self, store):
        assert store.delete("nobody") is False
        assert store.delete("a:b") is False

    def test_deleted_userid_can_be_created_again(self, store):
        store.create("alice", PASSWORD, email="old@example.org")
        store.delete("alice")
        again = store.create("alice", "another one")
        assert again.email is None
        assert store.authenticate("alice", "another one") is not None

    def test_list_is_ordered_by_userid(self, store):
        assert all_accounts(store) == []
        for userid in ["bob", "alice", "Zed", "1x", "Bob", "alice.2", "alice-1"]:
            store.create(userid, None)
        userids = [account.userid for account in all_accounts(store)]
        # Code point order, the same on every backend whatever its collation.
        assert userids == ["1x", "Bob", "Zed", "alice", "alice-1", "alice.2", "bob"]

    def test_list_returns_full_accounts(self, store):
        alice = store.create("alice", PASSWORD, roles=["a"], tenant="t", email="e@x", display_name="d")
        store.update("alice", disabled=True)
        [listed] = all_accounts(store)
        assert listed == store.get("alice")
        assert listed.disabled is True
        assert listed.created_at == alice.created_at

    # -- authenticate -------------------------------------------------------

    def test_authenticate_right_password(self, store):
        created = store.create("alice", PASSWORD, roles=["admin"], tenant="acme")
        account = store.authenticate("alice", PASSWORD)
        assert without_login(account) == created
        assert_utc(account.last_login_at)

    def test_authenticate_wrong_password(self, store):
        store.create("alice", PASSWORD)
        assert store.authenticate("alice", PASSWORD + "x") is None
        assert store.authenticate("alice", "") is None
        assert store.authenticate("alice", PASSWORD.upper()) is None

    def test_authenticate_unknown_or_malformed_userid(self, store):
        store.create("alice", PASSWORD)
        assert store.authenticate("bob", PASSWORD) is None
        assert store.authenticate("ALICE", PASSWORD) is None
        assert store.authenticate("alice:x", PASSWORD) is None
        assert store.authenticate("", PASSWORD) is None

    def test_authenticate_disabled_account(self, store):
        store.create("alice", PASSWORD)
        store.update("alice", disabled=True)
        assert store.authenticate("alice", PASSWORD) is None
        store.update("alice", disabled=False)
        assert store.authenticate("alice", PASSWORD).userid == "alice"

    def test_authenticate_account_without_password(self, store):
        store.create("alice", None)
        assert store.authenticate("alice", "") is None
        assert store.authenticate("alice", PASSWORD) is None

    def test_unknown_userid_verifies_the_dummy_hash_once(self, store_factory):
        hasher = CountingHasher()
        store = store_factory(hasher)
        store.create("alice", PASSWORD)
        hasher.calls.clear()
        assert store.authenticate("bob", PASSWORD) is None
        assert hasher.calls["verify_dummy"] == 1
        hasher.calls.clear()
        assert store.authenticate("not:valid", PASSWORD) is None
        assert hasher.calls["verify_dummy"] == 1

    def test_account_without_password_verifies_the_dummy_hash_once(self, store_factory):
        hasher = CountingHasher()
        store = store_factory(hasher)
        store.create("alice", None)
        hasher.calls.clear()
        assert store.authenticate("alice", PASSWORD) is None
        assert hasher.calls["verify_dummy"] == 1

    def test_wrong_password_verifies_the_real_hash_not_the_dummy(self, store_factory):
        hasher = CountingHasher()
        store = store_factory(hasher)
        store.create("alice", PASSWORD)
        hasher.calls.clear()
        assert store.authenticate("alice", "wrong") is None
        assert hasher.calls["verify"] == 1
        assert hasher.calls["verify_dummy"] == 0

    def test_disabled_account_is_verified_before_refusal(self, store_factory):
        hasher = CountingHasher()
        store = store_factory(hasher)
        store.create("alice", PASSWORD)
        store.update("alice", disabled=True)
        hasher.calls.clear()
        assert store.authenticate("alice", PASSWORD) is None
        assert hasher.calls["verify"] == 1
        assert hasher.calls["verify_dummy"] == 0

    def test_login_rehashes_with_new_parameters(self, store, store_factory):
        old = store_factory(cheap_hasher(time_cost=2))
        created = old.create("alice", PASSWORD)
        old_hash = stored_hash(store, "alice")
        assert "$m=8192,t=2,p=1$" in old_hash

        assert without_login(store.authenticate("alice", PASSWORD)) == created
        new_hash = stored_hash(store, "alice")
        assert new_hash != old_hash
        assert "$m=8192,t=1,p=1$" in new_hash
        assert not store.hasher.needs_rehash(new_hash)
        # Still the same password, and a rehash is not an account change.
        assert without_login(store.authenticate("alice", PASSWORD)) == created
        assert store.get("alice").updated_at == created.updated_at

    def test_rehash_does_not_undo_a_concurrent_password_change(self, store, store_factory):
        store_factory(cheap_hasher(time_cost=2)).create("alice", PASSWORD)
        admin = store_factory()

        class ChangedMeanwhile(PasswordHasher):
            # The password is changed elsewhere between this login's check
            # and its rehash: the rehash of the old password must not win.
            def needs_rehash(self, stored):
                admin.set_password("alice", "changed meanwhile")
                return super().needs_rehash(stored)

        racing = store_factory(ChangedMeanwhile(**CHEAP))
        assert racing.authenticate("alice", PASSWORD).userid == "alice"
        assert store.authenticate("alice", "changed meanwhile").userid == "alice"
        assert store.authenticate("alice", PASSWORD) is None

    def test_login_with_current_parameters_keeps_the_hash(self, store):
        store.create("alice", PASSWORD)
        before = stored_hash(store, "alice")
        assert store.authenticate("alice", PASSWORD) is not None
        assert stored_hash(store, "alice") == before

    def test_failed_login_does_not_rehash(self, store, store_factory):
        store_factory(cheap_hasher(time_cost=2)).create("alice", PASSWORD)
        before = stored_hash(store, "alice")
        assert store.authenticate("alice", "wrong") is None
        assert stored_hash(store, "alice") == before

    # -- keys ---------------------------------------------------------------

    def test_add_and_get_key(self, store):
        store.create("alice", None)
        material = bytes(range(256))  # every byte value, NUL included
        key = store.add_key("alice", "alice-hmac-1", "hmac", material)
        assert isinstance(key, AccountKey)
        assert (key.key_id, key.userid, key.kind, key.material) == ("alice-hmac-1", "alice", "hmac", material)
        assert_utc(key.created_at)
        fetched = store.get_key("alice-hmac-1")
        assert fetched == key
        assert type(fetched.material) is bytes
        assert fetched.material == material

    @pytest.mark.parametrize("kind", KEY_KINDS)
    def test_every_key_kind_is_accepted(self, store, kind):
        store.create("alice", None)
        store.add_key("alice", "k", kind, b"-----BEGIN PUBLIC KEY-----\n...")
        assert store.get_key("k").kind == kind

    @pytest.mark.parametrize("kind", ["", "HMAC", "dsa", "ed448", None])
    def test_bad_key_kind_raises_value_error(self, store, kind):
        store.create("alice", None)
        with pytest.raises(ValueError):
            store.add_key("alice", "k", kind, b"secret")
        assert store.get_key("k") is None

    def test_add_key_to_unknown_account(self, store):
        with pytest.raises(AccountNotFound):
            store.add_key("nobody", "k", "hmac", b"secret")
        with pytest.raises(AccountNotFound):
            store.add_key("a:b", "k", "hmac", b"secret")
        assert store.get_key("k") is None

    def test_duplicate_key_id_raises_key_exists(self, store):
        store.create("alice", None)
        store.create("bob", None)
        store.add_key("alice", "k", "hmac", b"alice's secret")
        with pytest.raises(KeyExists):
            store.add_key("alice", "k", "hmac", b"another secret")
        with pytest.raises(KeyExists):
            store.add_key("bob", "k", "rsa", b"bob's key")
        key = store.get_key("k")
        assert (key.userid, key.material) == ("alice", b"alice's secret")

    def test_list_keys_is_ordered_and_per_account(self, store):
        store.create("alice", None)
        store.create("bob", None)
        for key_id in ["k2", "K3", "k1"]:
            store.add_key("alice", key_id, "hmac", key_id.encode())
        store.add_key("bob", "b1", "ed25519", b"pem")
        assert [key.key_id for key in store.list_keys("alice")] == ["K3", "k1", "k2"]
        assert [key.material for key in store.list_keys("alice")] == [b"K3", b"k1", b"k2"]
        assert [key.key_id for key in store.list_keys("bob")] == ["b1"]
        assert store.list_keys("nobody") == []

    def test_remove_key(self, store):
        store.create("alice", None)
        store.add_key("alice", "k1", "hmac", b"one")
        store.add_key("alice", "k2", "hmac", b"two")
        assert store.remove_key("k1") is True
        assert store.get_key("k1") is None
        assert store.remove_key("k1") is False
        assert [key.key_id for key in store.list_keys("alice")] == ["k2"]
        assert store.remove_key("never-there") is False

    def test_deleting_the_account_deletes_its_keys(self, store):
        store.create("alice", None)
        store.create("bob", None)
        store.add_key("alice", "a1", "hmac", b"x")
        store.add_key("alice", "a2", "rsa", b"y")
        store.add_key("bob", "b1", "hmac", b"z")
        assert store.delete("alice") is True
        assert store.get_key("a1") is None
        assert store.get_key("a2") is None
        assert raw(store, "SELECT key_id FROM authsuite_account_keys") == [("b1",)]
        # The key id is free again.
        store.create("alice", None)
        store.add_key("alice", "a1", "hmac", b"new")
        assert store.get_key("a1").material == b"new"

    def test_key_material_is_not_in_repr(self, store):
        store.create("alice", None)
        key = store.add_key("alice", "k", "hmac", b"TOPSECRETMATERIAL")
        assert "TOPSECRETMATERIAL" not in repr(key)
        assert "TOPSECRETMATERIAL" not in repr(store.get_key("k"))

    # -- concurrency --------------------------------------------------------

    def test_concurrent_creates_of_one_userid(self, store):
        # The store is fresh, so the threads also race to create the tables.
        outcomes = run_at_once(THREADS, lambda i: store.create("alice", PASSWORD, email=f"t{i}@example.org"))
        winners = [o for o in outcomes if isinstance(o, Account)]
        losers = [o for o in outcomes if isinstance(o, AccountExists)]
        assert len(winners) == 1, outcomes
        assert len(losers) == THREADS - 1, outcomes
        assert store.get("alice") == winners[0]
        assert [a.userid for a in all_accounts(store)] == ["alice"]

    def test_concurrent_creates_of_distinct_userids(self, store):
        outcomes = run_at_once(THREADS, lambda i: store.create(f"user{i}", PASSWORD))
        assert all(isinstance(o, Account) for o in outcomes), outcomes
        assert [a.userid for a in all_accounts(store)] == sorted(f"user{i}" for i in range(THREADS))

    def test_concurrent_first_use_by_several_stores(self, store, store_factory):
        stores = [store] + [store_factory() for _ in range(3)]
        outcomes = run_at_once(len(stores), lambda i: stores[i].list())
        assert outcomes == [([], None)] * len(stores)
        assert raw(store, "SELECT version FROM authsuite_schema") == [(SCHEMA_VERSION,)]

    # -- server secrets -----------------------------------------------------

    def test_secret_is_created_once_and_kept(self, store, store_factory):
        first = store.get_or_create_secret("server")
        assert isinstance(first, bytes) and len(first) == 32
        assert store.get_or_create_secret("server") == first
        assert store_factory().get_or_create_secret("server") == first  # another store, same database
        other = store.get_or_create_secret("other", length=48)
        assert len(other) == 48 and other != first

    def test_concurrent_secret_creation_agrees(self, store, store_factory):
        stores = [store_factory() for _ in range(6)]
        results = run_at_once(len(stores), lambda i: stores[i].get_or_create_secret("raced"))
        assert len(results) == len(stores) and len(set(results)) == 1 and all(isinstance(r, bytes) for r in results)
