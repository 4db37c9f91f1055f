"""Hawk sessions in the cache: creation, lookup, sliding TTL, revocation.

A session is created from a random 32-byte token. As in Kinto and
requests-hawk, the client derives its Hawk id and key from the token (HKDF,
:func:`~pyramid_authsuite.hawk.protocol.derive_session_credentials`); the
server does the same once, at creation, and stores the key.

The cache key of a session is an HMAC of the Hawk id under a key derived
from the server secret (its *reference*), so a dump of the cache does not
hold a usable id. Each account has an index (a cache set) of its sessions'
references, so all of them can be revoked at once.
"""
from __future__ import annotations

import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any, Callable

from pyramid_authsuite.hawk.session_token import derive_session_credentials
from pyramid_authsuite.secret import derived_key

SESSION_PREFIX = "hawk:session:"
INDEX_PREFIX = "hawk:sessions-of:"
NONCE_PREFIX = "hawk:nonce:"
# Decoded sessions kept per process, keyed by the stored record's bytes (so a
# changed or revoked record is never served from here: the cache is still
# read on every request). Cleared when full.
_DECODED_LIMIT = 10_000
_NONCE_VALUE = b"1"


@dataclass(frozen=True)
class HawkSession:
    """A session as the policy uses it. ``key`` is the Hawk key (ASCII hex, as requests-hawk uses it)."""

    ref: str
    userid: str
    key: bytes
    roles: tuple[str, ...]
    tenant: str | None


class HawkSessions:
    """Sessions of one application, in its cache.

    ``cache``
        The application's cache (memory or Redis).
    ``id_key``
        The key of the HMAC that turns a Hawk id into its cache reference.
    ``accounts``
        The account store, read again once a session is stored (see
        :meth:`create`); ``None`` skips that check.
    """

    def __init__(self, cache: Any, id_key: bytes, accounts: Any = None):
        self.cache = cache
        self._id_key = id_key
        self._accounts = accounts
        self._decoded: dict[bytes, HawkSession] = {}
        self._refs: dict[str, str] = {}

    def ref(self, hawk_id: str) -> str:
        """The cache reference of a Hawk id (memoized per process, bounded)."""
        ref = self._refs.get(hawk_id)
        if ref is None:
            ref = hmac.digest(self._id_key, hawk_id.encode("utf-8"), "sha256").hex()
            if len(self._refs) >= _DECODED_LIMIT:
                self._refs.clear()
            self._refs[hawk_id] = ref
        return ref

    def create(self, account: Any, ttl: int) -> str:
        """Start a session for ``account``; returns the token (64 hex characters) for the client.

        ``account``
            The account as the login read it (an :class:`~pyramid_authsuite.accounts.Account`).
        ``ttl``
            The session's lifetime in seconds (sliding).

        A change that ends the account's credentials (disabling, a new
        password, new roles, deletion) may land between the login's read of
        the account and this write, after its listener ended the sessions it
        could see: so the account is read again once the session is stored,
        and a session made from a state that is no longer the account's is
        ended at once (the token then authenticates nothing). Either that read
        sees the change, or the change's listener runs after it and finds the
        session in the account's index. No clock is involved.
        """
        token = secrets.token_hex(32)
        hawk_id, key = derive_session_credentials(token)
        ref = self.ref(hawk_id)
        record = {
            "userid": account.userid,
            "key": key.decode("ascii"),
            "roles": list(account.roles),
            "tenant": account.tenant,
            "created": int(time.time()),
        }
        # Stored as raw bytes so a lookup can reuse what it decoded before.
        self.cache.set(SESSION_PREFIX + ref, json.dumps(record, separators=(",", ":")).encode("utf-8"), ttl)
        self.cache.add_member(INDEX_PREFIX + account.userid, ref, ttl)
        self._prune_index(account.userid)
        if self._accounts is not None and not self._still_current(account):
            self.revoke(HawkSession(ref, account.userid, key, tuple(account.roles), account.tenant))
        return token

    def _still_current(self, account: Any) -> bool:
        """Whether the store still holds ``account`` as the login read it (same version, enabled)."""
        current = self._accounts.get(account.userid)
        if current is None or current.disabled:
            return False
        # Every change of the account increments its version (a login does
        # not); roles and tenant are what the session carries.
        return (
            getattr(current, "version", None) == getattr(account, "version", None)
            and tuple(current.roles) == tuple(account.roles)
            and current.tenant == account.tenant
        )

    def lookup(self, hawk_id: str) -> HawkSession | None:
        """The live session with this Hawk id, or ``None``."""
        ref = self.ref(hawk_id)
        return self._decode(ref, self.cache.get(SESSION_PREFIX + ref))

    def start_lookup_recording_nonce(
        self, hawk_id: str, ts: int, nonce: str, ttl: int
    ) -> Callable[[], tuple[HawkSession | None, bool]]:
        """The session, and whether ``(id, ts, nonce)`` was recorded now (``False``: seen before).

        One cache round trip for both, started here and answered by the
        returned callable: with Redis the commands are on their way when this
        returns, and the caller builds what the MAC covers while the server
        answers (see :meth:`pyramid_authsuite.cache.Cache.start_get_and_add`).
        The caller checks the timestamp before and the MAC after, and calls
        :meth:`forget_nonce` when the MAC does not verify, so that a forged
        request leaves nothing behind.
        """
        ref = self.ref(hawk_id)
        answer = self.cache.start_get_and_add(SESSION_PREFIX + ref, self._nonce_key(ref, ts, nonce), _NONCE_VALUE, ttl)

        def finish() -> tuple[HawkSession | None, bool]:
            stored, fresh = answer()
            return self._decode(ref, stored), fresh

        return finish

    def forget_nonce(self, hawk_id: str, ts: int, nonce: str) -> None:
        """Undo :meth:`start_lookup_recording_nonce`'s record (for a request that failed verification)."""
        self.cache.delete(self._nonce_key(self.ref(hawk_id), ts, nonce))

    @staticmethod
    def _nonce_key(ref: str, ts: int, nonce: str) -> str:
        return f"{NONCE_PREFIX}{ref}:{ts}:{nonce}"

    def _decode(self, ref: str, stored: Any) -> HawkSession | None:
        if not isinstance(stored, bytes):
            return None
        session = self._decoded.get(stored)
        if session is None or session.ref != ref:
            record = json.loads(stored)
            session = HawkSession(
                ref=ref,
                userid=record["userid"],
                key=record["key"].encode("ascii"),
                roles=tuple(record.get("roles") or ()),
                tenant=record.get("tenant"),
            )
            if len(self._decoded) >= _DECODED_LIMIT:
                self._decoded.clear()
            self._decoded[stored] = session
        return session

    def refresh(self, session: HawkSession, ttl: int) -> None:
        """Slide the session's TTL (and its index's). ``touch`` never recreates a
        revoked session, so a refresh racing a revocation cannot undo it."""
        if self.cache.touch(SESSION_PREFIX + session.ref, ttl):
            self.cache.add_member(INDEX_PREFIX + session.userid, session.ref, ttl)

    def revoke(self, session: HawkSession) -> bool:
        """End one session; ``True`` if it was live."""
        self.cache.remove_member(INDEX_PREFIX + session.userid, session.ref)
        return self.cache.delete(SESSION_PREFIX + session.ref)

    def revoke_all(self, userid: str) -> int:
        """End every session of an account; returns how many were live."""
        ended = 0
        for ref in self.cache.members(INDEX_PREFIX + userid):
            ended += self.cache.delete(SESSION_PREFIX + ref)
            self.cache.remove_member(INDEX_PREFIX + userid, ref)
        return ended

    def _prune_index(self, userid: str) -> None:
        # Expired sessions leave their reference behind; drop them at each
        # login so an index stays as small as the account's live sessions.
        index = INDEX_PREFIX + userid
        for ref in self.cache.members(index):
            if self.cache.get(SESSION_PREFIX + ref) is None:
                self.cache.remove_member(index, ref)


def sessions_for(registry: Any) -> HawkSessions:
    """The application's session store (built once per registry)."""
    sessions = getattr(registry, "_authsuite_hawk_sessions", None)
    if sessions is None:
        sessions = registry._authsuite_hawk_sessions = HawkSessions(
            registry.authsuite_cache,
            derived_key(registry, "hawk session ids"),
            getattr(registry, "authsuite_accounts", None),
        )
    return sessions
