"""The account store contract, version 2: update with changes and versions,
email uniqueness, custom claims, validation, list pages and counts, last login.

Mixed into the same backend test classes as :mod:`tests.accounts.contract`
(the ``store`` and ``store_factory`` fixtures come from there).
"""
from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from pyramid_authsuite.accounts import (
    MAX_CUSTOM_CLAIMS_BYTES,
    MAX_PAGE_SIZE,
    RESERVED_CLAIMS,
    Account,
    AccountExists,
    AccountNotFound,
    AccountStoreUnavailable,
    EmailTaken,
    InvalidAccountField,
    VersionConflict,
)
from pyramid_authsuite.accounts.sql import SCHEMA_VERSION, SchemaVersionError
from pyramid_authsuite.accounts.tables import UTCDateTime
from tests.accounts.contract import PASSWORD, THREADS, all_accounts, assert_utc, raw, run_at_once

_INSERT = sa.text(
    "INSERT INTO authsuite_accounts (userid, tenant, disabled, created_at, updated_at, custom_claims, version)"
    " VALUES (:userid, :tenant, :disabled, :now, :now, '{}', 1)"
).bindparams(sa.bindparam("now", type_=UTCDateTime()))


def bulk_create(store, userids, tenant: str | None = None) -> None:
    """Accounts without password or roles, inserted in one statement (the
    store's create hashes and checks one at a time: too slow for thousands)."""
    store.migrate()
    now = datetime.now(timezone.utc)
    rows = [{"userid": userid, "tenant": tenant, "disabled": False, "now": now} for userid in userids]
    with store.engine.begin() as connection:
        connection.execute(_INSERT, rows)


def claims_of_size(size: int) -> dict:
    """A claims object whose compact UTF-8 JSON is exactly ``size`` bytes."""
    overhead = len(json.dumps({"k": ""}, separators=(",", ":")))
    return {"k": "x" * (size - overhead)}


class AccountStoreV2ContractTests:
    """What version 2 of the store adds; every backend passes these."""

    # -- custom claims --------------------------------------------------------

    def test_custom_claims_round_trip(self, store):
        claims = {"plan": "pro", "seats": 5, "flags": [True, None], "nested": {"é": "☃"}}
        created = store.create("alice", PASSWORD, custom_claims=claims)
        assert created.custom_claims == claims
        assert store.get("alice").custom_claims == claims
        assert store.create("bob", None).custom_claims == {}

    def test_custom_claims_size_bound(self, store):
        exact = claims_of_size(MAX_CUSTOM_CLAIMS_BYTES)
        assert store.create("alice", None, custom_claims=exact).custom_claims == exact
        with pytest.raises(InvalidAccountField) as info:
            store.create("bob", None, custom_claims=claims_of_size(MAX_CUSTOM_CLAIMS_BYTES + 1))
        assert info.value.field == "custom_claims"
        assert store.get("bob") is None
        with pytest.raises(InvalidAccountField):
            store.update("alice", {"custom_claims": claims_of_size(MAX_CUSTOM_CLAIMS_BYTES + 1)})
        # Bytes, not characters: 2-byte characters count twice.
        with pytest.raises(InvalidAccountField):
            store.update("alice", {"custom_claims": {"k": "é" * 2100}})
        assert store.get("alice").custom_claims == exact

    @pytest.mark.parametrize(
        "claims",
        [
            {"sub": "x"}, {"roles": []}, {"email": "e@x"}, {"tenant_id": "t"}, {"": 1}, {"k" * 65: 1},
            {1: "int key"}, ["a", "list"], "text", {"k": float("nan")}, {"k": {1, 2}}, {"k": b"bytes"},
            {"k": "\ud800"},
        ],
    )
    def test_bad_custom_claims_are_refused(self, store, claims):
        with pytest.raises(InvalidAccountField) as info:
            store.create("alice", None, custom_claims=claims)
        assert info.value.field == "custom_claims"
        assert "text" not in str(info.value) and "bytes" not in str(info.value)
        assert store.get("alice") is None

    def test_every_reserved_claim_is_refused(self, store):
        store.create("alice", None)
        for name in sorted(RESERVED_CLAIMS):
            with pytest.raises(InvalidAccountField):
                store.update("alice", {"custom_claims": {name: 1}})
        assert store.update("alice", {"custom_claims": {"k" * 64: 1}}).custom_claims == {"k" * 64: 1}

    # -- validation -------------------------------------------------------------

    @pytest.mark.parametrize(
        "field, value",
        [
            ("email", "no-at-sign"), ("email", "two@@x"), ("email", "a@b@c"), ("email", "@x"), ("email", "x@"),
            ("email", "sp ace@x"), ("email", "tab\t@x"), ("email", "nl@x\n"), ("email", "a@" + "x" * 253),
            ("email", 5), ("email", "nul\x00@x"),
            ("display_name", "x" * 201), ("display_name", ""), ("display_name", "line\nbreak"),
            ("display_name", "bell\x07"), ("display_name", ["list"]),
            ("tenant", ""), ("tenant", "has space"), ("tenant", "x" * 65), ("tenant", "-dash"), ("tenant", 7),
            ("roles", ["ok", "bad role"]), ("roles", [""]), ("roles", [f"r{i}" for i in range(51)]),
            ("roles", [1]), ("roles", "admin"),
        ],
    )
    def test_invalid_values_are_refused_by_name(self, store, field, value):
        with pytest.raises(InvalidAccountField) as info:
            store.create("alice", None, **{field: value})
        assert info.value.field == field
        if isinstance(value, str) and len(value) > 3:
            assert value not in str(info.value)  # never echoed
        assert store.get("alice") is None
        store.create("bob", None)
        with pytest.raises(InvalidAccountField) as info:
            store.update("bob", {field: value})
        assert info.value.field == field
        assert store.get("bob").version == 1

    @pytest.mark.parametrize(
        "field, value",
        [("email", "a@b"), ("email", "x" * 64 + "@" + "y" * 189), ("display_name", "x" * 200),
         ("display_name", "Ünïcødé ☃ name"), ("tenant", "a:b.c@d+e-f_g"), ("roles", [f"r{i}" for i in range(50)])],
    )
    def test_edge_valid_values(self, store, field, value):
        account = store.create("alice", None, **{field: value})
        expected = tuple(sorted(value)) if field == "roles" else value
        assert getattr(account, field) == expected
        assert getattr(store.get("alice"), field) == expected

    # -- update: clearing, versions ---------------------------------------------

    def test_changes_none_clears_fields(self, store):
        store.create(
            "alice", PASSWORD, roles=["admin"], tenant="acme", email="a@x.org", display_name="A",
            custom_claims={"plan": "pro"},
        )
        cleared = store.update(
            "alice", {"email": None, "display_name": None, "tenant": None, "roles": None, "custom_claims": None}
        )
        assert (cleared.email, cleared.display_name, cleared.tenant, cleared.roles, cleared.custom_claims) == (
            None, None, None, (), {},
        )
        assert store.get("alice") == cleared
        assert cleared.version == 2

    def test_keyword_none_leaves_fields_as_they_are(self, store):
        created = store.create("alice", None, email="a@x.org", tenant="acme")
        after = store.update("alice", email=None, tenant=None, display_name="A")
        assert (after.email, after.tenant, after.display_name) == ("a@x.org", "acme", "A")
        assert after.created_at == created.created_at

    def test_disabled_cannot_be_cleared_and_unknown_fields_are_refused(self, store):
        store.create("alice", None)
        with pytest.raises(InvalidAccountField) as info:
            store.update("alice", {"disabled": None})
        assert info.value.field == "disabled"
        for name in ("userid", "password", "version", "created_at", "password_hash"):
            with pytest.raises(InvalidAccountField):
                store.update("alice", {name: "x"})
        with pytest.raises(TypeError):
            store.update("alice", password="x")
        with pytest.raises(TypeError):
            store.update("alice", {"email": "a@x"}, email="b@x")
        assert store.get("alice").version == 1

    def test_every_change_increments_the_version(self, store):
        assert store.create("alice", None).version == 1
        assert store.update("alice", {"email": "a@x.org"}).version == 2
        assert store.update("alice", roles=["r"]).version == 3
        store.set_password("alice", PASSWORD)
        assert store.get("alice").version == 4
        store.set_password("alice", None)
        assert store.get("alice").version == 5
        assert store.update("alice", disabled=True).version == 6
        assert store.get("alice").version == 6

    def test_an_update_that_changes_nothing_writes_nothing(self, store):
        created = store.create("alice", None, email="a@x.org", roles=["b", "a"], custom_claims={"k": 1})
        same = store.update("alice", {"email": "a@x.org", "roles": ["a", "b"], "custom_claims": {"k": 1}})
        assert same == created  # same version and updated_at: an idempotent request keeps its ETag
        assert store.update("alice", {}).version == 1

    def test_stale_expected_version_is_refused(self, store):
        store.create("alice", None, email="a@x.org")
        assert store.update("alice", {"display_name": "A"}, expected_version=1).version == 2
        with pytest.raises(VersionConflict) as info:
            store.update("alice", {"email": "b@x.org"}, expected_version=1)
        assert (info.value.userid, info.value.expected, info.value.current) == ("alice", 1, 2)
        after = store.get("alice")
        assert (after.email, after.version) == ("a@x.org", 2)
        with pytest.raises(AccountNotFound):
            store.update("nobody", {"email": "b@x.org"}, expected_version=1)

    def test_concurrent_updates_with_one_expected_version(self, store):
        store.create("alice", None)
        outcomes = run_at_once(
            THREADS, lambda i: store.update("alice", {"display_name": f"writer {i}"}, expected_version=1)
        )
        winners = [o for o in outcomes if isinstance(o, Account)]
        assert len(winners) == 1, outcomes
        assert sum(isinstance(o, VersionConflict) for o in outcomes) == THREADS - 1, outcomes
        assert store.get("alice") == winners[0]
        assert winners[0].version == 2

    def test_concurrent_updates_without_expected_version_all_count(self, store):
        store.create("alice", None)
        outcomes = run_at_once(THREADS, lambda i: store.update("alice", {"display_name": f"writer {i}"}))
        assert all(isinstance(o, Account) for o in outcomes), outcomes
        assert sorted(o.version for o in outcomes) == list(range(2, THREADS + 2))
        assert store.get("alice").version == THREADS + 1

    # -- email uniqueness ----------------------------------------------------------

    def test_email_is_unique_case_insensitively(self, store):
        store.create("alice", None, email="Alice@Example.org")
        with pytest.raises(EmailTaken):
            store.create("bob", None, email="alice@example.ORG")
        assert store.get("bob") is None
        store.create("bob", None, email="bob@example.org")
        with pytest.raises(EmailTaken):
            store.update("bob", {"email": "ALICE@example.org"})
        assert store.get("bob").email == "bob@example.org"
        # An account may change the case of its own address; a freed address can be taken.
        assert store.update("alice", {"email": "alice@example.org"}).email == "alice@example.org"
        store.update("alice", {"email": None})
        assert store.update("bob", {"email": "ALICE@example.org"}).email == "ALICE@example.org"
        # Any number of accounts without an email.
        store.create("carol", None)
        store.create("dave", None)

    def test_taken_userid_wins_over_taken_email(self, store):
        store.create("alice", None, email="a@x.org")
        with pytest.raises(AccountExists):
            store.create("alice", None, email="other@x.org")
        with pytest.raises(EmailTaken):
            store.create("bob", None, email="A@X.ORG")

    def test_concurrent_creates_with_one_email(self, store):
        emails = ["someone@example.org", "SOMEONE@example.org", "someone@EXAMPLE.org", "Someone@Example.Org"]
        outcomes = run_at_once(THREADS, lambda i: store.create(f"user{i}", None, email=emails[i % len(emails)]))
        winners = [o for o in outcomes if isinstance(o, Account)]
        assert len(winners) == 1, outcomes
        assert sum(isinstance(o, EmailTaken) for o in outcomes) == THREADS - 1, outcomes
        assert [a.userid for a in all_accounts(store)] == [winners[0].userid]

    # -- delete, listeners, has_password -----------------------------------------

    def test_delete_removes_roles_and_keys(self, store):
        store.create("alice", None, roles=["a", "b"])
        store.add_key("alice", "k", "hmac", b"secret")
        store.create("bob", None, roles=["a"])
        assert store.delete("alice")
        assert raw(store, "SELECT userid, role FROM authsuite_account_roles") == [("bob", "a")]
        assert raw(store, "SELECT count(*) FROM authsuite_account_keys") == [(0,)]
        assert store.create("alice", None).roles == ()

    def test_change_listeners(self, store):
        seen = []
        store.on_change(seen.append)
        store.create("alice", None, roles=["a"])
        store.update("alice", {"email": "a@x.org", "display_name": "A", "custom_claims": {"k": 1}})
        store.update("alice", {"roles": ["a"]})  # unchanged: nothing granted changed
        assert seen == []
        store.update("alice", {"roles": ["b"]})
        store.update("alice", {"tenant": "t"})
        store.update("alice", {"disabled": True})
        store.set_password("alice", PASSWORD)
        store.delete("alice")
        assert seen == ["alice"] * 5

    def test_has_password(self, store):
        assert store.create("alice", PASSWORD).has_password is True
        assert store.create("bob", None).has_password is False
        store.set_password("alice", None)
        assert store.get("alice").has_password is False
        store.set_password("bob", PASSWORD)
        assert store.get("bob").has_password is True
        assert [a.has_password for a in all_accounts(store)] == [False, True]

    # -- last login ---------------------------------------------------------------

    def test_last_login_is_recorded_at_most_once_a_minute(self, store):
        created = store.create("alice", PASSWORD)
        assert created.last_login_at is None
        assert store.authenticate("alice", "wrong password") is None
        assert store.get("alice").last_login_at is None
        first = store.authenticate("alice", PASSWORD).last_login_at
        assert_utc(first)
        stored = store.get("alice")
        assert stored.last_login_at == first
        # Bookkeeping, not a change.
        assert (stored.version, stored.updated_at) == (created.version, created.updated_at)
        # Within the minute: not written again.
        assert store.authenticate("alice", PASSWORD).last_login_at == first
        assert store.get("alice").last_login_at == first
        # A minute later (moved back in the database): written again.
        earlier = first - timedelta(minutes=2)
        statement = sa.text("UPDATE authsuite_accounts SET last_login_at = :t").bindparams(
            sa.bindparam("t", type_=UTCDateTime())
        )
        with store.engine.begin() as connection:
            connection.execute(statement, {"t": earlier})
        assert store.get("alice").last_login_at == earlier
        again = store.authenticate("alice", PASSWORD).last_login_at
        assert again >= first
        assert store.get("alice").last_login_at == again

    # -- list and count -------------------------------------------------------------

    @pytest.mark.parametrize("limit", [0, -1, MAX_PAGE_SIZE + 1, True, "5", 2.0, None])
    def test_list_limit_bounds(self, store, limit):
        with pytest.raises(ValueError):
            store.list(limit)

    @pytest.mark.parametrize("name", ["after", "tenant", "role", "query"])
    @pytest.mark.parametrize("value", ["", "x" * 255, "nul\x00", 5])
    def test_bad_filters_are_refused(self, store, name, value):
        with pytest.raises(InvalidAccountField) as info:
            if name == "after":
                store.list(10, value)
            else:
                store.list(10, **{name: value})
        assert info.value.field == name
        if name != "after":
            with pytest.raises(InvalidAccountField):
                store.count(**{name: value})

    def test_pages_and_cursors(self, store):
        bulk_create(store, [f"u{i}" for i in range(5)])
        page, cursor = store.list(2)
        assert ([a.userid for a in page], cursor) == (["u0", "u1"], "u1")
        page, cursor = store.list(2, cursor)
        assert ([a.userid for a in page], cursor) == (["u2", "u3"], "u3")
        page, cursor = store.list(2, cursor)
        assert ([a.userid for a in page], cursor) == (["u4"], None)
        # A page that ends exactly at the last account says so.
        page, cursor = store.list(5)
        assert (len(page), cursor) == (5, None)
        assert store.list(3, "u4") == ([], None)
        # A cursor need not be an existing userid (the account may be gone).
        assert [a.userid for a in store.list(10, "u2x")[0]] == ["u3", "u4"]

    def test_code_point_order_on_every_database(self, store):
        userids = ["a", "B", "Z", "0", "9", "a-b", "a.b", "a_b", "aB", "a@b", "a+b", "ab", "A", "a0", "Ab", "aa"]
        bulk_create(store, userids)
        expected = sorted(userids)  # Python compares str by code point
        assert expected[:6] == ["0", "9", "A", "Ab", "B", "Z"]
        walked = []
        after = None
        while True:
            page, after = store.list(3, after)
            walked.extend(a.userid for a in page)
            if after is None:
                break
        assert walked == expected
        assert [a.userid for a in store.list(100, "a+b")[0]] == [u for u in expected if u > "a+b"]

    def test_filters_and_counts(self, store):
        store.create("alice", None, tenant="acme", roles=["admin", "staff"], email="Alice@Example.org")
        store.create("bob", None, tenant="acme", roles=["staff"], display_name="Bobby Tables")
        store.create("carol", None, tenant="globex", roles=["admin"], email="carol@acme.example")
        store.create("dave", None, display_name="Alfred")
        store.create("a_b", None)
        store.create("axb", None, display_name="100% sure")

        def ids(**filters):
            listed = [a.userid for a in all_accounts(store, **filters)]
            assert store.count(**filters) == len(listed)
            return listed

        assert ids() == ["a_b", "alice", "axb", "bob", "carol", "dave"]
        assert ids(tenant="acme") == ["alice", "bob"]
        assert ids(tenant="nobody") == []
        assert ids(role="admin") == ["alice", "carol"]
        assert ids(role="staff", tenant="acme") == ["alice", "bob"]
        assert ids(role="admin", tenant="globex") == ["carol"]
        assert ids(query="AL") == ["alice", "dave"]  # userid, display name; case-insensitive
        assert ids(query="alice@example") == ["alice"]  # email prefix
        assert ids(query="bobby t") == ["bob"]
        assert ids(query="acme") == []  # prefixes only, not substrings
        assert ids(query="a_") == ["a_b"]  # LIKE wildcards match themselves
        assert ids(query="100%") == ["axb"]
        assert ids(query="%") == []
        assert ids(query="a", role="admin", tenant="acme") == ["alice"]
        page, cursor = store.list(1, role="admin")
        assert ([a.userid for a in page], cursor) == (["alice"], "alice")
        assert [a.userid for a in store.list(1, cursor, role="admin")[0]] == ["carol"]
        # Listed accounts carry their roles, like get().
        assert [a.roles for a in all_accounts(store, tenant="acme")] == [("admin", "staff"), ("staff",)]

    def test_walk_while_others_are_created_and_deleted(self, store):
        present = [f"user{i:04d}" for i in range(1000)]
        bulk_create(store, present)
        stop = threading.Event()
        churned: list[str] = []
        errors: list[BaseException] = []

        def churn() -> None:
            # Others created and deleted between and around the walked accounts.
            n = 0
            try:
                while not stop.is_set():
                    userid = f"user{(n * 37) % 1000:04d}x{n}"
                    store.create(userid, None)
                    churned.append(userid)
                    if n % 2:
                        store.delete(churned[n - 1])
                    n += 1
            except BaseException as error:  # reported by the main thread
                errors.append(error)

        worker = threading.Thread(target=churn)
        worker.start()
        seen: list[str] = []
        try:
            after = None
            while True:
                page, after = store.list(37, after)
                assert len(page) <= 37
                seen.extend(a.userid for a in page)
                if after is None:
                    break
        finally:
            stop.set()
            worker.join(timeout=60)
        assert not worker.is_alive() and not errors, errors
        assert churned, "the other thread never ran"
        assert seen == sorted(set(seen))  # in order, nothing twice
        walked = [userid for userid in seen if "x" not in userid]
        assert walked == present  # every account present throughout, exactly once

    # -- schema ---------------------------------------------------------------------

    def test_tables_are_created_on_first_use(self, store):
        assert not sa.inspect(store.engine).has_table("authsuite_accounts")
        assert all_accounts(store) == []
        inspector = sa.inspect(store.engine)
        for table in ("authsuite_schema", "authsuite_accounts", "authsuite_account_keys"):
            assert inspector.has_table(table)

    def test_schema_version_row(self, store, store_factory):
        store.list()
        assert raw(store, "SELECT version FROM authsuite_schema") == [(SCHEMA_VERSION,)]
        # Checking again (another store, first use) does not add a row.
        assert all_accounts(store_factory()) == []
        assert raw(store, "SELECT version FROM authsuite_schema") == [(SCHEMA_VERSION,)]

    def test_newer_schema_version_is_refused(self, store, store_factory):
        store.create("alice", PASSWORD)
        raw(store, "UPDATE authsuite_schema SET version = :v", v=SCHEMA_VERSION + 1)
        newer = store_factory()
        with pytest.raises(SchemaVersionError) as info:
            newer.get("alice")
        message = str(info.value)
        assert f"version {SCHEMA_VERSION + 1}" in message
        assert "newer" in message
        assert isinstance(info.value, AccountStoreUnavailable)  # fails closed, like a dead database
        # Refused on every call, not only the first, and nothing was written.
        with pytest.raises(SchemaVersionError):
            newer.authenticate("alice", PASSWORD)
        with pytest.raises(SchemaVersionError):
            newer.create("bob", PASSWORD)
        assert raw(store, "SELECT version FROM authsuite_schema") == [(SCHEMA_VERSION + 1,)]
        assert raw(store, "SELECT userid FROM authsuite_accounts") == [("alice",)]

    def test_schema_version_and_migrate(self, store, store_factory):
        assert store.schema_version() == 0  # asking creates nothing
        assert not sa.inspect(store.engine).has_table("authsuite_accounts")
        applied = store.migrate()
        assert [line.split(":")[0] for line in applied] == [str(v) for v in range(1, SCHEMA_VERSION + 1)]
        assert store.schema_version() == SCHEMA_VERSION
        assert store.migrate() == []
        assert store_factory().migrate() == []

    def test_concurrent_migrate_applies_each_step_once(self, store, store_factory):
        stores = [store] + [store_factory() for _ in range(3)]
        outcomes = run_at_once(len(stores), lambda i: stores[i].migrate())
        assert sorted(len(o) for o in outcomes) == [0] * (len(stores) - 1) + [SCHEMA_VERSION], outcomes
        assert raw(store, "SELECT version FROM authsuite_schema") == [(SCHEMA_VERSION,)]
