"""Rows of the account store's tables as the objects callers get."""
from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection

from pyramid_authsuite.accounts import Account, AccountKey

__all__ = ["EMAIL_INDEX", "account_from_row", "is_email_conflict", "key_from_row", "roles_of"]

#: The unique index on lower(email) (migration step 2): its name in an
#: IntegrityError tells a taken email from a taken userid.
EMAIL_INDEX = "ux_authsuite_accounts_email"


def account_from_row(row, roles: tuple[str, ...]) -> Account:
    """The :class:`Account` of an accounts row (selected with ``has_password``) and its roles."""
    return Account(
        userid=row.userid,
        roles=roles,
        tenant=row.tenant,
        email=row.email,
        display_name=row.display_name,
        disabled=bool(row.disabled),
        created_at=row.created_at,
        updated_at=row.updated_at,
        custom_claims=json.loads(row.custom_claims),
        version=int(row.version),
        last_login_at=row.last_login_at,
        has_password=bool(row.has_password),
    )


def key_from_row(row) -> AccountKey:
    """The :class:`AccountKey` of a keys row."""
    return AccountKey(
        key_id=row.key_id,
        userid=row.userid,
        kind=row.kind,
        material=bytes(row.material),
        created_at=row.created_at,
    )


def is_email_conflict(error: sa_exc.IntegrityError) -> bool:
    """Whether ``error`` is the email index refusing a second account's address."""
    # PostgreSQL names the constraint; SQLite names the index in its message.
    original = getattr(error, "orig", None)
    diag = getattr(original, "diag", None)
    name = getattr(diag, "constraint_name", None)
    if name is not None:
        return name == EMAIL_INDEX
    return EMAIL_INDEX in str(original)


def roles_of(connection: Connection, roles: sa.Table, userids: list[str]) -> dict[str, tuple[str, ...]]:
    """Each userid's roles, sorted by code point (the roles table keeps no order)."""
    found: dict[str, list[str]] = {userid: [] for userid in userids}
    if userids:
        rows = connection.execute(sa.select(roles.c.userid, roles.c.role).where(roles.c.userid.in_(userids))).all()
        for userid, role in rows:
            found[userid].append(role)
    return {userid: tuple(sorted(role_list)) for userid, role_list in found.items()}
