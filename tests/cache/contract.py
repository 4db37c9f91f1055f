"""The tests every cache backend runs: one class, one subclass per backend.

A subclass sets two TTLs and provides three fixtures:

``SHORT_TTL``, ``LONG_TTL``
    Seconds. An entry stored with ``SHORT_TTL`` is let expire by the tests; one
    stored with ``LONG_TTL`` must outlive every test.
``cache``
    A fresh, empty cache.
``make_cache``
    A function ``make_cache(prefix)`` returning another cache on the same
    storage (same server and DB, for a shared backend) under another prefix.
``expire``
    A function ``expire(condition)`` that lets at least ``SHORT_TTL`` pass and
    returns whether ``condition()`` became true. A fake clock moves time on
    and checks once; a real server is polled until the condition holds or a
    deadline passes. Tests assert on what the cache returns, never on how long
    anything took.
``small_cache``
    A fresh, empty cache that is full after at most a few thousand entries of
    a kilobyte (memory: a small ``max_entries``; Redis: a private server with
    a small ``maxmemory`` and ``noeviction``). The tests fill it.
"""
from __future__ import annotations

import concurrent.futures
import math
import threading

import pytest

from pyramid_authsuite.exceptions import CacheFull, CacheUnavailable

THREADS = 32
INCREMENTS_PER_THREAD = 10
RACE_KEYS = 50

# (id, value stored, value expected back). What comes back has been through
# the JSON encoding on every backend.
ROUND_TRIPS = [
    ("bytes", b"\x00\x01binary\xff", b"\x00\x01binary\xff"),
    ("empty-bytes", b"", b""),
    ("bytearray", bytearray(b"abc"), b"abc"),
    ("bytes-like-json", b'j{"a":1}', b'j{"a":1}'),
    ("dict", {"user": "alice", "n": 3}, {"user": "alice", "n": 3}),
    ("list", [1, "two", None, 4.5], [1, "two", None, 4.5]),
    ("str", "hello", "hello"),
    ("empty-str", "", ""),
    ("int", 42, 42),
    ("negative-int", -7, -7),
    ("float", 0.25, 0.25),
    ("bool", False, False),
    ("nested", {"a": [1, {"b": [True, None]}], "c": {"d": "e"}}, {"a": [1, {"b": [True, None]}], "c": {"d": "e"}}),
    ("unicode", {"名前": "Zoë ☃ 🔑"}, {"名前": "Zoë ☃ 🔑"}),
    ("tuple", (1, "a", (2, 3)), [1, "a", [2, 3]]),
]

INVALID_TTLS = [0, -1, 0.0, -0.5, None, True, False, "5", math.nan, math.inf, -math.inf]
# get_and_add at once, and in its two halves (start_get_and_add, then the answer).
GET_AND_ADD_FORMS = {
    "at-once": lambda cache, *args: cache.get_and_add(*args),
    "started": lambda cache, *args: cache.start_get_and_add(*args)(),
}


# What a full cache holds before the filler: one entry of each kind of state.
HELD = {
    "held-nonce": b"1",
    "held-session": {"userid": "alice"},
    "held-challenge": {"k": "device-1", "e": "abc"},
    "held-revoked": 1,
}
FILLER_VALUE = b"x" * 1024
MAX_FILLER = 20_000

# Writes that create a new entry; each must be refused by a full cache.
NEW_ENTRY_WRITES = {
    "add": lambda cache, ttl: cache.add("new-nonce", b"1", ttl),
    "set": lambda cache, ttl: cache.set("new-session", "s", ttl),
    "incr": lambda cache, ttl: cache.incr("new-counter", ttl),
    "add_member": lambda cache, ttl: cache.add_member("new-index", "a", ttl),
    "get_and_add": lambda cache, ttl: cache.get_and_add("held-session", "new-nonce", b"1", ttl),
    "start_get_and_add": lambda cache, ttl: cache.start_get_and_add("held-session", "new-nonce", b"1", ttl)(),
}


def fill(cache, ttl: float) -> list[str]:
    """Store :data:`HELD`, a counter at 2 and an index, then filler entries until
    the cache refuses one; return the filler keys it took (see ``settle_full``)."""
    for key, value in HELD.items():
        cache.set(key, value, ttl)
    cache.incr("held-counter", ttl)
    cache.incr("held-counter", ttl)
    cache.add_member("held-index", "a", ttl)
    filler = []
    for number in range(MAX_FILLER):
        try:
            cache.set(f"filler-{number}", FILLER_VALUE, ttl)
        except CacheFull:
            return filler
        filler.append(f"filler-{number}")
    raise AssertionError(f"the cache took {MAX_FILLER} entries and never said it was full")


def _run_together(worker, count=THREADS):
    """Run ``worker()`` in ``count`` threads released at the same moment; return the results."""
    barrier = threading.Barrier(count, timeout=30)

    def start_then_work():
        barrier.wait()
        return worker()

    with concurrent.futures.ThreadPoolExecutor(max_workers=count) as executor:
        futures = [executor.submit(start_then_work) for _ in range(count)]
        # .result() re-raises a worker's exception in the test.
        return [future.result(timeout=60) for future in futures]


class CacheContractTests:
    """Behaviour every :class:`pyramid_authsuite.cache.Cache` backend shares."""

    SHORT_TTL: float
    LONG_TTL: float

    def settle_full(self, cache) -> None:
        """Make sure a cache :func:`fill` just filled stays full.

        The memory cache counts entries, so it does. A Redis server counts
        bytes, its own buffers included, and those move a little between
        commands: its subclass lowers ``maxmemory`` below what is used.
        """

    def fill(self, cache) -> list[str]:
        filler = fill(cache, self.LONG_TTL)
        self.settle_full(cache)
        return filler

    def let_short_ttls_pass(self, cache, expire):
        """Expire every entry stored so far with ``SHORT_TTL``.

        A sentinel stored now with ``SHORT_TTL`` expires no earlier than any
        of them, so once it is gone they are gone too, unless something
        extended them.
        """
        cache.set("sentinel", "s", self.SHORT_TTL)
        assert expire(lambda: cache.get("sentinel") is None), "the sentinel never expired"

    # add

    def test_add_stores_an_absent_key(self, cache):
        assert cache.add("nonce", "first", self.LONG_TTL) is True
        assert cache.get("nonce") == "first"

    def test_add_returns_false_for_an_existing_key_and_keeps_the_value(self, cache):
        assert cache.add("nonce", "first", self.LONG_TTL) is True
        assert cache.add("nonce", "second", self.LONG_TTL) is False
        assert cache.get("nonce") == "first"

    def test_add_returns_false_for_a_key_stored_by_set(self, cache):
        cache.set("nonce", "by-set", self.LONG_TTL)
        assert cache.add("nonce", "by-add", self.LONG_TTL) is False
        assert cache.get("nonce") == "by-set"

    def test_add_succeeds_again_after_expiry(self, cache, expire):
        assert cache.add("nonce", "first", self.SHORT_TTL) is True
        assert cache.add("nonce", "second", self.SHORT_TTL) is False
        assert expire(lambda: cache.add("nonce", "third", self.LONG_TTL))
        assert cache.get("nonce") == "third"

    def test_add_succeeds_after_delete(self, cache):
        cache.add("nonce", 1, self.LONG_TTL)
        cache.delete("nonce")
        assert cache.add("nonce", 2, self.LONG_TTL) is True
        assert cache.get("nonce") == 2

    # get_many

    def test_get_many_of_missing_keys_is_a_none_for_each(self, cache):
        assert cache.get_many(["missing", "absent"]) == [None, None]
        assert cache.get_many([]) == []

    @pytest.mark.parametrize(("name", "stored", "expected"), ROUND_TRIPS, ids=[row[0] for row in ROUND_TRIPS])
    def test_get_many_reads_what_get_reads(self, cache, name, stored, expected):
        cache.set("value", stored, self.LONG_TTL)
        assert cache.get_many(["before", "value", "after"]) == [None, expected, None]
        assert cache.get_many(["value"]) == [cache.get("value")]

    def test_get_many_keeps_the_order_and_repeated_keys(self, cache):
        cache.set("a", b"first", self.LONG_TTL)
        cache.set("b", {"n": 2}, self.LONG_TTL)
        cache.incr("c", self.LONG_TTL)
        assert cache.get_many(["b", "a", "missing", "a", "c"]) == [{"n": 2}, b"first", None, b"first", 1]

    def test_get_many_many_keys(self, cache):
        for number in range(0, 300, 2):
            cache.set(f"k{number}", number, self.LONG_TTL)
        assert cache.get_many([f"k{number}" for number in range(300)]) == [
            number if number % 2 == 0 else None for number in range(300)
        ]

    def test_get_many_does_not_return_expired_or_deleted_entries(self, cache, expire):
        cache.set("short", "s", self.SHORT_TTL)
        cache.set("long", "l", self.LONG_TTL)
        cache.set("deleted", "d", self.LONG_TTL)
        cache.delete("deleted")
        assert cache.get_many(["short", "long", "deleted"]) == ["s", "l", None]
        assert expire(lambda: cache.get_many(["short", "long"]) == [None, "l"])

    def test_get_many_reads_only_its_own_prefix(self, cache, make_cache):
        other = make_cache("authsuite-other:")
        other.set("shared-name", "other's", self.LONG_TTL)
        cache.set("mine", "mine", self.LONG_TTL)
        assert cache.get_many(["shared-name", "mine"]) == [None, "mine"]
        assert other.get_many(["shared-name", "mine"]) == ["other's", None]

    def test_get_many_works_on_a_full_cache(self, small_cache):
        self.fill(small_cache)
        assert small_cache.get_many(["held-session", "held-revoked", "missing"]) == [{"userid": "alice"}, 1, None]

    # get and set

    def test_get_missing_key_returns_none(self, cache):
        assert cache.get("missing") is None

    def test_set_then_get(self, cache):
        assert cache.set("session", {"user": "alice"}, self.LONG_TTL) is None
        assert cache.get("session") == {"user": "alice"}

    def test_set_overwrites_the_value(self, cache):
        cache.set("session", "old", self.LONG_TTL)
        cache.set("session", "new", self.LONG_TTL)
        assert cache.get("session") == "new"

    def test_set_replaces_the_ttl(self, cache, expire):
        cache.set("session", "kept", self.SHORT_TTL)
        cache.set("session", "kept", self.LONG_TTL)
        cache.set("dropped", "gone", self.LONG_TTL)
        cache.set("dropped", "gone", self.SHORT_TTL)
        self.let_short_ttls_pass(cache, expire)
        assert cache.get("session") == "kept"
        assert cache.get("dropped") is None

    def test_get_returns_none_after_expiry(self, cache, expire):
        cache.set("session", "value", self.SHORT_TTL)
        assert expire(lambda: cache.get("session") is None)

    def test_get_returns_a_fresh_copy(self, cache):
        cache.set("session", {"roles": ["a"]}, self.LONG_TTL)
        cache.get("session")["roles"].append("admin")
        assert cache.get("session") == {"roles": ["a"]}

    @pytest.mark.parametrize("stored, expected", [case[1:] for case in ROUND_TRIPS], ids=[case[0] for case in ROUND_TRIPS])
    def test_values_round_trip(self, cache, stored, expected):
        cache.set("value", stored, self.LONG_TTL)
        assert cache.get("value") == expected
        assert type(cache.get("value")) is type(expected)
        assert cache.pop("value") == expected

    def test_unserializable_value_raises_type_error_and_stores_nothing(self, cache):
        with pytest.raises(TypeError):
            cache.set("value", object(), self.LONG_TTL)
        with pytest.raises(TypeError):
            cache.add("value", {1, 2}, self.LONG_TTL)
        assert cache.get("value") is None

    def test_none_is_refused_because_it_reads_as_missing(self, cache):
        with pytest.raises(TypeError):
            cache.set("value", None, self.LONG_TTL)
        with pytest.raises(TypeError):
            cache.add("value", None, self.LONG_TTL)
        assert cache.add("value", 1, self.LONG_TTL) is True

    # delete

    def test_delete_existing_key_returns_true(self, cache):
        cache.set("session", "value", self.LONG_TTL)
        assert cache.delete("session") is True
        assert cache.get("session") is None

    def test_delete_missing_key_returns_false(self, cache):
        assert cache.delete("missing") is False

    def test_delete_twice_returns_true_then_false(self, cache):
        cache.set("session", "value", self.LONG_TTL)
        assert cache.delete("session") is True
        assert cache.delete("session") is False

    def test_expired_key_is_absent_for_every_operation(self, cache, expire):
        for key in ("for-delete", "for-pop", "for-touch"):
            cache.set(key, "value", self.SHORT_TTL)
        self.let_short_ttls_pass(cache, expire)
        assert cache.delete("for-delete") is False
        assert cache.pop("for-pop") is None
        assert cache.touch("for-touch", self.LONG_TTL) is False
        assert cache.get("for-touch") is None

    # pop

    def test_pop_returns_the_value_once(self, cache):
        cache.set("challenge", {"c": "abc"}, self.LONG_TTL)
        assert cache.pop("challenge") == {"c": "abc"}
        assert cache.pop("challenge") is None
        assert cache.get("challenge") is None

    def test_pop_missing_key_returns_none(self, cache):
        assert cache.pop("missing") is None

    # touch

    def test_touch_missing_key_returns_false_and_creates_nothing(self, cache):
        assert cache.touch("missing", self.LONG_TTL) is False
        assert cache.get("missing") is None

    def test_touch_extends_an_existing_key(self, cache, expire):
        cache.set("session", "alive", self.SHORT_TTL)
        cache.set("untouched", "dead", self.SHORT_TTL)
        assert cache.touch("session", self.LONG_TTL) is True
        self.let_short_ttls_pass(cache, expire)
        assert cache.get("session") == "alive"
        assert cache.get("untouched") is None

    def test_touch_can_shorten_the_ttl(self, cache, expire):
        cache.set("session", "value", self.LONG_TTL)
        assert cache.touch("session", self.SHORT_TTL) is True
        self.let_short_ttls_pass(cache, expire)
        assert cache.get("session") is None

    def test_touch_keeps_the_value(self, cache):
        cache.set("session", [1, 2], self.LONG_TTL)
        cache.touch("session", self.LONG_TTL)
        assert cache.get("session") == [1, 2]

    # incr

    def test_incr_counts_from_one(self, cache):
        assert [cache.incr("attempts", self.LONG_TTL) for _ in range(3)] == [1, 2, 3]

    def test_incr_counter_is_readable_with_get(self, cache):
        cache.incr("attempts", self.LONG_TTL)
        cache.incr("attempts", self.LONG_TTL)
        assert cache.get("attempts") == 2

    def test_incr_counts_keys_separately(self, cache):
        cache.incr("a", self.LONG_TTL)
        cache.incr("a", self.LONG_TTL)
        assert cache.incr("b", self.LONG_TTL) == 1

    def test_incr_window_is_fixed_and_restarts_after_expiry(self, cache, expire):
        assert cache.incr("attempts", self.SHORT_TTL) == 1
        # A later increment with a much longer TTL must not move the window.
        assert cache.incr("attempts", self.LONG_TTL) == 2
        self.let_short_ttls_pass(cache, expire)
        assert cache.get("attempts") is None
        assert cache.incr("attempts", self.LONG_TTL) == 1

    def test_incr_continues_an_integer_stored_with_set(self, cache):
        cache.set("attempts", 41, self.LONG_TTL)
        assert cache.incr("attempts", self.LONG_TTL) == 42

    def test_incr_counts_up_to_fifteen_digits(self, cache):
        cache.set("attempts", 10**15 - 2, self.LONG_TTL)
        assert cache.incr("attempts", self.LONG_TTL) == 10**15 - 1
        cache.set("attempts", -(10**15 - 1), self.LONG_TTL)
        assert cache.incr("attempts", self.LONG_TTL) == -(10**15 - 2)

    @pytest.mark.parametrize("value", ["7", 1.5, True, [1], b"1", 10**15, -(10**15)], ids=repr)
    def test_incr_on_a_value_that_is_not_an_integer_raises_value_error(self, cache, value):
        cache.set("attempts", value, self.LONG_TTL)
        with pytest.raises(ValueError):
            cache.incr("attempts", self.LONG_TTL)
        assert cache.get("attempts") == value

    # TTL validation

    @pytest.mark.parametrize("ttl", INVALID_TTLS, ids=repr)
    def test_invalid_ttl_raises_value_error_and_stores_nothing(self, cache, ttl):
        with pytest.raises(ValueError):
            cache.add("key", "value", ttl)
        with pytest.raises(ValueError):
            cache.set("key", "value", ttl)
        with pytest.raises(ValueError):
            cache.incr("key", ttl)
        assert cache.get("key") is None
        cache.set("key", "value", self.LONG_TTL)
        with pytest.raises(ValueError):
            cache.touch("key", ttl)
        with pytest.raises(ValueError):
            cache.touch("missing", ttl)
        assert cache.get("key") == "value"

    @pytest.mark.parametrize("ttl", [1, 0.001, 0.0001], ids=repr)
    def test_small_and_integer_ttls_are_accepted(self, cache, ttl):
        # Sub-millisecond TTLs are rounded up to what the backend can keep,
        # not rejected; whether the entry is still there is not asserted.
        assert cache.add("key", "value", ttl) is True
        cache.set("key", "value", ttl)
        assert cache.incr("counter", ttl) == 1

    # prefixes

    def test_prefix_isolates_two_caches(self, cache, make_cache):
        other = make_cache("authsuite-other:")
        cache.set("key", "mine", self.LONG_TTL)
        assert other.get("key") is None
        assert other.add("key", "theirs", self.LONG_TTL) is True
        assert cache.get("key") == "mine"
        assert other.get("key") == "theirs"
        assert other.incr("counter", self.LONG_TTL) == 1
        assert cache.incr("counter", self.LONG_TTL) == 1
        assert other.delete("key") is True
        assert cache.get("key") == "mine"
        assert other.pop("key") is None
        assert other.touch("key", self.LONG_TTL) is False

    # races

    def test_concurrent_add_has_exactly_one_winner(self, cache):
        results = _run_together(lambda: cache.add("nonce", threading.get_ident(), self.LONG_TTL))
        assert results.count(True) == 1
        assert results.count(False) == THREADS - 1
        assert cache.get("nonce") is not None

    def test_concurrent_add_winner_value_is_stored(self, cache):
        def worker():
            me = threading.get_ident()
            return me, cache.add("nonce", me, self.LONG_TTL)

        results = _run_together(worker)
        winners = [ident for ident, won in results if won]
        assert len(winners) == 1
        assert cache.get("nonce") == winners[0]

    def test_concurrent_add_on_many_keys_has_one_winner_per_key(self, cache):
        keys = [f"nonce-{number}" for number in range(RACE_KEYS)]
        results = _run_together(lambda: [key for key in keys if cache.add(key, 1, self.LONG_TTL)])
        wins = sorted(key for won in results for key in won)
        assert wins == sorted(keys)

    def test_concurrent_pop_gives_the_value_to_exactly_one(self, cache):
        cache.set("challenge", "single-use", self.LONG_TTL)
        results = _run_together(lambda: cache.pop("challenge"))
        assert results.count("single-use") == 1
        assert results.count(None) == THREADS - 1

    def test_concurrent_pop_on_many_keys_gives_each_value_once(self, cache):
        for number in range(RACE_KEYS):
            cache.set(f"challenge-{number}", number, self.LONG_TTL)
        results = _run_together(lambda: [cache.pop(f"challenge-{number}") for number in range(RACE_KEYS)])
        popped = sorted(value for values in results for value in values if value is not None)
        assert popped == list(range(RACE_KEYS))

    def test_concurrent_incr_loses_no_increment(self, cache):
        def worker():
            return [cache.incr("attempts", self.LONG_TTL) for _ in range(INCREMENTS_PER_THREAD)]

        returned = [count for counts in _run_together(worker) for count in counts]
        calls = THREADS * INCREMENTS_PER_THREAD
        assert sorted(returned) == list(range(1, calls + 1))
        assert cache.get("attempts") == calls

    # sets (indexes)

    def test_members_of_a_missing_set_is_empty(self, cache):
        assert cache.members("index") == set()
        assert cache.remove_member("index", "a") is False

    def test_add_member_collects_distinct_members(self, cache):
        for member in ("a", "b", "a", "ünï"):
            assert cache.add_member("index", member, self.LONG_TTL) is None
        assert cache.members("index") == {"a", "b", "ünï"}

    def test_remove_member(self, cache):
        cache.add_member("index", "a", self.LONG_TTL)
        cache.add_member("index", "b", self.LONG_TTL)
        assert cache.remove_member("index", "a") is True
        assert cache.remove_member("index", "a") is False
        assert cache.members("index") == {"b"}
        assert cache.remove_member("index", "b") is True
        assert cache.members("index") == set()

    def test_a_set_expires_with_its_ttl(self, cache, expire):
        cache.add_member("index", "a", self.SHORT_TTL)
        assert expire(lambda: cache.members("index") == set())

    def test_add_member_extends_but_never_shortens_the_ttl(self, cache, expire):
        cache.add_member("index", "a", self.LONG_TTL)
        cache.add_member("index", "b", self.SHORT_TTL)  # must not shorten the set's life
        cache.set("sentinel", 1, self.SHORT_TTL)
        assert expire(lambda: cache.get("sentinel") is None)
        assert cache.members("index") == {"a", "b"}
        cache.add_member("short", "x", self.SHORT_TTL)
        cache.add_member("short", "y", self.LONG_TTL)  # extends
        cache.set("sentinel", 1, self.SHORT_TTL)
        assert expire(lambda: cache.get("sentinel") is None)
        assert cache.members("short") == {"x", "y"}

    def test_add_member_rejects_invalid_ttls(self, cache):
        for ttl in INVALID_TTLS:
            with pytest.raises(ValueError):
                cache.add_member("index", "a", ttl)
        assert cache.members("index") == set()

    def test_concurrent_add_member_loses_no_member(self, cache):
        counter = iter(range(10**6))
        lock = threading.Lock()

        def add_one():
            with lock:
                number = next(counter)
            cache.add_member("index", f"m{number}", self.LONG_TTL)

        _run_together(add_one)
        assert cache.members("index") == {f"m{number}" for number in range(THREADS)}

    # get_and_add (one round trip)

    @pytest.mark.parametrize("form", GET_AND_ADD_FORMS)
    def test_get_and_add_reads_one_key_and_adds_another(self, cache, form):
        get_and_add = GET_AND_ADD_FORMS[form]
        cache.set("session", {"user": "alice"}, self.LONG_TTL)
        assert get_and_add(cache, "session", "nonce", b"1", self.LONG_TTL) == ({"user": "alice"}, True)
        assert get_and_add(cache, "session", "nonce", b"1", self.LONG_TTL) == ({"user": "alice"}, False)
        assert get_and_add(cache, "missing", "nonce-2", b"1", self.LONG_TTL) == (None, True)
        assert cache.get("nonce") == b"1" and cache.get("nonce-2") == b"1"

    def test_get_and_add_expires_the_added_key(self, cache, expire):
        cache.get_and_add("missing", "nonce", b"1", self.SHORT_TTL)
        assert expire(lambda: cache.add("nonce", b"1", self.LONG_TTL))

    @pytest.mark.parametrize("form", GET_AND_ADD_FORMS)
    def test_get_and_add_rejects_invalid_ttls(self, cache, form):
        for ttl in INVALID_TTLS:
            with pytest.raises(ValueError):
                # Started: raised by the first half, before anything is sent.
                GET_AND_ADD_FORMS[form](cache, "k", "nonce", b"1", ttl)
        assert cache.get("nonce") is None

    def test_a_started_get_and_add_never_finished_disturbs_nothing(self, cache):
        # A caller that raised between the two halves: the next operations on
        # this thread get their own answers, never the abandoned one's.
        cache.set("session", "first", self.LONG_TTL)
        cache.set("other", "second", self.LONG_TTL)
        cache.start_get_and_add("session", "nonce", b"1", self.LONG_TTL)
        assert cache.get("other") == "second"
        assert cache.get_and_add("other", "nonce-2", b"1", self.LONG_TTL) == ("second", True)
        # The abandoned half's commands were sent (or are done): its nonce is
        # recorded or not, but never half-written.
        assert cache.get("nonce") in (None, b"1")

    def test_concurrent_get_and_add_has_exactly_one_winner(self, cache):
        cache.set("session", "s", self.LONG_TTL)
        results = _run_together(lambda: cache.get_and_add("session", "nonce", b"1", self.LONG_TTL))
        assert all(found == "s" for found, _ in results)
        assert sum(added for _, added in results) == 1

    # a full cache refuses new entries; it never forgets one

    def assert_nothing_forgotten(self, cache, filler):
        for key, value in HELD.items():
            assert cache.get(key) == value, key
        assert cache.get("held-counter") in (2, 3)
        assert "a" in cache.members("held-index")
        assert all(cache.get(key) == FILLER_VALUE for key in filler)

    @pytest.mark.parametrize("write", NEW_ENTRY_WRITES)
    def test_a_full_cache_refuses_a_new_entry_and_forgets_nothing(self, small_cache, write):
        filler = self.fill(small_cache)
        for _ in range(3):  # and again: refusing is not a one-off
            with pytest.raises(CacheFull) as raised:
                NEW_ENTRY_WRITES[write](small_cache, self.LONG_TTL)
            # The type every policy turns into 503 + Retry-After.
            assert isinstance(raised.value, CacheUnavailable)
        self.assert_nothing_forgotten(small_cache, filler)
        assert small_cache.get("new-nonce") is None and small_cache.get("new-session") is None

    def test_a_full_cache_never_accepts_a_replay(self, small_cache):
        filler = self.fill(small_cache)
        for replay in (
            lambda: small_cache.add("held-nonce", b"1", self.LONG_TTL),
            lambda: small_cache.get_and_add("held-session", "held-nonce", b"1", self.LONG_TTL)[1],
            lambda: small_cache.start_get_and_add("held-session", "held-nonce", b"1", self.LONG_TTL)()[1],
        ):
            try:
                added = replay()
            except CacheFull:
                continue
            assert added is False
        self.assert_nothing_forgotten(small_cache, filler)

    def test_a_full_cache_still_reads_touches_pops_and_deletes(self, small_cache):
        filler = self.fill(small_cache)
        assert small_cache.get("held-session") == HELD["held-session"]
        assert small_cache.touch("held-session", self.LONG_TTL) is True
        assert small_cache.members("held-index") == {"a"}
        assert small_cache.pop("held-challenge") == HELD["held-challenge"]
        assert small_cache.pop("held-challenge") is None
        assert small_cache.delete(filler[0]) is True
        assert small_cache.remove_member("held-index", "a") is True
        assert small_cache.get("held-session") == HELD["held-session"]

    def test_updates_of_held_keys_work_or_are_refused_never_lost(self, small_cache):
        self.fill(small_cache)
        try:
            small_cache.set("held-session", {"userid": "bob"}, self.LONG_TTL)
        except CacheFull:
            pass
        assert small_cache.get("held-session") in (HELD["held-session"], {"userid": "bob"})
        try:
            assert small_cache.incr("held-counter", self.LONG_TTL) == 3
        except CacheFull:
            pass
        assert small_cache.get("held-counter") in (2, 3)
        try:
            small_cache.add_member("held-index", "b", self.LONG_TTL)
        except CacheFull:
            pass
        assert small_cache.members("held-index") in ({"a"}, {"a", "b"})

    def test_a_full_cache_takes_new_entries_again_once_some_are_deleted(self, small_cache):
        filler = self.fill(small_cache)
        with pytest.raises(CacheFull):
            small_cache.add("new-nonce", b"1", self.LONG_TTL)
        for key in filler:
            assert small_cache.delete(key) is True
        assert small_cache.add("new-nonce", b"1", self.LONG_TTL) is True
        assert small_cache.get("held-nonce") == b"1"
