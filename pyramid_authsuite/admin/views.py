"""The ``/admin/users`` API (``authsuite.endpoints = admin``).

Cornice services built like the credential endpoints (see
:mod:`pyramid_authsuite.endpoints`), under the admin context
(:mod:`pyramid_authsuite.admin.authz`): permission ``authsuite:admin``,
tenant admins confined to their tenant, writes rate limited per caller.
Bodies are read and checked by :mod:`pyramid_authsuite.admin.validation`,
written by :mod:`pyramid_authsuite.admin.representation`; every change is
notified as an event and written to the audit log
(:mod:`pyramid_authsuite.admin.audit`).

Endpoints::

    GET    /admin/users                       list (tenant, role, q, limit, after)
    POST   /admin/users                       create
    GET    /admin/users/{userid}              read (ETag)
    PATCH  /admin/users/{userid}              merge patch (If-Match)
    DELETE /admin/users/{userid}              delete (If-Match)
    POST   /admin/users/{userid}/disable      disable (If-Match)
    POST   /admin/users/{userid}/enable       enable (If-Match)
    PUT    /admin/users/{userid}/password     set or remove the password
    DELETE /admin/users/{userid}/sessions     end Hawk sessions and earlier JWTs
    GET    /admin/users/{userid}/keys         list challenge-response keys
    POST   /admin/users/{userid}/keys         register one
    DELETE /admin/users/{userid}/keys/{key_id}
"""
from __future__ import annotations

import functools
import secrets
from typing import Any, Callable
from urllib.parse import urlencode

from cornice import Service
from pyramid.httpexceptions import HTTPException, HTTPNoContent

from pyramid_authsuite.accounts import (
    AccountExists,
    AccountNotFound,
    EmailTaken,
    InvalidAccountField,
    KeyExists,
    VersionConflict,
)
from pyramid_authsuite.admin import events, validation
from pyramid_authsuite.admin.audit import record_change
from pyramid_authsuite.admin.authz import ADMIN_PERMISSION, AdminContext, Caller, caller_of, count_write
from pyramid_authsuite.admin.cursor import InvalidCursor, decode_cursor, encode_cursor
from pyramid_authsuite.admin.representation import (
    MalformedIfMatch,
    etag,
    expected_version,
    key_json,
    parse_if_match,
    user_json,
)
from pyramid_authsuite.challenge import protocol as challenge_protocol
from pyramid_authsuite.challenge.commands import fingerprint
from pyramid_authsuite.endpoints import cors_options, endpoint_service
from pyramid_authsuite.security import problem

# A listing by a tenant admin skips accounts holding roles it cannot see; it
# reads at most this many store pages to fill one page of its own.
_MAX_FILL_READS = 5
# A merge of custom claims without If-Match is made against the version read;
# a concurrent change makes it read and merge again, at most this many times.
_MERGE_ATTEMPTS = 5


# -- helpers ------------------------------------------------------------------


def _answering(view: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The view, returning the problems it raises instead of letting them propagate.

    A raised 404 or 403 would reach the endpoints' not-found view or the
    forbidden view, which answer their own generic problem; the admin API's
    (``user_not_found``, ...) must reach the caller as they are.
    """

    @functools.wraps(view)
    def answering(request: Any) -> Any:
        try:
            return view(request)
        except HTTPException as response:
            return response

    return answering


def _store(request: Any) -> Any:
    return request.registry.authsuite_accounts


def _not_found() -> Exception:
    return problem(404, "user_not_found", "There is no such user.")


def _reachable(request: Any, caller: Caller, userid: str) -> Any:
    """The account ``userid`` if the caller may see it, else raise 404 (whatever the reason)."""
    account = _store(request).get(userid)
    if account is None or not caller.reaches(account):
        raise _not_found()
    return account


def _store_refusal(error: Exception) -> Exception:
    """The problem for a store refusal of a create or an update."""
    if isinstance(error, AccountExists):
        return problem(409, "userid_taken", "That userid is taken.")
    if isinstance(error, EmailTaken):
        return problem(409, "email_taken", "Another account has that email address.")
    if isinstance(error, InvalidAccountField):
        return validation.invalid(error.field, error.reason)
    if isinstance(error, VersionConflict):
        return _stale()
    return _not_found()


def _stale() -> Exception:
    return problem(412, "precondition_failed", "The user has changed since that ETag; read it again.")


def _if_match(request: Any) -> list[str] | None | bool:
    """The ``If-Match`` tags (None for ``*``), or ``False`` when the header is absent."""
    value = request.headers.get("If-Match")
    if value is None:
        return False
    try:
        return parse_if_match(value)
    except MalformedIfMatch:
        raise validation.invalid("If-Match", 'an entity tag from ETag ("...") or *') from None


def _precondition(request: Any, account: Any) -> int | None:
    """The ``expected_version`` for a write to ``account``; raises 412 when it cannot hold."""
    tags = _if_match(request)
    if tags is False:
        return None
    version = expected_version(account, tags)
    if version is False:
        raise _stale()
    return version


def _user(request: Any, account: Any, status: int = 200) -> dict[str, Any]:
    response = request.response
    response.status_code = status
    response.headers["ETag"] = etag(account)
    # Personal data, answered to one admin: no shared cache keeps it.
    response.headers["Cache-Control"] = "no-store"
    return user_json(account)


def _user_url(request: Any, userid: str) -> str:
    return request.route_url("authsuite_admin_user", userid=userid)


# -- /admin/users ---------------------------------------------------------------


def list_users(request: Any) -> dict[str, Any]:
    """One page of users, in userid order; ``Link: rel="next"`` when there are more."""
    caller = caller_of(request)
    try:
        parameters = request.GET
    except UnicodeDecodeError:  # WebOb decodes the query string as UTF-8 when first read
        raise validation.invalid("query", "the query string is not UTF-8") from None
    query = validation.check_list_query(parameters)
    after = None
    if query["after"] is not None:
        try:
            after = decode_cursor(request.registry, query["after"])
        except InvalidCursor:
            raise validation.invalid("after", "not a cursor this server made") from None
    tenant = query["tenant"]
    if not caller.full:
        if tenant is not None and tenant != caller.tenant:
            raise problem(404, "tenant_not_found", "There is no such tenant.")
        tenant = caller.tenant
    limit = query["limit"]
    users: list[Any] = []
    next_userid = after
    for _ in range(_MAX_FILL_READS):
        accounts, next_userid = _store(request).list(
            limit - len(users), next_userid, tenant=tenant, role=query["role"], query=query["q"]
        )
        users.extend(account for account in accounts if caller.reaches(account))
        if next_userid is None or len(users) >= limit:
            break
    cursor = None if next_userid is None else encode_cursor(request.registry, next_userid)
    response = request.response
    response.headers["Cache-Control"] = "no-store"
    if cursor is not None:
        kept = [(name, value) for name, value in request.GET.items() if name != "after"]
        url = request.path_url + "?" + urlencode([*kept, ("after", cursor)])
        response.headers["Link"] = f'<{url}>; rel="next"'
    return {"users": [user_json(account) for account in users], "next": cursor}


def create_user(request: Any) -> dict[str, Any]:
    """Create a user: 201, ``Location`` and ``ETag``."""
    caller = caller_of(request)
    count_write(request)
    fields = validation.check_create(validation.read_json_object(request))
    if not caller.full:
        if fields.get("tenant") is not None and fields["tenant"] != caller.tenant:
            raise problem(403, "forbidden", "A tenant admin creates users in its own tenant only.")
        fields["tenant"] = caller.tenant
        caller.check_grant(fields.get("roles"))
    userid = fields.pop("userid")
    password = fields.pop("password", None)
    try:
        account = _store(request).create(
            userid,
            password,
            roles=tuple(fields.get("roles") or ()),
            tenant=fields.get("tenant"),
            email=fields.get("email"),
            display_name=fields.get("display_name"),
            custom_claims=fields.get("custom_claims"),
        )
    except (AccountExists, EmailTaken, InvalidAccountField) as error:
        raise _store_refusal(error) from None
    given = tuple(name for name, value in fields.items() if value not in (None, [], {}))
    record_change(request, events.AccountCreated, account.userid, given + (("password",) if password else ()))
    request.response.headers["Location"] = _user_url(request, account.userid)
    return _user(request, account, 201)


# -- /admin/users/{userid} --------------------------------------------------------


def get_user(request: Any) -> dict[str, Any]:
    """One user, with its ``ETag``."""
    caller = caller_of(request)
    return _user(request, _reachable(request, caller, request.matchdict["userid"]))


def _patched(account: Any, patch: dict[str, Any]) -> dict[str, Any]:
    """The store changes a merge patch makes to ``account`` (custom claims merged into its own)."""
    changes = {name: value for name, value in patch.items() if name != "custom_claims"}
    if "custom_claims" in patch:
        claims = patch["custom_claims"]
        # RFC 7396 section 2: an object merges member by member into the
        # current claims (null removes one); null clears them all.
        changes["custom_claims"] = None if claims is None else validation.merge_patch(account.custom_claims or {}, claims)
    return changes


def patch_user(request: Any) -> dict[str, Any]:
    """Apply a JSON merge patch (RFC 7396) to a user; ``If-Match`` makes it conditional."""
    caller = caller_of(request)
    count_write(request)
    patch = validation.check_patch(validation.read_json_object(request, validation.MERGE_PATCH))
    if not caller.full:
        if "tenant" in patch:
            raise problem(403, "forbidden", "A tenant admin cannot move users between tenants.")
        caller.check_grant(patch.get("roles"))
    userid = request.matchdict["userid"]
    store = _store(request)
    for _ in range(_MERGE_ATTEMPTS):
        account = _reachable(request, caller, userid)
        version = _precondition(request, account)
        if not patch:  # RFC 7396: an empty patch changes nothing
            if version is not None and version != account.version:
                raise _stale()
            return _user(request, account)
        conditional = version is not None
        if version is None and patch.get("custom_claims"):
            # The merge is computed from the claims read: write it only over them.
            version = account.version
        try:
            account = store.update(userid, _patched(account, patch), expected_version=version)
        except VersionConflict:
            if conditional:
                raise _stale() from None
            continue
        except (AccountNotFound, EmailTaken, InvalidAccountField) as error:
            raise _store_refusal(error) from None
        record_change(request, events.AccountUpdated, userid, tuple(patch))
        return _user(request, account)
    return problem(503, "unavailable", "The user kept changing; try again.", [("Retry-After", "1")])


def delete_user(request: Any) -> Any:
    """Delete a user (its roles and keys too); ``If-Match`` makes it conditional."""
    caller = caller_of(request)
    count_write(request)
    userid = request.matchdict["userid"]
    account = _reachable(request, caller, userid)
    version = _precondition(request, account)
    if version is not None and version != account.version:
        raise _stale()
    if not _store(request).delete(userid):
        raise _not_found()
    record_change(request, events.AccountDeleted, userid)
    return HTTPNoContent()


# -- state, password, sessions ------------------------------------------------------


def set_state(request: Any) -> dict[str, Any]:
    """``POST .../disable`` and ``.../enable``: idempotent, ``If-Match`` optional."""
    caller = caller_of(request)
    count_write(request)
    userid = request.matchdict["userid"]
    disable = request.matchdict["state"] == "disable"
    account = _reachable(request, caller, userid)
    version = _precondition(request, account)
    if account.disabled == disable:  # already so: nothing to change, nothing to record
        if version is not None and version != account.version:
            raise _stale()
        return _user(request, account)
    try:
        account = _store(request).update(userid, {"disabled": disable}, expected_version=version)
    except (VersionConflict, AccountNotFound) as error:
        raise _store_refusal(error) from None
    record_change(request, events.AccountDisabled if disable else events.AccountEnabled, userid, ("disabled",))
    return _user(request, account)


def set_password(request: Any) -> Any:
    """``PUT .../password`` ``{"password": "..." | null}``: 204."""
    caller = caller_of(request)
    count_write(request)
    password = validation.check_password_body(validation.read_json_object(request))
    userid = request.matchdict["userid"]
    _reachable(request, caller, userid)
    try:
        _store(request).set_password(userid, password)
    except AccountNotFound:
        raise _not_found() from None
    record_change(request, events.AccountPasswordChanged, userid, ("password",))
    return HTTPNoContent()


def end_sessions(request: Any) -> dict[str, Any]:
    """``DELETE .../sessions``: end the user's Hawk sessions and refuse its earlier JWTs, everywhere."""
    caller = caller_of(request)
    count_write(request)
    userid = request.matchdict["userid"]
    _reachable(request, caller, userid)
    from pyramid_authsuite.revocation import end_credentials  # assembles the schemes' own revocations

    ended = end_credentials(request.registry, userid)
    record_change(request, events.AccountSessionsEnded, userid, ("sessions",))
    request.response.headers["Cache-Control"] = "no-store"
    return {"hawk_sessions_ended": ended}


# -- keys ----------------------------------------------------------------------------


def _fingerprint(kind: str, material: bytes) -> str:
    try:
        return fingerprint(kind, material)
    except challenge_protocol.KeyMaterialError:
        return "(unusable material)"


def list_keys(request: Any) -> dict[str, Any]:
    """The user's challenge-response keys (never their material)."""
    caller = caller_of(request)
    userid = request.matchdict["userid"]
    _reachable(request, caller, userid)
    request.response.headers["Cache-Control"] = "no-store"
    return {"keys": [key_json(key, _fingerprint(key.kind, key.material)) for key in _store(request).list_keys(userid)]}


def add_key(request: Any) -> dict[str, Any]:
    """Register a key: 201; an ``hmac`` key's secret is generated here and shown this once."""
    caller = caller_of(request)
    count_write(request)
    fields = validation.check_key_body(validation.read_json_object(request), challenge_protocol.KEY_ID_PATTERN)
    userid = request.matchdict["userid"]
    _reachable(request, caller, userid)
    kind = fields["kind"]
    key_id = fields["key_id"] or f"key-{secrets.token_hex(8)}"
    secret = None
    if kind == "hmac":
        # 32 random bytes as base64url text; the text itself is the secret,
        # as with the CLI's generated hex (both are what clients configure).
        secret = secrets.token_urlsafe(32)
        material = secret.encode("ascii")
    else:
        try:
            material = challenge_protocol.normalize_key_material(kind, fields["public_key"].encode("utf-8"))
        except challenge_protocol.KeyMaterialError as error:
            raise validation.invalid("public_key", str(error)) from None
    try:
        key = _store(request).add_key(userid, key_id, kind, material)
    except KeyExists:
        raise problem(409, "key_id_taken", "That key id is taken.") from None
    except AccountNotFound:
        raise _not_found() from None
    record_change(request, events.AccountKeyAdded, userid, ("keys",), key_id=key_id)
    response = request.response
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"
    body = key_json(key, _fingerprint(kind, material))
    if secret is not None:
        body["secret"] = secret
    return body


def remove_key(request: Any) -> Any:
    """Remove one of the user's keys: 204; 404 ``key_not_found`` for a key of anyone else."""
    caller = caller_of(request)
    count_write(request)
    userid = request.matchdict["userid"]
    key_id = request.matchdict["key_id"]
    _reachable(request, caller, userid)
    store = _store(request)
    key = store.get_key(key_id) if challenge_protocol.KEY_ID_PATTERN.fullmatch(key_id) else None
    if key is None or key.userid != userid or not store.remove_key(key_id):
        raise problem(404, "key_not_found", "The user has no such key.")
    record_change(request, events.AccountKeyRemoved, userid, ("keys",), key_id=key_id)
    return HTTPNoContent()


# -- services ------------------------------------------------------------------------

# Response headers a browser client must be able to read, and If-Match it must be able to send.
_CORS_HEADERS = ("ETag", "Location", "Link", "Retry-After", "If-Match")

_ROUTES = (
    ("authsuite_admin_users", "/admin/users", "Users: list and create",
     (("GET", list_users), ("POST", create_user))),
    ("authsuite_admin_user", "/admin/users/{userid}", "One user: read, merge-patch, delete",
     (("GET", get_user), ("PATCH", patch_user), ("DELETE", delete_user))),
    ("authsuite_admin_user_state", "/admin/users/{userid}/{state:disable|enable}", "Disable or enable a user",
     (("POST", set_state),)),
    ("authsuite_admin_user_password", "/admin/users/{userid}/password", "Set or remove a user's password",
     (("PUT", set_password),)),
    ("authsuite_admin_user_sessions", "/admin/users/{userid}/sessions", "End a user's sessions and tokens",
     (("DELETE", end_sessions),)),
    ("authsuite_admin_user_keys", "/admin/users/{userid}/keys", "A user's challenge-response keys",
     (("GET", list_keys), ("POST", add_key))),
    ("authsuite_admin_user_key", "/admin/users/{userid}/keys/{key_id}", "Remove one key",
     (("DELETE", remove_key),)),
)


def make_services(settings: Any) -> list[Service]:
    """The admin API's Cornice services, with CORS for ``authsuite.cors_origins``.

    ``settings``
        The parsed :class:`~pyramid_authsuite.settings.AuthSuiteSettings`.
    """
    services = []
    for name, path, description, views in _ROUTES:
        service = endpoint_service(name, path, description, factory=AdminContext,
                                   **cors_options(settings, _CORS_HEADERS))
        for method, view in views:
            service.add_view(method, _answering(view), permission=ADMIN_PERMISSION, renderer="json")
        services.append(service)
    return services
