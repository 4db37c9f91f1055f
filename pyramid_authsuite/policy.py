"""The base class every scheme's authentication policy shares.

A policy turns a request into a :class:`Verdict`: an :class:`Identity`, a
:class:`Refusal` saying why the credentials were refused, or neither (the
request carries no credentials for this scheme). The verdict is computed once
per request and memoized in ``request.environ``: pyramid_multiauth 1.1 asks
every sub-policy several times per request (``identity``, then
``effective_principals`` for ``permits``), and verification must not run
twice (a second run would see its own nonce and call it a replay).

Policies never raise: a backend outage becomes a refusal with status 503, a
rate limit one with status 429, and the security policy decides what the
request gets (:mod:`pyramid_authsuite.security`).
"""
from __future__ import annotations

import inspect
import logging
import re
from dataclasses import dataclass
from typing import Any, Callable

from pyramid.authorization import Authenticated, Everyone
from pyramid.interfaces import IAuthenticationPolicy
from zope.interface import implementer

from pyramid_authsuite.exceptions import BackendUnavailable, SettingError
from pyramid_authsuite.identity import Identity

logger = logging.getLogger(__name__)

# A realm is shown in a quoted-string: keep it to printable ASCII without
# quotes or backslashes so no escaping is ever needed.
_REALM = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]{1,100}")


# How sure a policy is that the credentials it refused were meant for it
# (``Refusal.rank``); the security policy reports the highest-ranked refusal.
RANK_NOT_MINE = 0
"""It holds nothing that could have verified them (a JWT whose ``kid`` or ``alg`` it has no key for)."""
RANK_ORDINARY = 1
"""The default: the credentials were addressed to this scheme and refused."""
RANK_PROVEN = 2
"""They verified under this policy's key, then were refused (an expired or revoked token)."""


@dataclass(frozen=True)
class Refusal:
    """Why a policy refused the credentials a request carried.

    ``code``
        Short machine name, used in the problem+json ``type``
        (``invalid_credentials``, ``malformed_credentials``, ``rate_limited``,
        ``unavailable``, ...).
    ``detail``
        One sentence for the client. Never contains a secret or a credential.
    ``status``
        401 (the default), 429 (rate limited) or 503 (a backend is down).
    ``retry_after``
        Seconds, for 429 and 503.
    ``challenge_params``
        Extra ``name="value"`` pairs for this scheme's ``WWW-Authenticate``
        (RFC 6750's ``error="invalid_token"``).
    ``challenge``
        A whole ``WWW-Authenticate`` value replacing the scheme's usual one,
        for schemes whose clients parse it strictly (Hawk's clock-sync
        challenge).
    ``rank``
        :data:`RANK_NOT_MINE`, :data:`RANK_ORDINARY` (the default) or
        :data:`RANK_PROVEN`: when several policies refuse one request, the
        highest rank is the one the client is told about.
    """

    code: str
    detail: str
    status: int = 401
    retry_after: int | None = None
    challenge_params: tuple[tuple[str, str], ...] = ()
    challenge: str | None = None
    rank: int = RANK_ORDINARY


@dataclass(frozen=True)
class Verdict:
    """What one policy concluded about one request."""

    identity: Identity | None = None
    refusal: Refusal | None = None


NO_CREDENTIALS = Verdict()


def takes_settings_of(parse: Callable[..., Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a policy's ``__init__(self, realm="authsuite", **settings)``.

    ``parse`` is the scheme's settings parser (``HawkSettings.parse``...),
    where each argument is declared once, with its default. The constructor's
    signature becomes ``realm`` plus those keywords, so introspection (the
    check of ``multiauth.policy.<name>.*`` keys at start-up, ``help()``) sees
    the real list without a second copy of it.
    """

    def declare(init: Callable[..., Any]) -> Callable[..., Any]:
        own = inspect.signature(init).parameters
        settings = [
            parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY)
            for parameter in inspect.signature(parse).parameters.values()
        ]
        init.__signature__ = inspect.Signature([own["self"], own["realm"], *settings])  # type: ignore[attr-defined]
        return init

    return declare


def refused(code: str, detail: str, **refusal: Any) -> Verdict:
    """A verdict refusing the credentials; ``refusal`` are the other :class:`Refusal` fields."""
    return Verdict(refusal=Refusal(code=code, detail=detail, **refusal))


def rate_limited(detail: str, retry_after: int) -> Refusal:
    """The 429 refusal of every scheme's rate limits (``Retry-After`` = the window).

    The failed-attempt limits (:class:`pyramid_authsuite.ratelimit.FailureCounter`)
    and the challenge-issuing limits answer with it."""
    return Refusal(code="rate_limited", detail=detail, status=429, retry_after=retry_after)


@implementer(IAuthenticationPolicy)
class AuthSuitePolicy:
    """Base class of the pyramid_authsuite policies.

    Subclasses set :attr:`scheme` (the identity's scheme name),
    :attr:`auth_scheme` (the ``WWW-Authenticate`` scheme token) and implement
    :meth:`verify`. Shared state (cache, account store, settings) is found on
    ``request.registry``, never on the policy: pyramid_multiauth builds the
    policies from ini strings before the registry is complete.

    Constructor arguments (strings from ``multiauth.policy.<name>.*`` or
    Python values):

    ``realm``
        The protection space named in the challenge. Default ``authsuite``.
    """

    scheme = "none"
    auth_scheme = "None"

    def __init__(self, realm: str = "authsuite"):
        if _REALM.fullmatch(str(realm)) is None:
            raise SettingError("realm", "1 to 100 printable ASCII characters, without quotes or backslashes")
        self.realm = str(realm)
        self._memo_key = f"authsuite.verdict.{id(self)}"

    # -- to implement -------------------------------------------------------

    def verify(self, request: Any) -> Verdict:
        """Check the request's credentials for this scheme; may raise BackendUnavailable."""
        raise NotImplementedError

    # -- the shared machinery ------------------------------------------------

    def verdict(self, request: Any) -> Verdict:
        """The memoized verdict on this request; never raises."""
        environ = request.environ
        verdict = environ.get(self._memo_key)
        if verdict is None:
            verdict = self._verify_safely(request)
            environ[self._memo_key] = verdict
        return verdict

    def _verify_safely(self, request: Any) -> Verdict:
        try:
            return self.verify(request)
        except BackendUnavailable as error:
            retry_after = request.registry.authsuite_settings.retry_after_seconds
            logger.warning("%s authentication failed closed: %s", self.scheme, error.__class__.__name__)
            return Verdict(
                refusal=Refusal(
                    code="unavailable",
                    detail="The authentication service is temporarily unavailable.",
                    status=503,
                    retry_after=retry_after,
                )
            )
        except Exception:
            # A bug must not turn into "authenticated", nor leak into a 500
            # whose traceback might show credentials: refuse and log the
            # traceback (which holds no local variables).
            logger.exception("%s authentication raised unexpectedly; request refused", self.scheme)
            return Verdict(refusal=Refusal(code="verification_error", detail="The credentials could not be verified."))

    def challenge(self, request: Any) -> str:
        """The ``WWW-Authenticate`` value for this scheme, with the refusal's parameters."""
        params = [("realm", self.realm)]
        refusal = self.verdict(request).refusal if self._memo_key in request.environ else None
        if refusal is not None:
            if refusal.challenge is not None:
                return refusal.challenge
            params.extend(refusal.challenge_params)
        return self.auth_scheme + " " + ", ".join(f'{name}="{value}"' for name, value in params)

    # -- IAuthenticationPolicy -----------------------------------------------

    def authenticated_userid(self, request: Any) -> str | None:
        identity = self.verdict(request).identity
        return identity.userid if identity is not None else None

    def unauthenticated_userid(self, request: Any) -> str | None:
        # Every scheme here verifies before it names a user.
        return self.authenticated_userid(request)

    def effective_principals(self, request: Any) -> list[str]:
        identity = self.verdict(request).identity
        if identity is None:
            return [Everyone]
        return [Everyone, Authenticated, identity.userid, *sorted(identity.principals)]

    def remember(self, request: Any, userid: str, **kw: Any) -> list[tuple[str, str]]:
        # Credentials are issued by the endpoints, not by response headers.
        return []

    def forget(self, request: Any) -> list[tuple[str, str]]:
        """The challenge: pyramid_multiauth gathers these from every policy for the 401."""
        return [("WWW-Authenticate", self.challenge(request))]


def client_address(request: Any, trusted_proxies: int) -> str:
    """The caller's address, for rate limits.

    With ``trusted_proxies = 0`` this is ``REMOTE_ADDR``: ``X-Forwarded-For``
    is written by the client and cannot be trusted. Behind N reverse proxies
    that each append to ``X-Forwarded-For``, the address the outermost
    trusted proxy saw is the N-th from the right.

    This is the address as given; the failure limits count it normalized
    (IPv6 by prefix, IPv4-mapped IPv6 as IPv4): see
    :func:`pyramid_authsuite.ratelimit.request_address`.
    """
    remote = request.environ.get("REMOTE_ADDR", "") or "unknown"
    if trusted_proxies <= 0:
        return remote
    forwarded = [part.strip() for part in request.headers.get("X-Forwarded-For", "")[:2048].split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < trusted_proxies:
        return remote
    return forwarded[-trusted_proxies]
