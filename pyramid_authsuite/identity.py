"""What ``request.identity`` returns."""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping


@dataclass(frozen=True)
class Identity:
    """An authenticated caller.

    ``userid``
        The account's userid (``service:<name>`` for service keys).
    ``scheme``
        Which scheme authenticated the request: ``basic``, ``hawk``, ``hmac``,
        ``jwt``, ``challenge`` (or a foreign policy's multiauth name).
    ``principals``
        What ACLs can name: ``role:<r>``, ``tenant:<t>``, ``scheme:<s>`` and
        so on. The security policy adds the userid, ``Everyone`` and
        ``Authenticated`` itself.
    ``claims``
        The verified JWT claims, or an empty mapping for other schemes.
    """

    userid: str
    scheme: str
    principals: frozenset[str] = frozenset()
    claims: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def groups(self) -> list[str]:
        """The principals as a list, for code written against pyramid_multiauth's identity."""
        return sorted(self.principals)

    def as_json(self) -> dict[str, Any]:
        """A JSON-able view, as the demo's ``/whoami`` shows it."""
        return {
            "userid": self.userid,
            "scheme": self.scheme,
            "principals": sorted(self.principals),
            "claims": dict(self.claims),
        }


def account_principals(account: Any, scheme: str) -> frozenset[str]:
    """Principals every account-backed scheme grants: roles, tenant and scheme."""
    principals = {f"role:{role}" for role in account.roles}
    if account.tenant:
        principals.add(f"tenant:{account.tenant}")
    principals.add(f"scheme:{scheme}")
    return frozenset(principals)
