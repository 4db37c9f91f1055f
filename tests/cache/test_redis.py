"""RedisCache: the shared contract against the real server, plus processes and failures."""
from __future__ import annotations

import concurrent.futures
import multiprocessing
import socket
import time

import pytest

# Before the import: detailed assertion messages in the shared contract too.
pytest.register_assert_rewrite("tests.cache.contract")

from pyramid_authsuite.cache import CacheUnavailable, cache_from_url
from pyramid_authsuite.cache.memory import MemoryCache
from pyramid_authsuite.cache.redis import RedisCache
from tests.cache.contract import CacheContractTests
from tests.conftest import free_port

pytestmark = pytest.mark.redis

PREFIX = "authsuite-test:"
# How long a test waits for a short TTL to pass, or for an operation on a dead
# server to give up, before calling it a hang. Generous: it is only a guard.
DEADLINE_SECONDS = 10


def call_bounded(function, seconds=DEADLINE_SECONDS):
    """``function()``, failing the test (not hanging it) if it has not returned in ``seconds``."""
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        return executor.submit(function).result(timeout=seconds)
    finally:
        executor.shutdown(wait=False)


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


def assert_every_operation_is_unavailable(cache, operations=OPERATIONS):
    for name in operations:
        with pytest.raises(CacheUnavailable) as raised:
            call_bounded(lambda: OPERATIONS[name](cache))
        # The message names the operation; it never carries a value.
        assert name in str(raised.value)
        assert "value" not in str(raised.value)


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
        # The kernel completes the TCP handshake for connections waiting in
        # the backlog, so a listener that never accepts is a server that
        # takes connections and never replies.
        listener = socket.socket()
        try:
            listener.bind(("127.0.0.1", 0))
            listener.listen(16)
            port = listener.getsockname()[1]
            cache = RedisCache(f"redis://127.0.0.1:{port}/0", timeout_seconds=0.2)
            try:
                with pytest.raises(CacheUnavailable) as raised:
                    call_bounded(lambda: cache.get("key"))
            finally:
                cache.close()
            assert "Timeout" in str(raised.value)
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
            assert len(connections) == 1
        finally:
            listener.close()


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
