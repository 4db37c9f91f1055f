"""PostgreSQL plans of the listing queries: indexes, not scans of the table.

20,000 accounts are inserted by one ``INSERT ... SELECT generate_series`` in a
private schema and ANALYZEd; then EXPLAIN of the statements the store runs
(built by :mod:`pyramid_authsuite.accounts.queries`) must show index scans and
no sequential scan of the accounts or roles table. The planner is left to its
own choices (``enable_seqscan`` untouched): at this size a missing index
makes it pick a sequential scan, which is what these tests catch.
"""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from pyramid_authsuite.accounts import queries
from pyramid_authsuite.accounts.sql import SQLAccountStore
from tests.accounts.contract import cheap_hasher

ROWS = 20_000

pytestmark = pytest.mark.postgresql


@pytest.fixture(scope="module")
def store(postgres_schema_url):
    from tests.conftest import drop_account_tables

    drop_account_tables(postgres_schema_url)
    store = SQLAccountStore(postgres_schema_url, cheap_hasher())
    store.migrate()
    with store.engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO authsuite_accounts (userid, tenant, email, display_name, disabled, created_at,"
            " updated_at, custom_claims, version)"
            " SELECT 'user' || lpad(i::text, 6, '0'), 'tenant' || mod(i, 1000), 'user' || i || '@example.org',"
            " 'User ' || i, false, now(), now(), '{}', 1 FROM generate_series(1, %(rows)s) AS i",
            {"rows": ROWS},
        )
        connection.exec_driver_sql(
            "INSERT INTO authsuite_account_roles (userid, role)"
            " SELECT 'user' || lpad(i::text, 6, '0'), 'role' || mod(i, 40) FROM generate_series(1, %(rows)s) AS i",
            {"rows": ROWS},
        )
        connection.exec_driver_sql("ANALYZE authsuite_accounts")
        connection.exec_driver_sql("ANALYZE authsuite_account_roles")
    yield store
    store.close()
    drop_account_tables(postgres_schema_url)


def plan(store: SQLAccountStore, **arguments) -> str:
    tables = store._tables  # the store's own table definitions: the statement it would run
    statement = queries.page_statement(tables, [tables.accounts.c.userid], "postgresql", **arguments)
    sql = str(statement.compile(dialect=store.engine.dialect, compile_kwargs={"literal_binds": True}))
    with store.engine.connect() as connection:
        return "\n".join(row[0] for row in connection.exec_driver_sql("EXPLAIN " + sql))


def assert_indexed(text: str) -> None:
    assert "Seq Scan on authsuite_accounts" not in text, text
    assert "Seq Scan on authsuite_account_roles" not in text, text
    assert "Index" in text, text


def page(**overrides):
    return {"limit": 50, "after": None, "tenant": None, "role": None, "query": None, **overrides}


def test_the_data_is_there(store):
    assert store.count() == ROWS
    assert store.count(tenant="tenant7") == ROWS // 1000
    assert store.count(role="role3") == ROWS // 40
    accounts, cursor = store.list(50, "user015000")
    assert accounts[0].userid == "user015001" and cursor == "user015050"


def test_deep_page_is_an_index_range_without_sort(store):
    text = plan(store, **page(after="user015000"))
    assert_indexed(text)
    assert "ix_authsuite_accounts_userid_c" in text, text
    assert "Sort" not in text, text


def test_first_page_is_an_index_range_without_sort(store):
    text = plan(store, **page())
    assert_indexed(text)
    assert "Sort" not in text, text


def test_tenant_page_uses_the_tenant_index(store):
    text = plan(store, **page(tenant="tenant7", after="user010000"))
    assert_indexed(text)
    # (A bitmap scan then a sort of the tenant's few rows is fine: the sort is of the matches only.)
    assert "ix_authsuite_accounts_tenant" in text, text


def test_role_page_starts_from_the_roles_index(store):
    text = plan(store, **page(role="role3", after="user010000"))
    assert_indexed(text)
    assert "ix_authsuite_account_roles_role" in text, text


@pytest.mark.parametrize("query", ["user0123", "USER0123", "user123@ex", "User 123"])
def test_prefix_query_uses_indexes(store, query):
    text = plan(store, **page(query=query))
    assert_indexed(text)
