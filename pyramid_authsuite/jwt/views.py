"""``POST /tokens``, ``DELETE /tokens/current`` and ``GET /.well-known/jwks.json``.

Enabled by ``authsuite.endpoints = tokens jwks``; Cornice services like
:mod:`pyramid_authsuite.hawk.views` (see :mod:`pyramid_authsuite.endpoints`).
"""
from __future__ import annotations

import logging
import time
from typing import Any

from cornice import Service
from pyramid.httpexceptions import HTTPMethodNotAllowed, HTTPNoContent

from pyramid_authsuite.endpoints import CREDENTIALS_PERMISSION, cors_options, endpoint_service, login_account
from pyramid_authsuite.jwt.issuer import TokenIssuer
from pyramid_authsuite.jwt.policy import TOKEN_KEY, JWTAuthenticationPolicy
from pyramid_authsuite.security import problem

logger = logging.getLogger(__name__)

JWKS_PATH = "/.well-known/jwks.json"
# Caches may keep the key set a while; rotation publishes a new key before
# signing with it, so a consumer holding a copy this old still verifies.
JWKS_MAX_AGE = 300


def jwt_policies(registry: Any) -> list[JWTAuthenticationPolicy]:
    """The application's JWT policies, in ``multiauth.policies`` order."""
    return [policy for _, policy in registry.authsuite_security_policy.get_policies() if isinstance(policy, JWTAuthenticationPolicy)]


def token_issuers(registry: Any) -> list[TokenIssuer]:
    """The issuers of the application's JWT policies (their keys and settings), in ``multiauth.policies`` order."""
    return [policy.token_issuer for policy in jwt_policies(registry)]


def signing_issuer(registry: Any) -> TokenIssuer | None:
    """The first issuer that holds a signing key."""
    for issuer in token_issuers(registry):
        if issuer.can_issue(registry):
            return issuer
    return None


def signing_policy(registry: Any) -> JWTAuthenticationPolicy | None:
    """The first JWT policy that holds a signing key."""
    for policy in jwt_policies(registry):
        if policy.token_issuer.can_issue(registry):
            return policy
    return None


def _not_allowed(allow: str) -> HTTPMethodNotAllowed:
    response = HTTPMethodNotAllowed()
    response.headers["Allow"] = allow
    return response


def create_token(request: Any):
    """Log in with a login scheme (``authsuite.login_schemes``); answer an access token (RFC 6749 5.1)."""
    if request.matchdict.get("current"):
        return _not_allowed("DELETE")
    registry = request.registry
    # Before the account is read: the token's iat (see TokenIssuer.issue_token).
    read_at = time.time()
    account, refusal = login_account(request, "Tokens")
    if refusal is not None:
        return refusal
    issuer = signing_issuer(registry)
    if issuer is None:
        logger.error("POST /tokens: no JWT policy holds a signing key (secret, private_key or keys)")
        return problem(503, "token_issuing_unavailable", "This server cannot issue tokens.")
    body = issuer.issue_token(registry, account, read_at=read_at)
    response = request.response
    # RFC 6749 section 5.1: token responses are never cached.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return body


def revoke_current_token(request: Any):
    """Revoke the bearer token that authenticated this request, everywhere the cache is shared."""
    if not request.matchdict.get("current"):
        return _not_allowed("POST")
    presented = request.environ.get(TOKEN_KEY)
    if presented is None or request.identity.scheme != "jwt":
        return problem(403, "bearer_token_required", "Send this request with the bearer token to revoke.")
    issuer, entry = presented  # the issuer of the policy that verified the token
    issuer.revoke(request.registry, entry)
    return HTTPNoContent()


def jwks(request: Any) -> dict[str, Any]:
    """RFC 7517 section 5 JWK Set of every local public verification key; never a secret."""
    keys: list[dict[str, Any]] = []
    seen: set[str] = set()
    for issuer in token_issuers(request.registry):
        for jwk in issuer.public_jwks(request.registry):
            if jwk["kid"] not in seen:
                seen.add(jwk["kid"])
                keys.append(jwk)
    request.response.headers["Cache-Control"] = f"public, max-age={JWKS_MAX_AGE}"
    return {"keys": keys}


def make_tokens_service(settings: Any) -> Service:
    """``/tokens`` (POST) and ``/tokens/current`` (DELETE) as one Cornice service.

    One route with an optional ``/current`` suffix, because the endpoint
    table registers one service per endpoint name.
    """
    service = endpoint_service(
        "authsuite_tokens", "/tokens{current:(/current)?}", "JWT access tokens (RFC 6750 bearer)",
        **cors_options(settings, ()),
    )
    service.add_view("POST", create_token, permission=CREDENTIALS_PERMISSION, renderer="json")
    service.add_view("DELETE", revoke_current_token, permission=CREDENTIALS_PERMISSION, renderer="json")
    return service


def make_jwks_service(settings: Any) -> Service:
    """``/.well-known/jwks.json``: public, cacheable, readable cross-origin by anyone."""
    service = endpoint_service(
        "authsuite_jwks", JWKS_PATH, "The public keys that verify this server's tokens (RFC 7517 JWK Set)",
        cors_origins=("*",),
    )
    service.add_view("GET", jwks, renderer="json")
    return service
