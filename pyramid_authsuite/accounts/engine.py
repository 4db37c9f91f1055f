"""The SQLAlchemy engine behind :class:`~pyramid_authsuite.accounts.sql.SQLAccountStore`.

Everything that differs between SQLite and PostgreSQL is settled here, when the
engine is made: the driver, the pool, foreign keys, and the time limits.

Time limits, PostgreSQL (``timeout`` is ``authsuite.accounts_timeout_seconds``):

- connecting: libpq ``connect_timeout`` (``authsuite.accounts_connect_timeout_seconds``),
  which also bounds the wait for a pooled connection;
- a slow server: ``statement_timeout`` = ``timeout``, sent as a startup option,
  so the server itself stops working on a statement nobody waits for any more;
- a peer that has gone away: TCP keepalives on idle pooled connections and
  ``tcp_user_timeout`` on unacknowledged data, both about ``timeout``;
- a peer that acknowledges and never answers: the client-side deadline of
  :mod:`~pyramid_authsuite.accounts.deadlines`, which shuts the socket down.

A parameter already given in the URL's query string is left as it is.

SQLite: the busy timeout (how long a call waits for another connection's
write lock) is ``timeout``.
"""
from __future__ import annotations

import threading
from math import ceil
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Engine
from sqlalchemy.pool import StaticPool

from pyramid_authsuite.accounts import MissingDatabaseDriver
from pyramid_authsuite.accounts.deadlines import Deadline, watchdog

__all__ = ["POSTGRESQL_EXTRA", "is_memory_sqlite", "make_engine", "normalize_database_url"]

_POSTGRES_SCHEMES = ("postgresql", "postgres")

#: What to install for PostgreSQL support.
POSTGRESQL_EXTRA = 'pip install "pyramid_authsuite[postgresql]"'

# Keys in a pooled connection's ``info``: not used yet (no need to ping it),
# and the deadline it is attached to while checked out.
_FRESH = "authsuite_fresh"
_DEADLINE = "authsuite_deadline"


def normalize_database_url(url: str) -> str:
    """Name the psycopg 3 driver in a bare PostgreSQL URL.

    ``postgresql://`` and ``postgres://`` (the Heroku/libpq spelling) become
    ``postgresql+psycopg://``, because SQLAlchemy would otherwise pick psycopg2,
    which this package does not depend on. URLs that already name a driver,
    SQLite URLs and anything else are returned unchanged.
    """
    scheme, separator, rest = url.partition("://")
    if separator and scheme.lower() in _POSTGRES_SCHEMES:
        return f"postgresql+psycopg://{rest}"
    return url


def is_memory_sqlite(url: URL) -> bool:
    """Whether ``url`` names an in-memory SQLite database."""
    return url.get_backend_name() == "sqlite" and (
        not url.database or url.database == ":memory:" or url.query.get("mode") == "memory"
    )


def postgresql_connect_args(url: URL, connect_timeout: float, timeout: float) -> dict[str, Any]:
    """libpq parameters bounding connecting, statements and dead peers (see the module docstring)."""
    query = url.query
    wanted: dict[str, Any] = {
        "connect_timeout": max(1, ceil(connect_timeout)),  # whole seconds in libpq
        "keepalives": 1,
        # An idle pooled connection to a vanished peer is found dead after
        # about 2 x timeout instead of the kernel's two hours.
        "keepalives_idle": max(1, ceil(timeout)),
        "keepalives_interval": max(1, ceil(timeout / 3)),
        "keepalives_count": 3,
        # Data left unacknowledged this long closes the connection (Linux).
        "tcp_user_timeout": max(1, ceil(timeout * 1000)),
    }
    args = {name: value for name, value in wanted.items() if name not in query}
    options = query.get("options", "")
    if isinstance(options, tuple):  # given twice: libpq would take the last
        options = options[-1]
    if "statement_timeout" not in options:
        # Merged into the URL's own options (a search_path, say), which a
        # connect_args entry would otherwise replace.
        args["options"] = f"{options} -c statement_timeout={max(1, ceil(timeout * 1000))}".strip()
    return args


def make_engine(url: URL, *, connect_timeout: float, timeout: float, local: threading.local) -> Engine:
    """The engine for ``url``.

    ``local.deadline`` is the :class:`~pyramid_authsuite.accounts.deadlines.Deadline`
    of the store call running on this thread, or ``None``; the connections the
    pool hands that call are attached to it. Raises :class:`MissingDatabaseDriver`
    when the database's driver cannot be imported.
    """
    # Parameters never go into exception messages or logs: they include
    # password hashes.
    options: dict = {"hide_parameters": True}
    connect_args: dict = {}
    backend = url.get_backend_name()
    if backend == "sqlite":
        connect_args["check_same_thread"] = False
        if is_memory_sqlite(url):
            options["poolclass"] = StaticPool
        elif "timeout" not in url.query:
            connect_args["timeout"] = float(timeout)
    elif backend == "postgresql":
        connect_args.update(postgresql_connect_args(url, connect_timeout, timeout))
        options["pool_timeout"] = connect_timeout
        # No pool_pre_ping: SQLAlchemy pings before any checkout listener runs,
        # that is before the connection could be attached to the call's
        # deadline, and a ping to a silent peer would wait for ever. The
        # checkout listener below pings instead, under the deadline.
    try:
        engine = sa.create_engine(url, connect_args=connect_args, **options)
    except ImportError as error:
        raise _missing_driver(backend, error) from None
    if backend == "sqlite":
        # SQLite enforces foreign keys (and ON DELETE CASCADE) only when asked, per connection.
        event.listen(engine, "connect", _enable_sqlite_foreign_keys)
    elif backend == "postgresql":
        _watch_connections(engine, local)
    return engine


def _missing_driver(backend: str, error: ImportError) -> MissingDatabaseDriver:
    if backend == "postgresql":
        return MissingDatabaseDriver(
            f"PostgreSQL needs the psycopg driver, which cannot be imported ({error}): {POSTGRESQL_EXTRA}"
        )
    return MissingDatabaseDriver(f"the {backend} driver cannot be imported: {error}")


def _watch_connections(engine: Engine, local: threading.local) -> None:
    """Attach each connection the pool hands out to the current call's deadline; ping reused ones."""
    dialect = engine.dialect

    def current() -> Deadline | None:
        return getattr(local, "deadline", None)

    def on_connect(dbapi_connection, record) -> None:
        record.info[_FRESH] = True
        deadline = current()
        if deadline is not None:
            # Before SQLAlchemy's own first queries on the new connection.
            # Not refused here when late: the checkout below does that, and
            # the pool then closes the connection properly.
            record.info[_DEADLINE] = deadline
            watchdog.attach(deadline, dbapi_connection, refuse_late=False)

    def on_checkout(dbapi_connection, record, proxy) -> None:
        deadline = current()
        if deadline is not None:
            record.info[_DEADLINE] = deadline
            watchdog.attach(deadline, dbapi_connection)
        if record.info.pop(_FRESH, False):
            return
        # A server restart leaves dead connections in the pool: test this one
        # before the call uses it.
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if deadline is not None and deadline.expired:
                raise  # the call is over; the pool discards this connection
            if dialect.is_disconnect(error, dbapi_connection, None):
                # The pool discards this connection and checks out a new one.
                raise sa_exc.DisconnectionError("pooled connection failed its ping") from None
            raise

    def on_checkin(dbapi_connection, record) -> None:
        # The deadline recorded at checkout, not this thread's: a connection
        # may be returned by another thread (a garbage-collected proxy).
        deadline = record.info.pop(_DEADLINE, None)
        if deadline is not None:
            watchdog.detach(deadline)

    # insert=True: ahead of the dialect's own connect listener, whose first
    # queries (server version and so on) should be under the deadline too.
    event.listen(engine, "connect", on_connect, insert=True)
    event.listen(engine, "checkout", on_checkout)
    event.listen(engine, "checkin", on_checkin)


def _enable_sqlite_foreign_keys(dbapi_connection, connection_record) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()
