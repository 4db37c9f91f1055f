"""Numbered schema migrations of the account store.

Each :class:`Step` brings the database from the version before it to its own
version. A new database runs every step from 1, an old one the steps it lacks:
one path, so a database created today and one upgraded from version 1 end with
the same schema. :func:`upgrade` runs them, each step and the row recording its
version in one transaction, under a database-wide lock
(``pg_advisory_xact_lock`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite, taken
by the caller), so that processes racing on first use apply each step once and
the others find it done.

Adding a step (version 3, ...) is a function taking the connection and one
``Step(3, "what it does", function)`` appended to :data:`STEPS`. A step's
definitions are frozen where it is written: later steps change the schema
with their own statements, never by editing an earlier step.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pyramid_authsuite.accounts.tables import MAX_KEY_ID_LENGTH, UTCDateTime
from pyramid_authsuite.exceptions import AccountStoreUnavailable

__all__ = ["SCHEMA_VERSION", "STEPS", "SchemaVersionError", "Step", "current_version", "upgrade"]


class SchemaVersionError(AccountStoreUnavailable):
    """The database holds a schema this code cannot use or cannot migrate.

    A subclass of :class:`AccountStoreUnavailable` so that requests fail closed
    (503) while an operator sorts out which release the database belongs to,
    or settles what a migration refused to decide on its own.
    """


class Step(NamedTuple):
    """One migration: ``apply(connection)`` brings the schema to ``version``."""

    version: int
    description: str
    apply: Callable[[Connection], None]


def _postgresql(connection: Connection) -> bool:
    return connection.dialect.name == "postgresql"


# -- version 1: the tables of the first release, frozen -------------------------

_V1 = sa.MetaData()
sa.Table(
    "authsuite_schema",
    _V1,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
)
sa.Table(
    "authsuite_accounts",
    _V1,
    sa.Column("userid", sa.String(64), primary_key=True),
    sa.Column("password_hash", sa.Text, nullable=True),
    sa.Column("roles", sa.Text, nullable=False),  # JSON list, dropped by step 2
    sa.Column("tenant", sa.Text, nullable=True),
    sa.Column("email", sa.Text, nullable=True),
    sa.Column("display_name", sa.Text, nullable=True),
    sa.Column("disabled", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)
sa.Table(
    "authsuite_account_keys",
    _V1,
    sa.Column("key_id", sa.String(MAX_KEY_ID_LENGTH), primary_key=True),
    sa.Column(
        "userid",
        sa.String(64),
        sa.ForeignKey("authsuite_accounts.userid", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("material", sa.LargeBinary, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)
sa.Table(
    "authsuite_secrets",
    _V1,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.LargeBinary, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

#: The version 1 tables, for tests that build a version 1 database.
V1_METADATA = _V1


def _step_1(connection: Connection) -> None:
    _V1.create_all(connection, checkfirst=True)


# -- version 2: roles table, email uniqueness, custom claims, version, last login ----

_ROLE_BATCH = 1000


def _refuse_shared_emails(connection: Connection) -> None:
    # Version 1 compared emails exactly; version 2 makes them unique case-
    # insensitively. Choosing which account keeps a shared address would hand
    # it (and whatever is mailed to it) to one of them behind the operator's
    # back, so the migration stops and says which accounts to settle.
    rows = connection.execute(
        sa.text(
            "SELECT userid FROM authsuite_accounts WHERE lower(email) IN ("
            " SELECT lower(email) FROM authsuite_accounts WHERE email IS NOT NULL"
            " GROUP BY lower(email) HAVING count(*) > 1)"
            " ORDER BY userid LIMIT 21"
        )
    ).scalars().all()
    if rows:
        shown = ", ".join(rows[:20]) + (", ..." if len(rows) > 20 else "")
        raise SchemaVersionError(
            "cannot migrate the account store to version 2: emails become unique case-insensitively "
            f"and these accounts share an email with another that differs only in case: {shown}; "
            "give them distinct emails (or clear them) with the release that made the database, "
            "then run the migration again (nothing was changed)"
        )


def _move_roles(connection: Connection) -> None:
    # In batches, keyset on userid, so a large table never sits in memory whole.
    last = None
    while True:
        statement = "SELECT userid, roles FROM authsuite_accounts"
        if last is not None:
            statement += " WHERE userid > :last"
        statement += f" ORDER BY userid LIMIT {_ROLE_BATCH}"
        rows = connection.execute(sa.text(statement), {"last": last}).all()
        if not rows:
            return
        values = []
        for userid, text in rows:
            try:
                roles = json.loads(text)
                if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
                    raise ValueError(text)
            except ValueError:
                raise SchemaVersionError(
                    f"cannot migrate the account store to version 2: the roles of {userid!r} "
                    "are not a JSON list of strings (nothing was changed)"
                ) from None
            # Kept as they are, even names version 2 would refuse: a migration
            # loses nothing; the next update through the store checks them.
            values.extend({"userid": userid, "role": role} for role in dict.fromkeys(roles))
        if values:
            connection.execute(
                sa.text("INSERT INTO authsuite_account_roles (userid, role) VALUES (:userid, :role)"), values
            )
        last = rows[-1][0]


def _step_2(connection: Connection) -> None:
    _refuse_shared_emails(connection)
    postgresql = _postgresql(connection)
    # Keyset paging walks userids in code-point order on every database:
    # SQLite's default (BINARY) collation is that already; on PostgreSQL the
    # queries compare with COLLATE "C" and these indexes serve them.
    userid = 'userid COLLATE "C"' if postgresql else "userid"
    timestamp = connection.dialect.type_compiler.process(sa.DateTime(timezone=True))
    statements = [
        "CREATE TABLE authsuite_account_roles ("
        " userid VARCHAR(64) NOT NULL REFERENCES authsuite_accounts (userid) ON DELETE CASCADE,"
        " role TEXT NOT NULL,"
        " PRIMARY KEY (userid, role))",
        f"CREATE INDEX ix_authsuite_account_roles_role ON authsuite_account_roles (role, {userid})",
        "ALTER TABLE authsuite_accounts ADD COLUMN custom_claims TEXT NOT NULL DEFAULT '{}'",
        "ALTER TABLE authsuite_accounts ADD COLUMN version INTEGER NOT NULL DEFAULT 1",
        f"ALTER TABLE authsuite_accounts ADD COLUMN last_login_at {timestamp}",
        "CREATE UNIQUE INDEX ux_authsuite_accounts_email ON authsuite_accounts (lower(email))",
        f"CREATE INDEX ix_authsuite_accounts_tenant ON authsuite_accounts (tenant, {userid})",
    ]
    if postgresql:
        statements += [
            f"CREATE INDEX ix_authsuite_accounts_userid_c ON authsuite_accounts ({userid})",
            # Case-insensitive prefix queries (lower(x) LIKE 'p%') in any database locale.
            "CREATE INDEX ix_authsuite_accounts_userid_prefix ON authsuite_accounts (lower(userid) text_pattern_ops)",
            "CREATE INDEX ix_authsuite_accounts_email_prefix ON authsuite_accounts (lower(email) text_pattern_ops)",
            "CREATE INDEX ix_authsuite_accounts_display_name_prefix"
            " ON authsuite_accounts (lower(display_name) text_pattern_ops)",
        ]
    for statement in statements:
        connection.exec_driver_sql(statement)
    _move_roles(connection)
    connection.exec_driver_sql("ALTER TABLE authsuite_accounts DROP COLUMN roles")


#: Every step, in order. Append new ones; never edit a released one.
STEPS: tuple[Step, ...] = (
    Step(1, "accounts, keys and secrets tables", _step_1),
    Step(2, "roles table, email uniqueness, custom claims, version, last login", _step_2),
)

#: The schema version this code creates and understands.
SCHEMA_VERSION = STEPS[-1].version


def current_version(connection: Connection) -> int:
    """The database's schema version; 0 when it has no tables yet."""
    if not sa.inspect(connection).has_table("authsuite_schema"):
        return 0
    found = connection.exec_driver_sql("SELECT max(version) FROM authsuite_schema").scalar()
    return int(found or 0)


def upgrade(connection: Connection) -> list[str]:
    """Apply the steps the database lacks, in ``connection``'s transaction.

    The caller holds the database-wide lock and commits. Returns one line per
    step applied ("2: roles table, ..."). Raises :class:`SchemaVersionError`
    for a database newer than this code, or one a step refuses to migrate."""
    found = current_version(connection)
    if found > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"the account store schema is version {found}, newer than version "
            f"{SCHEMA_VERSION} which this release of pyramid_authsuite knows; "
            f"upgrade pyramid_authsuite or point it at another database"
        )
    applied = []
    for step in STEPS:
        if step.version <= found:
            continue
        step.apply(connection)
        # One row, as version 1 wrote it: the version the schema is at.
        if step.version == 1:
            connection.execute(sa.text("INSERT INTO authsuite_schema (version) VALUES (1)"))
        else:
            connection.execute(sa.text("UPDATE authsuite_schema SET version = :v"), {"v": step.version})
        applied.append(f"{step.version}: {step.description}")
    return applied
