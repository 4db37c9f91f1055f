"""The account store's listing queries: keyset pages and counts with filters.

Userids are compared in code-point order on every database: SQLite's default
(BINARY) collation is that order for UTF-8 text; on PostgreSQL every
comparison and ORDER BY says ``COLLATE "C"``, which the indexes made by
migration step 2 serve (``(userid COLLATE "C")``, ``(tenant, userid COLLATE
"C")``, ``(role, userid COLLATE "C")``), so a page at any depth is an index
range scan, not a sort of the whole table.
"""
from __future__ import annotations

import sqlalchemy as sa

from pyramid_authsuite.accounts.tables import Tables

__all__ = ["count_statement", "escape_like", "page_statement"]


def escape_like(text: str) -> str:
    """``text`` as a LIKE pattern matching itself (``\\`` is the escape character)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _code_points(column: sa.ColumnElement, dialect: str) -> sa.ColumnElement:
    return column.collate("C") if dialect == "postgresql" else column


def _filtered(
    statement: sa.Select,
    tables: Tables,
    dialect: str,
    *,
    tenant: str | None,
    role: str | None,
    query: str | None,
) -> tuple[sa.Select, sa.ColumnElement]:
    """Add the filters to ``statement`` (selecting from the accounts table);
    returns it and the userid column to order and page on."""
    accounts = tables.accounts
    userid = accounts.c.userid
    if role is not None:
        # Driven from the roles table's (role, userid) index: a rare role is
        # found without walking every account. (userid, role) is the roles
        # table's primary key, so the join adds no duplicates.
        roles = tables.roles
        statement = statement.select_from(accounts.join(roles, roles.c.userid == accounts.c.userid)).where(
            roles.c.role == role
        )
        userid = roles.c.userid
    if tenant is not None:
        statement = statement.where(accounts.c.tenant == tenant)
    if query is not None:
        # lower() on both sides, in the database: the same folding applies to
        # the stored text and to the query (SQLite folds ASCII letters only).
        pattern = sa.func.lower(sa.literal(escape_like(query) + "%"))
        statement = statement.where(
            sa.or_(
                *(
                    sa.func.lower(column).like(pattern, escape="\\")
                    for column in (accounts.c.userid, accounts.c.email, accounts.c.display_name)
                )
            )
        )
    return statement, _code_points(userid, dialect)


def page_statement(
    tables: Tables,
    columns: list,
    dialect: str,
    *,
    limit: int,
    after: str | None,
    tenant: str | None,
    role: str | None,
    query: str | None,
) -> sa.Select:
    """Up to ``limit`` + 1 accounts after ``after`` (the extra row tells
    whether another page follows), in code-point order of userid."""
    statement, userid = _filtered(
        sa.select(*columns).select_from(tables.accounts), tables, dialect, tenant=tenant, role=role, query=query
    )
    if after is not None:
        statement = statement.where(userid > sa.literal(after, sa.String))
    return statement.order_by(userid).limit(limit + 1)


def count_statement(
    tables: Tables, dialect: str, *, tenant: str | None, role: str | None, query: str | None
) -> sa.Select:
    """How many accounts match the filters."""
    statement, _ = _filtered(
        sa.select(sa.func.count()).select_from(tables.accounts), tables, dialect, tenant=tenant, role=role, query=query
    )
    return statement
