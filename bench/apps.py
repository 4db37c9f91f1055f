"""The apps the benchmarks time: one view, with and without authentication."""
from __future__ import annotations

from typing import Any

from pyramid.authorization import Allow, Authenticated
from pyramid.config import Configurator


class Root:
    __acl__ = [(Allow, Authenticated, "authenticated")]

    def __init__(self, request: Any):
        # Not kept: a request <-> context cycle would leave garbage for the
        # collector on every authenticated request, a cost of the bench app.
        pass


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


def _legacy_security_app(configure: Any, settings: dict[str, Any] | None = None):
    """The same view behind a legacy IAuthenticationPolicy (Pyramid's LegacySecurityPolicy).

    ``configure(config)`` sets the authentication policy. Pyramid 2 deprecates
    ``set_authentication_policy`` and ``set_authorization_policy``: the
    warnings are expected for these peers and silenced here only.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from pyramid.authorization import ACLAuthorizationPolicy

        with Configurator(settings=settings or {}, root_factory=Root) as config:
            configure(config)
            config.set_authorization_policy(ACLAuthorizationPolicy())
            config.add_route("protected", "/protected")
            config.add_view(hello, route_name="protected", permission="authenticated")
        return config.make_wsgi_app()


def pyramid_hawkauth_app(master_secret: str, nonce_cache_url: str | None = None):
    """The same view behind pyramid_hawkauth, set up as its README and ``includeme`` say.

    ``hawkauth.master_secret`` is the secret its default ``decode_hawk_id``
    (tokenlib) signs Hawk ids and derives their keys with; credentials come
    from the policy's ``encode_hawk_id``. The policy is on the registry as
    the ``IAuthenticationPolicy`` utility.
    """

    def configure(config: Any) -> None:
        config.include("pyramid_hawkauth")

    settings = {"hawkauth.master_secret": master_secret}
    if nonce_cache_url:
        # Its documented plug-in point: a dotted name, arguments as nonce_cache_*.
        settings["hawkauth.nonce_cache"] = "bench.hawk_peers:RedisNonceCache"
        settings["hawkauth.nonce_cache_url"] = nonce_cache_url
    return _legacy_security_app(configure, settings)


def mohawk_app(policy: Any):
    """The same view behind a legacy policy object (bench.hawk_peers.MohawkAuthenticationPolicy)."""

    def configure(config: Any) -> None:
        config.set_authentication_policy(policy)

    return _legacy_security_app(configure)
