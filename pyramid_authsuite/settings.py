"""Typed parsing of ``authsuite.*`` settings and of policy keyword arguments.

Everything in an ini file is a string. These helpers turn strings into ints,
durations, booleans, lists and secrets, once, at start-up, and raise
:class:`~pyramid_authsuite.exceptions.SettingError` naming the key when a value
is bad, so the operator knows which line to fix. ``includeme`` turns that into
a Pyramid ``ConfigurationError``.

Secrets may be given indirectly, so they need not be written in the ini file:

- ``env:NAME`` reads the environment variable ``NAME`` (missing or empty is an error);
- ``file:PATH`` reads the file at ``PATH`` (trailing newline stripped);
- anything else is the literal value.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Mapping

from pyramid_authsuite.exceptions import SettingError

PREFIX = "authsuite."

_TRUE = frozenset(("1", "true", "yes", "on"))
_FALSE = frozenset(("0", "false", "no", "off"))
_DURATION = re.compile(r"(\d+)\s*([smhdw]?)")
_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def as_bool(key: str, value: Any) -> bool:
    """``true/false``, ``yes/no``, ``on/off``, ``1/0`` (any case); real bools pass through."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise SettingError(key, f"expected a boolean (true/false), got {value!r}")


def as_int(key: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """A whole number, optionally bounded."""
    if isinstance(value, bool):
        raise SettingError(key, f"expected a whole number, got {value!r}")
    try:
        number = int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        raise SettingError(key, f"expected a whole number, got {value!r}") from None
    return _bounded(key, number, minimum, maximum)


def as_float(key: str, value: Any, *, minimum: float | None = None) -> float:
    """A number of seconds or similar, optionally bounded below."""
    try:
        number = float(str(value).strip()) if not isinstance(value, (int, float)) else float(value)
    except ValueError:
        raise SettingError(key, f"expected a number, got {value!r}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise SettingError(key, f"expected a finite number, got {value!r}")
    return _bounded(key, number, minimum, None)


def as_duration(key: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Seconds, as a bare number or with one unit: ``90``, ``90s``, ``5m``, ``2h``, ``7d``, ``8w``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return _bounded(key, value, minimum, maximum)
    match = _DURATION.fullmatch(str(value).strip().lower())
    if match is None:
        raise SettingError(key, f"expected a duration such as 300, 5m, 2h or 7d, got {value!r}")
    seconds = int(match.group(1)) * _DURATION_UNITS[match.group(2)]
    return _bounded(key, seconds, minimum, maximum)


def as_list(key: str, value: Any) -> list[str]:
    """Words separated by white space or commas (one per line works too)."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(item) for item in value]
    return [word for word in re.split(r"[\s,]+", str(value).strip()) if word]


def as_secret(key: str, value: Any, *, environ: Mapping[str, str] | None = None) -> bytes:
    """Resolve ``env:NAME`` / ``file:PATH`` / literal into the secret's bytes.

    The error messages name the variable or file, never the secret.
    """
    text = str(value).strip() if value is not None else ""
    if not text:
        raise SettingError(key, "a secret is required (a literal value, env:NAME or file:PATH)")
    environ = os.environ if environ is None else environ
    if text.startswith("env:"):
        name = text[4:]
        secret = environ.get(name, "")
        if not secret:
            raise SettingError(key, f"environment variable {name!r} is not set or empty")
        return secret.encode("utf-8")
    if text.startswith("file:"):
        path = text[5:]
        try:
            with open(path, "rb") as handle:
                secret_bytes = handle.read()
        except OSError as error:
            raise SettingError(key, f"cannot read secret file {path!r}: {error.strerror}") from None
        secret_bytes = secret_bytes.rstrip(b"\r\n")
        if not secret_bytes:
            raise SettingError(key, f"secret file {path!r} is empty")
        return secret_bytes
    return text.encode("utf-8")


def as_choice(key: str, value: Any, choices: tuple[str, ...]) -> str:
    """One of a fixed set of words."""
    text = str(value).strip()
    if text not in choices:
        raise SettingError(key, f"expected one of {', '.join(choices)}, got {value!r}")
    return text


def _bounded(key: str, number, minimum, maximum):
    if minimum is not None and number < minimum:
        raise SettingError(key, f"must be at least {minimum}, got {number}")
    if maximum is not None and number > maximum:
        raise SettingError(key, f"must be at most {maximum}, got {number}")
    return number


CACHE_SCHEMES = ("memory", "redis", "rediss", "unix")

# The credential-issuing endpoints a later release adds; the setting accepts
# only the ones this release has, so a typo is caught at start-up.
# name -> (Cornice service factory, the policy class it needs), as dotted names
# so that parsing settings imports no scheme.
ENDPOINTS: dict[str, tuple[str, str]] = {
    "hawk_sessions": ("pyramid_authsuite.hawk.views:make_service", "pyramid_authsuite.hawk.policy:HawkAuthenticationPolicy"),
    "tokens": ("pyramid_authsuite.jwt.views:make_tokens_service", "pyramid_authsuite.jwt.policy:JWTAuthenticationPolicy"),
    "jwks": ("pyramid_authsuite.jwt.views:make_jwks_service", "pyramid_authsuite.jwt.policy:JWTAuthenticationPolicy"),
    "challenges": ("pyramid_authsuite.challenge.views:make_service", "pyramid_authsuite.challenge.policy:ChallengeAuthenticationPolicy"),
    # The user-management API: several services, and no one scheme it needs
    # (an admin may call it with any configured scheme).
    "admin": ("pyramid_authsuite.admin.views:make_services", None),
}
KNOWN_ENDPOINTS: tuple[str, ...] = tuple(ENDPOINTS)
# Schemes a caller may use to obtain new credentials (a Hawk session, later a token).
LOGIN_SCHEMES: tuple[str, ...] = ("basic", "hawk", "challenge")
MIN_SECRET_LENGTH = 32


@dataclass(frozen=True)
class AuthSuiteSettings:
    """The parsed ``authsuite.*`` settings (see the README's configuration reference)."""

    cache_url: str = "memory://"
    cache_prefix: str = "authsuite:"
    cache_max_entries: int = 100_000
    cache_timeout_seconds: float = 1.0
    # What to do when a Redis server may evict keys (maxmemory-policy other
    # than noeviction): "refuse" fails closed, "warn" logs at every check.
    cache_eviction_check: str = "refuse"
    accounts_url: str = "sqlite:///authsuite.sqlite"
    accounts_connect_timeout_seconds: int = 5
    # The deadline of every account-store call (statement_timeout, TCP user
    # timeout and the client-side bound), in seconds.
    accounts_timeout_seconds: float = 5.0
    password_time_cost: int = 2
    password_memory_cost: int = 19456
    password_parallelism: int = 1
    retry_after_seconds: int = 5
    trusted_proxies: int = 0
    # Failed-login limits: an address that logged in to an account within
    # this many seconds keeps its own limit for that account.
    known_address_seconds: int = 30 * 86400
    # Per-address limits count IPv6 addresses by this prefix length.
    ipv6_prefix_length: int = 64
    endpoints: tuple[str, ...] = ()
    login_schemes: tuple[str, ...] = ("basic", "hawk", "challenge")
    cors_origins: tuple[str, ...] = ()
    # The admin API (authsuite.endpoints = admin): principals granted the
    # authsuite:admin permission over every account; roles a tenant admin
    # (role:tenant-admin plus tenant:T) may grant inside tenant T; how many
    # writes one caller may make per window.
    admin_principals: tuple[str, ...] = ("role:admin",)
    tenant_admin_roles: tuple[str, ...] = ()
    admin_write_limit: int = 120
    admin_write_window_seconds: int = 60
    # None: a random secret is generated into the account store on first use.
    secret: bytes | None = None


def parse_settings(settings: Mapping[str, Any]) -> AuthSuiteSettings:
    """Parse and validate every ``authsuite.*`` key; unknown keys are errors (typos)."""
    defaults = AuthSuiteSettings()
    known = set(AuthSuiteSettings.__dataclass_fields__)
    for name in settings:
        if name.startswith(PREFIX) and name[len(PREFIX):] not in known:
            raise SettingError(name, "unknown setting (see the README's configuration reference)")

    def raw(name: str) -> Any:
        value = settings.get(PREFIX + name)
        if value is None or (isinstance(value, str) and not value.strip()):
            return getattr(defaults, name)
        return value

    def key(name: str) -> str:
        return PREFIX + name

    endpoints = tuple(as_list(key("endpoints"), settings.get(key("endpoints"))))
    for endpoint in endpoints:
        if endpoint not in KNOWN_ENDPOINTS:
            available = ", ".join(KNOWN_ENDPOINTS) or "none in this release"
            raise SettingError(key("endpoints"), f"unknown endpoint {endpoint!r} (available: {available})")
    login_schemes = tuple(as_list(key("login_schemes"), raw("login_schemes")))
    for scheme in login_schemes:
        if scheme not in LOGIN_SCHEMES:
            raise SettingError(key("login_schemes"), f"unknown scheme {scheme!r} (available: {', '.join(LOGIN_SCHEMES)})")
    secret = None
    if settings.get(key("secret")):
        secret = as_secret(key("secret"), settings[key("secret")])
        if len(secret) < MIN_SECRET_LENGTH:
            raise SettingError(key("secret"), f"must be at least {MIN_SECRET_LENGTH} bytes")
    cache_url = str(raw("cache_url")).strip()
    if cache_url.split("://", 1)[0].lower() not in CACHE_SCHEMES or "://" not in cache_url:
        raise SettingError(
            key("cache_url"), f"expected memory://, redis://, rediss:// or unix:// URL, got {cache_url!r}"
        )
    accounts_url = str(raw("accounts_url")).strip()
    if not accounts_url.split("://", 1)[0].split("+", 1)[0] in ("sqlite", "postgresql", "postgres"):
        raise SettingError(key("accounts_url"), "expected a sqlite:/// or postgresql:// URL")
    return AuthSuiteSettings(
        cache_url=cache_url,
        cache_prefix=str(raw("cache_prefix")),
        cache_max_entries=as_int(key("cache_max_entries"), raw("cache_max_entries"), minimum=100),
        cache_timeout_seconds=as_float(key("cache_timeout_seconds"), raw("cache_timeout_seconds"), minimum=0.01),
        cache_eviction_check=as_choice(key("cache_eviction_check"), raw("cache_eviction_check"), ("refuse", "warn")),
        accounts_url=accounts_url,
        accounts_connect_timeout_seconds=as_duration(
            key("accounts_connect_timeout_seconds"), raw("accounts_connect_timeout_seconds"), minimum=1
        ),
        accounts_timeout_seconds=as_float(
            key("accounts_timeout_seconds"), raw("accounts_timeout_seconds"), minimum=0.1
        ),
        password_time_cost=as_int(key("password_time_cost"), raw("password_time_cost"), minimum=1),
        password_memory_cost=as_int(key("password_memory_cost"), raw("password_memory_cost"), minimum=8),
        password_parallelism=as_int(key("password_parallelism"), raw("password_parallelism"), minimum=1),
        retry_after_seconds=as_duration(key("retry_after_seconds"), raw("retry_after_seconds"), minimum=1),
        trusted_proxies=as_int(key("trusted_proxies"), raw("trusted_proxies"), minimum=0, maximum=10),
        known_address_seconds=as_duration(
            key("known_address_seconds"), raw("known_address_seconds"), minimum=0, maximum=366 * 86400
        ),
        ipv6_prefix_length=as_int(key("ipv6_prefix_length"), raw("ipv6_prefix_length"), minimum=32, maximum=128),
        endpoints=endpoints,
        login_schemes=login_schemes,
        cors_origins=tuple(as_list(key("cors_origins"), settings.get(key("cors_origins")))),
        admin_principals=tuple(as_list(key("admin_principals"), raw("admin_principals"))),
        tenant_admin_roles=tuple(as_list(key("tenant_admin_roles"), raw("tenant_admin_roles"))),
        admin_write_limit=as_int(key("admin_write_limit"), raw("admin_write_limit"), minimum=1),
        admin_write_window_seconds=as_duration(
            key("admin_write_window_seconds"), raw("admin_write_window_seconds"), minimum=1, maximum=86400
        ),
        secret=secret,
    )
