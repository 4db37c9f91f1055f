"""The values the account store accepts, checked before any query is made.

Every check raises :class:`~pyramid_authsuite.accounts.InvalidAccountField`
naming the field and saying why, never echoing the value (it may be a
password pasted in the wrong box, or megabytes of junk).
"""
from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

from pyramid_authsuite.accounts import (
    MAX_CUSTOM_CLAIMS_BYTES,
    NAME_PATTERN,
    RESERVED_CLAIMS,
    UPDATABLE_FIELDS,
    InvalidAccountField,
)

__all__ = [
    "MAX_DISPLAY_NAME_LENGTH",
    "MAX_EMAIL_LENGTH",
    "MAX_FILTER_LENGTH",
    "MAX_ROLES",
    "check_changes",
    "check_custom_claims",
    "check_display_name",
    "check_email",
    "check_expected_version",
    "check_filter",
    "check_filters",
    "check_roles",
    "check_tenant",
    "dump_claims",
]

#: RFC 5321's limit on a path, the longest address that can be delivered.
MAX_EMAIL_LENGTH = 254
MAX_DISPLAY_NAME_LENGTH = 200
MAX_ROLES = 50
MAX_CLAIM_NAME_LENGTH = 64
#: The longest ``query``, ``tenant``, ``role`` or ``after`` that ``list``/``count`` accept.
MAX_FILTER_LENGTH = 254

_LINE_CATEGORIES = frozenset(("Cc", "Zl", "Zp"))
_NAME_RULE = "1 to 64 letters, digits or . _ : @ + -, starting with a letter or digit"


def _has_control(value: str) -> bool:
    return any(unicodedata.category(character) in _LINE_CATEGORIES for character in value)


def check_email(value: object) -> str | None:
    """A plausible address: one ``@`` with something on each side, no spaces or
    control characters, at most 254 characters. Not RFC 5322: the address is
    only ever compared and displayed, never parsed to route mail."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidAccountField("email", "must be a string")
    if not 3 <= len(value) <= MAX_EMAIL_LENGTH:
        raise InvalidAccountField("email", f"must be 3 to {MAX_EMAIL_LENGTH} characters")
    local, at, domain = value.partition("@")
    if not at or not local or not domain or "@" in domain:
        raise InvalidAccountField("email", "must have exactly one @ with text on both sides")
    if any(character.isspace() for character in value) or _has_control(value):
        raise InvalidAccountField("email", "must not contain spaces or control characters")
    _check_encodable("email", value)
    return value


def check_display_name(value: object) -> str | None:
    """1 to 200 characters, no control characters (``None`` for none)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidAccountField("display_name", "must be a string")
    if not 1 <= len(value) <= MAX_DISPLAY_NAME_LENGTH:
        raise InvalidAccountField("display_name", f"must be 1 to {MAX_DISPLAY_NAME_LENGTH} characters")
    if _has_control(value):
        raise InvalidAccountField("display_name", "must not contain control characters")
    _check_encodable("display_name", value)
    return value


def check_tenant(value: object) -> str | None:
    """A name matching :data:`NAME_PATTERN` (``None`` for none)."""
    if value is None:
        return None
    if not isinstance(value, str) or NAME_PATTERN.fullmatch(value) is None:
        raise InvalidAccountField("tenant", f"must be {_NAME_RULE}")
    return value


def check_roles(value: object) -> tuple[str, ...]:
    """Role names matching :data:`NAME_PATTERN`, at most 50, duplicates dropped.

    Returned sorted by code point: the roles table keeps no order, and a
    sorted tuple is what every read returns."""
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        # tuple("admin") would be five one-letter roles.
        raise InvalidAccountField("roles", "must be a list of role names, not a single string")
    roles = []
    for role in value:
        if not isinstance(role, str) or NAME_PATTERN.fullmatch(role) is None:
            raise InvalidAccountField("roles", f"each role is {_NAME_RULE}")
        roles.append(role)
        if len(roles) > MAX_ROLES * 4:
            break  # bounded even when fed an endless iterator
    result = tuple(sorted(set(roles)))
    if len(result) > MAX_ROLES:
        raise InvalidAccountField("roles", f"at most {MAX_ROLES} roles")
    return result


def dump_claims(claims: Mapping[str, Any]) -> str:
    """Compact JSON text, the form custom claims are stored and measured in."""
    return json.dumps(claims, separators=(",", ":"), ensure_ascii=False, allow_nan=False, sort_keys=True)


def check_custom_claims(value: object) -> dict[str, Any]:
    """A JSON object of at most :data:`MAX_CUSTOM_CLAIMS_BYTES` (compact UTF-8),
    whose names are 1 to 64 characters and not in :data:`RESERVED_CLAIMS`.
    Returns a copy made of plain JSON types."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidAccountField("custom_claims", "must be a JSON object")
    for name in value:
        if not isinstance(name, str) or not 1 <= len(name) <= MAX_CLAIM_NAME_LENGTH:
            raise InvalidAccountField("custom_claims", f"claim names are 1 to {MAX_CLAIM_NAME_LENGTH} characters")
        if name in RESERVED_CLAIMS:
            raise InvalidAccountField("custom_claims", "a claim name is reserved (registered or set by the suite)")
    try:
        text = dump_claims(dict(value))
        size = len(text.encode("utf-8"))
    except (TypeError, ValueError, RecursionError, UnicodeEncodeError):
        raise InvalidAccountField("custom_claims", "must hold only JSON values (no NaN, no lone surrogates)") from None
    if size > MAX_CUSTOM_CLAIMS_BYTES:
        raise InvalidAccountField("custom_claims", f"at most {MAX_CUSTOM_CLAIMS_BYTES} bytes as compact JSON")
    return json.loads(text)


def check_disabled(value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidAccountField("disabled", "must be true or false")
    return value


def _check_encodable(field: str, value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidAccountField(field, "must be valid Unicode text") from None


_CHECKS = {
    "email": check_email,
    "display_name": check_display_name,
    "tenant": check_tenant,
    "roles": check_roles,
    "custom_claims": check_custom_claims,
    "disabled": check_disabled,
}


def check_changes(changes: Mapping[str, Any] | None, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``update``'s two forms into one checked dict of field -> new value.

    ``changes`` values of ``None`` clear the field; ``fields`` (the keyword
    form) values of ``None`` are skipped. A field given in both is refused."""
    if changes is not None and not isinstance(changes, Mapping):
        raise TypeError("changes must be a mapping of field names to values")
    merged: dict[str, Any] = {}
    for name, value in (changes or {}).items():
        if name not in UPDATABLE_FIELDS:
            raise InvalidAccountField(str(name)[:64], "is not a field that can be updated")
        merged[name] = _CHECKS[name](value)
    for name, value in fields.items():
        if name not in UPDATABLE_FIELDS:
            raise TypeError(f"update() got an unexpected keyword argument {name!r}")
        if value is None:
            continue
        if name in merged:
            raise TypeError(f"{name} given both in changes and as a keyword argument")
        merged[name] = _CHECKS[name](value)
    return merged


def check_filter(name: str, value: object) -> str | None:
    """A ``list``/``count`` filter or cursor: a string of 1 to 254 characters without NUL."""
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_FILTER_LENGTH or "\x00" in value:
        raise InvalidAccountField(name, f"must be 1 to {MAX_FILTER_LENGTH} characters, without NUL")
    _check_encodable(name, value)
    return value


def check_filters(tenant: object, role: object, query: object) -> dict[str, str | None]:
    """``list``/``count``'s filters, checked, as keyword arguments for :mod:`.queries`."""
    return {
        "tenant": check_filter("tenant", tenant),
        "role": check_filter("role", role),
        "query": check_filter("query", query),
    }


def check_expected_version(value: object) -> int | None:
    """``update``'s ``expected_version``: an int or ``None``."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise TypeError("expected_version must be an int or None")
    return value
