"""HMAC (RFC 2104) with the keyed hash states computed once per key.

HMAC hashes ``(key XOR ipad)`` and ``(key XOR opad)``, one block each, before
any message byte. Those two states depend on the key alone, so they are
computed once and copied for each message: a Hawk MAC, a JWT HS256 signature
or an RFC 9421 hmac-sha256 signature then hashes only its own data. That is
about half the cost of ``hmac.digest``, which re-derives them on every call
(measured on the schemes' hot paths; the results are byte for byte those of
the standard library's ``hmac``, which the tests check for every key length).

* :class:`HMACState` -- the states of one key and hash, held by whoever owns
  the key (a JWT verification key);
* :class:`HMACStates` -- a bounded map of them, for code handed keys one
  request at a time (Hawk sessions, RFC 9421 service keys). It is cleared
  when full rather than evicting one by one: the next request of each key
  pays the derivation again, and a flood of new keys cannot grow it.

Compare the results in constant time (``hmac.compare_digest``); this module
only computes them. Stdlib only: no scheme and no web framework.
"""
from __future__ import annotations

from typing import Any, Callable

__all__ = ["HMACState", "HMACStates"]

# XOR with 0x36 / 0x5C of every byte, as bytes.translate tables: one C pass
# builds each padded key.
_IPAD = bytes(byte ^ 0x36 for byte in range(256))
_OPAD = bytes(byte ^ 0x5C for byte in range(256))


class HMACState:
    """The keyed inner and outer hash states of HMAC for one key and hash.

    ``key``
        The secret's bytes, of any length (longer than the hash's block
        size, it is hashed first, as RFC 2104 section 2 says).
    ``hash_constructor``
        A ``hashlib`` constructor (``hashlib.sha256``...) whose objects have
        ``block_size``, ``update``, ``copy`` and ``digest``.
    """

    __slots__ = ("inner", "outer")

    def __init__(self, key: bytes, hash_constructor: Callable[..., Any]):
        inner = hash_constructor()
        block_size = inner.block_size
        if len(key) > block_size:
            key = hash_constructor(key).digest()
        block = bytes(key).ljust(block_size, b"\0")
        inner.update(block.translate(_IPAD))
        outer = hash_constructor()
        outer.update(block.translate(_OPAD))
        self.inner = inner
        self.outer = outer

    def mac(self, message: bytes) -> bytes:
        """The HMAC of ``message`` (bytes-like), as raw bytes."""
        inner = self.inner.copy()
        inner.update(message)
        outer = self.outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def __repr__(self) -> str:
        return f"HMACState({self.inner.name})"  # nothing derived from the key


class HMACStates:
    """A bounded cache of :class:`HMACState` by ``(key, hash constructor)``.

    ``limit``
        How many keys it holds; when full it is cleared before the next one
        is added.
    """

    __slots__ = ("_states", "_limit")

    def __init__(self, limit: int):
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self._states: dict[tuple[bytes, Callable[..., Any]], HMACState] = {}
        self._limit = limit

    def state(self, key: bytes, hash_constructor: Callable[..., Any]) -> HMACState:
        """The state of ``key`` for ``hash_constructor``, derived on first use."""
        state = self._states.get((key, hash_constructor))
        if state is None:
            state = HMACState(key, hash_constructor)
            if len(self._states) >= self._limit:
                self._states.clear()
            self._states[key, hash_constructor] = state
        return state

    def mac(self, key: bytes, hash_constructor: Callable[..., Any], message: bytes) -> bytes:
        """``HMAC(key, message)`` with ``hash_constructor``, as raw bytes: the hot path, one call."""
        state = self._states.get((key, hash_constructor))
        if state is None:
            state = self.state(key, hash_constructor)
        inner = state.inner.copy()
        inner.update(message)
        outer = state.outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def __len__(self) -> int:
        return len(self._states)

    def clear(self) -> None:
        """Forget every state (a key was revoked, or a test wants a cold cache)."""
        self._states.clear()
