"""The account store contract on SQLite, plus what only SQLite has: several
stores on one file, and the in-memory database shared by threads."""
from __future__ import annotations

import pytest

from pyramid_authsuite.accounts import Account, AccountExists, AccountStoreUnavailable
from pyramid_authsuite.accounts.sql import SQLAccountStore
from tests.accounts.contract_v2 import AccountStoreV2ContractTests
from tests.accounts.contract import (
    PASSWORD,
    THREADS,
    AccountStoreContractTests,
    all_accounts,
    cheap_hasher,
    run_at_once,
    without_login,
)


class TestSQLiteAccountStore(AccountStoreContractTests, AccountStoreV2ContractTests):
    @pytest.fixture
    def store(self, tmp_path):
        store = SQLAccountStore(f"sqlite:///{tmp_path / 'authsuite.sqlite'}", cheap_hasher())
        yield store
        store.close()


@pytest.fixture
def file_url(tmp_path):
    return f"sqlite:///{tmp_path / 'shared.sqlite'}"


def test_two_stores_on_one_file_see_each_others_writes(file_url):
    first = SQLAccountStore(file_url, cheap_hasher())
    second = SQLAccountStore(file_url, cheap_hasher())
    try:
        first.create("alice", PASSWORD, email="alice@example.org")
        assert second.get("alice").email == "alice@example.org"
        second.update("alice", email="new@example.org")
        assert first.get("alice").email == "new@example.org"
        second.add_key("alice", "k", "hmac", b"secret")
        assert first.get_key("k").material == b"secret"
        second.set_password("alice", "changed")
        assert first.authenticate("alice", "changed").userid == "alice"
        assert first.authenticate("alice", PASSWORD) is None
        assert first.delete("alice") is True
        assert second.get("alice") is None
        assert second.get_key("k") is None
    finally:
        first.close()
        second.close()


def test_file_survives_close_and_reopen(file_url):
    store = SQLAccountStore(file_url, cheap_hasher())
    created = store.create("alice", PASSWORD, roles=["admin"])
    store.close()
    reopened = SQLAccountStore(file_url, cheap_hasher())
    try:
        assert reopened.get("alice") == created
        assert without_login(reopened.authenticate("alice", PASSWORD)) == created
    finally:
        reopened.close()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_memory_database_is_shared_by_threads(url):
    store = SQLAccountStore(url, cheap_hasher())
    try:
        store.create("main", PASSWORD)
        outcomes = run_at_once(THREADS, lambda i: (store.get("main"), store.create(f"user{i}", PASSWORD)))
        assert all(isinstance(o, tuple) for o in outcomes), outcomes
        assert all(seen is not None and seen.userid == "main" for seen, _ in outcomes)
        assert [a.userid for a in all_accounts(store)] == ["main"] + sorted(f"user{i}" for i in range(THREADS))
        assert run_at_once(2, lambda i: store.authenticate(f"user{i}", PASSWORD).userid) == ["user0", "user1"]
    finally:
        store.close()


def test_memory_database_concurrent_creates_of_one_userid():
    # One shared connection: a rollback in a losing thread must not undo the winner.
    store = SQLAccountStore("sqlite://", cheap_hasher())
    try:
        outcomes = run_at_once(THREADS, lambda i: store.create("alice", PASSWORD, email=f"t{i}@x"))
        winners = [o for o in outcomes if isinstance(o, Account)]
        assert len(winners) == 1, outcomes
        assert sum(isinstance(o, AccountExists) for o in outcomes) == THREADS - 1
        assert store.get("alice") == winners[0]
    finally:
        store.close()


def test_memory_databases_of_two_stores_are_separate():
    first = SQLAccountStore("sqlite://", cheap_hasher())
    second = SQLAccountStore("sqlite://", cheap_hasher())
    try:
        first.create("alice", PASSWORD)
        assert second.get("alice") is None
    finally:
        first.close()
        second.close()


def test_unopenable_file_is_unavailable(tmp_path):
    store = SQLAccountStore(f"sqlite:///{tmp_path / 'no-such-dir' / 'x.sqlite'}", cheap_hasher())
    with pytest.raises(AccountStoreUnavailable) as info:
        store.create("alice", PASSWORD)
    assert PASSWORD not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    with pytest.raises(AccountStoreUnavailable):
        store.authenticate("alice", PASSWORD)
    store.close()


def test_constructor_does_not_touch_the_database(tmp_path):
    path = tmp_path / "lazy.sqlite"
    store = SQLAccountStore(f"sqlite:///{path}", cheap_hasher())
    assert not path.exists()
    store.list()
    assert path.exists()
    store.close()


@pytest.mark.parametrize("timeout", [0, -1, "5", True, None])
def test_bad_connect_timeout(timeout):
    with pytest.raises(ValueError):
        SQLAccountStore("sqlite://", cheap_hasher(), connect_timeout_seconds=timeout)
