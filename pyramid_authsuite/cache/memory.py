"""In-process cache backend (``memory://``): expiring, bounded and thread-safe."""
from __future__ import annotations

import heapq
import logging
import re
import threading
import time
from typing import Any, Callable, Sequence

from pyramid_authsuite.cache import Cache, check_ttl, decode_value, encode_value
from pyramid_authsuite.exceptions import CacheFull

__all__ = ["MemoryCache"]

logger = logging.getLogger(__name__)

# A counter is stored as the JSON encoding of an integer, exactly as the Redis
# backend's increment script stores it, so ``get`` reads counters the same way
# on both and ``incr`` accepts (and rejects) the same existing values: ASCII
# digits only, and at most 15 of them, where the script's Lua doubles are exact.
_COUNTER = re.compile(rb"j(-?[0-9]{1,15})")

# Rebuild the expiry heap once stale records outnumber live entries by this
# much, so overwrites, touches and deletes cannot grow it without bound.
_HEAP_SLACK = 64


class MemoryCache(Cache):
    """A cache held in this process's memory.

    Only for a single process: every worker process has its own cache, so a
    nonce recorded by one is unknown to the others. Use Redis when the
    application runs more than one process.

    Constructor arguments:

    ``prefix``
        Prepended to every key (see :class:`~pyramid_authsuite.cache.Cache`).
    ``max_entries``
        The most entries held at once (a positive int, default 100 000).
    ``clock``
        A function returning the current time in seconds, monotonic. Defaults
        to :func:`time.monotonic`; tests pass a fake clock to move time forward
        without sleeping.

    Every operation runs under one lock, so each is atomic with respect to the
    others: of concurrent ``add`` calls on one key exactly one wins, of
    concurrent ``pop`` calls exactly one gets the value.

    Values are stored encoded with :func:`~pyramid_authsuite.cache.encode_value`
    and decoded on the way out, so a value comes back exactly as it would from
    Redis (a tuple as a list, a fresh object rather than the one stored).

    Expiry and the bound
    --------------------
    An entry expires ``ttl`` seconds after it was stored (or last touched) and
    is never returned after that; expired entries are dropped when they are
    read and, in bulk, when the cache is full.

    An unexpired entry is **never** dropped to make room: it may be a nonce, a
    consumed challenge, a revocation, a session or a failure counter, and
    forgetting one early would let a captured request be replayed, log a
    session out or reset a lockout. When storing a *new* key would exceed
    ``max_entries``, expired entries are purged (cheaply: the soonest-expiring
    first, from a heap); if the cache is still full the write raises
    :class:`~pyramid_authsuite.exceptions.CacheFull`, which the policies turn
    into ``503`` + ``Retry-After`` like any other outage. Reads, deletes, pops,
    touches and updates of keys already held keep working. So a flood of
    traffic that creates entries can make the service refuse requests until
    entries expire, never accept one it should refuse. Size ``max_entries``
    above the live entries at peak (for nonces: request rate times their TTL;
    plus sessions, failure counters and pending challenges), and use Redis for
    anything large.
    """

    def __init__(
        self,
        prefix: str = "authsuite:",
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ):
        super().__init__(prefix=prefix)
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise ValueError(f"max_entries must be a positive integer, got {max_entries!r}")
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        # key -> (expires_at, encoded value).
        self._entries: dict[str, tuple[float, bytes]] = {}
        # (expires_at, key) min-heap to find expired entries without scanning
        # everything. Records go stale when an entry is overwritten, touched or
        # removed; a record is current only if it matches the entry's expiry.
        self._expiries: list[tuple[float, str]] = []
        # Whether the last write that needed room found none: a full cache is
        # logged once when it fills up, not once per refused write.
        self._full = False

    def __len__(self) -> int:
        """Entries held right now, including expired ones not yet purged."""
        with self._lock:
            return len(self._entries)

    # Internal helpers; all of them expect the lock to be held.

    def _live(self, full_key: str, now: float) -> tuple[float, bytes] | None:
        """The entry at ``full_key`` if it has not expired; drops it if it has."""
        entry = self._entries.get(full_key)
        if entry is None:
            return None
        if entry[0] <= now:
            del self._entries[full_key]
            return None
        return entry

    def _purge_expired(self, now: float) -> None:
        heap = self._expiries
        while heap and heap[0][0] <= now:
            expires_at, full_key = heapq.heappop(heap)
            entry = self._entries.get(full_key)
            if entry is not None and entry[0] == expires_at:
                del self._entries[full_key]

    def _schedule(self, full_key: str, expires_at: float) -> None:
        heapq.heappush(self._expiries, (expires_at, full_key))
        if len(self._expiries) > 2 * len(self._entries) + _HEAP_SLACK:
            self._expiries = [(entry[0], k) for k, entry in self._entries.items()]
            heapq.heapify(self._expiries)

    def _make_room(self, now: float) -> None:
        """Room for one new key, or :class:`CacheFull`; never drops a live entry."""
        self._purge_expired(now)
        if len(self._entries) >= self.max_entries:
            if not self._full:
                self._full = True
                logger.warning(
                    "memory cache full (%d unexpired entries, authsuite.cache_max_entries): refusing new "
                    "entries until some expire; requests that need one get 503",
                    len(self._entries),
                )
            raise CacheFull("memory cache full: no room for a new entry before some expire")

    def _store(self, full_key: str, stored: bytes, expires_at: float, now: float) -> None:
        """Insert or replace an entry; a new key needs room (see :meth:`_make_room`)."""
        entries = self._entries
        if full_key not in entries:
            if len(entries) >= self.max_entries:
                self._make_room(now)
            if self._full:
                self._full = False
                logger.warning("memory cache has room for new entries again (%d held)", len(entries))
        entries[full_key] = (expires_at, stored)
        self._schedule(full_key, expires_at)

    # The contract.

    def add(self, key: str, value: Any, ttl: float) -> bool:
        ttl = check_ttl(ttl)
        stored = encode_value(value)
        full_key = self.prefix + key
        with self._lock:
            now = self._clock()
            if self._live(full_key, now) is not None:
                return False
            self._store(full_key, stored, now + ttl, now)
            return True

    def get(self, key: str) -> Any:
        with self._lock:
            entry = self._live(self.prefix + key, self._clock())
        return None if entry is None else decode_value(entry[1])

    def get_many(self, keys: Sequence[str]) -> list[Any]:
        # On the JWT request path: _live() inlined, and nothing decoded for
        # the usual answer (no key there).
        prefix = self.prefix
        entries = self._entries
        found = []
        with self._lock:
            now = self._clock()
            for key in keys:
                entry = entries.get(prefix + key)
                if entry is not None and entry[0] <= now:
                    del entries[prefix + key]
                    entry = None
                found.append(entry)
        return [None if entry is None else decode_value(entry[1]) for entry in found]

    def get_and_add(self, key: str, add_key: str, value: Any, ttl: float) -> tuple[Any, bool]:
        # get() and add() under one lock, with _live() inlined: a Hawk request's
        # only cache operation.
        ttl = check_ttl(ttl)
        stored = encode_value(value)
        full_key = self.prefix + key
        full_add_key = self.prefix + add_key
        entries = self._entries
        with self._lock:
            now = self._clock()
            entry = entries.get(full_key)
            if entry is not None and entry[0] <= now:
                del entries[full_key]
                entry = None
            existing = entries.get(full_add_key)
            if existing is not None and existing[0] <= now:
                del entries[full_add_key]
                existing = None
            added = existing is None
            if added:
                self._store(full_add_key, stored, now + ttl, now)
        return (None if entry is None else decode_value(entry[1])), added

    def set(self, key: str, value: Any, ttl: float) -> None:
        ttl = check_ttl(ttl)
        stored = encode_value(value)
        with self._lock:
            now = self._clock()
            self._store(self.prefix + key, stored, now + ttl, now)

    def delete(self, key: str) -> bool:
        full_key = self.prefix + key
        with self._lock:
            if self._live(full_key, self._clock()) is None:
                return False
            del self._entries[full_key]
            return True

    def pop(self, key: str) -> Any:
        full_key = self.prefix + key
        with self._lock:
            entry = self._live(full_key, self._clock())
            if entry is None:
                return None
            del self._entries[full_key]
        return decode_value(entry[1])

    def touch(self, key: str, ttl: float) -> bool:
        ttl = check_ttl(ttl)
        full_key = self.prefix + key
        with self._lock:
            now = self._clock()
            entry = self._live(full_key, now)
            if entry is None:
                return False
            self._entries[full_key] = (now + ttl, entry[1])
            self._schedule(full_key, now + ttl)
            return True

    def incr(self, key: str, ttl: float) -> int:
        ttl = check_ttl(ttl)
        full_key = self.prefix + key
        with self._lock:
            now = self._clock()
            entry = self._live(full_key, now)
            if entry is None:
                self._store(full_key, encode_value(1), now + ttl, now)
                return 1
            match = _COUNTER.fullmatch(entry[1])
            if match is None:
                raise ValueError("the value stored at this key is not a counter")
            count = int(match.group(1)) + 1
            # Same expiry: a fixed window.
            self._entries[full_key] = (entry[0], encode_value(count))
            return count

    # Sets are stored as a sorted JSON list, like any value: indexes are small
    # (an account's sessions), and the entry keeps one shape in the bound.

    def add_member(self, key: str, member: str, ttl: float) -> None:
        ttl = check_ttl(ttl)
        full_key = self.prefix + key
        with self._lock:
            now = self._clock()
            entry = self._live(full_key, now)
            members = set(decode_value(entry[1])) if entry is not None else set()
            members.add(str(member))
            stored = encode_value(sorted(members))
            if entry is None:
                self._store(full_key, stored, now + ttl, now)
            else:
                expires_at = max(entry[0], now + ttl)
                self._entries[full_key] = (expires_at, stored)
                self._schedule(full_key, expires_at)

    def members(self, key: str) -> set[str]:
        with self._lock:
            entry = self._live(self.prefix + key, self._clock())
        return set(decode_value(entry[1])) if entry is not None else set()

    def remove_member(self, key: str, member: str) -> bool:
        full_key = self.prefix + key
        with self._lock:
            entry = self._live(full_key, self._clock())
            if entry is None:
                return False
            members = set(decode_value(entry[1]))
            if member not in members:
                return False
            members.discard(member)
            if members:
                self._entries[full_key] = (entry[0], encode_value(sorted(members)))
            else:
                del self._entries[full_key]
            return True
