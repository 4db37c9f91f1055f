"""The events the admin API emits, one per change it makes.

Subscribe with Pyramid's ``config.add_subscriber(listener, AccountEvent)``
(every change) or with one of the subclasses. An event carries the request
that made the change, who made it and which fields changed, never their
values: a subscriber that wants the account as it is now asks the store
(``request.registry.authsuite_accounts.get(event.userid)``).

Events are notified after the change is made (the store has written it), in
the request's thread; a subscriber's exception reaches the caller as a 500,
but the change stays made.
"""
from __future__ import annotations

from typing import Any

__all__ = [
    "AccountEvent",
    "AccountCreated",
    "AccountUpdated",
    "AccountDisabled",
    "AccountEnabled",
    "AccountDeleted",
    "AccountPasswordChanged",
    "AccountSessionsEnded",
    "AccountKeyAdded",
    "AccountKeyRemoved",
]


class AccountEvent:
    """Base class of the admin API's events.

    ``request``
        The request that made the change (``None`` when made outside one).
    ``actor``
        The acting caller's userid (``service:ops`` for a service key).
    ``actor_scheme``
        The scheme that authenticated the actor (``basic``, ``hmac``, ...),
        or ``None``.
    ``userid``
        The account changed.
    ``changes``
        The names of the fields changed (a tuple; never their values).
    ``key_id``
        The key added or removed (key events), else ``None``.
    """

    #: The ``event`` member of the audit line.
    name = "account.changed"

    def __init__(
        self,
        request: Any,
        actor: str,
        actor_scheme: str | None,
        userid: str,
        changes: tuple[str, ...] = (),
        key_id: str | None = None,
    ):
        self.request = request
        self.actor = actor
        self.actor_scheme = actor_scheme
        self.userid = userid
        self.changes = tuple(changes)
        self.key_id = key_id

    def __repr__(self) -> str:
        return f"{type(self).__name__}(actor={self.actor!r}, userid={self.userid!r}, changes={self.changes!r})"


class AccountCreated(AccountEvent):
    """An account was created (``changes``: the fields given)."""

    name = "account.created"


class AccountUpdated(AccountEvent):
    """Fields of an account were changed or cleared (``PATCH``)."""

    name = "account.updated"


class AccountDisabled(AccountEvent):
    """An account was disabled: its credentials end everywhere."""

    name = "account.disabled"


class AccountEnabled(AccountEvent):
    """A disabled account was enabled again."""

    name = "account.enabled"


class AccountDeleted(AccountEvent):
    """An account, its roles and keys were deleted."""

    name = "account.deleted"


class AccountPasswordChanged(AccountEvent):
    """An account's password was set, replaced or removed (``changes``: ``("password",)``)."""

    name = "account.password_changed"


class AccountSessionsEnded(AccountEvent):
    """An account's Hawk sessions and earlier JWTs were ended."""

    name = "account.sessions_ended"


class AccountKeyAdded(AccountEvent):
    """A challenge-response key was registered on an account (``key_id``)."""

    name = "account.key_added"


class AccountKeyRemoved(AccountEvent):
    """A challenge-response key was removed from an account (``key_id``)."""

    name = "account.key_removed"
