"""The ``services=`` view option: a view that admits only some services.

::

    config.add_view(ping, route_name="internal_ping", services=("billing", "reports"))

    @view_config(route_name="charge", services=("billing",), renderer="json")
    def charge(request): ...

A request signed by another service (or authenticated by any other scheme)
gets 403 problem+json; an anonymous one gets the 401 challenge. This is a view
*option* (a view deriver) rather than a view predicate on purpose: a
predicate that does not match makes Pyramid look for another view and answer
404, which would hide that the caller is simply not allowed. ACLs naming
``service:<name>`` principals work as well, through ``permission=``.
"""
from __future__ import annotations

from typing import Any, Callable

from pyramid.httpexceptions import HTTPForbidden


def services_view_deriver(view: Callable, info: Any) -> Callable:
    """Wrap views declared with ``services=(...)`` to admit only those services."""
    services = info.options.get("services")
    if not services:
        return view
    if isinstance(services, str):
        services = (services,)
    allowed = frozenset(f"service:{name}" for name in services)

    def admit_services(context: Any, request: Any):
        identity = request.identity
        if identity is None or identity.scheme != "hmac" or identity.userid not in allowed:
            raise HTTPForbidden()
        return view(context, request)

    return admit_services


services_view_deriver.options = ("services",)  # type: ignore[attr-defined]
