"""MemoryCache: the shared contract on a fake clock, plus the bound on its size."""
from __future__ import annotations

import logging
import sys

import pytest

# Before the import: detailed assertion messages in the shared contract too.
pytest.register_assert_rewrite("tests.cache.contract")

from pyramid_authsuite.cache import cache_from_url
from pyramid_authsuite.cache.memory import MemoryCache
from pyramid_authsuite.exceptions import CacheFull
from tests.cache.contract import CacheContractTests


class FakeClock:
    """A monotonic clock that only moves when told to."""

    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock():
    return FakeClock()


class TestMemoryCacheContract(CacheContractTests):
    SHORT_TTL = 10
    LONG_TTL = 3600

    @pytest.fixture
    def cache(self, clock):
        return MemoryCache(prefix="authsuite-test:", clock=clock)

    @pytest.fixture
    def make_cache(self, clock):
        return lambda prefix: MemoryCache(prefix=prefix, clock=clock)

    @pytest.fixture
    def small_cache(self, clock):
        return MemoryCache(prefix="authsuite-test:", max_entries=100, clock=clock)

    @pytest.fixture(autouse=True)
    def frequent_thread_switches(self):
        # Under the GIL a short critical section rarely gets interrupted; ask
        # for a thread switch as often as possible so that a missing lock
        # shows up in the race tests instead of passing by luck.
        previous = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)
        yield
        sys.setswitchinterval(previous)

    @pytest.fixture
    def expire(self, clock):
        def expire(condition):
            clock.advance(self.SHORT_TTL + 1)
            return condition()

        return expire


class TestMemoryCacheExpiry:
    """Exact boundaries, which only a fake clock can check."""

    def test_entry_lives_for_its_ttl_and_no_longer(self, clock):
        cache = MemoryCache(clock=clock)
        cache.set("key", "value", 10)
        clock.advance(9.999)
        assert cache.get("key") == "value"
        clock.advance(0.001)
        assert cache.get("key") is None

    def test_touch_counts_from_now(self, clock):
        cache = MemoryCache(clock=clock)
        cache.set("key", "value", 10)
        clock.advance(8)
        assert cache.touch("key", 10) is True
        clock.advance(9)
        assert cache.get("key") == "value"
        clock.advance(1)
        assert cache.get("key") is None

    def test_incr_window_counts_from_the_first_increment(self, clock):
        cache = MemoryCache(clock=clock)
        assert cache.incr("key", 10) == 1
        clock.advance(6)
        assert cache.incr("key", 10) == 2
        clock.advance(4)
        assert cache.incr("key", 10) == 1


class TestMemoryCacheBound:
    def test_holds_at_most_max_entries_and_refuses_the_next_new_one(self, clock):
        cache = MemoryCache(max_entries=10, clock=clock)
        for number in range(10):
            cache.set(f"key-{number}", number, 60)
        for number in range(10, 25):
            with pytest.raises(CacheFull):
                cache.set(f"key-{number}", number, 60)
            assert len(cache) == 10
        # Nothing was forgotten to make room, nothing refused was stored.
        assert [cache.get(f"key-{number}") for number in range(25)] == list(range(10)) + [None] * 15

    def test_expired_entries_make_room_and_live_ones_never_go(self, clock):
        cache = MemoryCache(max_entries=10, clock=clock)
        # Oldest first: live entries, then entries that will expire. Evicting
        # by age would drop the live ones.
        for number in range(5):
            cache.set(f"live-{number}", number, 3600)
        for number in range(5):
            cache.set(f"short-{number}", number, 10)
        clock.advance(11)
        for number in range(5):
            cache.set(f"new-{number}", number, 3600)
            assert len(cache) <= 10
        assert [cache.get(f"live-{number}") for number in range(5)] == list(range(5))
        assert [cache.get(f"new-{number}") for number in range(5)] == list(range(5))
        assert len(cache) == 10

        # Now full of live entries: new keys are refused, every entry stays.
        for number in range(5, 15):
            with pytest.raises(CacheFull):
                cache.set(f"new-{number}", number, 3600)
        assert [cache.get(f"live-{number}") for number in range(5)] == list(range(5))
        assert [cache.get(f"new-{number}") for number in range(5)] == list(range(5))
        # Until some expire: then there is room again.
        clock.advance(3600)
        cache.set("after", 1, 60)
        assert cache.get("after") == 1 and len(cache) == 1

    def test_entries_expiring_while_full_make_room_one_by_one(self, clock):
        cache = MemoryCache(max_entries=3, clock=clock)
        for number, ttl in enumerate((30, 10, 20)):
            cache.add(f"nonce-{number}", number, ttl)
        with pytest.raises(CacheFull):
            cache.add("nonce-new", 1, 60)
        clock.advance(10)  # only nonce-1 has expired
        assert cache.add("nonce-new", 1, 60) is True
        assert [cache.get(f"nonce-{number}") for number in range(3)] == [0, None, 2]
        with pytest.raises(CacheFull):
            cache.add("nonce-newer", 1, 60)

    def test_overwriting_a_key_when_full_evicts_nothing(self, clock):
        cache = MemoryCache(max_entries=3, clock=clock)
        for key in ("a", "b", "c"):
            cache.set(key, key, 60)
        cache.set("a", "A", 60)
        assert [cache.get(key) for key in ("a", "b", "c")] == ["A", "b", "c"]

    def test_updates_of_held_keys_work_when_full(self, clock):
        cache = MemoryCache(max_entries=3, clock=clock)
        cache.incr("counter", 60)
        cache.add_member("index", "a", 60)
        cache.set("session", "s", 60)
        assert cache.incr("counter", 60) == 2
        cache.add_member("index", "b", 60)
        assert cache.members("index") == {"a", "b"}
        assert cache.touch("session", 120) is True
        assert cache.add("session", "again", 60) is False
        assert cache.get_and_add("counter", "session", b"1", 60) == (2, False)
        with pytest.raises(CacheFull):
            cache.incr("other-counter", 60)
        with pytest.raises(CacheFull):
            cache.add_member("other-index", "a", 60)

    def test_a_full_cache_is_logged_once_until_there_is_room_again(self, clock, caplog):
        cache = MemoryCache(max_entries=2, clock=clock)
        cache.set("a", 1, 10)
        cache.set("b", 1, 60)
        with caplog.at_level(logging.WARNING, logger="pyramid_authsuite.cache.memory"):
            for number in range(20):
                with pytest.raises(CacheFull):
                    cache.add(f"nonce-{number}", 1, 60)
            # One line for the whole spell, not one per refused write.
            assert len(caplog.records) == 1 and "full" in caplog.records[0].getMessage()
            clock.advance(10)
            cache.add("nonce", 1, 60)
            assert len(caplog.records) == 2 and "room" in caplog.records[1].getMessage()

    def test_deleting_makes_room(self, clock):
        cache = MemoryCache(max_entries=2, clock=clock)
        cache.set("a", 1, 60)
        cache.set("b", 2, 60)
        with pytest.raises(CacheFull):
            cache.set("c", 3, 60)
        assert cache.pop("a") == 1
        cache.set("c", 3, 60)
        assert [cache.get(key) for key in "abc"] == [None, 2, 3]

    def test_many_overwrites_and_touches_keep_the_expiry_index_small(self, clock):
        cache = MemoryCache(max_entries=10, clock=clock)
        for _ in range(10_000):
            cache.set("key", "value", 60)
            cache.touch("key", 60)
        # White-box: the heap is rebuilt once stale records pile up.
        assert len(cache._expiries) < 200
        assert cache.get("key") == "value"

    @pytest.mark.parametrize("max_entries", [0, -1, 1.5, True, "10", None])
    def test_invalid_max_entries_raises_value_error(self, max_entries):
        with pytest.raises(ValueError):
            MemoryCache(max_entries=max_entries)


def test_cache_from_url_memory_passes_prefix_and_bound():
    cache = cache_from_url("memory://", prefix="app:", max_entries=7)
    assert isinstance(cache, MemoryCache)
    assert cache.prefix == "app:"
    assert cache.max_entries == 7
