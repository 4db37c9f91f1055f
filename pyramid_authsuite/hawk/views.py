"""``POST /hawk-sessions`` (log in, get a session token) and ``DELETE /hawk-sessions`` (log out).

Enabled by ``authsuite.endpoints = hawk_sessions``. The service is a Cornice
``Service`` (see :mod:`pyramid_authsuite.endpoints`).
"""
from __future__ import annotations

import datetime
from typing import Any

from cornice import Service
from pyramid.httpexceptions import HTTPNoContent

from pyramid_authsuite.endpoints import CREDENTIALS_PERMISSION, cors_options, endpoint_service, login_account
from pyramid_authsuite.hawk.policy import SESSION_KEY, HawkAuthenticationPolicy
from pyramid_authsuite.hawk.sessions import sessions_for
from pyramid_authsuite.security import problem

TOKEN_HEADER = "Hawk-Session-Token"


def hawk_policy(registry: Any) -> HawkAuthenticationPolicy:
    return registry.authsuite_security_policy.get_policy(HawkAuthenticationPolicy)


def create_session(request: Any):
    """Log in with a login scheme (``authsuite.login_schemes``); answer a new session token."""
    registry = request.registry
    account, refusal = login_account(request, "Sessions")
    if refusal is not None:
        return refusal
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


def make_service(settings: Any) -> Service:
    """The ``/hawk-sessions`` service, with CORS for ``authsuite.cors_origins``."""
    cors = cors_options(settings, (TOKEN_HEADER, "Server-Authorization"))
    service = endpoint_service(
        "authsuite_hawk_sessions", "/hawk-sessions", "Hawk session tokens (Kinto / requests-hawk compatible)", **cors
    )
    service.add_view("POST", create_session, permission=CREDENTIALS_PERMISSION, renderer="json")
    service.add_view("DELETE", delete_session, permission=CREDENTIALS_PERMISSION, renderer="json")
    return service
