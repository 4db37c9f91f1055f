"""The account store's tables, and the schema version they make up."""
from __future__ import annotations

from datetime import timezone

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

__all__ = ["MAX_KEY_ID_LENGTH", "SCHEMA_VERSION", "define_tables"]

#: The schema version this code creates and understands.
SCHEMA_VERSION = 1

#: Longest key id accepted by ``SQLAccountStore.add_key``.
MAX_KEY_ID_LENGTH = 255


class _UTCDateTime(TypeDecorator):
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


def define_tables(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table, sa.Table, sa.Table]:
    """The schema-version, accounts, keys and secrets tables, defined on ``metadata``."""
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
        # JSON list of role names, in the order given.
        sa.Column("roles", sa.Text, nullable=False),
        sa.Column("tenant", sa.Text, nullable=True),
        sa.Column("email", sa.Text, nullable=True),
        sa.Column("display_name", sa.Text, nullable=True),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("created_at", _UTCDateTime(), nullable=False),
        sa.Column("updated_at", _UTCDateTime(), nullable=False),
    )
    keys = sa.Table(
        "authsuite_account_keys",
        metadata,
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
        sa.Column("created_at", _UTCDateTime(), nullable=False),
    )
    # Server secrets generated on first use (development defaults), shared by
    # every process using this database.
    secrets = sa.Table(
        "authsuite_secrets",
        metadata,
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.LargeBinary, nullable=False),
        sa.Column("created_at", _UTCDateTime(), nullable=False),
    )
    return schema, accounts, keys, secrets
