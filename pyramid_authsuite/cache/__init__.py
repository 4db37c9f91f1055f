"""The replay and session cache: one contract, one module per backend.

The backend is chosen by URL (``authsuite.cache_url``):

- ``memory://`` (default): :class:`pyramid_authsuite.cache.memory.MemoryCache`,
  in-process, thread-safe, expiring and bounded. One process only.
- ``redis://host:6379/0``, ``rediss://...``, ``unix:///path/to/socket?db=0``:
  :class:`pyramid_authsuite.cache.redis.RedisCache`, shared by every process
  and machine that points at the same server.

Every operation is atomic on every backend. Keys are strings, namespaced by the
backend with the configured prefix. Values are ``bytes`` or anything
``json.dumps`` accepts; what ``get`` returns has been through the same encoding
on every backend (a tuple comes back as a list), so code tested against memory
behaves the same on Redis. TTLs are in seconds (int or float, > 0).

A backend that cannot be reached raises :class:`CacheUnavailable` and nothing
else; callers turn it into 503, never into "authenticated".

A cache never forgets security state before its TTL. Nonces, consumed
challenges, revocations, sessions and failure counters all live here, and
forgetting one early would make a captured request acceptable again, log a
session out or reset a lockout, so no backend may evict an unexpired entry to
make room, whatever traffic fills it. When a backend is full:

- a write that would create a new entry (``add``, ``set``, ``incr``,
  ``add_member`` on an absent key, the add half of ``get_and_add``) raises
  :class:`CacheFull`, a :class:`CacheUnavailable`: the request fails closed
  (503 + ``Retry-After``);
- reads, ``delete``, ``pop`` and ``touch`` keep working;
- a write to a key already held either works (memory) or raises
  :class:`CacheFull` (Redis refuses every growing write once past
  ``maxmemory``), and never loses the key: ``add`` on a held key answers
  ``False`` or raises, never ``True``.

The memory backend is full at ``max_entries`` unexpired entries (expired ones
are purged first). Redis is full at ``maxmemory``, and must run with
``maxmemory-policy noeviction`` for that to be a refusal rather than a silent
eviction; :class:`~pyramid_authsuite.cache.redis.RedisCache` checks it on every
new connection (``authsuite.cache_eviction_check``).
"""
from __future__ import annotations

import abc
import json
import math
from typing import Any, Callable, Sequence

from pyramid_authsuite.exceptions import CacheFull, CacheUnavailable

__all__ = [
    "Cache",
    "CacheUnavailable",
    "CacheFull",
    "CacheMisconfigured",
    "encode_value",
    "decode_value",
    "check_ttl",
    "cache_from_url",
]


class CacheMisconfigured(CacheUnavailable):
    """The cache server is set up so that it could forget security state early.

    Raised for a Redis server whose ``maxmemory-policy`` is not
    ``noeviction`` while ``authsuite.cache_eviction_check = refuse``: by
    operations (503, like any outage) and by
    :meth:`Cache.check_configuration` at start-up, which the application
    turns into a ``ConfigurationError``.
    """

# One byte of type tag in front of every stored value, so that bytes and JSON
# round-trip unambiguously through backends that only store bytes.
_BYTES_TAG = b"b"
_JSON_TAG = b"j"


def encode_value(value: Any) -> bytes:
    """Serialize a cache value: raw bytes kept as they are, anything else as JSON.

    ``None`` is refused: ``get`` answers ``None`` for a missing key, so a
    stored ``None`` could not be told apart from an absent one.
    """
    if value is None:
        raise TypeError("None cannot be stored in the cache (it reads as a missing key)")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _BYTES_TAG + bytes(value)
    return _JSON_TAG + json.dumps(value, separators=(",", ":")).encode("utf-8")


def decode_value(stored: bytes | None) -> Any:
    """Inverse of :func:`encode_value`; ``None`` stays ``None``."""
    if stored is None:
        return None
    tag, payload = stored[:1], stored[1:]
    if tag == _BYTES_TAG:
        return payload
    if tag == _JSON_TAG:
        return json.loads(payload)
    raise ValueError("cache value has an unknown type tag")


def check_ttl(ttl: float) -> float:
    """Reject TTLs that would make an entry immortal or already dead.

    Infinity is refused too: an immortal nonce or session is a bug, and Redis
    cannot store one.
    """
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0 or not math.isfinite(ttl):
        raise ValueError(f"ttl must be a positive, finite number of seconds, got {ttl!r}")
    return ttl


class Cache(abc.ABC):
    """The contract every cache backend implements.

    Arguments common to all backends:

    ``prefix``
        Prepended to every key, so several applications can share one server.
    """

    def __init__(self, prefix: str = "authsuite:"):
        self.prefix = prefix

    @abc.abstractmethod
    def add(self, key: str, value: Any, ttl: float) -> bool:
        """Store ``value`` only if ``key`` is absent (or expired).

        Returns ``True`` if this call stored it. This is the replay primitive:
        of any number of concurrent ``add`` calls on one key, exactly one wins.
        """

    @abc.abstractmethod
    def get(self, key: str) -> Any:
        """Return the value stored at ``key``, or ``None``."""

    def get_many(self, keys: Sequence[str]) -> list[Any]:
        """The values stored at ``keys``, in their order (``None`` for each one missing).

        One round trip on a networked backend (Redis: one ``MGET``), for a
        request path that must read several records: a JWT's revocation and
        its account's cutoff. Each value is read atomically, as by :meth:`get`;
        the set of them is not a snapshot. This default reads them one by one.

        ``keys``
            A sequence of keys (may be empty).
        """
        return [self.get(key) for key in keys]

    @abc.abstractmethod
    def set(self, key: str, value: Any, ttl: float) -> None:
        """Store ``value`` at ``key``, replacing any value and TTL."""

    @abc.abstractmethod
    def delete(self, key: str) -> bool:
        """Remove ``key``; ``True`` if it was there."""

    @abc.abstractmethod
    def pop(self, key: str) -> Any:
        """Get and delete in one atomic step (single-use challenges); ``None`` if absent.

        Of concurrent ``pop`` calls on one key, exactly one gets the value.
        """

    @abc.abstractmethod
    def touch(self, key: str, ttl: float) -> bool:
        """Reset the TTL of an existing key (sliding sessions); ``False`` if absent."""

    @abc.abstractmethod
    def incr(self, key: str, ttl: float) -> int:
        """Add one to the counter at ``key`` and return the new count.

        A missing key starts at 0 and gets ``ttl``; later increments keep the
        TTL it got then (a fixed window, for rate limits).
        """

    @abc.abstractmethod
    def get_and_add(self, key: str, add_key: str, value: Any, ttl: float) -> tuple[Any, bool]:
        """``(get(key), add(add_key, value, ttl))`` in one round trip.

        For schemes that look a credential up and record its nonce in the same
        request (Hawk): each half is atomic as ``get`` and ``add`` are; the
        pair costs one network round trip instead of two.
        """

    def start_get_and_add(self, key: str, add_key: str, value: Any, ttl: float) -> Callable[[], tuple[Any, bool]]:
        """:meth:`get_and_add` in two halves: start it now, call the result for its answer.

        A backend behind a network sends the commands here and reads the
        replies in the returned callable, so the caller can do work that does
        not depend on the answer while the server answers. Call the result
        exactly once, on the same thread, before any other operation on this
        cache there; a backend must survive a caller that never does (an
        exception in between) without ever handing that answer to another
        caller. Errors are those of :meth:`get_and_add`, raised by either half.

        This default does it all at once.
        """
        answer = self.get_and_add(key, add_key, value, ttl)
        return lambda: answer

    # Sets of strings, for indexes (an account's Hawk sessions). A key holding
    # a set is only ever used with these three operations.

    @abc.abstractmethod
    def add_member(self, key: str, member: str, ttl: float) -> None:
        """Add ``member`` to the set at ``key`` (created if absent).

        The set's TTL becomes ``ttl`` if that is longer than what it has left,
        so an index lives at least as long as the newest thing it indexes.
        """

    @abc.abstractmethod
    def members(self, key: str) -> set[str]:
        """The members of the set at ``key`` (empty if absent)."""

    @abc.abstractmethod
    def remove_member(self, key: str, member: str) -> bool:
        """Remove ``member`` from the set; ``True`` if it was there."""

    def check_configuration(self) -> None:
        """Check, once at start-up, that the backend cannot forget entries early.

        Raises :class:`CacheMisconfigured` if it could; a backend that cannot
        be reached yet is not an error here. The default does nothing.
        """

    def close(self) -> None:
        """Release connections; the default does nothing."""


def cache_from_url(
    url: str,
    *,
    prefix: str = "authsuite:",
    max_entries: int = 100_000,
    timeout_seconds: float = 1.0,
    eviction_check: str = "refuse",
) -> Cache:
    """Build the backend a URL names; unknown schemes raise ``ValueError``.

    ``max_entries`` bounds the memory backend; ``timeout_seconds`` bounds every
    Redis connect and command, so an unreachable server fails fast (503);
    ``eviction_check`` (``"refuse"`` or ``"warn"``) says what Redis does on a
    server that may evict keys (see :class:`~pyramid_authsuite.cache.redis.RedisCache`).
    Nothing is connected here: see :meth:`Cache.check_configuration`.
    """
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme == "memory":
        from pyramid_authsuite.cache.memory import MemoryCache

        return MemoryCache(prefix=prefix, max_entries=max_entries)
    if scheme in ("redis", "rediss", "unix"):
        from pyramid_authsuite.cache.redis import RedisCache

        return RedisCache(url, prefix=prefix, timeout_seconds=timeout_seconds, eviction_check=eviction_check)
    raise ValueError(f"unsupported cache URL scheme {scheme!r} (use memory://, redis://, rediss:// or unix://)")
