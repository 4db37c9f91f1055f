"""Fixtures for the real services (Redis, PostgreSQL) every machine runs.

Tests that need a service take the ``redis_url`` or ``postgres_url`` fixture.
Where the server cannot be reached the test is skipped with the reason, unless
``AUTHSUITE_REQUIRE_SERVICES=1`` (set by ``.ci/run``): then it fails.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

import pytest

REDIS_URL = os.environ.get("AUTHSUITE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
POSTGRES_URL = os.environ.get("AUTHSUITE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_SERVICES = os.environ.get("AUTHSUITE_REQUIRE_SERVICES") == "1"


def _unavailable(service: str, url: str, error: Exception) -> None:
    message = f"{service} at {url} is not reachable ({error.__class__.__name__}: {error})"
    if REQUIRE_SERVICES:
        pytest.fail(message + "; AUTHSUITE_REQUIRE_SERVICES=1 makes this a failure")
    pytest.skip(message)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The test Redis URL (a dedicated DB), checked to answer PING."""
    import redis

    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
        client.ping()
        client.close()
    except Exception as error:  # any failure to reach it is a skip (or a CI failure)
        _unavailable("Redis", REDIS_URL, error)
    return REDIS_URL


@pytest.fixture
def redis_client(redis_url):
    """A raw client on the test DB, flushed before and after the test (that DB only)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The test PostgreSQL URL, checked to accept a connection."""
    import sqlalchemy

    try:
        from pyramid_authsuite.accounts.sql import normalize_database_url

        engine = sqlalchemy.create_engine(normalize_database_url(POSTGRES_URL))
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT 1"))
        engine.dispose()
    except Exception as error:
        _unavailable("PostgreSQL", POSTGRES_URL, error)
    return POSTGRES_URL


ACCOUNT_TABLES = (
    "authsuite_account_keys", "authsuite_account_roles", "authsuite_accounts", "authsuite_secrets", "authsuite_schema",
)


def drop_account_tables(url: str) -> None:
    """Drop the account store's tables (in the schema the URL's search_path names)."""
    import sqlalchemy

    from pyramid_authsuite.accounts.sql import normalize_database_url

    engine = sqlalchemy.create_engine(normalize_database_url(url))
    with engine.begin() as connection:
        for table in ACCOUNT_TABLES:
            connection.execute(sqlalchemy.text(f"DROP TABLE IF EXISTS {table} CASCADE"))
    engine.dispose()


@pytest.fixture(scope="module")
def postgres_schema_url(postgres_url):
    """``postgres_url`` with a private schema first on the search path.

    Test modules (and developers running the suite at the same time) each get
    their own schema, so one dropping its tables never pulls them from under
    another. The schema is dropped at the end of the module.
    """
    import uuid

    import sqlalchemy

    from pyramid_authsuite.accounts.sql import normalize_database_url

    schema = f"authsuite_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = sqlalchemy.create_engine(normalize_database_url(postgres_url))
    with admin.begin() as connection:
        connection.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in postgres_url else "?"
    yield f"{postgres_url}{separator}options=-csearch_path%3D{schema}"
    with admin.begin() as connection:
        connection.execute(sqlalchemy.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def clean_postgres_url(postgres_schema_url):
    """A private-schema URL whose account tables are dropped before and after the test."""
    drop_account_tables(postgres_schema_url)
    yield postgres_schema_url
    drop_account_tables(postgres_schema_url)


@pytest.fixture(params=["memory-sqlite", "redis-postgresql"])
def backends(request, tmp_path):
    """Settings for each backend pair a test must pass on: memory + SQLite (the
    defaults) and Redis + PostgreSQL (production), each clean."""
    if request.param == "memory-sqlite":
        return {"authsuite.cache_url": "memory://", "authsuite.accounts_url": f"sqlite:///{tmp_path}/a.sqlite"}
    request.getfixturevalue("redis_client")
    return {
        "authsuite.cache_url": request.getfixturevalue("redis_url"),
        "authsuite.accounts_url": request.getfixturevalue("clean_postgres_url"),
    }


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ThrowawayRedis:
    """A private redis-server on a free port, started and stopped by pid.

    Used by the fail-closed tests, which must never stop the shared server.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            _unavailable("redis-server binary", "PATH", FileNotFoundError("redis-server"))
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("throwaway redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def throwaway_redis():
    """A running private redis-server; stopped (by pid) at the end of the test."""
    server = ThrowawayRedis()
    server.start()
    yield server
    server.stop()
