"""How the admin API writes accounts and keys, and their entity tags.

A user is written with the fields of :class:`~pyramid_authsuite.accounts.Account`
and nothing else: the store never hands out a password hash, and a key's
material is never written (an ``hmac`` key's fingerprint is ``-``).
"""
from __future__ import annotations

import datetime
import re
from typing import Any

from pyramid_authsuite.accounts import Account, AccountKey
from pyramid_authsuite.admin.audit import utc_text

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_MICROSECOND = datetime.timedelta(microseconds=1)

#: Longest ``If-Match`` value read (a list of a few tags needs far less).
MAX_IF_MATCH_LENGTH = 1024
# RFC 9110 section 8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE, etagc =
# %x21 / %x23-7E / obs-text; a list of them separated by commas and blanks.
_ENTITY_TAG = re.compile(r'[ \t]*(W/)?"([\x21\x23-\x7e\x80-\xff]*)"[ \t]*')


def _text(moment: datetime.datetime | None) -> str | None:
    return None if moment is None else utc_text(moment)


def user_json(account: Account) -> dict[str, Any]:
    """The JSON representation of an account (``GET /admin/users/{userid}``).

    ``account``
        The account as the store returned it.
    """
    return {
        "userid": account.userid,
        "email": account.email,
        "display_name": account.display_name,
        "roles": list(account.roles),
        "tenant": account.tenant,
        "disabled": bool(account.disabled),
        "custom_claims": dict(account.custom_claims or {}),
        "version": account.version,
        "has_password": bool(account.has_password),
        "created_at": _text(account.created_at),
        "updated_at": _text(account.updated_at),
        "last_login_at": _text(account.last_login_at),
    }


def _created_stamp(account: Account) -> str:
    """The creation time as integer microseconds since the epoch, in hex."""
    created = account.created_at
    if created is None:
        return "0"
    if created.tzinfo is None:
        created = created.replace(tzinfo=datetime.timezone.utc)
    return format((created - _EPOCH) // _MICROSECOND, "x")


def etag_value(account: Account) -> str:
    """The opaque part of the account's entity tag: ``<version>-<created_at stamp>``.

    It changes with every version, and an account deleted and created again
    under the same userid (version 1 again) gets another one.
    """
    return f"{account.version}-{_created_stamp(account)}"


def etag(account: Account) -> str:
    """The account's strong entity tag, quoted, as the ``ETag`` header carries it."""
    return f'"{etag_value(account)}"'


class MalformedIfMatch(ValueError):
    """An ``If-Match`` header that is neither ``*`` nor a list of entity tags."""


def parse_if_match(value: str) -> list[str] | None:
    """The opaque tags an ``If-Match`` value lists, ``None`` for ``*``.

    ``value``
        The header as received. Weak tags (``W/"..."``) are kept out of the
        list: If-Match compares strongly (RFC 9110 section 13.1.1), so they
        can never match. Raises :class:`MalformedIfMatch`.
    """
    if len(value) > MAX_IF_MATCH_LENGTH:
        raise MalformedIfMatch("too long")
    if value.strip(" \t") == "*":
        return None
    tags = []
    for member in value.split(","):
        if not member.strip(" \t"):
            continue  # RFC 9110 section 5.6.1: empty list elements are ignored
        match = _ENTITY_TAG.fullmatch(member)
        if match is None:
            raise MalformedIfMatch("not an entity tag")
        if match.group(1) is None:
            tags.append(match.group(2))
    if not tags and '"' not in value:
        raise MalformedIfMatch("no entity tag")
    return tags


def expected_version(account: Account, tags: list[str] | None) -> int | None | bool:
    """What an ``If-Match`` asks of ``account``, for the store's ``expected_version``.

    ``account``
        The account as read before the write.
    ``tags``
        :func:`parse_if_match`'s answer.

    Returns ``None`` for ``*`` (any current representation), the version a
    tag of this very account names (the write is then made only if the
    account is still at it), or ``False`` when no tag can match (412 now).
    """
    if tags is None:
        return None
    stamp = _created_stamp(account)
    current = etag_value(account)
    if current in tags:
        return account.version
    for tag in tags:
        version, _, created = tag.partition("-")
        if created == stamp and version.isdigit():
            return int(version)  # stale: the store refuses it atomically, or it is gone already
    return False


def key_json(key: AccountKey, fingerprint: str) -> dict[str, Any]:
    """A registered key as listed: id, kind, creation time and fingerprint (never its material).

    ``key``
        The key as the store returned it.
    ``fingerprint``
        What ``authsuite list-keys`` shows for it.
    """
    return {
        "key_id": key.key_id,
        "kind": key.kind,
        "created_at": _text(key.created_at),
        "fingerprint": fingerprint,
    }
