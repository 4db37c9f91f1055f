"""The account store on SQLAlchemy Core: SQLite and PostgreSQL.

One implementation serves both databases; the differences (connection pool,
time limits, foreign keys) are settled when the engine is made
(:mod:`~pyramid_authsuite.accounts.engine`), datetime storage in the table
definitions (:mod:`~pyramid_authsuite.accounts.tables`).
Tables are created on first use and carry a schema version, so a later release
can migrate them and an older release refuses a database it does not understand.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine, make_url

from pyramid_authsuite.accounts import (
    KEY_KINDS,
    USERID_PATTERN,
    Account,
    AccountExists,
    AccountKey,
    AccountNotFound,
    AccountStore,
    KeyExists,
    validate_userid,
)
from pyramid_authsuite.accounts.deadlines import DeadlineExceeded, watchdog
from pyramid_authsuite.accounts.engine import is_memory_sqlite, make_engine, normalize_database_url
from pyramid_authsuite.accounts.passwords import PasswordHasher
from pyramid_authsuite.accounts.tables import MAX_KEY_ID_LENGTH, SCHEMA_VERSION, define_tables
from pyramid_authsuite.exceptions import AccountStoreUnavailable

__all__ = ["SCHEMA_VERSION", "SQLAccountStore", "SchemaVersionError", "normalize_database_url"]

logger = logging.getLogger(__name__)

# pg_advisory_xact_lock key serializing schema creation ("auth" "suit" in ASCII).
_SCHEMA_LOCK_ID = 0x6175746873756974


class SchemaVersionError(AccountStoreUnavailable):
    """The database holds a schema version this code does not know.

    A subclass of :class:`AccountStoreUnavailable` so that requests fail closed
    (503) while an operator sorts out which release the database belongs to.
    """


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _is_userid(userid: object) -> bool:
    # Anything that could not have been created cannot exist; answering that
    # without a query also keeps NUL bytes and megabyte strings away from the driver.
    return isinstance(userid, str) and USERID_PATTERN.fullmatch(userid) is not None


def _is_key_id(key_id: object) -> bool:
    return isinstance(key_id, str) and 0 < len(key_id) <= MAX_KEY_ID_LENGTH and "\x00" not in key_id


def _check_text(name: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str or None")
    if "\x00" in value:
        # PostgreSQL rejects NUL in text; refuse it on every backend alike.
        raise ValueError(f"{name} must not contain NUL characters")
    return value


def _normalize_roles(roles: Iterable[str]) -> tuple[str, ...]:
    if isinstance(roles, (str, bytes)):
        # tuple("admin") would be five one-letter roles.
        raise TypeError("roles must be a sequence of strings, not a single string")
    result = tuple(dict.fromkeys(roles))  # drops duplicates, keeps the order given
    for role in result:
        _check_text("role", role)
        if not role:
            raise ValueError("a role must not be empty")
    return result


class SQLAccountStore(AccountStore):
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
        self._schema, self._accounts, self._keys, self._secrets = define_tables(self._metadata)
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
    def _transaction(self) -> Iterator[Connection]:
        """A connection in a transaction, committed on success; errors translated."""
        self._ensure_schema()
        with self._call(), self._serialize, self._engine.begin() as connection:
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

    def _create_schema(self) -> None:
        with self._call(), self._serialize, self._engine.begin() as connection:
            # Other processes (or other stores on the same database) may be doing
            # the same right now. Take a database-wide lock first, so that exactly
            # one creates the tables and writes the version and the others find them.
            if connection.dialect.name == "postgresql":
                connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_SCHEMA_LOCK_ID)))
            elif connection.dialect.name == "sqlite":
                # The driver has not begun a transaction yet (it does so only
                # before DML); an IMMEDIATE one takes the write lock now.
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            self._metadata.create_all(connection, checkfirst=True)
            versions = connection.execute(sa.select(self._schema.c.version)).scalars().all()
            if not versions:
                connection.execute(sa.insert(self._schema).values(version=SCHEMA_VERSION))
                return
            found = max(versions)
            if found > SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"the account store schema is version {found}, newer than version "
                    f"{SCHEMA_VERSION} which this release of pyramid_authsuite knows; "
                    f"upgrade pyramid_authsuite or point it at another database"
                )
            if found < SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"the account store schema is version {found}, which this release "
                    f"(version {SCHEMA_VERSION}) cannot migrate"
                )

    # -- rows to objects ----------------------------------------------------

    @staticmethod
    def _account(row) -> Account:
        return Account(
            userid=row.userid,
            roles=tuple(json.loads(row.roles)),
            tenant=row.tenant,
            email=row.email,
            display_name=row.display_name,
            disabled=bool(row.disabled),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @staticmethod
    def _key(row) -> AccountKey:
        return AccountKey(
            key_id=row.key_id,
            userid=row.userid,
            kind=row.kind,
            material=bytes(row.material),
            created_at=row.created_at,
        )

    def _account_columns(self) -> list:
        # Every column but the hash, which never leaves this module by accident.
        return [column for column in self._accounts.c if column.name != "password_hash"]

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
    ) -> Account:
        validate_userid(userid)
        roles = _normalize_roles(roles)
        values = {
            "userid": userid,
            "tenant": _check_text("tenant", tenant),
            "email": _check_text("email", email),
            "display_name": _check_text("display_name", display_name),
        }
        # Hash before opening the transaction: argon2 is slow and holds no lock.
        password_hash = None if password is None else self.hasher.hash(password)
        now = _now()
        try:
            with self._transaction() as connection:
                connection.execute(
                    sa.insert(self._accounts).values(
                        password_hash=password_hash,
                        roles=json.dumps(list(roles)),
                        disabled=False,
                        created_at=now,
                        updated_at=now,
                        **values,
                    )
                )
        except sa_exc.IntegrityError:
            # The primary key decides, inside the database: of any number of
            # concurrent creates exactly one commits.
            raise AccountExists(f"account {userid!r} already exists") from None
        return Account(roles=roles, disabled=False, created_at=now, updated_at=now, **values)

    def get(self, userid: str) -> Account | None:
        if not _is_userid(userid):
            return None
        with self._transaction() as connection:
            row = connection.execute(
                sa.select(*self._account_columns()).where(self._accounts.c.userid == userid)
            ).one_or_none()
        return None if row is None else self._account(row)

    def _change(self, userid: str, changes: dict) -> Account:
        """Apply ``changes`` to one account and bump ``updated_at``; return the result."""
        if not _is_userid(userid):
            raise AccountNotFound(userid)
        with self._transaction() as connection:
            row = connection.execute(
                sa.select(*self._account_columns())
                .where(self._accounts.c.userid == userid)
                .with_for_update()
            ).one_or_none()
            if row is None:
                raise AccountNotFound(userid)
            # Strictly later than the last update even if the clock stepped back.
            updated_at = max(_now(), row.updated_at + timedelta(microseconds=1))
            connection.execute(
                sa.update(self._accounts)
                .where(self._accounts.c.userid == userid)
                .values(updated_at=updated_at, **changes)
            )
        merged = {**row._asdict(), **changes, "updated_at": updated_at}
        merged.pop("password_hash", None)
        return self._account(SimpleNamespace(**merged))

    def update(
        self,
        userid: str,
        *,
        roles: tuple[str, ...] | list[str] | None = None,
        tenant: str | None = None,
        email: str | None = None,
        display_name: str | None = None,
        disabled: bool | None = None,
    ) -> Account:
        changes: dict = {}
        if roles is not None:
            changes["roles"] = json.dumps(list(_normalize_roles(roles)))
        for name, value in (("tenant", tenant), ("email", email), ("display_name", display_name)):
            if value is not None:
                changes[name] = _check_text(name, value)
        if disabled is not None:
            if not isinstance(disabled, bool):
                raise TypeError("disabled must be a bool or None")
            changes["disabled"] = disabled
        account = self._change(userid, changes)
        if {"roles", "tenant", "disabled"} & changes.keys():
            self._changed(userid)
        return account

    def set_password(self, userid: str, password: str | None) -> None:
        if not _is_userid(userid):
            raise AccountNotFound(userid)
        password_hash = None if password is None else self.hasher.hash(password)
        self._change(userid, {"password_hash": password_hash})
        self._changed(userid)

    def delete(self, userid: str) -> bool:
        if not _is_userid(userid):
            return False
        with self._transaction() as connection:
            # Explicit, as well as ON DELETE CASCADE: a SQLite connection opened
            # by another tool may not enforce foreign keys.
            connection.execute(sa.delete(self._keys).where(self._keys.c.userid == userid))
            result = connection.execute(sa.delete(self._accounts).where(self._accounts.c.userid == userid))
        if result.rowcount > 0:
            self._changed(userid)
            return True
        return False

    def list(self) -> list[Account]:
        with self._transaction() as connection:
            rows = connection.execute(sa.select(*self._account_columns())).all()
        # Sorted here, by code point: ORDER BY would follow the database
        # collation, which differs between SQLite and PostgreSQL locales.
        return sorted((self._account(row) for row in rows), key=lambda account: account.userid)

    def authenticate(self, userid: str, password: str) -> Account | None:
        row = None
        if _is_userid(userid):
            with self._transaction() as connection:
                row = connection.execute(
                    sa.select(*self._account_columns(), self._accounts.c.password_hash).where(
                        self._accounts.c.userid == userid
                    )
                ).one_or_none()
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
        return self._account(row)

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

    # -- keys ---------------------------------------------------------------

    def add_key(self, userid: str, key_id: str, kind: str, material: bytes) -> AccountKey:
        if kind not in KEY_KINDS:
            raise ValueError(f"key kind must be one of {', '.join(KEY_KINDS)}, got {kind!r}")
        if not _is_key_id(key_id):
            raise ValueError(f"a key id is 1 to {MAX_KEY_ID_LENGTH} characters, without NUL")
        if not isinstance(material, (bytes, bytearray, memoryview)):
            raise TypeError("key material must be bytes")
        material = bytes(material)
        if not material:
            raise ValueError("key material must not be empty")
        if not _is_userid(userid):
            raise AccountNotFound(userid)
        now = _now()
        try:
            with self._transaction() as connection:
                exists = connection.execute(
                    sa.select(self._accounts.c.userid).where(self._accounts.c.userid == userid)
                ).one_or_none()
                if exists is None:
                    raise AccountNotFound(userid)
                connection.execute(
                    sa.insert(self._keys).values(
                        key_id=key_id, userid=userid, kind=kind, material=material, created_at=now
                    )
                )
        except sa_exc.IntegrityError:
            # Either the key id is taken or the account went away after our
            # check (foreign key). Ask again, outside the failed transaction.
            if self.get_key(key_id) is not None:
                raise KeyExists(f"key {key_id!r} already exists") from None
            raise AccountNotFound(userid) from None
        return AccountKey(key_id=key_id, userid=userid, kind=kind, material=material, created_at=now)

    def get_key(self, key_id: str) -> AccountKey | None:
        if not _is_key_id(key_id):
            return None
        with self._transaction() as connection:
            row = connection.execute(sa.select(self._keys).where(self._keys.c.key_id == key_id)).one_or_none()
        return None if row is None else self._key(row)

    def list_keys(self, userid: str) -> list[AccountKey]:
        if not _is_userid(userid):
            return []
        with self._transaction() as connection:
            rows = connection.execute(sa.select(self._keys).where(self._keys.c.userid == userid)).all()
        # By code point, for the same reason as list().
        return sorted((self._key(row) for row in rows), key=lambda key: key.key_id)

    def remove_key(self, key_id: str) -> bool:
        if not _is_key_id(key_id):
            return False
        with self._transaction() as connection:
            result = connection.execute(sa.delete(self._keys).where(self._keys.c.key_id == key_id))
        return result.rowcount > 0

    # -- schema (interim: replaced by the numbered migrations) ---------------

    def count(self, *, tenant: str | None = None, role: str | None = None, query: str | None = None) -> int:
        if role is not None or query is not None:
            raise NotImplementedError("role and query filters come with schema version 2")
        statement = sa.select(sa.func.count()).select_from(self._accounts)
        if tenant is not None:
            statement = statement.where(self._accounts.c.tenant == tenant)
        with self._transaction() as connection:
            return int(connection.execute(statement).scalar_one())

    def schema_version(self) -> int:
        with self._transaction() as connection:
            return int(connection.execute(sa.select(sa.func.max(self._schema.c.version))).scalar_one() or 0)

    def migrate(self) -> list[str]:
        self._ensure_schema()
        return []

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

