"""``POST /challenges``: a one-time challenge for a key id.

Enabled by ``authsuite.endpoints = challenges``; a Cornice ``Service`` (see
:mod:`pyramid_authsuite.endpoints`). It is called without credentials (the
caller has nothing but its key), so it needs no permission; what protects it
is the rate limit per key id and per client address, and that its answer is
the same for key ids that exist and for key ids that do not.
"""
from __future__ import annotations

import json
from typing import Any

from cornice import Service
from pyramid.security import NO_PERMISSION_REQUIRED

from pyramid_authsuite.challenge import protocol
from pyramid_authsuite.challenge.policy import ChallengeAuthenticationPolicy
from pyramid_authsuite.endpoints import cors_options, endpoint_service
from pyramid_authsuite.policy import Refusal
from pyramid_authsuite.security import problem, refusal_problem

#: Largest request body read; ``{"key_id": ..., "ttl": ...}`` needs far less.
MAX_BODY_BYTES = 4096
_FIELDS = frozenset(("key_id", "ttl"))


def challenge_policy(registry: Any) -> ChallengeAuthenticationPolicy:
    return registry.authsuite_security_policy.get_policy(ChallengeAuthenticationPolicy)


def _bad_request(detail: str):
    return problem(400, "invalid_request", detail)


def _read_body(request: Any) -> dict[str, Any] | str:
    """The JSON object in the body, or why it is not one.

    Any Content-Type is accepted (``curl -d`` sends a form type); the body
    must be a JSON object, at most :data:`MAX_BODY_BYTES` long.
    """
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        return f"The body is larger than {MAX_BODY_BYTES} bytes."
    data = request.body_file.read(MAX_BODY_BYTES + 1)
    if len(data) > MAX_BODY_BYTES:
        return f"The body is larger than {MAX_BODY_BYTES} bytes."
    try:
        body = json.loads(data)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return 'The body is not JSON; send {"key_id": "...", "ttl": 30}.'
    if not isinstance(body, dict):
        return 'The body is not a JSON object; send {"key_id": "...", "ttl": 30}.'
    return body


def create_challenge(request: Any):
    """Issue a challenge: ``{"key_id", "ttl"?}`` -> 201 ``{"challenge_id", "challenge", "algorithm", "expires_in"}``."""
    body = _read_body(request)
    if isinstance(body, str):
        return _bad_request(body)
    unknown = set(body) - _FIELDS
    if unknown:
        return _bad_request("Unknown field(s): " + ", ".join(sorted(repr(name)[:40] for name in unknown)) + ".")
    key_id = body.get("key_id")
    if not isinstance(key_id, str) or protocol.KEY_ID_PATTERN.fullmatch(key_id) is None:
        return _bad_request(
            "key_id is required: 1 to 128 letters, digits or . _ ~ : @ + -, starting with a letter or digit."
        )
    ttl = body.get("ttl")
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 1):
        return _bad_request("ttl is a whole number of seconds, at least 1.")
    issued = challenge_policy(request.registry).issue(request, key_id, ttl)
    if isinstance(issued, Refusal):
        return refusal_problem(issued)
    response = request.response
    response.status_code = 201
    # A challenge is for one caller, once: no shared cache may keep it.
    response.headers["Cache-Control"] = "no-store"
    return issued.as_json()


def make_service(settings: Any) -> Service:
    """The ``/challenges`` service, with CORS for ``authsuite.cors_origins``."""
    service = endpoint_service(
        "authsuite_challenges", "/challenges", "One-time challenges for keys registered on accounts",
        **cors_options(settings, ()),
    )
    service.add_view("POST", create_challenge, permission=NO_PERMISSION_REQUIRED, renderer="json")
    return service
