"""RedisCache: the shared contract against the real server, plus processes and failures.

The wire code on its own (packing, the reply parsers) is tested without a
server in ``test_resp.py``.
"""
from __future__ import annotations

import functools
import logging
import multiprocessing
import socket
import time

import pytest
import redis

# Before the import: detailed assertion messages in the shared contract too.
pytest.register_assert_rewrite("tests.cache.contract")

from pyramid_authsuite.cache import CacheFull, CacheMisconfigured, CacheUnavailable, cache_from_url
from pyramid_authsuite.cache.memory import MemoryCache
from pyramid_authsuite.cache.redis import RedisCache
from tests import servers
from tests.cache.contract import CacheContractTests
from tests.conftest import free_port

pytestmark = pytest.mark.redis

PREFIX = "authsuite-test:"
# How long a test waits for a short TTL to pass, or for an operation on a dead
# server to give up, before calling it a hang. Generous: it is only a guard.
DEADLINE_SECONDS = 10
# tests.servers' hang guard, bounded as above (test_redis_eviction imports it from here).
call_bounded = functools.partial(servers.call_bounded, seconds=DEADLINE_SECONDS)


OPERATIONS = {
    "add": lambda cache: cache.add("key", "value", 60),
    "get": lambda cache: cache.get("key"),
    "set": lambda cache: cache.set("key", "value", 60),
    "delete": lambda cache: cache.delete("key"),
    "pop": lambda cache: cache.pop("key"),
    "touch": lambda cache: cache.touch("key", 60),
    "incr": lambda cache: cache.incr("counter", 60),
}
WRITES = [name for name in OPERATIONS if name != "get"]
# Every operation, on both kinds of connection (each thread's own, and the
# client's pool for scripts and sets).
ALL_OPERATIONS = {
    **OPERATIONS,
    "get_and_add": lambda cache: cache.get_and_add("key", "nonce", b"1", 60),
    "add_member": lambda cache: cache.add_member("index", "a", 60),
    "members": lambda cache: cache.members("index"),
    "remove_member": lambda cache: cache.remove_member("index", "a"),
}


def assert_every_operation_is_unavailable(cache, operations=OPERATIONS, error=CacheUnavailable):
    for name in operations:
        with pytest.raises(error) as raised:
            call_bounded(lambda: ALL_OPERATIONS[name](cache))
        # The message names the operation (or the server's configuration);
        # it never carries a value.
        assert name in str(raised.value) or "maxmemory-policy" in str(raised.value)
        assert "value" not in str(raised.value)


def time_out_on_a_silent_server(query: str, operation) -> tuple[CacheUnavailable, int, float]:
    """Run ``operation(cache)`` against a server that takes connections and never replies.

    The kernel completes the TCP handshake for connections waiting in a
    listener's backlog, so a listener that never accepts is such a server.
    Returns the error raised, how many connections the client opened, and
    how long the operation took (timeout 0.2 s).
    """
    listener = socket.socket()
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        port = listener.getsockname()[1]
        cache = RedisCache(f"redis://127.0.0.1:{port}/0{query}", timeout_seconds=0.2)
        try:
            started = time.monotonic()
            with pytest.raises(CacheUnavailable) as raised:
                call_bounded(lambda: operation(cache))
            seconds = time.monotonic() - started
        finally:
            cache.close()
        # Every connection the client opened is in the backlog by now.
        listener.setblocking(False)
        connections = []
        while True:
            try:
                connections.append(listener.accept()[0])
            except BlockingIOError:
                break
        for connection in connections:
            connection.close()
        return raised.value, len(connections), seconds
    finally:
        listener.close()


class TestRedisCacheContract(CacheContractTests):
    SHORT_TTL = 0.1
    LONG_TTL = 600

    @pytest.fixture
    def make_cache(self, redis_url, redis_client):
        caches = []

        def make_cache(prefix):
            cache = RedisCache(redis_url, prefix=prefix)
            caches.append(cache)
            return cache

        yield make_cache
        for cache in caches:
            cache.close()

    @pytest.fixture
    def cache(self, make_cache):
        return make_cache(PREFIX)

    @pytest.fixture
    def small_cache(self, throwaway_redis):
        cache = RedisCache(throwaway_redis.url, prefix=PREFIX)
        admin = redis.Redis.from_url(throwaway_redis.url)
        # noeviction (Redis's default, said here anyway) and room for a few
        # hundred kilobyte-sized entries above what an empty server uses.
        admin.config_set("maxmemory-policy", "noeviction")
        cache.get("connect")  # the cache's own connection counts too
        admin.config_set("maxmemory", admin.info("memory")["used_memory"] + 512 * 1024)
        self.small_admin = admin
        yield cache
        cache.close()
        admin.close()

    def settle_full(self, cache):
        # Memory used moves a little between commands (client buffers): a
        # small write can still fit after the first refusal. 64 KiB below
        # what is used now, every write that grows the data is refused.
        used = self.small_admin.info("memory")["used_memory"]
        self.small_admin.config_set("maxmemory", used - 64 * 1024)

    @pytest.fixture
    def expire(self):
        def expire(condition):
            deadline = time.monotonic() + DEADLINE_SECONDS
            while not condition():
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.01)
            return True

        return expire


class TestRedisCacheStorage:
    """What lands in Redis: prefixed keys, Redis-side TTLs."""

    @pytest.fixture
    def cache(self, redis_url, redis_client):
        cache = RedisCache(redis_url, prefix=PREFIX)
        yield cache
        cache.close()

    def test_keys_are_stored_under_the_prefix(self, cache, redis_client):
        cache.set("session", "value", 60)
        cache.add("nonce", "value", 60)
        cache.incr("counter", 60)
        assert sorted(redis_client.keys("*")) == [
            b"authsuite-test:counter",
            b"authsuite-test:nonce",
            b"authsuite-test:session",
        ]

    def test_ttl_is_converted_to_milliseconds(self, cache, redis_client):
        cache.set("session", "value", 2.5)
        assert 2000 < redis_client.pttl("authsuite-test:session") <= 2500

    def test_sub_millisecond_ttl_becomes_one_millisecond_not_immortal(self, cache, redis_client):
        cache.set("session", "value", 0.0001)
        # -2: already expired and gone; otherwise at most 1 ms left. Never -1.
        assert redis_client.pttl("authsuite-test:session") in (-2, 0, 1)

    def test_incr_sets_the_ttl_only_on_creation(self, cache, redis_client):
        cache.incr("counter", 30)
        cache.incr("counter", 600)
        assert 0 < redis_client.pttl("authsuite-test:counter") <= 30_000

    def test_touch_replaces_the_ttl(self, cache, redis_client):
        cache.set("session", "value", 30)
        cache.touch("session", 600)
        assert redis_client.pttl("authsuite-test:session") > 30_000

    def test_value_not_written_by_the_cache_raises_value_error(self, cache, redis_client):
        redis_client.set("authsuite-test:foreign", b"?not-ours")
        with pytest.raises(ValueError):
            cache.get("foreign")

    def test_repr_does_not_show_the_url(self, redis_client):
        cache = RedisCache("redis://user:s3cret@127.0.0.1:6379/15", prefix=PREFIX)
        assert "s3cret" not in repr(cache)
        cache.close()

    def test_url_asking_for_decoded_responses_is_refused(self, redis_url):
        with pytest.raises(ValueError):
            RedisCache(redis_url + "?decode_responses=True")

    @pytest.mark.parametrize("timeout", [0, -1, None, True, float("inf")], ids=repr)
    def test_invalid_timeout_raises_value_error(self, redis_url, timeout):
        with pytest.raises(ValueError):
            RedisCache(redis_url, timeout_seconds=timeout)


def _race_add(url, name, keys, barrier, results):
    """One process of the race: add every key, report which ones it won."""
    cache = RedisCache(url, prefix=PREFIX, timeout_seconds=5)
    try:
        barrier.wait(timeout=60)
        won = [key for key in keys if cache.add(key, name, 600)]
        results.put((name, len(keys), won))
    except BaseException as error:  # report instead of dying silently
        results.put((name, -1, repr(error)))
    finally:
        cache.close()


class TestRedisCacheProcesses:
    def test_two_processes_racing_add_win_each_key_exactly_once(self, redis_url, redis_client):
        keys = [f"nonce-{number}" for number in range(200)]
        context = multiprocessing.get_context("spawn")
        barrier = context.Barrier(2)
        results = context.Queue()
        processes = [
            context.Process(target=_race_add, args=(redis_url, name, keys, barrier, results))
            for name in ("first", "second")
        ]
        for process in processes:
            process.start()
        try:
            reports = [results.get(timeout=120) for _ in processes]
        finally:
            for process in processes:
                process.join(timeout=30)
                if process.is_alive():
                    process.kill()
        assert [process.exitcode for process in processes] == [0, 0]
        for name, attempted, won in reports:
            assert attempted == len(keys), f"{name} failed: {won}"
        wins = {name: set(won) for name, _, won in reports}
        assert wins["first"].isdisjoint(wins["second"])
        assert wins["first"] | wins["second"] == set(keys)
        cache = RedisCache(redis_url, prefix=PREFIX)
        try:
            for name, won in wins.items():
                assert all(cache.get(key) == name for key in won)
        finally:
            cache.close()


class TestRedisCacheFailsClosed:
    def test_every_operation_raises_cache_unavailable_once_the_server_stops(self, throwaway_redis):
        cache = RedisCache(throwaway_redis.url, prefix=PREFIX, timeout_seconds=0.5)
        try:
            assert cache.add("key", "value", 60) is True
            assert cache.get("key") == "value"
            assert cache.incr("counter", 60) == 1
            throwaway_redis.stop()
            assert_every_operation_is_unavailable(cache)
        finally:
            cache.close()

    def test_recovers_when_the_server_comes_back(self, throwaway_redis):
        cache = RedisCache(throwaway_redis.url, prefix=PREFIX, timeout_seconds=0.5)
        try:
            cache.set("key", "value", 60)
            throwaway_redis.stop()
            with pytest.raises(CacheUnavailable):
                call_bounded(lambda: cache.get("key"))
            throwaway_redis.start()
            # A new, empty server: the pool reconnects on its own.
            assert call_bounded(lambda: cache.add("key", "again", 60)) is True
            assert cache.get("key") == "again"
        finally:
            cache.close()

    def test_writes_to_a_read_only_replica_raise_cache_unavailable(self, throwaway_redis):
        import redis

        admin = redis.Redis.from_url(throwaway_redis.url)
        cache = RedisCache(throwaway_redis.url, prefix=PREFIX, timeout_seconds=0.5)
        try:
            cache.set("key", "value", 60)
            # A replica of a master that does not exist: it keeps serving
            # its data to reads and refuses every write (READONLY).
            admin.replicaof("127.0.0.1", free_port())
            assert_every_operation_is_unavailable(cache, WRITES)
            assert cache.get("key") == "value"
        finally:
            cache.close()
            admin.close()

    def test_nothing_listening_raises_cache_unavailable(self):
        cache = RedisCache(f"redis://127.0.0.1:{free_port()}/0", timeout_seconds=0.5)
        try:
            assert_every_operation_is_unavailable(cache)
        finally:
            cache.close()

    def test_missing_unix_socket_raises_cache_unavailable(self, tmp_path):
        cache = RedisCache(f"unix://{tmp_path}/no-redis.sock?db=0", timeout_seconds=0.5)
        try:
            assert_every_operation_is_unavailable(cache)
        finally:
            cache.close()

    def test_tls_to_a_plain_server_raises_cache_unavailable(self, throwaway_redis):
        cache = RedisCache(f"rediss://127.0.0.1:{throwaway_redis.port}/0", timeout_seconds=0.5)
        try:
            with pytest.raises(CacheUnavailable):
                call_bounded(lambda: cache.get("key"))
        finally:
            cache.close()

    def test_server_that_never_answers_times_out_without_retrying(self):
        """A silent server costs one connection per operation: a timeout is not retried."""
        error, connections, _ = time_out_on_a_silent_server("", lambda cache: cache.get("key"))
        assert "Timeout" in str(error)
        assert connections == 1


class TestRedisCacheWire:
    """The request path's own RESP packing and reply parsing, on redis-py's connections."""

    @pytest.fixture(params=["resp3", "resp2"])
    def url(self, request, redis_url, redis_client):
        return redis_url if request.param == "resp3" else redis_url + "?protocol=2"

    @pytest.fixture
    def cache(self, url):
        cache = RedisCache(url, prefix=PREFIX)
        yield cache
        cache.close()

    def test_values_larger_than_one_read_round_trip(self, cache):
        big = b"\r\n$-1\r\n" * 30_000  # 240 kB of bytes that look like protocol
        cache.set("big", big, 60)
        assert cache.get("big") == big
        assert cache.get_and_add("big", "nonce", b"1", 60) == (big, True)
        assert cache.get_and_add("big", "nonce", b"1", 60) == (big, False)
        assert cache.get_and_add("missing", "nonce-2", b"1", 60) == (None, True)
        assert cache.pop("big") == big and cache.get("big") is None

    def test_get_many_on_both_protocols(self, cache, redis_client):
        big = b"*2\r\n$-1\r\n_\r\n" * 30_000  # larger than one read, and looks like an MGET reply
        cache.set("big", big, 60)
        cache.set("json", {"at": 1.5}, 60)
        assert cache.get_many(["missing", "other"]) == [None, None]
        assert cache.get_many(["big", "missing", "json"]) == [big, None, {"at": 1.5}]
        assert cache.get_many(["json"]) == [{"at": 1.5}]
        assert cache.get_many([]) == []
        # The connection is still in step afterwards.
        assert cache.get_and_add("json", "nonce", b"1", 60) == ({"at": 1.5}, True)

    def test_get_many_on_a_connection_the_server_closed_is_retried_once(self, cache, redis_client, redis_url):
        cache.set("key", "value", 60)
        db = int(redis_url.split("?")[0].rsplit("/", 1)[1])
        own = redis_client.client_id()
        for client in redis_client.client_list():
            if int(client["db"]) == db and int(client["id"]) != own:
                redis_client.client_kill_filter(_id=client["id"])
        assert cache.get_many(["missing", "key"]) == [None, "value"]

    def test_get_many_of_a_value_not_written_by_the_cache_raises_value_error_as_get_does(self, cache, redis_client):
        redis_client.set(PREFIX + "foreign", b"no type tag")
        with pytest.raises(ValueError):
            cache.get_many(["foreign"])
        assert cache.get_many(["missing"]) == [None]

    def test_non_ascii_keys(self, cache, redis_client):
        cache.set("caf\u00e9", "value", 60)
        assert redis_client.get(PREFIX.encode() + "caf\u00e9".encode("utf-8")) is not None
        assert cache.get("caf\u00e9") == "value"

    def test_an_error_reply_is_unavailable_and_the_next_operation_works(self, cache, redis_client):
        redis_client.sadd(PREFIX + "a-set", "member")  # GET on a set: WRONGTYPE
        with pytest.raises(CacheUnavailable) as raised:
            cache.get_and_add("a-set", "nonce", b"1", 60)
        assert "get_and_add" in str(raised.value)
        assert cache.get("missing") is None
        assert cache.add("key", "value", 60) is True

    def test_a_connection_the_server_closed_is_replaced_once(self, cache, redis_client, redis_url):
        cache.set("key", "value", 60)
        db = int(redis_url.rsplit("/", 1)[1])
        own = redis_client.client_id()
        victims = [c["id"] for c in redis_client.client_list() if int(c["db"]) == db and int(c["id"]) != own]
        assert victims
        for client_id in victims:
            redis_client.client_kill_filter(_id=client_id)
        assert cache.get("key") == "value"
        assert cache.get_and_add("key", "nonce", b"1", 60) == ("value", True)


    def test_a_started_exchange_is_retried_once_on_a_closed_connection(self, cache, redis_client, redis_url):
        cache.set("key", "value", 60)
        db = int(redis_url.rsplit("/", 1)[1])
        own = redis_client.client_id()
        for client in redis_client.client_list():
            if int(client["db"]) == db and int(client["id"]) != own:
                redis_client.client_kill_filter(_id=client["id"])
        assert cache.start_get_and_add("key", "nonce", b"1", 60)() == ("value", True)
        assert cache.start_get_and_add("key", "nonce", b"1", 60)() == ("value", False)

    def test_an_abandoned_exchange_is_never_read_as_another_answer(self, cache):
        cache.set("session", b"abandoned", 60)
        cache.set("other", b"wanted", 60)
        abandoned = cache.start_get_and_add("session", "nonce", b"1", 60)
        # The next command on this thread must not read the abandoned replies.
        assert cache.start_get_and_add("other", "nonce-2", b"1", 60)() == (b"wanted", True)
        # And the abandoned half cannot be finished any more.
        with pytest.raises(RuntimeError):
            abandoned()
        assert cache.get("other") == b"wanted"

    def test_an_abandoned_half_never_reads_a_later_exchange(self, cache):
        cache.set("first", b"one", 60)
        cache.set("second", b"two", 60)
        abandoned = cache.start_get_and_add("first", "nonce-1", b"1", 60)
        later = cache.start_get_and_add("second", "nonce-2", b"1", 60)
        # Called late, the first half must not take the second exchange's replies.
        with pytest.raises(RuntimeError):
            abandoned()
        assert later() == (b"two", True)

    def test_a_connection_closed_between_the_halves_is_retried(self, cache):
        # close() from another thread (a reload) between sending and reading:
        # the exchange is sent again on a new connection, never a 500.
        cache.set("key", b"value", 60)
        finish = cache.start_get_and_add("key", "nonce", b"1", 60)
        cache._local.connection.disconnect()
        found, _ = finish()  # fresh or not: the first send may have reached the server
        assert found == b"value"
        assert cache.get("nonce") == b"1"
        assert cache.get_and_add("key", "nonce", b"1", 60) == (b"value", False)

    def test_a_started_exchange_cannot_be_finished_twice(self, cache):
        finish = cache.start_get_and_add("missing", "nonce", b"1", 60)
        assert finish() == (None, True)
        with pytest.raises(RuntimeError):
            finish()
        assert cache.get("nonce") == b"1"

    def test_a_started_exchange_on_a_stopped_server_is_unavailable(self, redis_url):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        listener.close()  # nothing listens there now
        cache = RedisCache(f"redis://127.0.0.1:{port}/0", timeout_seconds=0.2)
        try:
            with pytest.raises(CacheUnavailable) as raised:
                call_bounded(lambda: cache.start_get_and_add("key", "nonce", b"1", 60)())
            assert "get_and_add" in str(raised.value)
        finally:
            cache.close()


def test_silent_server_without_handshake_times_out_without_retrying():
    """RESP2 on DB 0 sends nothing on connect: the cache's own read must time out, once."""
    error, connections, seconds = time_out_on_a_silent_server(
        "?protocol=2", lambda cache: cache.get_and_add("key", "nonce", b"1", 60)
    )
    assert seconds < 5  # redis-py's default retries would take tens of seconds
    assert "Timeout" in str(error)
    assert connections == 1


class TestCacheFromUrl:
    def test_redis_url_gives_a_redis_cache(self, redis_url, redis_client):
        cache = cache_from_url(redis_url, prefix="app:", timeout_seconds=0.5)
        try:
            assert isinstance(cache, RedisCache)
            assert cache.prefix == "app:"
            assert cache.timeout_seconds == 0.5
            cache.set("key", "value", 60)
            assert redis_client.get("app:key") is not None
        finally:
            cache.close()

    @pytest.mark.parametrize(
        "url", ["rediss://127.0.0.1:6379/0", "unix:///run/redis/redis.sock?db=0", "REDIS://127.0.0.1/0"]
    )
    def test_other_redis_schemes_give_a_redis_cache(self, url):
        cache = cache_from_url(url)
        assert isinstance(cache, RedisCache)
        cache.close()

    def test_memory_url_gives_a_memory_cache(self):
        assert isinstance(cache_from_url("memory://"), MemoryCache)

    @pytest.mark.parametrize("url", ["memcached://127.0.0.1:11211", "127.0.0.1:6379", "", "redis:127.0.0.1"])
    def test_unknown_scheme_raises_value_error(self, url):
        with pytest.raises(ValueError):
            cache_from_url(url)
