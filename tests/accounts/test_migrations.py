"""Schema migrations: a database made by version 1 of the store, upgraded.

The SQLite database is ``fixtures/v1.sqlite``, made by the version 1 code
itself (``fixtures/make_v1_fixture.py`` says how). The PostgreSQL one holds
the same rows, copied from that file into tables made by the frozen version 1
definitions (``migrations.V1_METADATA``) in a private schema.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from pyramid_authsuite.accounts import EmailTaken
from pyramid_authsuite.accounts.migrations import SCHEMA_VERSION, STEPS, V1_METADATA
from pyramid_authsuite.accounts.sql import SchemaVersionError, SQLAccountStore, normalize_database_url
from tests.accounts.contract import all_accounts, cheap_hasher, run_at_once
from tests.accounts.fixtures.make_v1_fixture import ACCOUNTS, KEYS
from tests.conftest import drop_account_tables

FIXTURE = Path(__file__).parent / "fixtures" / "v1.sqlite"
V2_LINE = "2: roles table, email uniqueness, custom claims, version, last login"


def _v1_rows() -> dict[str, list[dict]]:
    engine = sa.create_engine(f"sqlite:///{FIXTURE}")
    try:
        with engine.connect() as connection:
            return {
                table.name: [dict(row._mapping) for row in connection.execute(sa.select(table))]
                for table in V1_METADATA.sorted_tables
            }
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def v1_url(request, tmp_path):
    """A version 1 database holding the fixture's accounts and keys."""
    if request.param == "sqlite":
        shutil.copy(FIXTURE, tmp_path / "v1.sqlite")
        yield f"sqlite:///{tmp_path / 'v1.sqlite'}"
        return
    url = request.getfixturevalue("postgres_schema_url")
    drop_account_tables(url)
    rows = _v1_rows()
    engine = sa.create_engine(normalize_database_url(url))
    with engine.begin() as connection:
        V1_METADATA.create_all(connection)
        for table in V1_METADATA.sorted_tables:
            if rows[table.name]:
                connection.execute(sa.insert(table), rows[table.name])
    engine.dispose()
    yield url
    drop_account_tables(url)


@pytest.fixture
def stores(v1_url):
    made: list[SQLAccountStore] = []

    def make() -> SQLAccountStore:
        made.append(SQLAccountStore(v1_url, cheap_hasher()))
        return made[-1]

    yield make
    for store in made:
        store.close()


def _index_definitions(engine: sa.Engine, table: str) -> list[tuple[str, str]]:
    # From the catalogs: SQLAlchemy does not reflect SQLite's expression indexes.
    if engine.dialect.name == "sqlite":
        statement = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = :t"
    else:
        statement = "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = :t"
    with engine.connect() as connection:
        return sorted((name, str(sql)) for name, sql in connection.execute(sa.text(statement), {"t": table}))


def schema_of(engine: sa.Engine) -> dict:
    """Tables, columns (name, type, nullable, default) and indexes, as reflected."""
    inspector = sa.inspect(engine)
    found = {}
    for table in sorted(inspector.get_table_names()):
        columns = sorted(
            (c["name"], str(c["type"]), c["nullable"], str(c.get("default"))) for c in inspector.get_columns(table)
        )
        indexes = _index_definitions(engine, table)
        foreign = sorted(
            (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]),
             str(f.get("options")))
            for f in inspector.get_foreign_keys(table)
        )
        primary = tuple(inspector.get_pk_constraint(table)["constrained_columns"])
        found[table] = (columns, indexes, foreign, primary)
    return found


def test_the_fixture_has_the_frozen_version_1_schema(tmp_path):
    # The frozen definitions in migrations.py make what the version 1 code made.
    fixture = sa.create_engine(f"sqlite:///{FIXTURE}")
    frozen = sa.create_engine(f"sqlite:///{tmp_path / 'frozen.sqlite'}")
    V1_METADATA.create_all(frozen)
    try:
        assert schema_of(fixture) == schema_of(frozen)
        with fixture.connect() as connection:
            assert connection.exec_driver_sql("SELECT version FROM authsuite_schema").all() == [(1,)]
    finally:
        fixture.dispose()
        frozen.dispose()


def test_upgrade_keeps_every_account_and_key(stores):
    store = stores()
    assert store.schema_version() == 1
    assert store.migrate() == [V2_LINE]
    assert store.schema_version() == SCHEMA_VERSION == 2
    assert store.migrate() == []
    assert stores().migrate() == []
    listed = all_accounts(store)
    assert [a.userid for a in listed] == sorted(ACCOUNTS)
    for account in listed:
        password, fields, disabled = ACCOUNTS[account.userid]
        assert account.roles == tuple(sorted(fields["roles"]))
        for name in ("tenant", "email", "display_name"):
            assert getattr(account, name) == fields.get(name)
        assert account.disabled is disabled
        assert (account.version, account.custom_claims, account.last_login_at) == (1, {}, None)
        assert account.has_password is (password is not None)
        assert account.created_at is not None and account.updated_at >= account.created_at
        assert store.get(account.userid) == account
    # Every account still logs in with its password (a disabled one once enabled).
    for userid, (password, _, disabled) in ACCOUNTS.items():
        if password is None:
            assert store.authenticate(userid, "anything") is None
            continue
        if disabled:
            assert store.authenticate(userid, password) is None
            store.update(userid, {"disabled": False})
        assert store.authenticate(userid, password).userid == userid
    for key_id, (userid, kind, material) in KEYS.items():
        key = store.get_key(key_id)
        assert (key.userid, key.kind, key.material) == (userid, kind, material)
    assert [k.key_id for k in store.list_keys("carol")] == ["carol-ed25519", "carol-hmac"]
    # Roles are rows now: filtering works, on kept legacy names too.
    assert [a.userid for a in all_accounts(store, role="ops")] == ["Erin.2", "dave"]
    assert [a.userid for a in all_accounts(store, role="legacy role with spaces")] == ["dave"]
    assert [a.userid for a in all_accounts(store, tenant="acme")] == ["alice", "carol"]
    assert store.count(query="BOB@") == 1  # case-insensitive prefix on email


def test_upgraded_emails_are_unique_case_insensitively(stores):
    store = stores()
    with pytest.raises(EmailTaken):
        store.create("bobby", None, email="bob@example.org")  # bob holds Bob@Example.org


def test_first_use_migrates(stores):
    store = stores()
    assert store.get("alice").roles == ("admin", "editor")
    assert store.schema_version() == SCHEMA_VERSION
    assert store.migrate() == []


def test_concurrent_first_use_migrates_once(stores, v1_url):
    many = [stores() for _ in range(6)]
    password = ACCOUNTS["alice"][0]
    outcomes = run_at_once(len(many), lambda i: many[i].authenticate("alice", password))
    assert all(o is not None and o.userid == "alice" for o in outcomes), outcomes
    assert many[0].schema_version() == SCHEMA_VERSION
    engine = many[0].engine
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT version FROM authsuite_schema").all() == [(SCHEMA_VERSION,)]
        roles = connection.exec_driver_sql("SELECT count(*) FROM authsuite_account_roles").scalar()
    assert roles == sum(len(set(fields["roles"])) for _, fields, _ in ACCOUNTS.values())


def test_upgraded_and_fresh_databases_have_one_schema(stores, v1_url, tmp_path, request):
    upgraded = stores()
    upgraded.migrate()
    if v1_url.startswith("sqlite"):
        fresh = SQLAccountStore(f"sqlite:///{tmp_path / 'fresh.sqlite'}", cheap_hasher())
        fresh.migrate()
        try:
            assert schema_of(upgraded.engine) == schema_of(fresh.engine)
        finally:
            fresh.close()
        return
    # PostgreSQL: dump the upgraded schema, drop it, let a fresh store create it, compare.
    before = schema_of(upgraded.engine)
    upgraded.close()
    drop_account_tables(v1_url)
    fresh = stores()
    assert [line.split(":")[0] for line in fresh.migrate()] == [str(step.version) for step in STEPS]
    assert schema_of(fresh.engine) == before
    assert "authsuite_account_roles" in before and "ux_authsuite_accounts_email" in str(before)
    assert "text_pattern_ops" in str(before) and 'COLLATE "C"' in str(before)


def test_emails_shared_in_case_stop_the_migration(stores, v1_url):
    engine = sa.create_engine(normalize_database_url(v1_url))
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO authsuite_accounts (userid, roles, email, disabled, created_at, updated_at)"
            " SELECT 'alice2', '[]', 'ALICE@example.org', disabled, created_at, updated_at"
            " FROM authsuite_accounts WHERE userid = 'alice'"
        )
    engine.dispose()
    store = stores()
    with pytest.raises(SchemaVersionError) as info:
        store.migrate()
    message = str(info.value)
    assert "alice, alice2" in message and "nothing was changed" in message
    assert "example.org" not in message  # names accounts, not addresses
    with pytest.raises(SchemaVersionError):
        store.get("alice")  # first use refuses too (fails closed)
    # Nothing changed: still version 1, roles still JSON.
    assert store.schema_version() == 1
    engine = store.engine
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT roles FROM authsuite_accounts WHERE userid = 'alice'").scalar()
        assert not sa.inspect(connection).has_table("authsuite_account_roles")
    # Settled by the operator: the migration goes through.
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE authsuite_accounts SET email = NULL WHERE userid = 'alice2'")
    assert store.migrate() == [V2_LINE]
    assert store.get("alice2").email is None


def test_a_newer_database_is_refused(stores):
    store = stores()
    store.migrate()
    with store.engine.begin() as connection:
        connection.exec_driver_sql(f"UPDATE authsuite_schema SET version = {SCHEMA_VERSION + 1}")
    newer = stores()
    for call in (newer.migrate, lambda: newer.get("alice")):
        with pytest.raises(SchemaVersionError) as info:
            call()
        assert f"version {SCHEMA_VERSION + 1}" in str(info.value) and "newer" in str(info.value)
    assert newer.schema_version() == SCHEMA_VERSION + 1
