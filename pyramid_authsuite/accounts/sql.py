"""The account store on SQLAlchemy Core: SQLite and PostgreSQL.

One implementation serves both databases; the differences (connection pool,
time limits, foreign keys) are settled when the engine is made
(:mod:`~pyramid_authsuite.accounts.engine`), datetime storage in the table
definitions (:mod:`~pyramid_authsuite.accounts.tables`).
Tables are created, and migrated, on first use by the numbered steps of
:mod:`~pyramid_authsuite.accounts.migrations`; an older release refuses a
database it does not understand. Values are checked by
:mod:`~pyramid_authsuite.accounts.validation`, list pages built by
:mod:`~pyramid_authsuite.accounts.queries`.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import threading
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine, make_url

from pyramid_authsuite.accounts import (
    MAX_PAGE_SIZE,
    USERID_PATTERN,
    Account,
    AccountExists,
    AccountNotFound,
    AccountStore,
    EmailTaken,
    VersionConflict,
    validate_userid,
)
from pyramid_authsuite.accounts import queries, validation
from pyramid_authsuite.accounts.deadlines import DeadlineExceeded, watchdog
from pyramid_authsuite.accounts.engine import is_memory_sqlite, make_engine, normalize_database_url
from pyramid_authsuite.accounts.keys_sql import KeyMethods
from pyramid_authsuite.accounts.migrations import SCHEMA_VERSION, SchemaVersionError, current_version, upgrade
from pyramid_authsuite.accounts.passwords import PasswordHasher
from pyramid_authsuite.accounts.rows import account_from_row, is_email_conflict, roles_of
from pyramid_authsuite.accounts.tables import define_tables
from pyramid_authsuite.exceptions import AccountStoreUnavailable

__all__ = ["SCHEMA_VERSION", "SQLAccountStore", "SchemaVersionError", "normalize_database_url"]

logger = logging.getLogger(__name__)

# pg_advisory_xact_lock key serializing schema creation ("auth" "suit" in ASCII).
_SCHEMA_LOCK_ID = 0x6175746873756974


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _is_userid(userid: object) -> bool:
    # Anything that could not have been created cannot exist; answering that
    # without a query also keeps NUL bytes and megabyte strings away from the driver.
    return isinstance(userid, str) and USERID_PATTERN.fullmatch(userid) is not None


# last_login_at is written at most this often per account: a login storm must
# not turn every Basic request into a write.
LAST_LOGIN_RESOLUTION = timedelta(minutes=1)


class SQLAccountStore(KeyMethods, AccountStore):
    """:class:`AccountStore` on SQLAlchemy Core.

    Constructor arguments:

    ``url``
        A SQLAlchemy database URL: ``sqlite:///path/file.sqlite``, ``sqlite://``
        (in memory, one database shared by every thread of this store), or
        ``postgresql://user@host/db`` (psycopg 3 is used, see
        :func:`normalize_database_url`).
    ``hasher``
        The :class:`PasswordHasher`; defaults to one with the OWASP parameters.
    ``connect_timeout_seconds``
        PostgreSQL: libpq ``connect_timeout`` (whole seconds, rounded up) and
        the wait for a pooled connection, so an unreachable server fails fast.
    ``timeout_seconds``
        The deadline of every call once it has a connection. PostgreSQL: the
        ``statement_timeout``, TCP keepalives and ``tcp_user_timeout``, and a
        client-side bound that shuts the connection down when the server (or
        a pooler, or the network) stops answering; the call then raises
        :class:`AccountStoreUnavailable`, the connection is discarded and the
        thread is free. SQLite files: how long to wait for another
        connection's write lock. See :mod:`pyramid_authsuite.accounts.engine`.

    Nothing is connected at construction; the tables are created (and the
    schema version checked) on first use. The hasher is kept as ``hasher``,
    the deadline as ``timeout_seconds``.
    An in-memory database has a single connection, so its calls run one at a
    time; it is meant for development and tests. Raises
    :class:`~pyramid_authsuite.accounts.MissingDatabaseDriver` when the
    database's driver (psycopg) is not installed.
    """

    def __init__(
        self,
        url: str,
        hasher: PasswordHasher | None = None,
        *,
        connect_timeout_seconds: float = 5,
        timeout_seconds: float = 5,
    ):
        for name, value in (("connect_timeout_seconds", connect_timeout_seconds), ("timeout_seconds", timeout_seconds)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
                raise ValueError(f"{name} must be a positive number")
        self.hasher = hasher if hasher is not None else PasswordHasher()
        self.timeout_seconds = float(timeout_seconds)
        self._url = make_url(normalize_database_url(url))
        # The deadline of the call running on each thread, for the engine's
        # pool listeners (see accounts.engine and accounts.deadlines).
        self._local = threading.local()
        self._engine = make_engine(
            self._url, connect_timeout=connect_timeout_seconds, timeout=self.timeout_seconds, local=self._local
        )
        # Only network connections can leave a call waiting for an answer that
        # never comes; SQLite's waits are bounded by its busy timeout.
        self._watched = self._url.get_backend_name() == "postgresql"
        # A memory database lives in one shared DBAPI connection with one
        # transaction state: a rollback in one thread would undo another
        # thread's uncommitted insert. All access to it is serialized.
        self._serialize = threading.RLock() if is_memory_sqlite(self._url) else contextlib.nullcontext()
        self._metadata = sa.MetaData()
        self._tables = define_tables(self._metadata)
        self._schema, self._accounts, self._roles, self._keys, self._secrets = self._tables
        self._schema_lock = threading.Lock()
        self._schema_ready = False

    # -- engine and plumbing ------------------------------------------------

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for tests and maintenance scripts)."""
        return self._engine

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self._url.render_as_string(hide_password=True)!r})"

    def _unavailable(self, error: BaseException) -> AccountStoreUnavailable:
        # Built from the driver's own message (host, port, "connection refused"),
        # never from the SQLAlchemy wrapper, whose text may show the statement.
        original = getattr(error, "orig", None) or error
        lines = str(original).strip().splitlines()
        detail = lines[0][:200] if lines else ""
        password = self._url.password
        if password:
            detail = detail.replace(str(password), "***")
        name = type(original).__name__
        where = self._url.get_backend_name()
        return AccountStoreUnavailable(
            f"account store unavailable ({where}): {name}: {detail}" if detail
            else f"account store unavailable ({where}): {name}"
        )

    def _timed_out(self, why: str = "") -> AccountStoreUnavailable:
        where = self._url.get_backend_name()
        return AccountStoreUnavailable(
            f"account store unavailable ({where}): no answer within {self.timeout_seconds:g} s{why}"
        )

    @contextlib.contextmanager
    def _call(self) -> Iterator[None]:
        """One store call: under its deadline, with database errors translated."""
        deadline = watchdog.arm(self.timeout_seconds) if self._watched else None
        outer = getattr(self._local, "deadline", None)  # a call made inside another (none today)
        self._local.deadline = deadline
        dbapi = self._engine.dialect.loaded_dbapi
        try:
            yield
        except DeadlineExceeded:
            # The call waited its whole time for a connection.
            raise self._timed_out() from None
        except (
            sa_exc.OperationalError,
            sa_exc.InterfaceError,
            sa_exc.DisconnectionError,
            sa_exc.TimeoutError,  # no pooled connection came free in time
            dbapi.OperationalError,
            dbapi.InterfaceError,
        ) as error:
            # "from None": the chained SQLAlchemy error would put the statement
            # into any logged traceback.
            if deadline is not None and deadline.expired:
                # The watchdog shut the connection down: say why, not "server
                # closed the connection unexpectedly".
                raise self._timed_out() from None
            raise self._unavailable(error) from None
        except sa_exc.DBAPIError as error:
            if error.connection_invalidated or (deadline is not None and deadline.expired):
                raise self._unavailable(error) from None
            raise
        finally:
            self._local.deadline = outer
            if deadline is not None:
                watchdog.disarm(deadline)

    @contextlib.contextmanager
    def _transaction(self, *, write: bool = False) -> Iterator[Connection]:
        """A connection in a transaction, committed on success; errors translated.

        ``write``: a read-then-write transaction. SQLite takes its write lock
        at the start (``BEGIN IMMEDIATE``): a transaction that read first and
        then asked for the lock while another writer held it would fail at
        once instead of waiting its turn. PostgreSQL locks rows with
        ``SELECT ... FOR UPDATE`` instead."""
        self._ensure_schema()
        with self._call(), self._serialize, self._engine.begin() as connection:
            if write and connection.dialect.name == "sqlite":
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            yield connection

    def _ensure_schema(self) -> None:
        if self._schema_ready:
            return
        # Threads of this process: one creates, the others wait, but no longer
        # than a call may take (the creating call is bounded the same way).
        if not self._schema_lock.acquire(timeout=self.timeout_seconds):
            raise self._timed_out(" (waiting for another thread to create the tables)")
        try:
            if not self._schema_ready:
                self._create_schema()
                self._schema_ready = True
        finally:
            self._schema_lock.release()

    def _create_schema(self) -> list[str]:
        with self._call(), self._serialize, self._engine.begin() as connection:
            # Other processes (or other stores on the same database) may be doing
            # the same right now. Take a database-wide lock first, so that exactly
            # one applies each step and the others find it done.
            if connection.dialect.name == "postgresql":
                connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_SCHEMA_LOCK_ID)))
            elif connection.dialect.name == "sqlite":
                # The driver has not begun a transaction yet (it does so only
                # before DML); an IMMEDIATE one takes the write lock now.
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            applied = upgrade(connection)
        for line in applied:
            logger.info("account store schema migrated: %s", line)
        return applied

    # -- rows ---------------------------------------------------------------

    def _account_columns(self) -> list:
        # Every column but the hash, which never leaves this module by accident;
        # whether there is one is all callers learn.
        columns = [column for column in self._accounts.c if column.name != "password_hash"]
        return [*columns, self._accounts.c.password_hash.isnot(None).label("has_password")]

    def _load(self, connection: Connection, userid: str, *, for_update: bool = False, hash_too: bool = False):
        """The account's row (with its hash when asked) and roles, or ``(None, ())``."""
        columns = self._account_columns() + ([self._accounts.c.password_hash] if hash_too else [])
        statement = sa.select(*columns).where(self._accounts.c.userid == userid)
        if for_update:
            statement = statement.with_for_update()
        row = connection.execute(statement).one_or_none()
        if row is None:
            return None, ()
        return row, roles_of(connection, self._roles, [userid])[userid]

    # -- accounts -----------------------------------------------------------

    def create(
        self,
        userid: str,
        password: str | None,
        *,
        roles: tuple[str, ...] | list[str] = (),
        tenant: str | None = None,
        email: str | None = None,
        display_name: str | None = None,
        custom_claims: Mapping[str, Any] | None = None,
    ) -> Account:
        validate_userid(userid)
        roles = validation.check_roles(roles)
        claims = validation.check_custom_claims(custom_claims)
        values = {
            "userid": userid,
            "tenant": validation.check_tenant(tenant),
            "email": validation.check_email(email),
            "display_name": validation.check_display_name(display_name),
        }
        # Hash before opening the transaction: argon2 is slow and holds no lock.
        password_hash = None if password is None else self.hasher.hash(password)
        now = _now()
        try:
            with self._transaction() as connection:
                connection.execute(
                    sa.insert(self._accounts).values(
                        password_hash=password_hash,
                        disabled=False,
                        created_at=now,
                        updated_at=now,
                        custom_claims=validation.dump_claims(claims),
                        version=1,
                        **values,
                    )
                )
                if roles:
                    connection.execute(sa.insert(self._roles), [{"userid": userid, "role": r} for r in roles])
        except sa_exc.IntegrityError as error:
            # The primary key and the email index decide, inside the database:
            # of any number of concurrent creates exactly one commits.
            if is_email_conflict(error):
                raise EmailTaken("another account has this email") from None
            raise AccountExists(f"account {userid!r} already exists") from None
        return Account(
            roles=roles, disabled=False, created_at=now, updated_at=now, custom_claims=claims,
            version=1, has_password=password_hash is not None, **values,
        )

    def get(self, userid: str) -> Account | None:
        if not _is_userid(userid):
            return None
        with self._transaction() as connection:
            row, roles = self._load(connection, userid)
        return None if row is None else account_from_row(row, roles)

    def _write(self, userid: str, changes: dict, expected_version: int | None = None) -> tuple[Account, set[str]]:
        """Apply checked ``changes`` (column values; ``roles`` a tuple) to one account.

        Returns the account as it now is and the names of the fields whose
        values changed. Nothing is written (and the version stays) when no
        value differs; otherwise ``version`` += 1 and ``updated_at`` moves on."""
        validation.check_expected_version(expected_version)
        if not _is_userid(userid):
            raise AccountNotFound(userid)
        try:
            with self._transaction(write=True) as connection:
                row, roles = self._load(connection, userid, for_update=True, hash_too="password_hash" in changes)
                if row is None:
                    raise AccountNotFound(userid)
                if expected_version is not None and row.version != expected_version:
                    raise VersionConflict(userid, expected_version, int(row.version))
                current = {**row._asdict(), "roles": roles, "custom_claims": json.loads(row.custom_claims)}
                changed = {name for name, value in changes.items() if current[name] != value}
                if not changed:
                    return account_from_row(row, roles), set()
                # Strictly later than the last update even if the clock stepped back.
                updated_at = max(_now(), row.updated_at + timedelta(microseconds=1))
                columns = {name: changes[name] for name in changed if name != "roles"}
                if "custom_claims" in columns:
                    columns["custom_claims"] = validation.dump_claims(columns["custom_claims"])
                result = connection.execute(
                    sa.update(self._accounts)
                    .where(self._accounts.c.userid == userid)
                    .where(self._accounts.c.version == row.version)
                    .values(updated_at=updated_at, version=self._accounts.c.version + 1, **columns)
                )
                if result.rowcount != 1:
                    # Cannot happen under the row lock / write lock; never write blind.
                    raise VersionConflict(userid, int(row.version), int(row.version) + 1)
                if "roles" in changed:
                    connection.execute(sa.delete(self._roles).where(self._roles.c.userid == userid))
                    if changes["roles"]:
                        connection.execute(
                            sa.insert(self._roles), [{"userid": userid, "role": r} for r in changes["roles"]]
                        )
                row, roles = self._load(connection, userid)
        except sa_exc.IntegrityError as error:
            if is_email_conflict(error):
                raise EmailTaken("another account has this email") from None
            raise
        return account_from_row(row, roles), changed

    def update(
        self,
        userid: str,
        changes: Mapping[str, Any] | None = None,
        *,
        expected_version: int | None = None,
        **fields: Any,
    ) -> Account:
        checked = validation.check_changes(changes, fields)
        account, changed = self._write(userid, checked, expected_version)
        if {"roles", "tenant", "disabled"} & changed:
            self._changed(userid)
        return account

    def set_password(self, userid: str, password: str | None) -> None:
        if not _is_userid(userid):
            raise AccountNotFound(userid)
        password_hash = None if password is None else self.hasher.hash(password)
        # A new hash always differs from the stored one (fresh salt); removing
        # an absent password still ends what was granted, harmlessly.
        self._write(userid, {"password_hash": password_hash})
        self._changed(userid)

    def delete(self, userid: str) -> bool:
        if not _is_userid(userid):
            return False
        with self._transaction() as connection:
            # Explicit, as well as ON DELETE CASCADE: a SQLite connection opened
            # by another tool may not enforce foreign keys.
            connection.execute(sa.delete(self._keys).where(self._keys.c.userid == userid))
            connection.execute(sa.delete(self._roles).where(self._roles.c.userid == userid))
            result = connection.execute(sa.delete(self._accounts).where(self._accounts.c.userid == userid))
        if result.rowcount > 0:
            self._changed(userid)
            return True
        return False

    def list(
        self,
        limit: int = 100,
        after: str | None = None,
        *,
        tenant: str | None = None,
        role: str | None = None,
        query: str | None = None,
    ) -> tuple[list[Account], str | None]:
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
            raise ValueError(f"limit must be an int from 1 to {MAX_PAGE_SIZE}")
        filters = validation.check_filters(tenant, role, query)
        after = validation.check_filter("after", after)
        with self._transaction() as connection:
            statement = queries.page_statement(
                self._tables, self._account_columns(), connection.dialect.name, limit=limit, after=after, **filters
            )
            rows = connection.execute(statement).all()
            more = len(rows) > limit
            rows = rows[:limit]
            roles = roles_of(connection, self._roles, [row.userid for row in rows])
        accounts = [account_from_row(row, roles[row.userid]) for row in rows]
        return accounts, (accounts[-1].userid if more else None)

    def count(self, *, tenant: str | None = None, role: str | None = None, query: str | None = None) -> int:
        filters = validation.check_filters(tenant, role, query)
        with self._transaction() as connection:
            statement = queries.count_statement(self._tables, connection.dialect.name, **filters)
            return int(connection.execute(statement).scalar_one())

    def authenticate(self, userid: str, password: str) -> Account | None:
        row = None
        if _is_userid(userid):
            with self._transaction() as connection:
                row, roles = self._load(connection, userid, hash_too=True)
        if row is None or row.password_hash is None:
            self.hasher.verify_dummy(password)
            return None
        if not self.hasher.verify(row.password_hash, password):
            return None
        # Checked after verifying, so a disabled account answers as slowly as any other.
        if row.disabled:
            return None
        if self.hasher.needs_rehash(row.password_hash):
            self._rehash(userid, row.password_hash, password)
        account = account_from_row(row, roles)
        now = _now()
        if row.last_login_at is None or now - row.last_login_at >= LAST_LOGIN_RESOLUTION:
            if self._record_login(userid, now):
                account = dataclasses.replace(account, last_login_at=now)
        return account

    def _record_login(self, userid: str, now: datetime) -> bool:
        # Neither version nor updated_at: a login is not a change to the account.
        # The condition keeps concurrent logins to one write a minute.
        accounts = self._accounts
        try:
            with self._transaction() as connection:
                result = connection.execute(
                    sa.update(accounts)
                    .where(accounts.c.userid == userid)
                    .where(sa.or_(accounts.c.last_login_at.is_(None),
                                  accounts.c.last_login_at <= now - LAST_LOGIN_RESOLUTION))
                    .values(last_login_at=now)
                )
        except AccountStoreUnavailable as error:
            # The login itself succeeded; bookkeeping must not turn it into a 503.
            logger.warning("could not record the last login of %r: %s", userid, error)
            return False
        return result.rowcount > 0

    def _rehash(self, userid: str, old_hash: str, password: str) -> None:
        new_hash = self.hasher.hash(password)
        try:
            with self._transaction() as connection:
                # Only if the hash is still the one we verified: a concurrent
                # set_password must not be overwritten with the old password.
                connection.execute(
                    sa.update(self._accounts)
                    .where(self._accounts.c.userid == userid)
                    .where(self._accounts.c.password_hash == old_hash)
                    .values(password_hash=new_hash)
                )
        except AccountStoreUnavailable as error:
            # The login itself succeeded; the rehash is retried at the next one.
            logger.warning("could not store rehashed password for %r: %s", userid, error)

    # -- schema ---------------------------------------------------------------

    def schema_version(self) -> int:
        # Read as it is: asking must not migrate (``authsuite migrate`` shows
        # the version before and after).
        with self._call(), self._serialize, self._engine.begin() as connection:
            return current_version(connection)

    def migrate(self) -> list[str]:
        with self._schema_lock:
            applied = self._create_schema()
            self._schema_ready = True
        return applied

    # -- server secrets -------------------------------------------------------

    def get_or_create_secret(self, name: str, length: int = 32) -> bytes:
        select = sa.select(self._secrets.c.value).where(self._secrets.c.name == name)
        with self._transaction() as connection:
            found = connection.execute(select).scalar_one_or_none()
        if found is not None:
            return bytes(found)
        try:
            with self._transaction() as connection:
                connection.execute(
                    sa.insert(self._secrets).values(name=name, value=os.urandom(length), created_at=_now())
                )
        except sa_exc.IntegrityError:
            pass  # another process created it first: everyone uses that one
        with self._transaction() as connection:
            return bytes(connection.execute(select).scalar_one())

    def close(self) -> None:
        """Close every pooled connection (an in-memory database is gone afterwards)."""
        self._engine.dispose()

