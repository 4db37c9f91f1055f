"""What every credential endpoint shares: its context (ACL), its CORS options,
and problem+json for its 404 and 405 answers.

The endpoints are Cornice ``Service`` objects, registered with Cornice's own
``register_service_views`` but without ``config.include("cornice")``: its
per-request additions (a reified request method, which makes Pyramid build a
request class per request, and an ``HTTPForbidden`` view that would replace
our 401 challenge) would cost every request of the application, not only
these. Applications that include Cornice themselves are unaffected.
"""
from __future__ import annotations

import json
from typing import Any

from cornice import Service
from cornice.errors import Errors
from cornice.pyramidhook import add_nosniff_header, apply_filters
from pyramid.authorization import Allow, Authenticated

# The permission every credential endpoint that needs a caller requires.
CREDENTIALS_PERMISSION = "authsuite:credentials"


class EndpointContext:
    """Context (and ACL) of the credential endpoints.

    Also does for these routes what Cornice's ``includeme`` would do for
    every request of the application: the attributes its view wrapper reads
    (``errors``, ``validated``, ``info``) and its response callbacks (CORS
    headers, ``nosniff``).
    """

    __acl__ = [(Allow, Authenticated, CREDENTIALS_PERMISSION)]

    def __init__(self, request: Any):
        if not hasattr(request, "errors"):  # Cornice's own subscriber did not run
            request.errors = Errors()
            request.validated = {}
            request.info = {}
            request.add_response_callback(apply_filters)
            request.add_response_callback(add_nosniff_header)


# Request headers a browser must be allowed to send to any credential endpoint.
CORS_REQUEST_HEADERS = ("Authorization", "Content-Type")


def cors_options(settings: Any, exposed_headers: tuple[str, ...]) -> dict[str, Any]:
    """Cornice CORS arguments for ``authsuite.cors_origins`` (none: no CORS).

    Cornice uses one list both for the request headers a preflight allows and
    for the response headers it exposes, so it holds both.
    """
    if not settings.cors_origins:
        return {}
    return {"cors_origins": settings.cors_origins, "cors_headers": CORS_REQUEST_HEADERS + exposed_headers}


def cornice_errors(request: Any):
    """Cornice's own refusals (a CORS preflight from another origin, say) as a 400 problem.

    Cornice renders these with its ``cornicejson`` renderer, which exists
    only under ``config.include("cornice")``; this keeps them problem+json.
    """
    from pyramid_authsuite.security import problem

    names = ", ".join(sorted({str(error.get("name", ""))[:40] for error in request.errors}))
    return problem(400, "invalid_request", f"The request was refused by the endpoint's checks ({names}).")


def endpoint_service(name: str, path: str, description: str, **options: Any) -> Service:
    """A Cornice service for a credential endpoint, usable without ``config.include("cornice")``.

    Its default renderer is Pyramid's ``json`` (used by the CORS preflight and
    fallback views Cornice adds) and its error handler answers problem+json.
    ``options`` go to ``Service`` (``cors_origins``, ``cors_headers``, ...);
    ``factory`` replaces :class:`EndpointContext` (a subclass of it, with its
    own ACL: the admin API's).
    """
    factory = options.pop("factory", EndpointContext)
    return Service(
        name=name,
        path=path,
        description=description,
        factory=factory,
        renderer="json",
        error_handler=cornice_errors,
        **options,
    )


def method_not_allowed(context: Any, request: Any) -> Any:
    """405 from an endpoint (Cornice's fallback view raised it), as problem+json, with its ``Allow``."""
    from pyramid_authsuite.security import problem

    allow = context.headers.get("Allow", "")
    detail = f"This endpoint answers {allow or 'no method'}, not {request.method}."
    return problem(405, "method_not_allowed", detail, [("Allow", allow)])


def undecodable_path(context: Any, request: Any) -> Any:
    """400 for a path under an endpoint that is not UTF-8 (``/admin/users/%ff``), as problem+json.

    Pyramid raises ``URLDecodeError`` while matching routes; without this it
    would reach the caller as a 500.
    """
    from pyramid_authsuite.security import problem

    return problem(400, "invalid_request", "The request path is not UTF-8.")


def endpoint_not_found(context: Any, request: Any) -> Any:
    """404 for a path under an endpoint's own path (``/tokens/nope``), as problem+json."""
    from pyramid_authsuite.security import problem

    return problem(404, "not_found", "There is no such endpoint.")


class UnderEndpointPredicate:
    """View predicate ``authsuite_under_endpoint = (path, route_name)``.

    True when the request path is ``path`` or below it, and no route of the
    application other than the endpoint's own (``route_name``) matched: the
    application's own 404s, even under the same prefix, stay its own.
    """

    def __init__(self, value: tuple[str, str], config: Any):
        self.path, self.route_name = value

    def text(self) -> str:
        # The route name too: several services (the admin API's) share one
        # literal path, and equal texts would make their views conflict.
        return f"authsuite_under_endpoint = {self.path} ({self.route_name})"

    phash = text

    def __call__(self, context: Any, request: Any) -> bool:
        # No route has matched yet when the path could not be decoded.
        route = getattr(request, "matched_route", None)
        if route is not None and route.name != self.route_name:
            return False
        # The WSGI path (latin-1 text of the raw bytes), not request.path_info,
        # which cannot be read when the path is not UTF-8; the endpoints'
        # own paths are ASCII, so both compare alike.
        path = request.environ.get("PATH_INFO", "")
        return path == self.path or path.startswith(self.path + "/")


def endpoint_path(config: Any, service: Service) -> str:
    """The literal part of a service's path as routed (route prefix included),
    up to its first placeholder: ``/tokens`` for ``/tokens{current:(/current)?}``."""
    literal = service.path.split("{", 1)[0].rstrip("/")
    prefix = (config.route_prefix or "").strip("/")
    return (f"/{prefix}" if prefix else "") + "/" + literal.lstrip("/")


def add_endpoint_error_views(config: Any, services: list[Service]) -> None:
    """Answer what is not an authentication refusal on the endpoints as problem+json too.

    Registered per endpoint, so the application's other views keep their own
    404 and 405 pages: a 405 on an endpoint's route (``GET /hawk-sessions``),
    a 404 for a path under an endpoint's path that no route of the
    application matches (``/tokens/nope``), and a 400 for a path under it
    that is not UTF-8.
    """
    from pyramid.exceptions import URLDecodeError
    from pyramid.httpexceptions import HTTPMethodNotAllowed

    config.add_view_predicate("authsuite_under_endpoint", UnderEndpointPredicate)
    for service in services:
        under = (endpoint_path(config, service), service.name)
        config.add_exception_view(method_not_allowed, context=HTTPMethodNotAllowed, route_name=service.name)
        config.add_notfound_view(endpoint_not_found, authsuite_under_endpoint=under)
        config.add_exception_view(undecodable_path, context=URLDecodeError, authsuite_under_endpoint=under)


def login_account(request: Any, credentials: str) -> tuple[Any, Any]:
    """``(account, None)`` for a caller who may obtain ``credentials`` (``"Sessions"``,
    ``"Tokens"``), else ``(None, 403 problem)`` for the view to return.

    The caller must have logged in with a scheme in ``authsuite.login_schemes``
    and its account must exist and be enabled. (Returned, not raised: a raised
    403 would go through the forbidden view, which answers a generic problem.)
    """
    from pyramid_authsuite.security import problem

    identity = request.identity
    registry = request.registry
    if identity.scheme not in registry.authsuite_settings.login_schemes:
        return None, problem(
            403, "login_scheme_not_allowed", f"{credentials} cannot be obtained with {identity.scheme} credentials."
        )
    account = registry.authsuite_accounts.get(identity.userid)
    if account is None or account.disabled:
        return None, problem(403, "account_unavailable", f"This account cannot obtain {credentials.lower()}.")
    return account, None
