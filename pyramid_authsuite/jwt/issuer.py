"""The token issuer: signing access tokens, revoking them, publishing the public keys.

Apart from the policy (which only verifies), so that ``POST /tokens``,
``DELETE /tokens/current``, ``GET /.well-known/jwks.json``, ``authsuite
issue-token`` and a future OAuth token endpoint all sign and revoke the same
way with nothing but the registry and a :class:`~pyramid_authsuite.jwt.settings.JWTSettings`:

    issuer = TokenIssuer(JWTSettings.parse(secret="env:JWT_SECRET", issuer="https://api.example.com"))
    body = issuer.issue_token(registry, account)   # RFC 6749 section 5.1 response body

A policy and the issuer built from it share one :class:`TokenKeys`, so the
development key is derived once for both.
"""
from __future__ import annotations

import logging
import secrets
import time
from typing import Any, Callable

from pyramid_authsuite.jwt.keys import DEVELOPMENT_ALGORITHM, KeyRing, RemoteKeySet, development_key
from pyramid_authsuite.accounts import RESERVED_CLAIMS
from pyramid_authsuite.jwt.settings import (
    MAX_ACCESS_TOKEN_TTL_SECONDS,
    MIN_ACCESS_TOKEN_TTL_SECONDS,
    REGISTERED_CLAIMS,
    JWTSettings,
)
from pyramid_authsuite.jwt.verified import TokenEntry

logger = logging.getLogger(__name__)

# Revoked tokens, by revocation key, in the shared cache until they expire.
REVOKED_PREFIX = "jwt:revoked:"
# Our tokens say what they are (RFC 9068 section 2.1, RFC 8725 section 3.11).
ISSUED_TYP = "at+jwt"

# The clock, seconds since the epoch (a module attribute so tests can move it).
_now = time.time


class TokenKeys:
    """The keys one :class:`JWTSettings` names: local (configured or development) or remote.

    ``settings``
        Where the keyring or the JWKS options come from.
    ``name``
        Called for the name logged when the development key is first
        derived (a policy passes its multiauth name; by default ``jwt``).
    """

    def __init__(self, settings: JWTSettings, name: Callable[[], str] | None = None):
        # None until the development key is derived (it needs the registry).
        self.keyring: KeyRing | None = settings.keyring
        self.remote: RemoteKeySet | None = None
        self._name = name
        jwks = settings.jwks
        if jwks is not None:
            self.remote = RemoteKeySet(
                jwks.url,
                settings.algorithms,
                cache_seconds=jwks.cache_seconds,
                refetch_seconds=jwks.refetch_seconds,
                timeout_seconds=jwks.timeout_seconds,
                max_stale_seconds=jwks.max_stale_seconds,
            )

    def local(self, registry: Any) -> KeyRing:
        """The configured keys, or the development key, derived from the server secret on first use."""
        ring = self.keyring
        if ring is None:
            ring = self.keyring = KeyRing([development_key(registry)])
            logger.warning(
                "JWT policy %r has no secret, keys or key pair: it signs with a development key (%s) derived "
                "from the server secret (fine for development; configure a key for production)",
                self._name() if self._name is not None else "jwt",
                DEVELOPMENT_ALGORITHM,
            )
        return ring


class TokenIssuer:
    """Signs, revokes and publishes for one :class:`JWTSettings`; no policy needed.

    ``settings``
        The parsed configuration (issuer, audience, ``typ``, lifetime, keys).
    ``keys``
        The :class:`TokenKeys` to sign with; by default built from
        ``settings`` (a policy passes the one it verifies with).
    """

    def __init__(self, settings: JWTSettings, keys: TokenKeys | None = None):
        self.settings = settings
        self.keys = keys if keys is not None else TokenKeys(settings)
        # Names an account's custom claims never take: the registered ones,
        # every claim these settings give a meaning (the userid, email,
        # tenant and roles claims, every claim principals are read from: a
        # custom "role" must not grant role principals) and the store's
        # reserved names. Dropped even where the issuer writes nothing under
        # the name (an account without roles has no roles claim).
        self.withheld_claims = frozenset(
            (
                *REGISTERED_CLAIMS,
                *RESERVED_CLAIMS,
                settings.userid_claim,
                *(name for name in (settings.email_claim, settings.tenant_claim, settings.roles_claim) if name),
                *(claim for claim, _ in settings.principal_claims),
            )
        )

    def can_issue(self, registry: Any) -> bool:
        """Whether there is a key to sign tokens with (never with ``jwks_url``: those keys are another issuer's)."""
        if self.keys.remote is not None:
            return False
        return self.keys.local(registry).signing is not None

    def issue_token(
        self, registry: Any, account: Any, ttl: int | None = None, *, read_at: float | None = None
    ) -> dict[str, Any]:
        """Sign an access token for ``account``; the RFC 6749 section 5.1 response body.

        ``registry``
            Holds the server secret the development key is derived from.
        ``account``
            Its ``userid``, ``roles``, ``tenant``, ``email`` and
            ``custom_claims`` become claims.
        ``ttl``
            Lifetime in seconds (default ``access_token_ttl_seconds``),
            within its bounds, else ``ValueError``.
        ``read_at``
            When ``account`` was read from the store (seconds since the
            epoch, at most a minute ago; default: now). ``iat`` is that
            second, so a change of the account made after the read, whose
            cutoff (:mod:`pyramid_authsuite.revocation`) is later than
            ``read_at``, refuses the token even when it is signed in a later
            second: a login racing a change never outlives it.

        Claims: the account's custom claims (with ``custom_claims`` on, the
        default), then, over them, ``sub``, ``iat``, ``exp``, ``jti``,
        ``iss`` and ``aud`` when configured, and the account's roles, tenant
        and email under the configured names (``roles``, ``tenant_id`` and
        ``email`` by default; those without a value are left out). A custom
        claim never takes a name in :attr:`withheld_claims`.
        """
        import jwt

        settings = self.settings
        signing = self.keys.local(registry).signing if self.keys.remote is None else None
        if signing is None:
            raise ValueError("this JWT policy has no key to sign tokens with")
        ttl = settings.access_token_ttl_seconds if ttl is None else int(ttl)
        if not MIN_ACCESS_TOKEN_TTL_SECONDS <= ttl <= MAX_ACCESS_TOKEN_TTL_SECONDS:
            raise ValueError(f"ttl must be {MIN_ACCESS_TOKEN_TTL_SECONDS} to {MAX_ACCESS_TOKEN_TTL_SECONDS} seconds")
        now = _now()
        if read_at is not None:
            if not now - 60 <= read_at <= now:
                raise ValueError("read_at must be at most a minute ago, and not in the future")
            now = read_at
        now = int(now)
        claims: dict[str, Any] = {}
        if settings.custom_claims:
            # First, so that everything written below wins over them.
            withheld = self.withheld_claims
            for name, value in (getattr(account, "custom_claims", None) or {}).items():
                if type(name) is str and name not in withheld:
                    claims[name] = value
        claims.update(sub=account.userid, iat=now, exp=now + ttl, jti=secrets.token_urlsafe(16))
        claims[settings.userid_claim] = account.userid
        if settings.issuer:
            claims["iss"] = settings.issuer
        if settings.audiences:
            claims["aud"] = settings.audiences[0]
        if settings.roles_claim and account.roles:
            claims[settings.roles_claim] = list(account.roles)
        if settings.tenant_claim and account.tenant:
            claims[settings.tenant_claim] = account.tenant
        if settings.email_claim and account.email:
            claims[settings.email_claim] = account.email
        headers = {"typ": settings.typ or ISSUED_TYP}
        if signing.kid is not None:
            headers["kid"] = signing.kid
        token = jwt.encode(claims, signing.signing_key, algorithm=signing.algorithms[0], headers=headers)
        return {"access_token": token, "token_type": "Bearer", "expires_in": ttl}

    def revoke(self, registry: Any, entry: TokenEntry) -> None:
        """Put a verified token on the revocation list (``authsuite_cache``) until it would expire anyway.

        ``entry``
            What verifying the token established (its revocation key and ``exp``).
        """
        ttl = max(1.0, entry.expires_at + self.settings.leeway_seconds - _now() + 1)
        registry.authsuite_cache.set(REVOKED_PREFIX + entry.revocation_key, 1, ttl)

    def public_jwks(self, registry: Any = None) -> list[dict[str, Any]]:
        """The public verification keys as JWKs (none for secrets or a remote issuer).

        ``registry``
            Lets the development key be derived if it was not yet (without
            it, an issuer that has not signed or verified yet publishes none).
        """
        keys = self.keys
        if keys.remote is not None:
            return []
        if keys.keyring is None:
            if registry is None:
                return []
            keys.local(registry)
        return keys.keyring.public_jwks()  # type: ignore[union-attr]
