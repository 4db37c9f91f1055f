"""Ending an account's credentials at once, on every process sharing the cache.

After a password change, a change of roles or tenant, disabling or deletion
(the account store's change listeners, see ``includeme``), and when an
administrator ends an account's sessions, :func:`end_credentials`:

1. writes the account's *cutoff* in the cache: the time of the change. A JWT
   policy that checks accounts (``check_account``, on by default with local
   keys) refuses every token of the account whose ``iat`` is before it, on
   every request, in the same cache round trip as the token's revocation
   (:meth:`~pyramid_authsuite.cache.Cache.get_many`), verified-token cache or
   not: no process waits for ``account_check_seconds``;
2. forgets the account's remembered Basic logins;
3. ends every Hawk session of the account (they live in the cache).

``iat`` is in whole seconds, so a token issued in the same second as the
change, just after it, is refused too (until the next second begins, it
cannot be told from one issued just before): a client that logs in again at
once may have to do so a second later. The clocks of the processes must
agree (NTP), as ``exp`` and ``iat`` checks already assume.

The cutoff lives as long as a token issued before it can be accepted: the
longest lifetime the package issues (``MAX_ACCESS_TOKEN_TTL_SECONDS``, one
day) plus the largest ``leeway_seconds`` of the configured JWT policies.
A token signed elsewhere with a longer lifetime outlives it.
"""
from __future__ import annotations

import math
import time
from typing import Any

__all__ = ["CUTOFF_PREFIX", "cutoff_key", "cutoff_seconds", "end_credentials", "read_cutoff"]

#: The cache record of an account's cutoff: ``CUTOFF_PREFIX + userid`` ->
#: seconds since the epoch (a JSON number).
CUTOFF_PREFIX = "account:cutoff:"

# The clock, seconds since the epoch (a module attribute so tests can move it).
_now = time.time


def cutoff_key(userid: str) -> str:
    """The cache key of ``userid``'s cutoff."""
    return CUTOFF_PREFIX + userid


def read_cutoff(value: Any) -> float | None:
    """A cutoff as stored (:meth:`Cache.get` of :func:`cutoff_key`), as a number, or None.

    Anything else found there (not written by this module) reads as "every
    token is cut off": that errs towards refusal.
    """
    if value is None:
        return None
    if type(value) in (int, float) and math.isfinite(value):
        return float(value)
    return math.inf


def cutoff_seconds(registry: Any) -> float:
    """How long a cutoff must be kept: the longest a token issued before it can be accepted."""
    from pyramid_authsuite.jwt.policy import JWTAuthenticationPolicy
    from pyramid_authsuite.jwt.settings import MAX_ACCESS_TOKEN_TTL_SECONDS

    leeway = 0.0
    security = getattr(registry, "authsuite_security_policy", None)
    if security is not None:
        for _, policy in security.get_policies():
            if isinstance(policy, JWTAuthenticationPolicy):
                leeway = max(leeway, float(policy.leeway_seconds))
    # One second more: the cutoff itself is rounded to whole seconds by iat.
    return MAX_ACCESS_TOKEN_TTL_SECONDS + leeway + 1


def end_credentials(registry: Any, userid: str) -> int:
    """End every credential of ``userid`` at once, for every process sharing the cache.

    Refuses the account's JWTs issued before now, forgets its remembered
    Basic logins, ends its Hawk sessions. Returns how many Hawk sessions were
    live. Raises :class:`~pyramid_authsuite.cache.CacheUnavailable` when the
    cache cannot be written (an outage must not pass for a logout).

    ``registry``
        The application's registry (``authsuite_cache``, the server secret,
        the configured policies).
    ``userid``
        The account (it may no longer exist).
    """
    from pyramid_authsuite.basic.verified import forget_verified_logins
    from pyramid_authsuite.hawk.sessions import sessions_for

    cache = registry.authsuite_cache
    # The cutoff first: a JWT issued from the account's old state is refused
    # from here on. (Two changes of one account at the same instant from two
    # processes may leave the earlier of their two times: the tokens between
    # them were issued within that instant.)
    cache.set(cutoff_key(userid), _now(), cutoff_seconds(registry))
    forget_verified_logins(cache, userid)
    return sessions_for(registry).revoke_all(userid)
