"""``JWTAuthenticationPolicy``: RFC 6750 bearer tokens (RFC 7519 JWTs) under RFC 8725 rules."""
from __future__ import annotations

import hashlib
import logging
import re
import time
from typing import Any, Mapping

from pyramid_authsuite.accounts import USERID_PATTERN
from pyramid_authsuite.identity import Identity
from pyramid_authsuite.jwt import protocol
from pyramid_authsuite.jwt.issuer import ISSUED_TYP, REVOKED_PREFIX, TokenIssuer, TokenKeys
from pyramid_authsuite.jwt.keys import KeyRing, RemoteKeySet
from pyramid_authsuite.jwt.protocol import TokenError
from pyramid_authsuite.jwt.settings import (
    DEFAULT_PRINCIPAL_CLAIMS,
    MANDATORY_CLAIMS,
    MAX_ACCESS_TOKEN_TTL_SECONDS,
    MIN_ACCESS_TOKEN_TTL_SECONDS,
    JWTSettings,
    parse_principal_claims,
)
from pyramid_authsuite.jwt.verified import TokenEntry, VerifiedTokenCache, freeze_claims
from pyramid_authsuite.policy import (
    NO_CREDENTIALS,
    RANK_NOT_MINE,
    RANK_ORDINARY,
    RANK_PROVEN,
    AuthSuitePolicy,
    Refusal,
    Verdict,
    takes_settings_of,
)
from pyramid_authsuite.revocation import CUTOFF_PREFIX, read_cutoff

# Names that lived here before the settings and the issuer had their own
# modules: importable from here still.
__all__ = [
    "ACCOUNT_UNAVAILABLE",
    "CUT_OFF",
    "DEFAULT_PRINCIPAL_CLAIMS",
    "ISSUED_TYP",
    "JWTAuthenticationPolicy",
    "MANDATORY_CLAIMS",
    "MAX_ACCESS_TOKEN_TTL_SECONDS",
    "MIN_ACCESS_TOKEN_TTL_SECONDS",
    "REVOKED",
    "REVOKED_PREFIX",
    "TOKEN_KEY",
    "TokenEntry",
    "parse_principal_claims",
]

logger = logging.getLogger(__name__)

# Where a verified token is left for DELETE /tokens/current: (issuer, entry).
TOKEN_KEY = "authsuite.jwt.token"

REVOKED = "The access token has been revoked."
CUT_OFF = "The access token was issued before the account's credentials were ended."
ACCOUNT_UNAVAILABLE = "The account of this access token is disabled or unknown."

# A refusal's rank among several JWT policies (see pyramid_authsuite.security):
# holding no key for a token says it was meant for another policy; a verified
# signature says it was meant for this one.
_RANKS = {protocol.NO_KEY: RANK_NOT_MINE, protocol.UNVERIFIED: RANK_ORDINARY, protocol.SIGNED: RANK_PROVEN}

_PRINCIPAL_VALUE = re.compile(r"[^\x00-\x1f\x7f]{1,200}")
_MAX_VALUES_PER_CLAIM = 64
_ACCOUNT_MEMO_LIMIT = 10_000
_PRINCIPALS_MEMO_LIMIT = 10_000

# How far ahead a token's exp is taken into account (revocation entries, cache).
_FAR_FUTURE_SECONDS = 100 * 365 * 86400

# The clock, seconds since the epoch (a module attribute so tests can move it).
_now = time.time

_new_tuple = tuple.__new__

# JWTSettings fields a policy carries as attributes of the same name, and
# those it carries with a leading underscore (read by verify only).
_PUBLIC_SETTINGS = (
    "algorithms", "issuer", "audiences", "leeway_seconds", "userid_claim", "typ", "rules", "principal_claims",
    "header", "auth_scheme", "access_token_ttl_seconds", "max_token_bytes", "verified_cache_seconds",
    "check_account", "account_check_seconds",
)
_PRIVATE_SETTINGS = ("invalid_userid", "environ_header", "auth_type")


def _typed(value: Any) -> tuple[Any, ...]:
    """A claim value with its type, and its array items with theirs: a memo key where True is not 1."""
    if type(value) is tuple:
        return (tuple, *[(type(item), item) for item in value])
    return (type(value), value)


class JWTAuthenticationPolicy(AuthSuitePolicy):
    """RFC 6750 bearer JWTs, verified under RFC 8725 rules, with principals from claims.

    Works named in ``multiauth.policy.<name>.use`` (every argument below is
    parsed from its ini string once, here) and as a Pyramid 2 security-policy
    citizen through :class:`~pyramid_authsuite.security.AuthSuiteSecurityPolicy`.

    Keys (choose one way; see :mod:`pyramid_authsuite.jwt.keys`):

    ``secret``
        HMAC secret (``env:NAME``, ``file:PATH`` or literal), at least 32
        bytes (48 for HS384, 64 for HS512).
    ``private_key`` / ``public_key``
        PEM files (or ``env:NAME``); RSA, EC P-256/384/521, Ed25519/Ed448.
    ``keys``
        Rotation: ``KID:ALG:SOURCE`` entries, one per line; ``signing_kid``
        names the signing key (default: the first that can sign).
    ``jwks_url``
        An external issuer's JWKS (https, or http to loopback); with
        ``jwks_cache_seconds`` (300), ``jwks_refetch_seconds`` (30: an unknown
        ``kid`` refetches at most this often), ``jwks_timeout_seconds`` (5)
        and ``jwks_max_stale_seconds`` (1 day: how long the last set serves
        while the issuer is down).
    (none)
        Development: an Ed25519 key (EdDSA) derived from the server secret
        (``authsuite.secret``, or the one generated into the account store),
        resolved on first use and published at ``/.well-known/jwks.json``.

    Verification:

    ``algorithms`` (alias ``algorithm``)
        The allow-list. Default: HS256 for a secret, the key's own algorithm
        for a key pair, the keys' algorithms for ``keys``, RS256 for
        ``jwks_url``, EdDSA for the development key. ``none`` is refused,
        and so is an HMAC algorithm with an asymmetric key.
    ``issuer``, ``audience``
        Required ``iss``; accepted ``aud`` values (a list; the first is
        written into issued tokens). Without ``audience``, a token naming
        an audience is refused.
    ``leeway_seconds``
        Clock skew allowed on ``exp``/``nbf``/``iat``. Default 30, at most 300.
    ``required_claims``
        Default ``exp iat sub``; must include ``exp``, ``iat`` and the
        ``userid_claim``.
    ``typ``
        When set, the header ``typ`` every token must carry (``at+jwt``);
        issued tokens carry it (default: issued tokens say ``at+jwt`` and
        any ``typ`` is accepted).
    ``userid_claim``
        The claim holding the userid. Default ``sub``.
    ``principal_claims``
        ``CLAIM=PREFIX`` entries replacing the default
        ``role=role roles=role tenant_id=tenant scope=scope`` (with the
        configured ``roles_claim`` and ``tenant_claim`` names); ``scope``
        strings are split on spaces. ``scheme:jwt`` is always added.
    ``header`` / ``auth_type``
        Where the token is: ``Authorization`` / ``Bearer`` (default). With
        another header, its whole value is the token.
    ``max_token_bytes``
        Longer tokens are refused before decoding. Default 8192.

    State:

    ``access_token_ttl_seconds``
        Lifetime of issued tokens. Default 1h; 1 minute to 1 day.
    ``verified_cache_size`` / ``verified_cache_seconds``
        The verified-token cache (10 000 entries / 300 s; size 0 turns it off).
    ``check_account``
        Refuse tokens whose account is unknown or disabled (default on,
        off with ``jwks_url``), looked up at most every
        ``account_check_seconds`` (60; 0 checks on every request). With it,
        a token issued before its account's credentials were ended (a
        password change, disabling, new roles or tenant, deletion, ended
        sessions: :mod:`pyramid_authsuite.revocation`) is refused at once,
        on every request, in the same cache round trip as its revocation.

    Claims of issued tokens:

    ``email_claim``, ``tenant_claim``, ``roles_claim``
        The names of the account's email, tenant and roles claims (defaults
        ``email``, ``tenant_id``, ``roles``; empty: not issued). The
        default ``principal_claims`` follow the tenant and roles names.
    ``custom_claims``
        Whether tokens carry the account's custom claims (default true);
        they never take a registered or configured claim's name.

    Revocation (``DELETE /tokens/current``) is checked on every request in
    ``authsuite.cache_url``: share it (Redis) between processes.
    """

    scheme = "jwt"
    auth_scheme = "Bearer"

    @takes_settings_of(JWTSettings.parse)
    def __init__(self, realm: str = "authsuite", **settings: Any):
        super().__init__(realm=realm)
        self._configure(JWTSettings.parse(**settings))

    @classmethod
    def from_settings(cls, settings: JWTSettings, realm: str = "authsuite") -> JWTAuthenticationPolicy:
        """A policy over already parsed settings (shared with a :class:`~pyramid_authsuite.jwt.issuer.TokenIssuer`, say)."""
        policy = cls.__new__(cls)
        AuthSuitePolicy.__init__(policy, realm=realm)
        policy._configure(settings)
        return policy

    def _configure(self, settings: JWTSettings) -> None:
        self.settings = settings
        self._keys = TokenKeys(settings, lambda: getattr(self, "_pyramid_multiauth_name", self.scheme))
        #: Signs, revokes and publishes with this policy's keys; needs no policy.
        self.token_issuer = TokenIssuer(settings, self._keys)
        # Copied onto the instance: read on every request (instance attributes
        # are the fastest lookups), and public names of this class.
        for name in _PUBLIC_SETTINGS:
            setattr(self, name, getattr(settings, name))
        for name in _PRIVATE_SETTINGS:
            setattr(self, "_" + name, getattr(settings, name))
        self._principal_claim_names = tuple(claim for claim, _ in settings.principal_claims)
        self._verified = VerifiedTokenCache(settings.verified_cache_size)
        self._remote = self._keys.remote
        self._accounts: dict[str, tuple[float, bool]] = {}
        self._principals_memo: dict[tuple, frozenset[str]] = {}
        self._refusals: dict[tuple[str, int], Verdict] = {}

    # -- configuration ----------------------------------------------------------

    def _local_keys(self, registry: Any) -> KeyRing:
        """The configured keys, or the development key, derived from the server secret on first use."""
        ring = self._keys.keyring
        return ring if ring is not None else self._keys.local(registry)

    @property
    def keyring(self) -> KeyRing | None:
        """The configured local keys (``None`` before the development key is first used, or with ``jwks_url``)."""
        return self._keys.keyring

    @property
    def remote(self) -> RemoteKeySet | None:
        """The external issuer's key set, when ``jwks_url`` is configured."""
        return self._remote

    # -- verification -------------------------------------------------------------

    def verify(self, request: Any) -> Verdict:
        environ = request.environ
        raw = environ.get(self._environ_header)
        if raw is None:
            return NO_CREDENTIALS
        if self._auth_type is not None:
            scheme, _, token = raw.partition(" ")
            if scheme.lower() != self._auth_type:
                return NO_CREDENTIALS
            token = token.strip()
        else:
            token = raw.strip()
        if not token:
            return self._refused(protocol.MALFORMED)
        if len(token) > self.max_token_bytes:
            # Before hashing or decoding anything.
            return self._refused(protocol.TOO_LARGE)
        now = _now()
        verified = self._verified
        if verified.max_entries > 0:
            digest: bytes | None = hashlib.sha256(token.encode("latin-1", "replace")).digest()
            entry = verified.get(digest, now)
        else:
            digest = entry = None  # cache off: nothing to look up, no digest to compute
        if entry is None:
            try:
                entry = self._verify_token(token, request.registry, now)
            except TokenError as error:
                return self._refused(error.description, _RANKS[error.stage])
            if digest is not None:
                verified.put(digest, entry, now)
        registry = request.registry
        if self.check_account:
            # The token's revocation and its account's cutoff in one round
            # trip (one MGET on Redis), on every request: a change that ended
            # the account's credentials refuses the token at once, on every
            # process, whatever account_check_seconds says.
            revoked, cutoff = registry.authsuite_cache.get_many(
                (REVOKED_PREFIX + entry.revocation_key, CUTOFF_PREFIX + entry.userid)
            )
            if revoked is not None:
                return self._refused(REVOKED, RANK_PROVEN)
            if cutoff is not None and not self._issued_after(entry.issued_at, cutoff):
                return self._refused(CUT_OFF, RANK_PROVEN)
            if not self._account_usable(registry, entry.userid, now):
                return self._refused(ACCOUNT_UNAVAILABLE, RANK_PROVEN)
        elif registry.authsuite_cache.get(REVOKED_PREFIX + entry.revocation_key) is not None:
            return self._refused(REVOKED, RANK_PROVEN)
        environ[TOKEN_KEY] = (self.token_issuer, entry)
        return entry.verdict

    def _verify_token(self, token: str, registry: Any, now: float) -> TokenEntry:
        find = self._remote.find if self._remote is not None else self._local_keys(registry).find
        verified = protocol.verify_token(token, find, self.algorithms, self.rules, now, max_bytes=self.max_token_bytes)
        claims = verified.claims
        userid = claims.get(self.userid_claim)
        if not isinstance(userid, str) or not 0 < len(userid) <= 256 or not userid.isprintable():
            raise TokenError(self._invalid_userid, protocol.SIGNED)
        # Frozen first: arrays become tuples, which also makes the values
        # hashable for the principals memo.
        frozen = freeze_claims(claims)
        identity = Identity(userid, self.scheme, self._principals(claims), frozen)
        jti = claims.get("jti")
        if jti:
            # surrogatepass: JSON may carry lone surrogates; they must not make this raise.
            revocation_key = hashlib.sha256(f"{claims.get('iss') or ''}\x00{jti}".encode("utf-8", "surrogatepass")).hexdigest()
        else:
            revocation_key = hashlib.sha256(verified.signing_input.encode("ascii")).hexdigest()
        # Bookkeeping (revocation TTL, cache) needs a float a cache accepts:
        # an exp past a century from now is counted as a century.
        expires_at = float(min(claims["exp"], now + _FAR_FUTURE_SECONDS))
        cache_until = min(expires_at, now + self.verified_cache_seconds)
        iat = claims.get("iat")
        issued_at = float(iat) if type(iat) in (int, float) else None
        # TokenEntry(verdict, userid, expires_at, revocation_key, cache_until, issued_at),
        # without the Python-level __new__ a named tuple's constructor runs.
        return _new_tuple(TokenEntry, (Verdict(identity), userid, expires_at, revocation_key, cache_until, issued_at))

    @staticmethod
    def _issued_after(issued_at: float | None, stored_cutoff: Any) -> bool:
        """Whether a token issued at ``issued_at`` (its iat) postdates the account's cutoff.

        ``iat`` counts whole seconds: a token issued in the cutoff's second,
        after it, reads as issued before it and is refused until that second
        is over (see :mod:`pyramid_authsuite.revocation`). No iat: refused.
        """
        cutoff = read_cutoff(stored_cutoff)
        return cutoff is None or (issued_at is not None and issued_at >= cutoff)

    def _principals(self, claims: Mapping[str, Any]) -> frozenset[str]:
        """``PREFIX:<value>`` for each mapped claim, plus ``scheme:jwt``; memoized by the claims' values.

        Most tokens of a deployment carry one of a few role/tenant/scope
        combinations: those values key a bounded memo, so the principals are
        built once per combination. ``claims`` are frozen (arrays are tuples,
        objects FrozenDicts), so the values are hashable as they are.
        """
        key: tuple[Any, ...] = tuple(map(claims.get, self._principal_claim_names))
        # Equal keys must mean equal principals, but True == 1 == 1.0 while
        # only 1 makes a principal. Strings, nulls and arrays of strings (the
        # usual claims; "".join refuses anything else, in C) can only equal
        # their own kind: they key the memo as they are. Any other value
        # keys it with its type, and so do the items of its arrays.
        for value in key:
            if value is None or type(value) is str:
                continue
            if type(value) is tuple:
                try:
                    "".join(value)
                    continue
                except TypeError:
                    pass
            key = tuple([_typed(value) for value in key])
            break
        memo = self._principals_memo.get(key)
        if memo is None:
            memo = self._build_principals(claims)
            if len(self._principals_memo) >= _PRINCIPALS_MEMO_LIMIT:
                self._principals_memo.clear()
            self._principals_memo[key] = memo
        return memo

    def _build_principals(self, claims: Mapping[str, Any]) -> frozenset[str]:
        principals = {"scheme:jwt"}
        for claim, prefix in self.principal_claims:
            value = claims.get(claim)
            if isinstance(value, str):
                values: Any = value.split() if prefix == "scope" else (value,)
            elif isinstance(value, (tuple, list)):  # an array (a tuple once frozen)
                values = value
            elif isinstance(value, int) and not isinstance(value, bool):
                values = (value,)
            else:
                continue
            for item in values[:_MAX_VALUES_PER_CLAIM]:
                if isinstance(item, int) and not isinstance(item, bool):
                    item = str(item)
                if isinstance(item, str) and _PRINCIPAL_VALUE.fullmatch(item):
                    principals.add(f"{prefix}:{item}")
        return frozenset(principals)

    def _account_usable(self, registry: Any, userid: str, now: float) -> bool:
        memo = self._accounts.get(userid)
        if memo is not None and now < memo[0]:
            return memo[1]
        usable = False
        if USERID_PATTERN.fullmatch(userid):
            account = registry.authsuite_accounts.get(userid)
            usable = account is not None and not account.disabled
        if len(self._accounts) >= _ACCOUNT_MEMO_LIMIT:
            self._accounts.clear()
        self._accounts[userid] = (now + self.account_check_seconds, usable)
        return usable

    def _refused(self, description: str, rank: int = RANK_ORDINARY) -> Verdict:
        """The refusal verdict for a fixed description, built once per (description, rank).

        ``rank`` tells the security policy, when several JWT policies read
        the same token, which one's refusal to report (the token's own).
        """
        memo_key = (description, rank)
        verdict = self._refusals.get(memo_key)
        if verdict is None:
            logger.debug("JWT refused: %s", description)
            verdict = Verdict(
                refusal=Refusal(
                    code="invalid_token",
                    detail=description,
                    challenge_params=(("error", "invalid_token"), ("error_description", description)),
                    rank=rank,
                )
            )
            if len(self._refusals) < 100:
                self._refusals[memo_key] = verdict
        return verdict

    # -- issuing and revoking: the issuer's, kept here for callers holding the policy --

    def can_issue(self, registry: Any) -> bool:
        """Whether this policy holds a key to sign tokens with (see :meth:`TokenIssuer.can_issue`)."""
        return self.token_issuer.can_issue(registry)

    def issue_token(self, registry: Any, account: Any, ttl: int | None = None) -> dict[str, Any]:
        """Sign an access token for ``account`` (see :meth:`TokenIssuer.issue_token`)."""
        return self.token_issuer.issue_token(registry, account, ttl)

    def revoke(self, registry: Any, entry: TokenEntry) -> None:
        """Put a verified token on the revocation list (see :meth:`TokenIssuer.revoke`)."""
        self.token_issuer.revoke(registry, entry)

    def public_jwks(self, registry: Any = None) -> list[dict[str, Any]]:
        """The public verification keys as JWKs (see :meth:`TokenIssuer.public_jwks`)."""
        return self.token_issuer.public_jwks(registry)
