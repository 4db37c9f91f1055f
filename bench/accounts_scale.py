"""Account store at scale: ``python -m bench.accounts_scale [--quick] [--small N] [--large N]``.

Two throwaway PostgreSQL databases on the local server, one holding
``--small`` accounts (default 1,000), one holding ``--large`` (default
1,000,000), each created by the store's own ``migrate()`` and then filled in
bulk with ``INSERT ... SELECT generate_series`` (accounts, their roles, a few
tenants), then ``ANALYZE``d. The same operations run through the real
``SQLAccountStore`` against both, alternating between them so a machine that
slows down mid-run slows both sides: a page of 50 at several depths, pages
filtered by tenant, by role and by a prefix query, and the Basic login lookup
(``authenticate`` with a cheap hasher, and the bare ``get``). Each is timed
call by call; the table shows the median and the 99th percentile in µs at
both sizes, their ratios, and PASS when both ratios are within the goal
(every figure at the large size within 2x of the small one: keyset paging and
indexes, not scans). The databases are dropped at the end.

``AUTHSUITE_TEST_POSTGRES_URL`` names the server (default
``postgresql://postgres@127.0.0.1:5432/test``); its user must be allowed to
create databases.
"""
from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

POSTGRES_URL = os.environ.get("AUTHSUITE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
PASSWORD = "correct horse battery"
PAGE = 50
GOAL_RATIO = 2.0
# Accounts are spread over this many tenants, and every ROLE_EVERY-th holds
# the role "staff": a filtered page is a full page of 50 at both sizes, so
# the two sides do the same work and only the table size differs.
TENANTS = 10
ROLE_EVERY = 10
# "user-00001" matches user-0000100 .. user-0000199 at any size of 200 or
# more: 100 matches on both sides.
QUERY = "user-00001"
# Userids for the login lookups, spread over the whole table.
LOOKUPS = 200


def userid(number: int) -> str:
    """The userid of account ``number`` (1-based), as the bulk load writes it."""
    return f"user-{number:07d}"


# -- the throwaway databases ------------------------------------------------------


@dataclass
class Database:
    """One throwaway database holding ``size`` accounts, and a store on it."""

    size: int
    name: str
    url: str
    store: Any = None
    load_seconds: float = 0.0


def _admin_engine(url: str) -> Any:
    import sqlalchemy

    from pyramid_authsuite.accounts.engine import normalize_database_url

    # CREATE/DROP DATABASE cannot run inside a transaction.
    return sqlalchemy.create_engine(normalize_database_url(url), isolation_level="AUTOCOMMIT")


def create_database(server_url: str, size: int) -> Database:
    """An empty database named after the size, on the server of ``server_url``."""
    from sqlalchemy.engine import make_url

    name = f"authsuite_bench_{size}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    engine = _admin_engine(server_url)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        engine.dispose()
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    return Database(size, name, url)


def drop_database(server_url: str, database: Database) -> None:
    """Close the store and drop its database (``WITH (FORCE)``: no stray session keeps it)."""
    if database.store is not None:
        database.store.close()
    engine = _admin_engine(server_url)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database.name}" WITH (FORCE)')
    finally:
        engine.dispose()


def cheap_store(url: str) -> Any:
    """A ``SQLAccountStore`` with the cheapest Argon2 parameters, so ``authenticate`` shows the lookup."""
    from pyramid_authsuite.accounts.passwords import PasswordHasher
    from pyramid_authsuite.accounts.sql import SQLAccountStore

    return SQLAccountStore(url, PasswordHasher(time_cost=1, memory_cost=8), timeout_seconds=60)


def fill(database: Database) -> None:
    """Let the store create its schema, then load ``size`` accounts in bulk and ANALYZE."""
    store = database.store = cheap_store(database.url)
    store.migrate()
    started = time.perf_counter()
    password_hash = store.hasher.hash(PASSWORD)
    with store.engine.begin() as connection:
        for statement in load_statements():
            connection.exec_driver_sql(statement, {"size": database.size, "hash": password_hash,
                                                   "tenants": TENANTS, "every": ROLE_EVERY})
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("ANALYZE")
    database.load_seconds = time.perf_counter() - started


def load_statements() -> list[str]:
    """The bulk load, in SQL, for the schema ``migrate()`` created (version 2).

    Account ``i`` (1..size) is ``user-<i, 7 digits>``, in tenant
    ``tenant-<i mod TENANTS>``, email ``user<i>@mail.example`` on even ``i``,
    display name ``User <i>``, role ``user``, and also ``staff`` when ``i`` is
    a multiple of ROLE_EVERY; every account has the same (cheap) password.
    """
    return [
        """
        INSERT INTO authsuite_accounts
            (userid, password_hash, tenant, email, display_name, disabled, custom_claims,
             version, created_at, updated_at)
        SELECT 'user-' || lpad(i::text, 7, '0'), %(hash)s, 'tenant-' || (i %% %(tenants)s::int),
               CASE WHEN i %% 2 = 0 THEN 'user' || i || '@mail.example' END, 'User ' || i, false, '{}',
               1, now(), now()
        FROM generate_series(1, %(size)s::int) AS i
        """,
        """
        INSERT INTO authsuite_account_roles (userid, role)
        SELECT 'user-' || lpad(i::text, 7, '0'), 'user' FROM generate_series(1, %(size)s::int) AS i
        UNION ALL
        SELECT 'user-' || lpad(i::text, 7, '0'), 'staff' FROM generate_series(%(every)s::int, %(size)s::int, %(every)s::int) AS i
        """,
    ]


# -- what is timed ----------------------------------------------------------------


@dataclass
class Operation:
    """One row of the table: ``call(store, size)`` is one timed call."""

    name: str
    call: Callable[[Any, int], Any]
    check: Callable[[Any], bool] = lambda result: True
    samples: dict[int, list[float]] = field(default_factory=dict)


def _full_page(result: Any) -> bool:
    accounts, _ = result
    return len(accounts) == PAGE


def _cycle(values: list[str]) -> Callable[[], str]:
    position = [0]

    def next_value() -> str:
        position[0] = (position[0] + 1) % len(values)
        return values[position[0]]

    return next_value


def operations(sizes: list[int]) -> list[Operation]:
    """The rows, in table order."""
    lookups = {size: _cycle([userid(1 + (size - 1) * n // (LOOKUPS - 1)) for n in range(LOOKUPS)]) for size in sizes}
    return [
        Operation("page of 50: first", lambda store, size: store.list(PAGE), _full_page),
        Operation("page of 50: middle (after)", lambda store, size: store.list(PAGE, userid(size // 2)), _full_page),
        Operation("page of 50: near the end (after)",
                  lambda store, size: store.list(PAGE, userid(size - PAGE - 10)), _full_page),
        Operation("tenant page: first", lambda store, size: store.list(PAGE, tenant="tenant-3"), _full_page),
        Operation("tenant page: middle (after)",
                  lambda store, size: store.list(PAGE, userid(size // 3), tenant="tenant-3"), _full_page),
        Operation("role page: first", lambda store, size: store.list(PAGE, role="staff"), _full_page),
        Operation("role page: middle (after)",
                  lambda store, size: store.list(PAGE, userid(size // 3), role="staff"), _full_page),
        Operation("prefix query page (q=user-00001)", lambda store, size: store.list(PAGE, query=QUERY), _full_page),
        Operation("Basic login: authenticate (cheap hash)",
                  lambda store, size: store.authenticate(lookups[size](), PASSWORD), lambda account: account is not None),
        Operation("Basic login: get (the row lookup)",
                  lambda store, size: store.get(lookups[size]()), lambda account: account is not None),
    ]


def time_calls(operation: Operation, database: Database, count: int) -> None:
    """``count`` timed calls (µs each) of ``operation`` on ``database``, added to its samples."""
    samples = operation.samples.setdefault(database.size, [])
    call, store, size = operation.call, database.store, database.size
    result = call(store, size)
    if not operation.check(result):
        raise RuntimeError(f"{operation.name} at {size}: unexpected result {result!r}")
    gc.collect()
    gc.disable()  # a collection in the middle of one call would be its p99
    try:
        for _ in range(count):
            start = time.perf_counter_ns()
            call(store, size)
            samples.append((time.perf_counter_ns() - start) / 1000)
    finally:
        gc.enable()


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` 0.99 is p99)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


# -- the report ---------------------------------------------------------------------


def _size_label(size: int) -> str:
    for unit, divisor in (("M", 1_000_000), ("k", 1_000)):
        if size >= divisor and size % divisor == 0:
            return f"{size // divisor}{unit}"
    return str(size)


def report(rows: list[Operation], small: int, large: int) -> tuple[str, bool]:
    """The table, and whether every row passed."""
    s, l = _size_label(small), _size_label(large)
    header = (f"{'operation':42} {s + ' median':>11} {s + ' p99':>9} {l + ' median':>11} {l + ' p99':>9}"
              f" {'x median':>9} {'x p99':>7}  goal")
    lines = [header, "-" * len(header)]
    passed = True
    for row in rows:
        small_samples, large_samples = row.samples[small], row.samples[large]
        figures = [statistics.median(small_samples), percentile(small_samples, 0.99),
                   statistics.median(large_samples), percentile(large_samples, 0.99)]
        ratio_median, ratio_p99 = figures[2] / figures[0], figures[3] / figures[1]
        verdict = ratio_median <= GOAL_RATIO and ratio_p99 <= GOAL_RATIO
        passed = passed and verdict
        lines.append(
            f"{row.name:42} {figures[0]:11.0f} {figures[1]:9.0f} {figures[2]:11.0f} {figures[3]:9.0f}"
            f" {ratio_median:9.2f} {ratio_p99:7.2f}  {'PASS' if verdict else 'FAIL'}"
        )
    lines.append(f"(µs per call; x = {l} / {s}; goal: both ratios <= {GOAL_RATIO:g}; "
                 f"{len(rows[0].samples[small])} calls per figure)")
    return "\n".join(lines), passed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1_000, help="accounts in the small database (default 1,000)")
    parser.add_argument("--large", type=int, default=1_000_000, help="accounts in the large one (default 1,000,000)")
    parser.add_argument("--calls", type=int, default=400, help="timed calls per operation, size and round (default 400)")
    parser.add_argument("--rounds", type=int, default=5, help="alternations between the two databases (default 5)")
    parser.add_argument("--quick", action="store_true", help="few calls (a smoke run, not for figures)")
    parser.add_argument("--url", default=POSTGRES_URL, help="the PostgreSQL server (default $AUTHSUITE_TEST_POSTGRES_URL)")
    args = parser.parse_args(argv)
    if not 200 <= args.small < args.large:
        parser.error("--small must be at least 200 and less than --large")
    calls, rounds = (20, 2) if args.quick else (args.calls, args.rounds)

    databases: list[Database] = []
    try:
        for size in (args.small, args.large):
            database = create_database(args.url, size)
            databases.append(database)
            fill(database)
            print(f"loaded {size:,} accounts into {database.name} in {database.load_seconds:.1f} s", flush=True)
        rows = operations([args.small, args.large])
        for _ in range(rounds):
            for row in rows:
                for database in databases:
                    time_calls(row, database, calls)
        table, passed = report(rows, args.small, args.large)
        print(table)
        print(f"goal (every figure at {_size_label(args.large)} within {GOAL_RATIO:g}x of "
              f"{_size_label(args.small)}): {'met' if passed else 'NOT met'}")
    finally:
        for database in databases:
            drop_database(args.url, database)
    return 0


if __name__ == "__main__":
    sys.exit(main())
