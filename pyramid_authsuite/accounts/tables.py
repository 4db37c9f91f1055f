"""The account store's tables as the queries see them (the latest schema version).

These definitions are never used to create tables: the numbered steps in
:mod:`~pyramid_authsuite.accounts.migrations` do that, from their own frozen
definitions, so that a new database and an upgraded one end up alike.
"""
from __future__ import annotations

from datetime import timezone
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

__all__ = ["MAX_KEY_ID_LENGTH", "Tables", "UTCDateTime", "define_tables"]

#: Longest key id accepted by ``SQLAccountStore.add_key``.
MAX_KEY_ID_LENGTH = 255


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC ``datetime`` on every backend.

    PostgreSQL stores ``timestamptz`` but returns it in the session time zone;
    SQLite stores no offset at all. Values are written as UTC and always come
    back as aware UTC datetimes.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware UTC datetime")
        value = value.astimezone(timezone.utc)
        if dialect.name == "sqlite":
            # SQLite's text format would silently drop the offset; store UTC wall time.
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Tables(NamedTuple):
    """The store's tables."""

    schema: sa.Table
    accounts: sa.Table
    roles: sa.Table
    keys: sa.Table
    secrets: sa.Table


def define_tables(metadata: sa.MetaData) -> Tables:
    """The tables of the latest schema version, defined on ``metadata`` (for queries)."""
    schema = sa.Table(
        "authsuite_schema",
        metadata,
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    )
    accounts = sa.Table(
        "authsuite_accounts",
        metadata,
        sa.Column("userid", sa.String(64), primary_key=True),
        sa.Column("password_hash", sa.Text, nullable=True),
        sa.Column("tenant", sa.Text, nullable=True),
        sa.Column("email", sa.Text, nullable=True),
        sa.Column("display_name", sa.Text, nullable=True),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        # Compact JSON text of an object (validation.check_custom_claims).
        sa.Column("custom_claims", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("last_login_at", UTCDateTime(), nullable=True),
    )
    roles = sa.Table(
        "authsuite_account_roles",
        metadata,
        sa.Column("userid", sa.String(64), sa.ForeignKey("authsuite_accounts.userid", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("role", sa.Text, primary_key=True),
    )
    keys = sa.Table(
        "authsuite_account_keys",
        metadata,
        sa.Column("key_id", sa.String(MAX_KEY_ID_LENGTH), primary_key=True),
        sa.Column("userid", sa.String(64), sa.ForeignKey("authsuite_accounts.userid", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("material", sa.LargeBinary, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    secrets = sa.Table(
        "authsuite_secrets",
        metadata,
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.LargeBinary, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    return Tables(schema, accounts, roles, keys, secrets)
