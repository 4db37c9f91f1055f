"""Who may use the admin API, on which accounts, and how often.

The permission is ``authsuite:admin``. :class:`AdminContext` grants it to
every principal in ``authsuite.admin_principals`` (full admins: every
account) and to ``role:tenant-admin``; what a tenant admin may reach is
decided here, per account, because an ACL cannot see the account:

- a tenant admin is a caller holding ``role:tenant-admin`` and exactly one
  ``tenant:T`` principal (none, or several, is a 403);
- it reaches the accounts of tenant T whose roles are all in
  ``authsuite.tenant_admin_roles``; any other account is answered as if it did
  not exist (404), so its existence does not leak;
- it may grant only those roles, may create accounts only in T, and may not
  change an account's tenant (403).

Writes are counted per caller (scheme and userid) in the cache, in a fixed
window (``incr``, as the failed-attempt limits count): past
``authsuite.admin_write_limit`` per ``authsuite.admin_write_window_seconds``
the caller gets 429 with ``Retry-After``.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Iterable

from pyramid.authorization import Allow
from pyramid.interfaces import ISecurityPolicy

from pyramid_authsuite.endpoints import EndpointContext
from pyramid_authsuite.security import problem

#: The permission every admin view requires.
ADMIN_PERMISSION = "authsuite:admin"
#: The principal that makes a caller a tenant admin (with ``tenant:T``).
TENANT_ADMIN_PRINCIPAL = "role:tenant-admin"
#: Cache key prefix of the write counters.
WRITES_PREFIX = "admin:writes:"


def admin_acl(settings: Any) -> list[tuple[str, str, str]]:
    """The ACL of the admin API for these settings (``authsuite.admin_principals``)."""
    return [(Allow, principal, ADMIN_PERMISSION) for principal in (*settings.admin_principals, TENANT_ADMIN_PRINCIPAL)]


class AdminContext(EndpointContext):
    """Context of the admin services: :class:`EndpointContext` with the admin ACL."""

    def __init__(self, request: Any):
        super().__init__(request)
        registry = request.registry
        acl = getattr(registry, "_authsuite_admin_acl", None)
        if acl is None:  # built once per application: the settings do not change
            acl = registry._authsuite_admin_acl = admin_acl(registry.authsuite_settings)
        self.__acl__ = acl


@dataclass(frozen=True)
class Caller:
    """What the caller of an admin view may do.

    ``tenant``
        ``None`` for a full admin, else the tenant a tenant admin manages.
    ``grantable``
        The roles a tenant admin may grant (``authsuite.tenant_admin_roles``).
    """

    tenant: str | None
    grantable: frozenset[str] = frozenset()

    @property
    def full(self) -> bool:
        return self.tenant is None

    def reaches(self, account: Any) -> bool:
        """Whether this caller may see and change ``account``."""
        if self.tenant is None:
            return True
        return account.tenant == self.tenant and set(account.roles) <= self.grantable

    def check_grant(self, roles: Iterable[str] | None) -> None:
        """Raise 403 if a tenant admin would grant a role outside ``authsuite.tenant_admin_roles``."""
        if self.tenant is not None and roles and not set(roles) <= self.grantable:
            raise problem(403, "forbidden", "A tenant admin may grant only the roles in authsuite.tenant_admin_roles.")


def _principals(request: Any) -> frozenset[str]:
    policy = request.registry.queryUtility(ISecurityPolicy)
    if policy is not None and hasattr(policy, "effective_principals"):
        return frozenset(policy.effective_principals(request))
    identity = request.identity
    return frozenset((identity.userid, *identity.principals)) if identity is not None else frozenset()


def caller_of(request: Any) -> Caller:
    """The :class:`Caller` of this (permitted) request; 403 for a tenant admin without one tenant."""
    settings = request.registry.authsuite_settings
    principals = _principals(request)
    if any(principal in principals for principal in settings.admin_principals):
        return Caller(tenant=None)
    tenants = [principal[len("tenant:"):] for principal in principals if principal.startswith("tenant:")]
    if TENANT_ADMIN_PRINCIPAL in principals and len(tenants) == 1:
        return Caller(tenant=tenants[0], grantable=frozenset(settings.tenant_admin_roles))
    raise problem(403, "forbidden", "A tenant admin must belong to exactly one tenant.")


def count_write(request: Any) -> None:
    """Admit one admin write: refuse a browser's cross-site request, then count it.

    Basic credentials are ambient: a browser that holds them sends them with
    any request to this origin, including a form or a ``no-cors`` fetch
    another site makes it send (no preflight for a ``POST .../disable``
    without a body). Such a request carries ``Sec-Fetch-Site: cross-site``
    (or ``same-site``); it is refused (403) unless its ``Origin`` is one
    of ``authsuite.cors_origins``. Clients that are not browsers send neither
    header.

    Then one write is counted for the caller; past
    ``authsuite.admin_write_limit`` it is 429. The counter's key is a hash of
    (scheme, userid): bounded and free of separators whatever the userid
    holds.
    """
    registry = request.registry
    settings = registry.authsuite_settings
    if request.headers.get("Sec-Fetch-Site", "").lower() in ("cross-site", "same-site"):
        if request.headers.get("Origin") not in settings.cors_origins:
            raise problem(403, "forbidden", "Admin changes are not accepted from another site's pages.")
    identity = request.identity
    subject = f"{identity.scheme}\x00{identity.userid}".encode("utf-8", "surrogatepass")
    key = WRITES_PREFIX + hashlib.sha256(subject).hexdigest()[:32]
    window = settings.admin_write_window_seconds
    if registry.authsuite_cache.incr(key, window) > settings.admin_write_limit:
        raise problem(429, "rate_limited", "Too many admin changes; try again later.", [("Retry-After", str(window))])
