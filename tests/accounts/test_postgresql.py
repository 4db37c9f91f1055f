"""The account store contract on PostgreSQL, plus an unreachable server.

The tests work in a private PostgreSQL schema (conftest's ``clean_postgres_url``),
so other test runs dropping ``authsuite_*`` tables cannot pull them from under
these; the tables are dropped before and after each test.
"""
from __future__ import annotations

import pytest
from sqlalchemy import event

from pyramid_authsuite.accounts import AccountStoreUnavailable
from pyramid_authsuite.accounts.sql import SQLAccountStore, normalize_database_url
from tests.accounts.contract_v2 import AccountStoreV2ContractTests
from tests.accounts.contract import PASSWORD, AccountStoreContractTests, cheap_hasher
from tests.conftest import free_port

@pytest.mark.postgresql
class TestPostgreSQLAccountStore(AccountStoreContractTests, AccountStoreV2ContractTests):
    @pytest.fixture
    def store(self, clean_postgres_url):
        store = SQLAccountStore(clean_postgres_url, cheap_hasher())
        yield store
        store.close()


def closed_port_url(password: str | None = None) -> str:
    credentials = "postgres" if password is None else f"postgres:{password}"
    return f"postgresql://{credentials}@127.0.0.1:{free_port()}/test"


@pytest.mark.parametrize(
    "call",
    [
        lambda store: store.get("alice"),
        lambda store: store.create("alice", PASSWORD),
        lambda store: store.authenticate("alice", PASSWORD),
        lambda store: store.list(),
        lambda store: store.add_key("alice", "k", "hmac", b"secret"),
    ],
    ids=["get", "create", "authenticate", "list", "add_key"],
)
def test_closed_port_is_unavailable(call):
    store = SQLAccountStore(closed_port_url(), cheap_hasher(), connect_timeout_seconds=2)
    try:
        with pytest.raises(AccountStoreUnavailable) as info:
            call(store)
    finally:
        store.close()
    message = str(info.value)
    assert "postgresql" in message
    assert PASSWORD not in message
    assert "$argon2" not in message
    # Nothing chained: a logged traceback must not show the statement either.
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_unavailable_message_hides_the_database_password():
    store = SQLAccountStore(closed_port_url("db-pw-Xyzzy"), cheap_hasher())
    try:
        with pytest.raises(AccountStoreUnavailable) as info:
            store.create("alice", PASSWORD)
    finally:
        store.close()
    assert "db-pw-Xyzzy" not in str(info.value)
    assert "db-pw-Xyzzy" not in repr(store)


def test_connect_timeout_reaches_the_driver():
    store = SQLAccountStore(closed_port_url(), cheap_hasher(), connect_timeout_seconds=2.5)
    seen = []
    event.listen(store.engine, "do_connect", lambda dialect, record, cargs, cparams: seen.append(dict(cparams)))
    try:
        with pytest.raises(AccountStoreUnavailable):
            store.get("alice")
    finally:
        store.close()
    assert seen and seen[0]["connect_timeout"] == 3  # whole seconds, rounded up


def test_connect_timeout_in_the_url_wins():
    store = SQLAccountStore(closed_port_url() + "?connect_timeout=7", cheap_hasher())
    seen = []
    event.listen(store.engine, "do_connect", lambda dialect, record, cargs, cparams: seen.append(dict(cparams)))
    try:
        with pytest.raises(AccountStoreUnavailable):
            store.get("alice")
    finally:
        store.close()
    assert str(seen[0]["connect_timeout"]) == "7"


@pytest.mark.parametrize(
    "url, expected",
    [
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgres://u:p@h:5433/db?sslmode=require", "postgresql+psycopg://u:p@h:5433/db?sslmode=require"),
        ("PostgreSQL://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg2://u@h/db", "postgresql+psycopg2://u@h/db"),
        ("sqlite:///authsuite.sqlite", "sqlite:///authsuite.sqlite"),
        ("sqlite://", "sqlite://"),
        ("sqlite+pysqlite:////abs/path.sqlite", "sqlite+pysqlite:////abs/path.sqlite"),
    ],
)
def test_normalize_database_url(url, expected):
    assert normalize_database_url(url) == expected
