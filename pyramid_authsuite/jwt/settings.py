"""``JWTSettings``: a JWT policy's configuration, parsed once from its ini strings.

Every value a :class:`~pyramid_authsuite.jwt.policy.JWTAuthenticationPolicy`
reads is parsed and checked here, when the application starts: a bad value
raises :class:`~pyramid_authsuite.exceptions.SettingError` naming its key,
and what comes out is a frozen object that the policy (verification) and the
issuer (:mod:`pyramid_authsuite.jwt.issuer`: signing, revocation, JWKS) share,
so neither parses anything again and neither needs the other.

No Pyramid here: an OAuth token endpoint, a command or a test builds one with
:meth:`JWTSettings.parse` from the same keyword arguments as the policy.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pyramid_authsuite.exceptions import SettingError
from pyramid_authsuite.jwt import protocol
from pyramid_authsuite.jwt.keys import KeyRing, configure_keys, is_given, parse_algorithms
from pyramid_authsuite.jwt.protocol import ClaimRules
from pyramid_authsuite.settings import as_bool, as_duration, as_float, as_int, as_list

DEFAULT_PRINCIPAL_CLAIMS = "role=role roles=role tenant_id=tenant scope=scope"
MANDATORY_CLAIMS = ("exp", "iat")
#: Claims issued tokens carry whatever the settings say (RFC 7519 section 4.1):
#: no account claim may take one of these names.
REGISTERED_CLAIMS = frozenset(("iss", "sub", "aud", "exp", "nbf", "iat", "jti"))
_CLAIM_NAME_MAX = 200

# Lifetime of issued tokens (access_token_ttl_seconds, issue-token --ttl).
MIN_ACCESS_TOKEN_TTL_SECONDS = 60
MAX_ACCESS_TOKEN_TTL_SECONDS = 86400

_HEADER_NAME = re.compile(r"[A-Za-z0-9-]{1,64}")
_AUTH_TYPE = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,32}")  # an RFC 9110 token
_PREFIX = re.compile(r"[a-z][a-z0-9_.-]{0,31}")


def parse_principal_claims(value: Any) -> tuple[tuple[str, str], ...]:
    """``CLAIM=PREFIX`` entries: a claim's values become ``PREFIX:<value>`` principals.

    Split on the last ``=``, so claim names may hold ``:`` and ``/``
    (``cognito:groups=group``, ``https://example.com/roles=role``).
    """
    mapping = []
    for entry in as_list("principal_claims", value):
        claim, sep, prefix = entry.rpartition("=")
        if not sep or not claim or _PREFIX.fullmatch(prefix) is None:
            raise SettingError("principal_claims", f"expected CLAIM=PREFIX entries, got {entry!r}")
        mapping.append((claim, prefix))
    return tuple(mapping)


def default_principal_claims(roles_claim: str | None, tenant_claim: str | None) -> str:
    """:data:`DEFAULT_PRINCIPAL_CLAIMS` with the configured names of the roles and tenant claims,
    so that the tokens the issuer writes give ``role:`` and ``tenant:`` principals as they are named."""
    entries = ["role=role"]
    if roles_claim:
        entries.append(f"{roles_claim}=role")
    if tenant_claim:
        entries.append(f"{tenant_claim}=tenant")
    entries.append("scope=scope")
    return " ".join(dict.fromkeys(entries))


def parse_claim_name(key: str, value: Any) -> str | None:
    """An issued claim's name (``email_claim``, ``tenant_claim``, ``roles_claim``); empty means not issued."""
    name = str(value).strip() if value is not None else ""
    if not name:
        return None
    if len(name) > _CLAIM_NAME_MAX or not name.isprintable() or " " in name or "=" in name:
        raise SettingError(key, f"expected a claim name (printable, no spaces or '=', at most {_CLAIM_NAME_MAX} characters)")
    if name in REGISTERED_CLAIMS:
        raise SettingError(key, f"{name} is a registered claim the issuer writes itself")
    return name


@dataclass(frozen=True)
class JWKSOptions:
    """How an external issuer's JWKS is fetched and cached (see :class:`~pyramid_authsuite.jwt.keys.RemoteKeySet`)."""

    url: str
    cache_seconds: float
    refetch_seconds: float
    timeout_seconds: float
    max_stale_seconds: float


@dataclass(frozen=True)
class JWTSettings:
    """The parsed configuration of one JWT policy (the arguments are documented on the policy).

    ``keyring``
        The configured local keys; ``None`` with ``jwks`` or for the
        development key (derived from the registry on first use, by
        :class:`~pyramid_authsuite.jwt.issuer.TokenKeys`).
    ``jwks``
        The external issuer's key set options, or ``None``.
    ``algorithms``
        The allow-list, settled against the keys.
    ``rules``
        What the claims must satisfy (:class:`~pyramid_authsuite.jwt.protocol.ClaimRules`).
    ``environ_header`` / ``auth_type``
        Where :meth:`~pyramid_authsuite.jwt.policy.JWTAuthenticationPolicy.verify`
        reads the token: the WSGI environ key, and the lowercased scheme
        (``None`` when the token is the header's whole value).
    ``invalid_userid``
        The refusal sentence for a bad user id claim (names the claim only
        when that is safe to echo).
    ``email_claim``, ``tenant_claim``, ``roles_claim``
        The names under which issued tokens carry the account's email,
        tenant and roles (``None``: not carried).
    ``custom_claims``
        Whether issued tokens carry the account's custom claims.

    The other fields are the policy arguments of the same names, parsed.
    """

    keyring: KeyRing | None
    jwks: JWKSOptions | None
    algorithms: tuple[str, ...]
    issuer: str | None
    audiences: tuple[str, ...]
    leeway_seconds: float
    userid_claim: str
    typ: str | None
    rules: ClaimRules
    principal_claims: tuple[tuple[str, str], ...]
    header: str
    environ_header: str
    auth_scheme: str
    auth_type: str | None
    access_token_ttl_seconds: float
    max_token_bytes: int
    verified_cache_size: int
    verified_cache_seconds: float
    check_account: bool
    account_check_seconds: float
    invalid_userid: str
    email_claim: str | None = "email"
    tenant_claim: str | None = "tenant_id"
    roles_claim: str | None = "roles"
    custom_claims: bool = True

    @classmethod
    def parse(
        cls,
        secret: str | bytes | None = None,
        private_key: str | None = None,
        public_key: str | None = None,
        keys: str | list[str] | None = None,
        signing_kid: str | None = None,
        jwks_url: str | None = None,
        algorithms: str | list[str] | None = None,
        algorithm: str | None = None,
        issuer: str | None = None,
        audience: str | list[str] | None = None,
        leeway_seconds: int | str = 30,
        required_claims: str | list[str] = "exp iat sub",
        typ: str | None = None,
        userid_claim: str = "sub",
        principal_claims: str | list[str] | None = None,
        email_claim: str | None = "email",
        tenant_claim: str | None = "tenant_id",
        roles_claim: str | None = "roles",
        custom_claims: bool | str = True,
        header: str = "Authorization",
        auth_type: str = "Bearer",
        access_token_ttl_seconds: int | str = 3600,
        max_token_bytes: int | str = protocol.DEFAULT_MAX_TOKEN_BYTES,
        verified_cache_size: int | str = 10_000,
        verified_cache_seconds: int | str = 300,
        check_account: bool | str | None = None,
        account_check_seconds: int | str = 60,
        jwks_cache_seconds: int | str = 300,
        jwks_refetch_seconds: int | str = 30,
        jwks_timeout_seconds: float | str = 5,
        jwks_max_stale_seconds: int | str = 86400,
    ) -> JWTSettings:
        """Parse and check every setting (ini strings or Python values); ``SettingError`` names a bad one.

        The arguments are those of
        :class:`~pyramid_authsuite.jwt.policy.JWTAuthenticationPolicy`
        (without ``realm``), with the same defaults. They are checked in the
        order listed, so the first bad one is the one reported.
        """
        allowed = parse_algorithms(algorithms, algorithm)
        configured = configure_keys(secret, private_key, public_key, keys, signing_kid, jwks_url, allowed)
        jwks = None
        if configured.jwks_url is not None:
            jwks = JWKSOptions(
                configured.jwks_url,
                cache_seconds=as_duration("jwks_cache_seconds", jwks_cache_seconds, minimum=1),
                refetch_seconds=as_duration("jwks_refetch_seconds", jwks_refetch_seconds, minimum=0),
                timeout_seconds=as_float("jwks_timeout_seconds", jwks_timeout_seconds, minimum=0.1),
                max_stale_seconds=as_duration("jwks_max_stale_seconds", jwks_max_stale_seconds, minimum=0),
            )

        issuer_name = str(issuer).strip() if is_given(issuer) else None
        audiences = tuple(as_list("audience", audience)) if is_given(audience) else ()
        leeway = as_duration("leeway_seconds", leeway_seconds, minimum=0, maximum=300)
        userid_claim = str(userid_claim).strip()
        if not userid_claim:
            raise SettingError("userid_claim", "a claim name is required")
        required = tuple(as_list("required_claims", required_claims))
        for name in (*MANDATORY_CLAIMS, userid_claim):
            if name not in required:
                raise SettingError("required_claims", f"must include exp, iat and {userid_claim}")
        if issuer_name:
            required += ("iss",)
        if audiences:
            required += ("aud",)
        typ = str(typ).strip() if is_given(typ) else None
        rules = ClaimRules(
            required=tuple(dict.fromkeys(required)),
            issuer=issuer_name,
            audiences=frozenset(audiences),
            leeway=float(leeway),
            typ=typ,
        )
        email_name = parse_claim_name("email_claim", email_claim)
        tenant_name = parse_claim_name("tenant_claim", tenant_claim)
        roles_name = parse_claim_name("roles_claim", roles_claim)
        seen = {userid_claim: "userid_claim"}
        for key, name in (("email_claim", email_name), ("tenant_claim", tenant_name), ("roles_claim", roles_name)):
            if name is not None:
                if name in seen:
                    raise SettingError(key, f"{name} is already the {seen[name]}")
                seen[name] = key
        with_custom = as_bool("custom_claims", custom_claims)
        principals = parse_principal_claims(
            default_principal_claims(roles_name, tenant_name) if not is_given(principal_claims) else principal_claims
        )
        invalid_userid = (
            f"The access token's {userid_claim} claim is not a valid user id."
            if protocol.SAFE_CLAIM_NAME.fullmatch(userid_claim)
            else "The access token's user id is invalid."
        )

        header = str(header).strip()
        if _HEADER_NAME.fullmatch(header) is None:
            raise SettingError("header", "expected an HTTP header name")
        auth_scheme = "Bearer"
        lowered_auth_type: str | None = None
        if header.lower() == "authorization":
            auth_type = str(auth_type).strip()
            if _AUTH_TYPE.fullmatch(auth_type) is None:
                raise SettingError("auth_type", "expected an authentication scheme name such as Bearer")
            auth_scheme = auth_type
            lowered_auth_type = auth_type.lower()

        ttl = as_duration(
            "access_token_ttl_seconds",
            access_token_ttl_seconds,
            minimum=MIN_ACCESS_TOKEN_TTL_SECONDS,
            maximum=MAX_ACCESS_TOKEN_TTL_SECONDS,
        )
        max_bytes = as_int("max_token_bytes", max_token_bytes, minimum=256, maximum=65536)
        cache_seconds = as_duration("verified_cache_seconds", verified_cache_seconds, minimum=0)
        cache_size = as_int("verified_cache_size", verified_cache_size, minimum=0, maximum=10_000_000)
        # A remote issuer's accounts are not ours to look up: off by default with jwks_url.
        check = as_bool("check_account", check_account) if is_given(check_account) else jwks is None
        account_seconds = as_duration("account_check_seconds", account_check_seconds, minimum=0, maximum=3600)
        return cls(
            keyring=configured.keyring,
            jwks=jwks,
            algorithms=configured.algorithms,
            issuer=issuer_name,
            audiences=audiences,
            leeway_seconds=leeway,
            userid_claim=userid_claim,
            typ=typ,
            rules=rules,
            principal_claims=principals,
            header=header,
            environ_header="HTTP_" + header.upper().replace("-", "_"),
            auth_scheme=auth_scheme,
            auth_type=lowered_auth_type,
            access_token_ttl_seconds=ttl,
            max_token_bytes=max_bytes,
            # Size 0 turns the cache off, and so does a TTL of 0.
            verified_cache_size=cache_size if cache_seconds else 0,
            verified_cache_seconds=cache_seconds,
            check_account=check,
            account_check_seconds=account_seconds,
            invalid_userid=invalid_userid,
            email_claim=email_name,
            tenant_claim=tenant_name,
            roles_claim=roles_name,
            custom_claims=with_custom,
        )
