"""The verified-credentials cache: Basic on every request without Argon2id on every request.

Like Kinto's ``account_cache_ttl_seconds``: a userid and password that
verified against the account store are remembered, in the application's
cache (memory, or Redis shared by every process), for a few seconds, so the
next request with the same credentials costs a cache read instead of an
Argon2id verification. Off unless the policy's ``credentials_cache_seconds``
is set. Records:

``basic:verified:<ref>``
    ``<ref>`` is an HMAC-SHA256 of the userid and password under a key
    derived from the server secret: the cache never holds the password nor
    anything a dump could test guesses against without that secret. The
    value is what the identity needs (userid, roles, tenant).
``basic:verified-of:<userid>``
    The set of a userid's refs, so that :func:`forget_verified_logins` can
    drop them all without knowing the password.
``basic:verified-epoch:<userid>``
    Bumped by :func:`forget_verified_logins`. A login that was being
    verified while the password changed (it read the old hash) sees the
    epoch move and drops what it wrote, so no stale record survives.

Only credentials that verified are written (one record per account and
password), so nobody can fill the cache by guessing.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Any, NamedTuple

from pyramid_authsuite.exceptions import CacheFull

__all__ = ["VerifiedLogin", "forget_verified_logins", "look_up", "login_epoch", "remember", "MAX_SECONDS"]

logger = logging.getLogger(__name__)

ENTRY_PREFIX = "basic:verified:"
INDEX_PREFIX = "basic:verified-of:"
EPOCH_PREFIX = "basic:verified-epoch:"
#: Purpose of the key the refs are made with.
REF_KEY_PURPOSE = "authsuite basic verified-login v1"
#: The longest a verified login may be remembered.
MAX_SECONDS = 300
# The epoch outlives any verification in flight when it is bumped.
_EPOCH_SECONDS = 3600


class VerifiedLogin(NamedTuple):
    """An account as the identity needs it (what :func:`~pyramid_authsuite.identity.account_principals` reads)."""

    userid: str
    roles: tuple[str, ...]
    tenant: str | None


def login_ref(ref_key: bytes, userid: str, password: str) -> str:
    """The record's name for these credentials (length-prefixed, so no two pairs share one)."""
    user = userid.encode("utf-8")
    message = len(user).to_bytes(2, "big") + user + password.encode("utf-8")
    return hmac.new(ref_key, message, hashlib.sha256).hexdigest()


def look_up(cache: Any, ref: str, userid: str) -> VerifiedLogin | None:
    """The verified login remembered under ``ref``, or None."""
    value = cache.get(ENTRY_PREFIX + ref)
    if not isinstance(value, dict) or value.get("u") != userid:
        return None
    return VerifiedLogin(userid, tuple(value.get("r") or ()), value.get("t"))


def login_epoch(cache: Any, userid: str) -> Any:
    """The userid's epoch, read before its account is; give it to :func:`remember`."""
    return cache.get(EPOCH_PREFIX + userid)


def remember(cache: Any, ref: str, account: Any, seconds: int, epoch: Any) -> bool:
    """Remember a login that just verified; False if it could not be (it is then simply not cached).

    ``epoch`` is :func:`login_epoch` as read before the account was: if it
    moved meanwhile, the password may have changed under this verification,
    and the record is dropped again.
    """
    userid = account.userid
    try:
        cache.set(ENTRY_PREFIX + ref, {"u": userid, "r": list(account.roles), "t": account.tenant}, seconds)
        cache.add_member(INDEX_PREFIX + userid, ref, seconds)
    except CacheFull:
        cache.delete(ENTRY_PREFIX + ref)
        logger.warning("cache full: a verified Basic login was not cached")
        return False
    if login_epoch(cache, userid) != epoch:
        cache.delete(ENTRY_PREFIX + ref)
        return False
    return True


def forget_verified_logins(cache: Any, userid: str) -> int:
    """Drop every remembered login of ``userid``, for every process sharing ``cache``.

    Call it after changing the account's password, disabling or deleting it
    (``authsuite set-password``, ``disable-user`` and ``delete-user`` do).
    Returns how many records were dropped.

    ``cache``
        The application's cache (``registry.authsuite_cache``). With
        ``memory://`` only this process's records can be reached.
    ``userid``
        The account.
    """
    # First the epoch, so that a verification in flight drops what it writes.
    cache.incr(EPOCH_PREFIX + userid, _EPOCH_SECONDS)
    dropped = 0
    for ref in cache.members(INDEX_PREFIX + userid):
        dropped += bool(cache.delete(ENTRY_PREFIX + ref))
    cache.delete(INDEX_PREFIX + userid)
    return dropped
