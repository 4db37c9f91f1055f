"""The apps the benchmarks time: one view, with and without authentication."""
from __future__ import annotations

from typing import Any

from pyramid.authorization import Allow, Authenticated
from pyramid.config import Configurator


class Root:
    __acl__ = [(Allow, Authenticated, "authenticated")]

    def __init__(self, request: Any):
        self.request = request


def hello(request: Any):
    return request.response


def noauth_app():
    """The baseline: the same route and view, no security policy, no permission."""
    with Configurator() as config:
        config.add_route("protected", "/protected")
        config.add_view(hello, route_name="protected")
    return config.make_wsgi_app()


def authsuite_app(settings: dict[str, Any]):
    """The same view behind pyramid_authsuite, requiring an authenticated caller."""
    with Configurator(settings=settings, root_factory=Root) as config:
        config.include("pyramid_authsuite")
        config.add_route("protected", "/protected")
        config.add_view(hello, route_name="protected", permission="authenticated")
    return config.make_wsgi_app()
