"""The demo API that ``development.ini`` serves.

- ``GET /``: the configured schemes and endpoints (public);
- ``GET /whoami``: the caller's identity as JSON (401 when anonymous);
- ``POST /whoami``: the same, with the JSON body it received echoed back, so
  that signatures covering a body (Hawk's payload hash, RFC 9421
  ``Content-Digest``) can be tried against the demo;
- ``GET /admin``: only for the ``role:admin`` principal, through an ACL;
- ``GET /internal/ping``: only for the services named in ``demo.internal_services``
  (default ``billing``), signed with their HMAC service keys.
"""
from __future__ import annotations

import json
from typing import Any

from pyramid.authorization import ALL_PERMISSIONS, Allow, Authenticated, Deny, Everyone
from pyramid.config import Configurator
from pyramid.settings import aslist

from pyramid_authsuite.security import problem

# The echo view reads at most this much: it is a demo, not an upload endpoint.
MAX_ECHO_BYTES = 64 * 1024


class DemoRoot:
    """The ACL every demo view is checked against."""

    __acl__ = [
        (Allow, "role:admin", ALL_PERMISSIONS),
        (Allow, Authenticated, "authenticated"),
        (Deny, Everyone, ALL_PERMISSIONS),
    ]

    def __init__(self, request: Any):
        self.request = request


def index(request: Any) -> dict[str, Any]:
    security = request.registry.authsuite_security_policy
    return {
        "name": "pyramid_authsuite demo",
        "schemes": [
            {"name": name, "scheme": getattr(policy, "scheme", name)} for name, policy in security.get_policies()
        ],
        "endpoints": list(request.registry.authsuite_settings.endpoints),
        "views": {"/whoami": "any authenticated caller (POST: echoes a JSON body)", "/admin": "role:admin", "/internal/ping": "signed services"},
    }


def whoami(request: Any) -> dict[str, Any]:
    return request.identity.as_json()


def whoami_echo(request: Any) -> dict[str, Any]:
    """The identity, and the JSON body the (authenticated) caller sent."""
    if request.content_length is not None and request.content_length > MAX_ECHO_BYTES:
        raise problem(400, "invalid_body", f"The body must be at most {MAX_ECHO_BYTES} bytes.")
    if request.content_type != "application/json":
        raise problem(400, "invalid_body", "Send a JSON body (Content-Type: application/json).")
    try:
        received = json.loads(request.body_file.read(MAX_ECHO_BYTES + 1).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise problem(400, "invalid_body", "The body is not valid JSON.") from None
    return {**request.identity.as_json(), "received": received}


def admin(request: Any) -> dict[str, Any]:
    return {"userid": request.identity.userid, "message": "Welcome, administrator."}


def internal_ping(request: Any) -> dict[str, Any]:
    return {"pong": True, "service": request.identity.userid}


def main(global_config: dict[str, Any], **settings: Any):
    """Paste app factory: ``use = egg:pyramid_authsuite#demo``."""
    with Configurator(settings=settings, root_factory=DemoRoot) as config:
        config.include("pyramid_authsuite")
        config.add_route("index", "/")
        config.add_route("whoami", "/whoami")
        config.add_route("admin", "/admin")
        config.add_view(index, route_name="index", renderer="json", request_method=("GET", "HEAD"))
        config.add_view(
            whoami, route_name="whoami", renderer="json", permission="authenticated", request_method=("GET", "HEAD")
        )
        config.add_view(whoami_echo, route_name="whoami", renderer="json", permission="authenticated", request_method="POST")
        config.add_view(admin, route_name="admin", renderer="json", permission="admin", request_method=("GET", "HEAD"))
        config.add_route("internal_ping", "/internal/ping")
        internal_services = tuple(aslist(settings.get("demo.internal_services", "billing")))
        config.add_view(internal_ping, route_name="internal_ping", renderer="json", services=internal_services)
    return config.make_wsgi_app()
