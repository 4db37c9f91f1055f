"""Every account-store call has a deadline (issue 10, defect 1).

A PostgreSQL that stops answering must not hold a request, a worker thread or
a pooled connection for longer than ``authsuite.accounts_timeout_seconds``:
past it the call raises AccountStoreUnavailable (503 + Retry-After through the
app), the connection is discarded, and the same store works again once the
server answers. Tried against the real server behind a proxy that falls silent
(a peer that acknowledges and never answers), and against a throwaway cluster
whose backend, or whole set of processes, is stopped with SIGSTOP.

Durations are only hang guards (:func:`tests.servers.call_bounded`): a call
that hangs fails the test instead of hanging the suite.
"""
from __future__ import annotations

import os
import signal
import socket
import sqlite3
import threading
import time

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url

from pyramid_authsuite.accounts import AccountStoreUnavailable
from pyramid_authsuite.accounts.deadlines import DeadlineExceeded, Watchdog
from pyramid_authsuite.accounts.sql import SQLAccountStore, normalize_database_url
from tests.accounts.contract import PASSWORD, THREADS, cheap_hasher
from tests.apps import basic, make_demo, registry
from tests.servers import SilentProxy, ThrowawayPostgres, call_bounded

# The store's deadline in these tests; the guards are many times longer.
TIMEOUT = 0.5
GUARD = 30


def through(proxy: SilentProxy, url: str) -> str:
    """``url`` with the proxy's address in place of the server's."""
    return make_url(normalize_database_url(url)).set(host="127.0.0.1", port=proxy.port).render_as_string(
        hide_password=False
    )


def count_invalidations(store: SQLAccountStore) -> list:
    """A list that grows by one each time the store's pool discards a connection."""
    seen: list = []
    event.listen(store.engine, "invalidate", lambda dbapi_connection, record, error: seen.append(error))
    return seen


def assert_times_out(call) -> AccountStoreUnavailable:
    with pytest.raises(AccountStoreUnavailable) as raised:
        call_bounded(call, GUARD)
    return raised.value


def backend_pid(store: SQLAccountStore) -> int:
    with store.engine.connect() as connection:
        return connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()


@pytest.fixture
def proxy(postgres_url):
    upstream = make_url(normalize_database_url(postgres_url))
    if not upstream.host or upstream.host.startswith("/"):
        pytest.skip("the proxy tests need a TCP PostgreSQL URL")
    proxy = SilentProxy((upstream.host, upstream.port or 5432))
    yield proxy
    proxy.close()


@pytest.fixture
def proxied_store(proxy, clean_postgres_url):
    store = SQLAccountStore(
        through(proxy, clean_postgres_url), cheap_hasher(), timeout_seconds=TIMEOUT, connect_timeout_seconds=1
    )
    yield store
    proxy.resume()
    store.close()


CALLS = {
    "authenticate": lambda store: store.authenticate("alice", PASSWORD),
    "get": lambda store: store.get("alice"),
    "update": lambda store: store.update("alice", email="new@example.org"),
    "list": lambda store: store.list(),
    "add_key": lambda store: store.add_key("alice", "k1", "hmac", b"secret"),
}


@pytest.mark.postgresql
@pytest.mark.parametrize("name", CALLS)
def test_silent_peer_after_pooling(proxied_store, proxy, name):
    store = proxied_store
    store.create("alice", PASSWORD)  # one connection, now pooled
    discarded = count_invalidations(store)
    proxy.silence()
    error = assert_times_out(lambda: CALLS[name](store))
    assert f"no answer within {TIMEOUT:g} s" in str(error)
    assert PASSWORD not in str(error)
    assert len(discarded) == 1  # the silent connection is not given to the next call
    assert store.engine.pool.checkedout() == 0  # nor held by the thread that gave up
    proxy.resume()
    assert call_bounded(lambda: store.authenticate("alice", PASSWORD), GUARD).userid == "alice"
    assert call_bounded(lambda: CALLS[name](store), GUARD) is not None


@pytest.mark.postgresql
def test_silent_peer_before_pooling(proxy, clean_postgres_url):
    proxy.silence()
    store = SQLAccountStore(through(proxy, clean_postgres_url), cheap_hasher(), timeout_seconds=TIMEOUT,
                            connect_timeout_seconds=1)
    try:
        assert_times_out(lambda: store.get("alice"))  # connecting: bounded by connect_timeout
        assert proxy.accepted() >= 1  # it did reach the silent peer
        proxy.resume()
        assert call_bounded(lambda: store.create("alice", PASSWORD), GUARD).userid == "alice"
        assert store.authenticate("alice", PASSWORD).userid == "alice"
    finally:
        store.close()


@pytest.mark.postgresql
def test_waiting_for_another_thread_to_create_the_tables_is_bounded(proxy, clean_postgres_url):
    proxy.silence()
    # The first call connects through the silent proxy and stays there (a
    # long connect timeout) until the proxy resumes, holding the schema lock.
    store = SQLAccountStore(through(proxy, clean_postgres_url), cheap_hasher(), timeout_seconds=TIMEOUT,
                            connect_timeout_seconds=300)
    first: list = []

    def first_call():
        try:
            first.append(store.get("alice"))
        except AccountStoreUnavailable as error:
            first.append(error)

    creator = threading.Thread(target=first_call, daemon=True)
    creator.start()
    try:
        call_bounded(lambda: _wait_until(lambda: proxy.accepted() == 1), GUARD)
        error = assert_times_out(lambda: store.get("alice"))
        assert "waiting for another thread to create the tables" in str(error)
    finally:
        proxy.resume()
        creator.join(GUARD)
        store.close()
    assert not creator.is_alive() and len(first) == 1


@pytest.mark.postgresql
def test_threads_blocked_on_a_silent_peer_are_all_freed(proxied_store, proxy):
    store = proxied_store
    store.create("alice", PASSWORD)
    proxy.silence()
    outcomes: list = []
    lock = threading.Lock()

    def login():
        try:
            result = store.authenticate("alice", PASSWORD)
        except AccountStoreUnavailable as error:
            result = error
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=login, daemon=True) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(GUARD)
    assert not any(thread.is_alive() for thread in threads), "threads still blocked in the driver"
    assert len(outcomes) == THREADS
    assert all(isinstance(outcome, AccountStoreUnavailable) for outcome in outcomes), outcomes
    assert store.engine.pool.checkedout() == 0
    proxy.resume()
    assert all(
        call_bounded(lambda: store.authenticate("alice", PASSWORD), GUARD).userid == "alice" for _ in range(THREADS)
    )


@pytest.mark.postgresql
def test_basic_login_on_a_silent_store_is_a_503_with_retry_after(proxy, clean_postgres_url):
    app = make_demo({
        "authsuite.cache_url": "memory://",
        "authsuite.accounts_url": through(proxy, clean_postgres_url),
        "authsuite.accounts_timeout_seconds": str(TIMEOUT),
        "authsuite.accounts_connect_timeout_seconds": "1",
        "authsuite.retry_after_seconds": "7",
    })
    store = registry(app).authsuite_accounts
    try:
        assert store.timeout_seconds == TIMEOUT  # the setting reaches the store
        store.create("alice", PASSWORD)
        assert app.get("/whoami", headers=basic("alice", PASSWORD)).json["userid"] == "alice"
        proxy.silence()
        response = call_bounded(lambda: app.get("/whoami", headers=basic("alice", PASSWORD), status=503), GUARD)
        assert response.headers["Retry-After"] == "7"
        assert response.content_type == "application/problem+json"
        assert response.json["status"] == 503
        assert PASSWORD not in response.text
        proxy.resume()
        assert call_bounded(lambda: app.get("/whoami", headers=basic("alice", PASSWORD)), GUARD).json["userid"] == "alice"
    finally:
        proxy.resume()
        store.close()


# -- the watchdog on its own, with socket pairs ---------------------------------


class FakeConnection:
    """What the watchdog needs of a driver connection: its socket's descriptor."""

    def __init__(self, sock: socket.socket):
        self.sock = sock

    def fileno(self) -> int:
        return self.sock.fileno()


def test_watchdog_shuts_down_only_the_connections_of_late_calls():
    dog = Watchdog()
    finished_ours, finished_peer = socket.socketpair()
    late_ours, late_peer = socket.socketpair()
    try:
        finished = dog.arm(0.05)
        dog.attach(finished, FakeConnection(finished_ours))
        dog.disarm(finished)  # this call ended in time
        late = dog.arm(0.1)  # expires after the first one's deadline
        dog.attach(late, FakeConnection(late_ours))
        late_peer.settimeout(GUARD)
        assert late_peer.recv(1) == b""  # shut down: the peer sees the end
        assert late.expired and not finished.expired
        # The call that ended in time kept its connection.
        finished_ours.sendall(b"x")
        assert finished_peer.recv(1) == b"x"
        with pytest.raises(DeadlineExceeded):
            dog.attach(late, FakeConnection(late_ours))  # no new connection for a late call
    finally:
        for sock in (finished_ours, finished_peer, late_ours, late_peer):
            sock.close()


def test_watchdog_wakes_for_an_earlier_deadline():
    dog = Watchdog()
    long_ours, long_peer = socket.socketpair()
    short_ours, short_peer = socket.socketpair()
    try:
        slow = dog.arm(600)  # the watchdog now sleeps until this one
        dog.attach(slow, FakeConnection(long_ours))
        call_bounded(lambda: _wait_until(lambda: dog._sleeping_until == slow.expires_at), GUARD)
        quick = dog.arm(0.05)
        dog.attach(quick, FakeConnection(short_ours))
        short_peer.settimeout(GUARD)
        assert short_peer.recv(1) == b""
        assert quick.expired and not slow.expired
        dog.disarm(slow)
        dog.disarm(quick)
    finally:
        for sock in (long_ours, long_peer, short_ours, short_peer):
            sock.close()


def test_watchdog_forgets_finished_calls():
    dog = Watchdog()
    for _ in range(1000):
        dog.disarm(dog.arm(60))
    assert len(dog._heap) == 0  # not one entry per call until its time comes


# -- what reaches the driver and the socket -----------------------------------


@pytest.mark.postgresql
def test_time_limits_reach_the_server_and_the_socket(clean_postgres_url):
    store = SQLAccountStore(clean_postgres_url, cheap_hasher(), timeout_seconds=2.5, connect_timeout_seconds=3)
    try:
        store.create("alice", PASSWORD)
        with store.engine.connect() as connection:
            assert connection.execute(sa.text("SHOW statement_timeout")).scalar_one() == "2500ms"
            # The URL's own options (the private schema's search_path) are kept.
            assert connection.execute(sa.text("SHOW search_path")).scalar_one().startswith("authsuite_test_")
            sock = socket.socket(fileno=connection.connection.dbapi_connection.fileno())
            try:
                assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 2500
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 3
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 1
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 3
            finally:
                sock.detach()  # the descriptor stays psycopg's
    finally:
        store.close()


@pytest.mark.postgresql
def test_time_limits_given_in_the_url_win(clean_postgres_url):
    url = clean_postgres_url.replace("options=", "options=-cstatement_timeout%3D9s%20") + "&tcp_user_timeout=7000"
    store = SQLAccountStore(url, cheap_hasher(), timeout_seconds=1)
    try:
        store.create("alice", PASSWORD)
        with store.engine.connect() as connection:
            assert connection.execute(sa.text("SHOW statement_timeout")).scalar_one() == "9s"
            assert connection.execute(sa.text("SHOW search_path")).scalar_one().startswith("authsuite_test_")
            sock = socket.socket(fileno=connection.connection.dbapi_connection.fileno())
            try:
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 7000
            finally:
                sock.detach()
    finally:
        store.close()


@pytest.mark.postgresql
def test_a_dead_pooled_connection_is_replaced_not_reported(clean_postgres_url):
    """The ping that replaced SQLAlchemy's pre-ping still hides a server-side disconnect."""
    store = SQLAccountStore(clean_postgres_url, cheap_hasher(), timeout_seconds=TIMEOUT)
    admin = sa.create_engine(normalize_database_url(clean_postgres_url))
    try:
        store.create("alice", PASSWORD)
        pid = backend_pid(store)
        with admin.connect() as connection:
            connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        assert store.authenticate("alice", PASSWORD).userid == "alice"
        assert backend_pid(store) != pid
    finally:
        admin.dispose()
        store.close()


def test_sqlite_busy_timeout_is_the_call_deadline(tmp_path):
    path = tmp_path / "locked.sqlite"
    # A connect timeout far beyond the guard: only timeout_seconds can end the wait.
    store = SQLAccountStore(f"sqlite:///{path}", cheap_hasher(), timeout_seconds=0.2, connect_timeout_seconds=300)
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        store.create("alice", PASSWORD)
        holder.execute("BEGIN IMMEDIATE")  # another process holding the write lock
        with pytest.raises(AccountStoreUnavailable) as raised:
            call_bounded(lambda: store.create("bob", PASSWORD), GUARD)
        assert "locked" in str(raised.value)
        holder.execute("ROLLBACK")
        assert store.create("bob", PASSWORD).userid == "bob"
    finally:
        holder.close()
        store.close()


@pytest.mark.parametrize("timeout", [0, -1, "5", True, None, float("inf"), float("nan")])
def test_bad_timeout(timeout):
    with pytest.raises(ValueError):
        SQLAccountStore("sqlite://", cheap_hasher(), timeout_seconds=timeout)


# -- a stopped server: SIGSTOP on a throwaway cluster -----------------------------


@pytest.fixture(scope="module")
def cluster():
    server = ThrowawayPostgres()
    try:
        server.start()
    except Exception:
        server.stop()
        raise
    yield server
    server.stop()


@pytest.fixture
def cluster_store(cluster):
    # A database per test keeps tables and sessions apart.
    name = f"deadlines_{int(time.monotonic() * 1000)}"
    admin = sa.create_engine(normalize_database_url(cluster.url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = cluster.url.rsplit("/", 1)[0] + f"/{name}?application_name=authsuite-deadline-test"
    store = SQLAccountStore(url, cheap_hasher(), timeout_seconds=TIMEOUT, connect_timeout_seconds=1)
    yield store
    cluster.signal_all(signal.SIGCONT)
    store.close()
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def test_stopped_backend(cluster_store, cluster):
    store = cluster_store
    store.create("alice", PASSWORD)
    discarded = count_invalidations(store)
    stopped = backend_pid(store)
    os.kill(stopped, signal.SIGSTOP)
    try:
        error = assert_times_out(lambda: store.authenticate("alice", PASSWORD))
        assert f"no answer within {TIMEOUT:g} s" in str(error)
        assert len(discarded) == 1 and store.engine.pool.checkedout() == 0
        # The thread and the store are free at once: the next call gets a new
        # backend, although the stopped one is still stopped.
        assert call_bounded(lambda: store.authenticate("alice", PASSWORD), GUARD).userid == "alice"
        assert backend_pid(store) != stopped
    finally:
        os.kill(stopped, signal.SIGCONT)
    assert store.get("alice") is not None


def test_stopped_cluster(cluster_store, cluster):
    store = cluster_store
    store.create("alice", PASSWORD)
    cluster.signal_all(signal.SIGSTOP)
    try:
        assert_times_out(lambda: store.authenticate("alice", PASSWORD))  # the pooled connection
        assert_times_out(lambda: store.get("alice"))  # a new connection: the postmaster is stopped too
        assert store.engine.pool.checkedout() == 0
    finally:
        cluster.signal_all(signal.SIGCONT)
    # Same store object, no restart: it works again as soon as the server does.
    assert call_bounded(lambda: store.authenticate("alice", PASSWORD), GUARD).userid == "alice"
    assert call_bounded(lambda: store.update("alice", email="back@example.org"), GUARD).email == "back@example.org"


def test_slow_server_gives_up_too(cluster_store, cluster):
    """statement_timeout: a statement nobody waits for any more does not keep running (here,
    waiting for a lock) on the server after the client-side deadline freed the caller."""
    store = cluster_store
    store.create("alice", PASSWORD)
    url = store.engine.url.set(drivername="postgresql", query={}).render_as_string(hide_password=False)
    with psycopg.connect(url) as holder, psycopg.connect(url, autocommit=True) as monitor:
        holder.execute("LOCK TABLE authsuite_accounts IN ACCESS EXCLUSIVE MODE")
        assert_times_out(lambda: store.update("alice", email="x@example.org"))

        def waiting() -> int:
            return monitor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'authsuite-deadline-test'"
                " AND wait_event_type = 'Lock'"
            ).fetchone()[0]

        # The lock is still held: only the server's own timeout ends that wait.
        call_bounded(lambda: _wait_until(lambda: waiting() == 0), GUARD)
        holder.rollback()
    assert store.get("alice").email is None


def _wait_until(condition) -> None:
    while not condition():
        time.sleep(0.05)
