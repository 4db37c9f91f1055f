"""MemoryCache: the shared contract on a fake clock, plus the bound on its size."""
from __future__ import annotations

import sys

import pytest

# Before the import: detailed assertion messages in the shared contract too.
pytest.register_assert_rewrite("tests.cache.contract")

from pyramid_authsuite.cache import cache_from_url
from pyramid_authsuite.cache.memory import MemoryCache
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
    def test_holds_at_most_max_entries_and_keeps_the_newest(self, clock):
        cache = MemoryCache(max_entries=10, clock=clock)
        for number in range(25):
            cache.set(f"key-{number}", number, 60)
            assert len(cache) <= 10
        assert len(cache) == 10
        assert [cache.get(f"key-{number}") for number in range(25)] == [None] * 15 + list(range(15, 25))

    def test_expired_entries_are_purged_before_live_ones_are_evicted(self, clock):
        cache = MemoryCache(max_entries=10, clock=clock)
        # Oldest first: live entries, then entries that will expire. Evicting
        # by age alone would drop the live ones.
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

        # Now full of live entries: the oldest-inserted ones go, newest stay.
        for number in range(5, 15):
            cache.set(f"new-{number}", number, 3600)
            assert len(cache) <= 10
        assert [cache.get(f"live-{number}") for number in range(5)] == [None] * 5
        assert [cache.get(f"new-{number}") for number in range(5)] == [None] * 5
        assert [cache.get(f"new-{number}") for number in range(5, 15)] == list(range(5, 15))

    def test_overwriting_a_key_when_full_evicts_nothing(self, clock):
        cache = MemoryCache(max_entries=3, clock=clock)
        for key in ("a", "b", "c"):
            cache.set(key, key, 60)
        cache.set("a", "A", 60)
        assert [cache.get(key) for key in ("a", "b", "c")] == ["A", "b", "c"]

    def test_overwriting_makes_an_entry_the_newest(self, clock):
        cache = MemoryCache(max_entries=3, clock=clock)
        for key in ("a", "b", "c"):
            cache.set(key, key, 60)
        cache.set("a", "A", 60)
        cache.set("d", "d", 60)
        assert [cache.get(key) for key in ("a", "b", "c", "d")] == ["A", None, "c", "d"]

    def test_add_and_incr_respect_the_bound(self, clock):
        cache = MemoryCache(max_entries=4, clock=clock)
        for number in range(10):
            assert cache.add(f"nonce-{number}", number, 60) is True
            assert cache.incr(f"counter-{number}", 60) == 1
            assert len(cache) <= 4
        assert cache.get("counter-9") == 1
        assert cache.get("nonce-9") == 9

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
