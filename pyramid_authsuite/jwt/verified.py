"""The verified-token cache: repeated tokens skip signature and claim checks.

Keyed by the SHA-256 of the token (a memory dump holds no usable token),
bounded, in this process only. Only tokens that passed verification are
stored, so a client cannot fill it with junk. An entry never outlives the
token's ``exp`` nor the configured TTL; what may change while a token lives
(revocation, the account's credentials being ended, the account being
disabled) is checked by the policy on every request, cached or not.

Verified claims are shared by every request that presents the same token,
so they are read-only all the way down (:func:`freeze_claims`): a view that
tried to change ``request.identity.claims`` would otherwise change them for
the next request.
"""
from __future__ import annotations

import itertools
import threading
from types import MappingProxyType
from typing import Any, Mapping, NamedTuple

from pyramid_authsuite.jwt.protocol import TokenError

MAX_CLAIM_DEPTH = 32


class TokenEntry(NamedTuple):
    """What verifying one token established; shared by every request presenting it.

    ``verdict`` holds the identity (a :class:`~pyramid_authsuite.policy.Verdict`);
    ``expires_at`` is the token's ``exp``; ``revocation_key`` names it in the
    revocation list (from ``iss`` and ``jti``, or its signed part when it has
    no ``jti``); ``cache_until`` is when the verified-token cache forgets it;
    ``issued_at`` is its ``iat`` (``None`` if it has none), compared on every
    request with the account's cutoff (:mod:`pyramid_authsuite.revocation`).
    (A named tuple: cheap to build. Here, beside the cache that holds it, so
    the policy that builds it and the issuer that revokes by it share it.)
    """

    verdict: Any
    userid: str
    expires_at: float
    revocation_key: str
    cache_until: float
    issued_at: float | None = None


class FrozenDict(dict):
    """A ``dict`` that refuses changes (and still serializes as JSON like any dict)."""

    def _read_only(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("verified JWT claims are read-only")

    __setitem__ = __delitem__ = __ior__ = _read_only  # type: ignore[assignment]
    clear = pop = popitem = setdefault = update = _read_only  # type: ignore[assignment]

    def copy(self) -> dict:  # type: ignore[override]
        """A plain, mutable copy."""
        return dict(self)

    def __hash__(self) -> int:  # type: ignore[override]
        # Immutable, so hashable by content, like the tuples arrays become;
        # computed once.
        cached = self.__dict__.get("_hash")
        if cached is None:
            cached = self.__dict__["_hash"] = hash(frozenset(self.items()))
        return cached


def freeze(value: Any, depth: int = 0) -> Any:
    """JSON values made immutable: objects become :class:`FrozenDict`, arrays tuples."""
    if depth > MAX_CLAIM_DEPTH:
        raise TokenError("The access token claims are nested too deeply.")
    kind = type(value)
    if kind is dict:
        if _CONTAINERS.isdisjoint(map(type, value.values())):
            return FrozenDict(value)
        return FrozenDict({name: freeze(item, depth + 1) if type(item) in _CONTAINERS else item for name, item in value.items()})
    if kind is list:
        # The usual array (roles, scopes, audiences) holds strings only: one
        # C-level scan of the item types, then a C-level copy.
        if _CONTAINERS.isdisjoint(map(type, value)):
            return tuple(value)
        return tuple([freeze(item, depth + 1) if type(item) in _CONTAINERS else item for item in value])
    return value


def freeze_claims(claims: dict[str, Any]) -> Mapping[str, Any]:
    """The verified claims, read-only all the way down, without copying the top level.

    ``claims`` is the dict the JSON decoder just built and nobody else holds:
    its nested arrays and objects are replaced in place by frozen ones, and it
    is handed out behind a read-only proxy.
    """
    if not _CONTAINERS.isdisjoint(map(type, claims.values())):
        for name, item in claims.items():
            kind = type(item)
            # Replacing a value, not a key, is safe while iterating.
            if kind is list and _CONTAINERS.isdisjoint(map(type, item)):
                claims[name] = tuple(item)  # the usual array of strings, without a call to freeze
            elif kind in _CONTAINERS:
                claims[name] = freeze(item, 1)
    return MappingProxyType(claims)


# What the JSON decoder builds that is mutable (a set: isdisjoint runs in C).
_CONTAINERS = frozenset((dict, list))


class VerifiedTokenCache:
    """SHA-256 of a token -> an entry with a ``cache_until`` time (seconds since the epoch).

    ``max_entries``
        The bound; 0 turns the cache off. When full, the oldest eighth of
        the entries is dropped (entries are inserted in roughly the order
        they expire, and dropping a batch keeps each insertion O(1) on average).

    Lookups and insertions below the bound take no lock (one atomic dict
    operation each); eviction does.
    """

    def __init__(self, max_entries: int):
        self.max_entries = max_entries
        self._entries: dict[bytes, Any] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, digest: bytes, now: float) -> Any:
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if entry.cache_until <= now:
            self._entries.pop(digest, None)
            return None
        return entry

    def put(self, digest: bytes, entry: Any, now: float) -> None:
        if self.max_entries <= 0 or entry.cache_until <= now:
            return
        entries = self._entries
        if len(entries) < self.max_entries:
            entries[digest] = entry  # one atomic dict assignment; no lock needed
            return
        with self._lock:
            if len(entries) >= self.max_entries:
                victims = list(itertools.islice(entries, max(1, self.max_entries // 8)))
                for victim in victims:
                    entries.pop(victim, None)
            entries[digest] = entry

    def discard(self, digest: bytes) -> None:
        self._entries.pop(digest, None)

    def clear(self) -> None:
        self._entries.clear()
