"""``POST /hawk-sessions`` (log in, get a session token) and ``DELETE /hawk-sessions`` (log out).

Enabled by ``authsuite.endpoints = hawk_sessions``. The service is a Cornice
``Service``; it is registered with Cornice's own ``register_service_views``
but without ``config.include("cornice")``, whose per-request additions (a
reified request method, which makes Pyramid build a request class per
request, and an ``HTTPForbidden`` view that would replace our 401 challenge)
would cost every request of the application. Applications that include
Cornice themselves are unaffected.
"""
from __future__ import annotations

import datetime
from typing import Any

from cornice import Service
from cornice.errors import Errors
from cornice.pyramidhook import add_nosniff_header, apply_filters
from pyramid.authorization import Allow, Authenticated
from pyramid.httpexceptions import HTTPNoContent

from pyramid_authsuite.hawk.policy import SESSION_KEY, HawkAuthenticationPolicy
from pyramid_authsuite.hawk.sessions import sessions_for
from pyramid_authsuite.security import problem

TOKEN_HEADER = "Hawk-Session-Token"


class EndpointContext:
    """Context (and ACL) of the credential endpoints.

    Also does for these routes what Cornice's ``includeme`` would do for
    every request of the application: the attributes its view wrapper reads
    (``errors``, ``validated``, ``info``) and its response callbacks (CORS
    headers, ``nosniff``).
    """

    __acl__ = [(Allow, Authenticated, "authsuite:credentials")]

    def __init__(self, request: Any):
        if not hasattr(request, "errors"):  # Cornice's own subscriber did not run
            request.errors = Errors()
            request.validated = {}
            request.info = {}
            request.add_response_callback(apply_filters)
            request.add_response_callback(add_nosniff_header)


def hawk_policy(registry: Any) -> HawkAuthenticationPolicy:
    return registry.authsuite_security_policy.get_policy(HawkAuthenticationPolicy)


def create_session(request: Any):
    """Log in with a login scheme (``authsuite.login_schemes``); answer a new session token."""
    identity = request.identity
    registry = request.registry
    if identity.scheme not in registry.authsuite_settings.login_schemes:
        return problem(403, "login_scheme_not_allowed", f"Sessions cannot be obtained with {identity.scheme} credentials.")
    account = registry.authsuite_accounts.get(identity.userid)
    if account is None or account.disabled:
        return problem(403, "account_unavailable", "This account cannot obtain sessions.")
    ttl = hawk_policy(registry).session_ttl_seconds
    token = sessions_for(registry).create(account, ttl)
    expires_at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=ttl)
    response = request.response
    response.status_code = 201
    response.headers[TOKEN_HEADER] = token
    response.headers["Cache-Control"] = "no-store"
    return {
        "token": token,
        "token_type": "hawk-session",
        "expires_in": ttl,
        "expires_at": expires_at.replace(microsecond=0).isoformat(),
        "sliding": True,
    }


def delete_session(request: Any):
    """Log out: the Hawk session that signed this request ends at once, everywhere."""
    session = request.environ.get(SESSION_KEY)
    if session is None:
        return problem(403, "hawk_session_required", "Sign this request with the Hawk session to end it.")
    sessions_for(request.registry).revoke(session)
    return HTTPNoContent()


def make_service(cors_origins: tuple[str, ...]) -> Service:
    """The ``/hawk-sessions`` service, with CORS for the configured origins."""
    cors = {"cors_origins": cors_origins, "cors_headers": (TOKEN_HEADER, "Server-Authorization")} if cors_origins else {}
    service = Service(
        name="authsuite_hawk_sessions",
        path="/hawk-sessions",
        factory=EndpointContext,
        description="Hawk session tokens (Kinto / requests-hawk compatible)",
        **cors,
    )
    service.add_view("POST", create_session, permission="authsuite:credentials", renderer="json")
    service.add_view("DELETE", delete_session, permission="authsuite:credentials", renderer="json")
    return service
