"""The audit trail of the admin API: one JSON line per change, and its event.

Lines go to the ``pyramid_authsuite.audit`` logger at INFO::

    {"event": "account.updated", "actor": "alice", "actor_scheme": "basic",
     "userid": "bob", "changes": ["email", "roles"], "at": "2026-12-04T18:00:00.123456Z"}

(``key_id`` too for key events). They name fields, never values: no
password, hash, key secret, email address or claim value is ever written.
Route the logger to its own handler to keep the trail apart.
"""
from __future__ import annotations

import datetime
import json
import logging
from typing import Any

from pyramid_authsuite.admin.events import AccountEvent

#: The logger the audit lines go to.
AUDIT_LOGGER = "pyramid_authsuite.audit"

logger = logging.getLogger(AUDIT_LOGGER)


def utc_text(moment: datetime.datetime) -> str:
    """``moment`` as RFC 3339 UTC with microseconds and ``Z`` (naive times are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def audit_record(event: AccountEvent, at: datetime.datetime | None = None) -> dict[str, Any]:
    """The audit line's members for ``event``.

    ``event``
        The event to record.
    ``at``
        When the change was made (default: now).
    """
    record: dict[str, Any] = {
        "event": event.name,
        "actor": event.actor,
        "actor_scheme": event.actor_scheme,
        "userid": event.userid,
        "changes": list(event.changes),
        "at": utc_text(at or datetime.datetime.now(datetime.timezone.utc)),
    }
    if event.key_id is not None:
        record["key_id"] = event.key_id
    return record


def record_change(request: Any, event_class: type[AccountEvent], userid: str, changes: tuple[str, ...] = (),
                  key_id: str | None = None) -> AccountEvent:
    """Notify the registry of a change and write its audit line; returns the event.

    ``request``
        The admin request that made the change (its identity is the actor).
    ``event_class``
        The :class:`~pyramid_authsuite.admin.events.AccountEvent` subclass.
    ``userid``
        The account changed.
    ``changes``
        The names of the fields changed.
    ``key_id``
        The key added or removed, for key events.

    The line is written first: a subscriber that fails must not erase the
    trail of a change already made.
    """
    identity = request.identity
    event = event_class(
        request,
        identity.userid if identity is not None else "",
        identity.scheme if identity is not None else None,
        userid,
        changes,
        key_id,
    )
    logger.info(json.dumps(audit_record(event), separators=(",", ":")))
    request.registry.notify(event)
    return event
