"""The Redis eviction check: a server that may evict keys is refused (or warned about).

Each test runs its own redis-server (``throwaway_redis``) and sets its
``maxmemory-policy`` with CONFIG SET, never touching the shared server.
"""
from __future__ import annotations

import logging

import pytest
import redis
from pyramid.exceptions import ConfigurationError

from pyramid_authsuite import make_cache
from pyramid_authsuite.cache import CacheFull, CacheMisconfigured, CacheUnavailable, cache_from_url
from pyramid_authsuite.cache.redis import RedisCache
from pyramid_authsuite.settings import parse_settings
from tests.apps import make_demo
from tests.cache.test_redis import ALL_OPERATIONS, assert_every_operation_is_unavailable, call_bounded

pytestmark = pytest.mark.redis

LOGGER = "pyramid_authsuite.cache.redis"


@pytest.fixture
def admin(throwaway_redis):
    client = redis.Redis.from_url(throwaway_redis.url)
    yield client
    client.close()


@pytest.fixture
def make(throwaway_redis):
    """``make(**kwargs)``: a RedisCache on the throwaway server, closed at the end."""
    caches = []

    def make(url=None, **kwargs):
        cache = RedisCache(url or throwaway_redis.url, timeout_seconds=2, **kwargs)
        caches.append(cache)
        return cache

    yield make
    for cache in caches:
        cache.close()


def config_get_calls(admin) -> int:
    """How many CONFIG GET (or any CONFIG) commands the server has run."""
    stats = admin.info("commandstats")
    return sum(value["calls"] for name, value in stats.items() if name.startswith("cmdstat_config"))


def kill_other_clients(admin) -> None:
    """Close every connection to the server but the admin's own: the cache must reconnect."""
    admin.client_kill_filter(_type="normal", skipme=True)


def messages(caplog, level) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == LOGGER and record.levelno == level]


class TestRefuse:
    def test_an_evicting_server_fails_every_operation_closed(self, admin, make, caplog):
        admin.config_set("maxmemory-policy", "allkeys-lru")
        cache = make()
        with caplog.at_level(logging.WARNING, logger=LOGGER):
            assert_every_operation_is_unavailable(cache, ALL_OPERATIONS, error=CacheMisconfigured)
        # Nothing was written: the check runs before any command.
        assert admin.dbsize() == 0
        errors = messages(caplog, logging.ERROR)
        assert errors, "the refusal must be logged at ERROR"
        assert "allkeys-lru" in errors[0] and "authsuite.cache_eviction_check" in errors[0]

    @pytest.mark.parametrize("query", ["", "?protocol=2", "?protocol=3"])
    def test_the_error_is_a_cache_unavailable_that_names_the_policy_and_the_setting(
        self, admin, make, throwaway_redis, query
    ):
        admin.config_set("maxmemory-policy", "volatile-ttl")
        with pytest.raises(CacheUnavailable) as raised:
            make(throwaway_redis.url + query).add("nonce", b"1", 60)
        assert isinstance(raised.value, CacheMisconfigured)
        assert "volatile-ttl" in str(raised.value) and "authsuite.cache_eviction_check" in str(raised.value)

    def test_start_up_check_raises(self, admin, make):
        admin.config_set("maxmemory-policy", "allkeys-random")
        cache = make()
        with pytest.raises(CacheMisconfigured, match="allkeys-random"):
            cache.check_configuration()
        # The start-up connection is not kept (a forked worker must not share it).
        own = admin.client_id()
        assert [client for client in admin.client_list(_type="normal") if int(client["id"]) != own] == []

    def test_creating_the_app_fails_with_a_configuration_error(self, admin, throwaway_redis, tmp_path):
        admin.config_set("maxmemory-policy", "allkeys-lru")
        with pytest.raises(ConfigurationError) as raised:
            make_demo({"authsuite.cache_url": throwaway_redis.url, "authsuite.accounts_url": f"sqlite:///{tmp_path}/a.sqlite"})
        assert "authsuite.cache_eviction_check" in str(raised.value) and "allkeys-lru" in str(raised.value)

    def test_make_cache_passes_the_setting(self, admin, throwaway_redis):
        admin.config_set("maxmemory-policy", "allkeys-lru")
        settings = {"authsuite.cache_url": throwaway_redis.url}
        with pytest.raises(ConfigurationError, match="allkeys-lru"):
            make_cache(parse_settings(settings))
        cache = make_cache(parse_settings({**settings, "authsuite.cache_eviction_check": "warn"}))
        try:
            assert cache.eviction_check == "warn"
            assert cache.add("nonce", b"1", 60) is True
        finally:
            cache.close()

    def test_a_server_down_at_start_up_is_not_a_configuration_error(self, throwaway_redis, caplog):
        throwaway_redis.stop()
        settings = parse_settings({"authsuite.cache_url": throwaway_redis.url, "authsuite.cache_timeout_seconds": "0.5"})
        with caplog.at_level(logging.WARNING, logger=LOGGER):
            cache = call_bounded(lambda: make_cache(settings))
        try:
            assert any("start-up" in message for message in messages(caplog, logging.WARNING))
            with pytest.raises(CacheUnavailable):
                call_bounded(lambda: cache.get("key"))
        finally:
            cache.close()


class TestNoEviction:
    @pytest.mark.parametrize("query", ["", "?protocol=2", "?protocol=3"])
    def test_noeviction_works_without_a_word(self, admin, make, caplog, throwaway_redis, query):
        admin.config_set("maxmemory-policy", "noeviction")
        cache = make(throwaway_redis.url + query)
        with caplog.at_level(logging.DEBUG, logger=LOGGER):
            cache.check_configuration()
            for name in ALL_OPERATIONS:
                ALL_OPERATIONS[name](cache)
        assert cache.get_and_add("missing", "nonce-2", b"1", 60) == (None, True)
        assert messages(caplog, logging.WARNING) == [] and messages(caplog, logging.ERROR) == []

    def test_the_check_costs_one_command_per_connection_not_per_request(self, admin, make):
        cache = make()
        cache.get("key")  # this thread's connection: checked once
        cache.incr("counter", 60)  # the pool's connection: checked once
        before = config_get_calls(admin)
        for number in range(50):
            cache.get_and_add("key", f"nonce-{number}", b"1", 60)
            cache.incr("counter", 60)
            cache.get("key")
        assert config_get_calls(admin) == before

    def test_a_full_server_refusing_writes_costs_no_reconnect(self, admin, make):
        # An OOM refusal is an error reply on a connection still in step: it
        # is kept, so a flood against a full server does not also pay a new
        # connection and a new check per request.
        cache = make()
        cache.set("session", "s", 60)
        cache.incr("counter", 60)
        admin.config_set("maxmemory", 1)  # below what any server uses: every growing write is refused
        try:
            before = config_get_calls(admin)
            for number in range(20):
                with pytest.raises(CacheFull):
                    cache.add(f"nonce-{number}", b"1", 60)
                with pytest.raises(CacheFull):
                    cache.get_and_add("session", f"nonce-{number}", b"1", 60)
                with pytest.raises(CacheFull):
                    cache.incr(f"counter-{number}", 60)
                assert cache.get("session") == "s"
            assert config_get_calls(admin) == before
        finally:
            admin.config_set("maxmemory", 0)


class TestWarn:
    def test_warn_carries_on_and_warns_at_each_check(self, admin, make, caplog):
        admin.config_set("maxmemory-policy", "allkeys-lru")
        cache = make(eviction_check="warn")
        with caplog.at_level(logging.WARNING, logger=LOGGER):
            cache.check_configuration()
            assert cache.add("nonce", b"1", 60) is True
            assert cache.add("nonce", b"1", 60) is False
            assert cache.incr("counter", 60) == 1
        warnings = messages(caplog, logging.WARNING)
        # One per connection: start-up, this thread's own, the pool's.
        assert len(warnings) == 3
        assert all("allkeys-lru" in message and "cache_eviction_check = warn" in message for message in warnings)
        assert messages(caplog, logging.ERROR) == []

    def test_invalid_setting_is_refused(self, throwaway_redis):
        with pytest.raises(ValueError):
            RedisCache(throwaway_redis.url, eviction_check="ignore")
        with pytest.raises(ValueError):
            cache_from_url(throwaway_redis.url, eviction_check="")


class TestReconnect:
    def test_a_policy_changed_while_connected_is_caught_at_the_reconnect(self, admin, make):
        cache = make()
        cache.set("session", "s", 60)
        assert cache.incr("counter", 60) == 1
        admin.config_set("maxmemory-policy", "allkeys-lfu")
        # Open connections are not asked again...
        assert cache.get("session") == "s"
        # ...but every new one is: after a reconnect, the cache refuses.
        kill_other_clients(admin)
        with pytest.raises(CacheMisconfigured, match="allkeys-lfu"):
            cache.get("session")
        with pytest.raises(CacheMisconfigured, match="allkeys-lfu"):
            cache.incr("counter", 60)
        # Put right on the server, the next connection is accepted again.
        admin.config_set("maxmemory-policy", "noeviction")
        assert cache.get("session") == "s"
        assert cache.incr("counter", 60) == 2

    def test_a_restarted_server_is_checked_again(self, throwaway_redis, make):
        cache = make()
        cache.set("session", "s", 60)
        throwaway_redis.stop()
        throwaway_redis.start()
        restarted = redis.Redis.from_url(throwaway_redis.url)
        try:
            restarted.config_set("maxmemory-policy", "volatile-lru")
            with pytest.raises(CacheMisconfigured, match="volatile-lru"):
                call_bounded(lambda: cache.add("nonce", b"1", 60))
            assert restarted.dbsize() == 0
        finally:
            restarted.close()


class TestUnknownPolicy:
    @pytest.fixture
    def limited_url(self, admin, throwaway_redis):
        # A user that may run everything but CONFIG, as managed Redis
        # services often set it up (or rename CONFIG away).
        admin.acl_setuser("limited", enabled=True, passwords=["+limited-password"], keys=["~*"],
                          commands=["+@all", "-config"])
        return f"redis://limited:limited-password@127.0.0.1:{throwaway_redis.port}/0"

    def test_config_refused_warns_once_and_carries_on(self, admin, make, limited_url, caplog):
        admin.config_set("maxmemory-policy", "allkeys-lru")  # unknown to the cache: it cannot read it
        cache = make(limited_url)
        with caplog.at_level(logging.WARNING, logger=LOGGER):
            cache.check_configuration()
            assert cache.add("nonce", b"1", 60) is True
            assert cache.incr("counter", 60) == 1
            kill_other_clients(admin)
            assert cache.get("nonce") == b"1"
        warnings = messages(caplog, logging.WARNING)
        assert len(warnings) == 1 and "maxmemory-policy" in warnings[0] and "noeviction" in warnings[0]


@pytest.mark.parametrize(
    "reply, policy",
    [
        ({b"maxmemory-policy": b"noeviction"}, "noeviction"),  # RESP3
        ([b"maxmemory-policy", b"allkeys-lru"], "allkeys-lru"),  # RESP2
        ([b"maxmemory-policy", b"NoEviction"], "noeviction"),
        ([], None),  # a server (or proxy) that hides its configuration
        ({}, None),
        (None, None),  # CONFIG refused
        ([b"something-else", b"noeviction"], None),
    ],
)
def test_policy_from_config_get_replies(reply, policy):
    from pyramid_authsuite.cache.redis import _policy_from_reply

    assert _policy_from_reply(reply) == policy
