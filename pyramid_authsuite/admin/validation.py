"""Reading and checking what callers send to the admin API.

Every reader is bounded (a 64 KiB body, a 100-character query, a 1 KiB
``If-Match``) and every refusal is a 4xx problem: 415 for a body of another
media type, 413 for one too large, 400 ``validation_error`` with an
``errors`` list (``[{"field": ..., "message": ...}]``) for the rest. No
message echoes what was sent, so a password or a claim value put in the
wrong field never comes back in a response or a log line.

The checks here are of shape (types, required and unknown members, lengths
the HTTP layer sets); the store checks values (email syntax, name patterns,
the custom claims' size and reserved names) and its refusals become the
same 400.
"""
from __future__ import annotations

import json
from typing import Any, Iterable, Mapping

from pyramid_authsuite.accounts import KEY_KINDS, InvalidAccountField, InvalidUserid, validate_userid
from pyramid_authsuite.accounts.validation import check_roles, check_tenant
from pyramid_authsuite.security import problem

#: The largest request body read (RFC 9110 413 beyond it).
MAX_BODY_BYTES = 64 * 1024
#: The listing's page size bounds and default.
MIN_LIMIT, MAX_LIMIT, DEFAULT_LIMIT = 1, 200, 50
#: The longest ``q`` (a prefix of a userid, email or display name).
MAX_QUERY_LENGTH = 100
#: The longest PEM public key accepted (an 8192-bit RSA key needs under 1.5 KiB).
MAX_PEM_LENGTH = 16 * 1024

JSON = "application/json"
#: RFC 7396 section 5.
MERGE_PATCH = "application/merge-patch+json"

CREATE_FIELDS = ("userid", "password", "email", "display_name", "roles", "tenant", "custom_claims")
PATCH_FIELDS = ("email", "display_name", "roles", "tenant", "custom_claims")
LIST_PARAMETERS = ("tenant", "role", "q", "limit", "after")
KEY_FIELDS = ("kind", "key_id", "public_key")
# Members of the representation a PATCH cannot change, and where to go instead.
_NOT_PATCHABLE = {
    "userid": "the userid cannot be changed",
    "password": "set it with PUT /admin/users/{userid}/password",
    "disabled": "use POST /admin/users/{userid}/disable or /enable",
    "has_password": "set the password with PUT /admin/users/{userid}/password",
}
_MAX_NAME_SHOWN = 40


def field_name(name: Any) -> str:
    """A member name as an error may show it: short printable ASCII as it is, else ``?``."""
    if isinstance(name, str) and name.isascii() and name.isprintable() and len(name) <= _MAX_NAME_SHOWN:
        return name
    return "?"


class FieldErrors:
    """The field errors found in one request, raised together as one 400."""

    def __init__(self) -> None:
        self.errors: list[dict[str, str]] = []

    def add(self, field: str, message: str) -> None:
        """Record that ``field`` is wrong, and why (never with the value)."""
        self.errors.append({"field": field, "message": message})

    def raise_if_any(self) -> None:
        """Raise the 400 problem when anything was recorded."""
        if self.errors:
            raise validation_error(self.errors)


def validation_error(errors: list[dict[str, str]]) -> Exception:
    """The 400 ``validation_error`` problem listing ``errors``."""
    fields = ", ".join(dict.fromkeys(error["field"] for error in errors))
    return problem(400, "validation_error", f"The request is not valid ({fields}); see errors.",
                   extra={"errors": errors})


def invalid(field: str, message: str) -> Exception:
    """A 400 ``validation_error`` problem for one field."""
    return validation_error([{"field": field, "message": message}])


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # RFC 8259 section 4 leaves duplicate names' meaning open; two readers of
    # the same body must not disagree on it, so it is refused.
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise ValueError("duplicate member name")
        result[name] = value
    return result


def _no_constants(name: str) -> Any:
    raise ValueError("NaN and Infinity are not JSON")


def read_json_object(request: Any, media_type: str = JSON) -> dict[str, Any]:
    """The request body, a JSON object of at most :data:`MAX_BODY_BYTES` bytes of UTF-8.

    ``request``
        The request.
    ``media_type``
        The ``Content-Type`` required (parameters such as ``charset`` aside):
        ``application/json``, or ``application/merge-patch+json`` for PATCH.

    Raises the 415, 413 or 400 problem.
    """
    if request.content_type != media_type:
        raise problem(415, "unsupported_media_type", f"Send the body as {media_type}.",
                      [("Accept-Patch", MERGE_PATCH)] if media_type == MERGE_PATCH else ())
    length = request.content_length
    too_large = problem(413, "content_too_large", f"The body must be at most {MAX_BODY_BYTES} bytes.")
    if length is not None and length > MAX_BODY_BYTES:
        raise too_large
    data = request.body_file.read(MAX_BODY_BYTES + 1)
    if len(data) > MAX_BODY_BYTES:
        raise too_large
    try:
        # Decoded here: json.loads would also take UTF-16 and UTF-32 bytes.
        body = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise invalid("body", "the body is not JSON (UTF-8, no duplicate names)") from None
    if not isinstance(body, dict):
        raise invalid("body", "the body is not a JSON object")
    return body


def _unknown(errors: FieldErrors, body: Mapping[str, Any], allowed: Iterable[str]) -> None:
    allowed = set(allowed)
    for name in body:
        if name not in allowed:
            errors.add(field_name(name), "unknown field")


def _optional_text(errors: FieldErrors, body: Mapping[str, Any], name: str) -> None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        errors.add(name, "a string or null")


def _name(errors: FieldErrors, field: str, value: Any) -> None:
    """A tenant or role name, by the account store's own rule (its message, under ``field``)."""
    try:
        check_tenant(value)
    except InvalidAccountField as error:
        errors.add(field, error.reason)


def _roles(errors: FieldErrors, body: Mapping[str, Any]) -> None:
    roles = body.get("roles")
    if roles is None:
        return
    if not isinstance(roles, list):
        errors.add("roles", "a list of role names, or null")
        return
    try:  # the account store's rule, one message for the list
        check_roles(roles)
    except InvalidAccountField as error:
        errors.add("roles", error.reason)


def _account_fields(errors: FieldErrors, body: Mapping[str, Any]) -> None:
    """The shape of the fields a create and a merge patch share."""
    _optional_text(errors, body, "email")
    _optional_text(errors, body, "display_name")
    _roles(errors, body)
    if body.get("tenant") is not None:
        _name(errors, "tenant", body["tenant"])
    _custom_claims(errors, body)


def _custom_claims(errors: FieldErrors, body: Mapping[str, Any]) -> None:
    claims = body.get("custom_claims")
    if claims is not None and not isinstance(claims, dict):
        errors.add("custom_claims", "a JSON object, or null")


def check_password(errors: FieldErrors, value: Any) -> None:
    """A password is 8 to 1024 characters (the CLI's bounds), or null."""
    from pyramid_authsuite.scripts.cli import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH

    if value is None:
        return
    if not isinstance(value, str) or not MIN_PASSWORD_LENGTH <= len(value) <= MAX_PASSWORD_LENGTH:
        errors.add("password", f"a string of {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters, or null")


def check_create(body: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of ``POST /admin/users``, checked for shape; raises the 400 problem."""
    errors = FieldErrors()
    _unknown(errors, body, CREATE_FIELDS)
    if "userid" not in body:
        errors.add("userid", "required")
    else:
        try:
            validate_userid(body["userid"])  # here, so its error comes with the others
        except InvalidUserid as error:
            errors.add("userid", error.reason)
    check_password(errors, body.get("password"))
    _account_fields(errors, body)
    errors.raise_if_any()
    return {name: body[name] for name in CREATE_FIELDS if name in body}


def check_patch(body: Mapping[str, Any]) -> dict[str, Any]:
    """The members of a merge patch of a user, checked for shape; raises the 400 problem.

    ``null`` clears a field (RFC 7396 section 1); members outside
    :data:`PATCH_FIELDS` are refused, with a pointer to the endpoint that
    changes them when there is one.
    """
    errors = FieldErrors()
    for name in body:
        if name in _NOT_PATCHABLE:
            errors.add(name, _NOT_PATCHABLE[name])
        elif name not in PATCH_FIELDS:
            errors.add(field_name(name), "not a field a PATCH can change")
    _account_fields(errors, body)
    errors.raise_if_any()
    return dict(body)


def check_password_body(body: Mapping[str, Any]) -> str | None:
    """``{"password": "..." | null}`` of ``PUT .../password``; raises the 400 problem."""
    errors = FieldErrors()
    _unknown(errors, body, ("password",))
    if "password" not in body:
        errors.add("password", "required (null removes password login)")
    check_password(errors, body.get("password"))
    errors.raise_if_any()
    return body["password"]


def check_key_body(body: Mapping[str, Any], key_id_pattern: Any) -> dict[str, Any]:
    """``{"kind", "key_id"?, "public_key"?}`` of ``POST .../keys``; raises the 400 problem.

    ``key_id_pattern``
        The challenge scheme's key id pattern (the CLI's).
    """
    errors = FieldErrors()
    _unknown(errors, body, KEY_FIELDS)
    kind = body.get("kind")
    if kind not in KEY_KINDS:
        errors.add("kind", "one of " + ", ".join(KEY_KINDS))
    key_id = body.get("key_id")
    if key_id is not None and (not isinstance(key_id, str) or key_id_pattern.fullmatch(key_id) is None):
        errors.add("key_id", "1 to 128 letters, digits or . _ ~ : @ + -, starting with a letter or digit")
    public_key = body.get("public_key")
    if kind == "hmac" and public_key is not None:
        errors.add("public_key", "an hmac key is a secret the server generates; send no public_key")
    elif kind in ("ed25519", "rsa"):
        if not isinstance(public_key, str) or not 0 < len(public_key) <= MAX_PEM_LENGTH:
            errors.add("public_key", f"the PEM public key is required for {kind} keys")
    errors.raise_if_any()
    return {"kind": kind, "key_id": key_id, "public_key": public_key}


def check_list_query(params: Any) -> dict[str, Any]:
    """The query of ``GET /admin/users`` (a WebOb ``MultiDict``); raises the 400 problem.

    Returns ``tenant``, ``role``, ``q``, ``limit`` (an int) and ``after``
    (the cursor text, still to verify).
    """
    errors = FieldErrors()
    seen: set[str] = set()
    for name in params.keys():
        if name not in LIST_PARAMETERS:
            errors.add(field_name(name), "unknown query parameter")
        elif name in seen:
            errors.add(name, "given more than once")
        seen.add(name)
    query = {name: params.get(name) for name in LIST_PARAMETERS}
    for name in ("tenant", "role"):
        if query[name] is not None:
            _name(errors, name, query[name])
    q = query["q"]
    if q is not None and not 1 <= len(q) <= MAX_QUERY_LENGTH:
        errors.add("q", f"1 to {MAX_QUERY_LENGTH} characters")
    limit = query["limit"]
    if limit is None:
        query["limit"] = DEFAULT_LIMIT
    elif not (limit.isascii() and limit.isdigit() and len(limit) <= 6 and MIN_LIMIT <= int(limit) <= MAX_LIMIT):
        errors.add("limit", f"a whole number from {MIN_LIMIT} to {MAX_LIMIT}")
    else:
        query["limit"] = int(limit)
    if query["after"] is not None and not query["after"]:
        errors.add("after", "a cursor from a previous page")
    errors.raise_if_any()
    return query


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply a JSON merge patch to ``target`` (RFC 7396 section 2); returns the result.

    ``target``
        The current value (not modified: objects are copied as they are merged).
    ``patch``
        The patch. An object is merged member by member: a ``null`` member
        removes that member, any other is merged into it the same way
        (recursively); anything that is not an object replaces the target
        whole, arrays included.
    """
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = merge_patch(result.get(name), value)
    return result
