"""The security policy, the 401/403 challenge view and problem+json errors.

:class:`AuthSuiteSecurityPolicy` extends pyramid_multiauth 1.1's
``MultiAuthSecurityPolicy`` (Pyramid 2's ``ISecurityPolicy``) so that:

- ``request.identity`` is an :class:`~pyramid_authsuite.identity.Identity`
  (userid, scheme, principals, claims), whichever sub-policy authenticated;
- a sub-policy that could not reach its backend makes the request fail
  closed with 503, and one that hit a rate limit with 429, when no other
  sub-policy authenticated the request;
- the identity and principals are memoized in ``request.environ``.

pyramid_multiauth has no challenge of its own, so :func:`challenge_view` is
registered as the forbidden view: 401 with ``WWW-Authenticate`` challenges
when there is no identity, 403 when there is one that lacks the permission.
Every refusal is RFC 9457 ``application/problem+json``.

When several policies refuse the same credentials (three JWT policies read
one ``Authorization: Bearer`` header), the refusal reported is the one of
the policy the credentials were meant for: the highest ``Refusal.rank``
(a policy holding no key for a token ranks lowest, one that verified its
signature highest), then the most pressing status (503, 429, 403, 400,
401), then the first in ``multiauth.policies`` order. The 401 carries one
challenge per protection space (RFC 9110 section 11.5: an auth scheme and a
realm), from that same ordering, and never the same value twice.
"""
from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, Iterable, Mapping

from pyramid.authorization import Authenticated, Everyone
from pyramid.httpexceptions import (
    HTTPBadRequest,
    HTTPConflict,
    HTTPException,
    HTTPForbidden,
    HTTPMethodNotAllowed,
    HTTPNotFound,
    HTTPPreconditionFailed,
    HTTPRequestEntityTooLarge,
    HTTPServiceUnavailable,
    HTTPTooManyRequests,
    HTTPUnauthorized,
    HTTPUnsupportedMediaType,
)
from pyramid.interfaces import ISecurityPolicy
from pyramid_multiauth import MultiAuthPolicySelected, MultiAuthSecurityPolicy

from pyramid_authsuite.identity import Identity
from pyramid_authsuite.policy import AuthSuitePolicy, Refusal

PROBLEM_CONTENT_TYPE = "application/problem+json"
# RFC 9457 section 3.1.1: "type" is a URI identifying the problem. A tag URI
# (RFC 4151) names it stably without pretending to be a page to fetch.
PROBLEM_TYPE_PREFIX = "tag:pyramid-authsuite,2026:"

_IDENTITY_KEY = "authsuite.identity"
_PRINCIPALS_KEY = "authsuite.principals"
# [(policy, refusal)] in policy order, and the one reported.
_REFUSALS_KEY = "authsuite.refusals"
_REPORTED_KEY = "authsuite.reported_refusal"

# Among refusals of one rank, the one that must reach the client first:
# outages and rate limits fail closed, then configured 403/400, then 401.
_STATUS_PRIORITY = {503: 4, 429: 3, 403: 2, 400: 1}

_STATUS_CLASSES = {
    400: HTTPBadRequest,
    401: HTTPUnauthorized,
    403: HTTPForbidden,
    404: HTTPNotFound,
    405: HTTPMethodNotAllowed,
    409: HTTPConflict,
    412: HTTPPreconditionFailed,
    413: HTTPRequestEntityTooLarge,
    415: HTTPUnsupportedMediaType,
    429: HTTPTooManyRequests,
    503: HTTPServiceUnavailable,
}


def problem_type(code: str) -> str:
    """The problem+json ``type`` URI for a refusal code such as ``invalid_credentials``."""
    return PROBLEM_TYPE_PREFIX + code


def problem(
    status: int,
    code: str,
    detail: str,
    headers: Iterable[tuple[str, str]] = (),
    title: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> HTTPException:
    """An HTTP exception whose body is an RFC 9457 problem document.

    ``status``
        The HTTP status (one of those with a class in ``_STATUS_CLASSES``).
    ``code``
        The stable refusal code; ``type`` is :func:`problem_type` of it.
    ``detail``
        The human-readable sentence (never echoing secrets or raw input).
    ``headers``
        Extra response headers (``Retry-After``, challenges, ...).
    ``title``
        Overrides the status's standard title.
    ``extra``
        Extension members (RFC 9457 section 3.2), such as the admin API's
        ``errors`` list; they cannot replace the standard members.

    It can be raised (Pyramid's default exception view serves it as it is) or
    returned from a view.
    """
    exception_class = _STATUS_CLASSES.get(status)
    if exception_class is None:
        raise ValueError(f"no problem response for status {status}")
    body = {
        "type": problem_type(code),
        "title": title or exception_class.title,
        "status": status,
        "detail": detail,
    }
    if extra:
        body.update((name, value) for name, value in extra.items() if name not in body)
    response = exception_class()
    response.body = json.dumps(body).encode("utf-8")
    response.content_type = PROBLEM_CONTENT_TYPE
    response.charset = None
    # Refusals depend on credentials: never let a cache serve one to someone else.
    response.headers["Cache-Control"] = "no-store"
    for name, value in headers:
        response.headers.add(name, value)
    return response


def refusal_problem(refusal: Refusal, headers: Iterable[tuple[str, str]] = ()) -> HTTPException:
    """The problem response for a refusal that is not a 401 challenge (``Retry-After`` for 429 and 503)."""
    extra = list(headers)
    if refusal.retry_after is not None:
        extra.append(("Retry-After", str(refusal.retry_after)))
    return problem(refusal.status, refusal.code, refusal.detail, extra)


def _precedence(refusal: Refusal | None) -> tuple[int, int]:
    """The order refusals are reported in: rank, then status; no refusal comes last."""
    if refusal is None:
        return (-1, -1)
    return (refusal.rank, _STATUS_PRIORITY.get(refusal.status, 0))


def _reported(refused_by: list[tuple[Any, Refusal]]) -> Refusal | None:
    """The refusal to report: the highest precedence, the first of equals."""
    best: Refusal | None = None
    for _, refusal in refused_by:
        if best is None or _precedence(refusal) > _precedence(best):
            best = refusal
    return best


class AuthSuiteSecurityPolicy(MultiAuthSecurityPolicy):
    """pyramid_multiauth's security policy, returning rich identities and failing closed.

    Arguments are pyramid_multiauth's:

    ``policies``
        The sub-policies, in order (the first to authenticate wins).
    ``callback``
        Optional groupfinder ``(userid, request) -> list | None``; ``None``
        rejects the userid, a list adds principals.
    ``authz_policy``
        Object with ``permits(context, principals, permission)``; Pyramid's
        ``ACLHelper`` by default.
    """

    def __init__(self, policies: list, callback: Any = None, authz_policy: Any = None):
        super().__init__(policies, callback, authz_policy)
        self._principals_of: dict[tuple | None, frozenset[str]] = {}
        self._all_ours: bool | None = None

    def _only_ours(self) -> bool:
        # Decided at the first request: the policies list is filled at commit time.
        if self._all_ours is None:
            self._all_ours = all(isinstance(policy, AuthSuitePolicy) for policy in self._policies)
        return self._all_ours

    def identity(self, request: Any) -> Identity | None:
        environ = request.environ
        if _IDENTITY_KEY in environ:
            return environ[_IDENTITY_KEY]
        identity = self._compute_identity(request)
        environ[_IDENTITY_KEY] = identity
        return identity

    def _compute_identity(self, request: Any) -> Identity | None:
        refusals: list[tuple[Any, Refusal]] = []
        for policy in self._policies:
            identity = self._identity_from(policy, request, refusals)
            if identity is None:
                continue
            registry = request.registry
            # Registry.notify() checks has_listeners itself; checking first
            # also saves building the event nobody would receive.
            if getattr(registry, "has_listeners", True):
                registry.notify(MultiAuthPolicySelected(policy, request, identity.userid))
            if self._callback is None:
                return identity
            groups = self._callback(identity.userid, request)
            if groups is not None:
                return replace(identity, principals=identity.principals | frozenset(groups))
        environ = request.environ
        environ[_REFUSALS_KEY] = refusals
        reported = environ[_REPORTED_KEY] = _reported(refusals)
        # Fail closed: an outage, a rate limit, or a policy configured to
        # refuse with 403/400 (instead of challenging with 401) stops the
        # request, whatever the view's permission. (Unless the credentials
        # were proven to be another policy's, whose refusal is then the
        # answer: still a refusal.)
        if reported is not None and reported.status != 401:
            raise refusal_problem(reported)
        return None

    @staticmethod
    def _identity_from(policy: Any, request: Any, refusals: list[tuple[Any, Refusal]]) -> Identity | None:
        if isinstance(policy, AuthSuitePolicy):
            verdict = policy.verdict(request)
            if verdict.refusal is not None:
                refusals.append((policy, verdict.refusal))
            return verdict.identity
        # A foreign IAuthenticationPolicy (pyramid_ipauth, ...): wrap its answer.
        userid = policy.authenticated_userid(request)
        if userid is None:
            return None
        extra = {p for p in policy.effective_principals(request) if p not in (Everyone, Authenticated, userid)}
        name = getattr(policy, "_pyramid_multiauth_name", None) or type(policy).__name__
        return Identity(userid=userid, scheme=name, principals=frozenset(extra))

    def effective_principals(self, request: Any) -> set[str] | frozenset[str]:
        environ = request.environ
        cached = environ.get(_PRINCIPALS_KEY)
        if cached is not None:
            return cached
        identity = self.identity(request)
        if self._only_ours():
            # Then the principals depend on the identity alone: build each set once.
            key = None if identity is None else (identity.userid, identity.principals)
            principals = self._principals_of.get(key)
            if principals is None:
                principals = frozenset(
                    (Everyone,) if identity is None
                    else (Everyone, Authenticated, identity.userid, *identity.principals)
                )
                if len(self._principals_of) >= 10_000:
                    self._principals_of.clear()
                self._principals_of[key] = principals
            environ[_PRINCIPALS_KEY] = principals
            return principals
        principals = {Everyone}
        # Foreign policies may grant principals without a userid (IP ranges);
        # ours only grant through the identity, already computed above.
        for policy in self._policies:
            if not isinstance(policy, AuthSuitePolicy):
                principals.update(p for p in policy.effective_principals(request) if p not in (Everyone, Authenticated))
        if identity is not None:
            principals.add(Authenticated)
            principals.add(identity.userid)
            principals.update(identity.principals)
        environ[_PRINCIPALS_KEY] = principals
        return principals


    def forget(self, request: Any, **kw: Any) -> list[tuple[str, str]]:
        """The challenge headers: one ``WWW-Authenticate`` per protection space, no value twice.

        Our policies sharing an auth scheme and a realm (RFC 9110 section
        11.5) are one protection space, answered once, where its first
        policy stands: by the policy whose refusal comes first in the
        reporting order (so the reported refusal's ``error`` is in its
        space's challenge), the others' headers left out. Headers of foreign
        policies are kept, except exact repeats.
        """
        refused_by = {id(policy): refusal for policy, refusal in request.environ.get(_REFUSALS_KEY, ())}
        speakers: dict[tuple[str, str], Any] = {}
        for policy in self._policies:
            if isinstance(policy, AuthSuitePolicy):
                space = (policy.auth_scheme.lower(), policy.realm)
                current = speakers.get(space)
                if current is None or _precedence(refused_by.get(id(policy))) > _precedence(refused_by.get(id(current))):
                    speakers[space] = policy
        headers: list[tuple[str, str]] = []
        for policy in self._policies:
            if isinstance(policy, AuthSuitePolicy):
                # The space's first policy takes its turn; None once answered.
                policy = speakers.pop((policy.auth_scheme.lower(), policy.realm), None)
                if policy is None:
                    continue
            for header in policy.forget(request):
                if header not in headers:
                    headers.append(header)
        return headers


def refusals(request: Any) -> list[Refusal]:
    """The refusals gathered while computing ``request.identity`` (empty if none), in policy order."""
    return [refusal for _, refusal in request.environ.get(_REFUSALS_KEY, ())]


def reported_refusal(request: Any) -> Refusal | None:
    """The refusal the response reports: that of the policy the credentials were meant for (see the module docstring)."""
    return request.environ.get(_REPORTED_KEY)


def challenge_view(request: Any) -> HTTPException:
    """The forbidden view: 401 + challenges when anonymous, 403 when not permitted."""
    try:
        identity = request.identity
    except HTTPException as refusal_response:  # 503 / 429 raised while identifying
        return refusal_response
    if identity is not None:
        return problem(403, "forbidden", "You are authenticated but not allowed to do this.")
    security_policy = request.registry.queryUtility(ISecurityPolicy)
    challenges = security_policy.forget(request) if security_policy is not None else []
    reported = reported_refusal(request)
    if reported is not None:
        return problem(401, reported.code, reported.detail, challenges)
    return problem(
        401,
        "authentication_required",
        "This resource needs authentication with one of the schemes in WWW-Authenticate.",
        challenges,
    )
