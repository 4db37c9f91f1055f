"""Clients of the ``/admin/users`` API: :class:`SyncAdminClient` and :class:`AdminClient` (asyncio), on httpx.

::

    from pyramid_authsuite.admin.client import SyncAdminClient
    from pyramid_authsuite.basic.client import BasicAuth

    with SyncAdminClient("https://api.example.com", auth=BasicAuth("admin", password)) as admin:
        user = admin.users.create("alice", email="alice@example.org", roles=["editor"], tenant="acme")
        user = admin.users.update("alice", {"display_name": "Alice", "email": None}, if_match=user.etag)
        for user in admin.users.iterate(tenant="acme"):
            print(user.userid, user.roles)

    async with AdminClient("https://api.example.com", auth=BearerAuth(token)) as admin:
        user = await admin.users.get("alice")
        async for user in admin.users.iterate(role="editor"):
            ...

Any ``httpx.Auth`` authenticates: :class:`pyramid_authsuite.basic.client.BasicAuth`,
:class:`pyramid_authsuite.jwt.client.BearerAuth`,
:class:`pyramid_authsuite.hmac.client.SignatureAuth` (a service key whose
``service:<name>`` is in ``authsuite.admin_principals``). Refusals raise the
typed errors of :mod:`pyramid_authsuite.admin.errors`.

The two clients share one implementation: each operation is written once, as
a function building a :class:`_Call` (the request and how to read its answer);
:func:`_exchange` turns a call into requests and an answer into a result or an
error; the clients only send what it yields, one with ``Client.send``, the
other with ``await AsyncClient.send``.
"""
from __future__ import annotations

import dataclasses
import datetime
import inspect
import json
from typing import Any, AsyncIterator, Callable, Generator, Generic, Iterator, Mapping, Sequence, TypeVar
from urllib.parse import quote

import httpx

from pyramid_authsuite.admin.errors import UnexpectedResponseError, error_for_response

__all__ = ["USERS_PATH", "AdminClient", "SyncAdminClient", "User", "UserPage"]

#: Where the API lives, relative to the base URL (which holds the app's route prefix, if any).
USERS_PATH = "admin/users"
#: The media type of a PATCH body (RFC 7396).
MERGE_PATCH = "application/merge-patch+json"
# An answer body larger than this is not parsed (a page of 200 users with
# 4 KiB of claims each is about 1 MiB).
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
# The longest timestamp read ("2026-12-04T18:00:00.123456+00:00" has 32 characters).
_MAX_TIMESTAMP_LENGTH = 40

T = TypeVar("T")


# --------------------------------------------------------------------------
# What the API answers
# --------------------------------------------------------------------------


def _bad(what: str) -> UnexpectedResponseError:
    return UnexpectedResponseError("unexpected_response", f"The admin API answered {what}.")


def parse_timestamp(value: Any) -> datetime.datetime | None:
    """An RFC 3339 timestamp of the API (``2026-12-04T18:00:00.123456Z``) as an aware UTC datetime.

    ``value``
        The JSON value: a string, or ``None`` (answered as ``None``).
        Anything else, or a string that is no timestamp, raises
        :class:`~pyramid_authsuite.admin.errors.UnexpectedResponseError`.
    """
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > _MAX_TIMESTAMP_LENGTH:
        raise _bad("a timestamp that is not one")
    text = value[:-1] + "+00:00" if value[-1:] in ("Z", "z") else value
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise _bad("a timestamp that is not one") from None
    if moment.tzinfo is None:
        raise _bad("a timestamp without a time zone")
    return moment.astimezone(datetime.timezone.utc)


def _member(document: Mapping[str, Any], name: str, kind: type, optional: bool = False) -> Any:
    value = document.get(name)
    if value is None and optional:
        return None
    # bool is an int in Python: a version is never true.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _bad(f"a user whose {name!r} is missing or of the wrong type")
    return value


@dataclasses.dataclass(frozen=True)
class User:
    """An account as the admin API shows it (``GET /admin/users/{userid}``).

    Its fields are the representation's (``userid``, ``email``,
    ``display_name``, ``roles``, ``tenant``, ``disabled``, ``custom_claims``,
    ``version``, ``has_password``, ``created_at``, ``updated_at``,
    ``last_login_at``; times are aware UTC datetimes) plus ``etag``, the
    entity tag to pass as ``if_match`` (``None`` in a listing, which sends
    none). It never holds a password or a key.
    """

    userid: str
    email: str | None
    display_name: str | None
    roles: tuple[str, ...]
    tenant: str | None
    disabled: bool
    custom_claims: dict[str, Any]
    version: int
    has_password: bool
    created_at: datetime.datetime | None
    updated_at: datetime.datetime | None
    last_login_at: datetime.datetime | None
    etag: str | None = None

    @classmethod
    def from_json(cls, document: Any, etag: str | None = None) -> "User":
        """The user of a JSON representation.

        ``document``
            The decoded JSON object.
        ``etag``
            The ``ETag`` the answer carried, if any.

        Raises :class:`~pyramid_authsuite.admin.errors.UnexpectedResponseError`
        for a member missing or of the wrong type.
        """
        if not isinstance(document, dict):
            raise _bad("a user that is not a JSON object")
        roles = _member(document, "roles", list)
        if not all(isinstance(role, str) for role in roles):
            raise _bad("a user whose 'roles' are not strings")
        return cls(
            userid=_member(document, "userid", str),
            email=_member(document, "email", str, optional=True),
            display_name=_member(document, "display_name", str, optional=True),
            roles=tuple(roles),
            tenant=_member(document, "tenant", str, optional=True),
            disabled=_member(document, "disabled", bool),
            custom_claims=dict(_member(document, "custom_claims", dict, optional=True) or {}),
            version=_member(document, "version", int),
            has_password=_member(document, "has_password", bool),
            created_at=parse_timestamp(document.get("created_at")),
            updated_at=parse_timestamp(document.get("updated_at")),
            last_login_at=parse_timestamp(document.get("last_login_at")),
            etag=etag,
        )



@dataclasses.dataclass(frozen=True)
class UserPage:
    """One page of ``GET /admin/users``: its ``users``, and ``next``, the cursor of the
    following page (pass it as ``after``), ``None`` on the last page."""

    users: tuple[User, ...]
    next: str | None


def _json(response: httpx.Response) -> Any:
    content_type = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    if content_type != "application/json":
        raise _bad(f"HTTP {response.status_code} with a body that is not JSON")
    if len(response.content) > MAX_RESPONSE_BYTES:
        raise _bad("a body too large to read")
    try:
        return response.json()
    except ValueError:
        raise _bad("a body that is not JSON") from None


def _object(response: httpx.Response) -> dict[str, Any]:
    document = _json(response)
    if not isinstance(document, dict):
        raise _bad("a body that is not a JSON object")
    return document


def _read_user(response: httpx.Response) -> User:
    return User.from_json(_object(response), etag=response.headers.get("ETag"))


def _read_page(response: httpx.Response) -> UserPage:
    document = _object(response)
    users, cursor = document.get("users"), document.get("next")
    if not isinstance(users, list) or not (cursor is None or isinstance(cursor, str)):
        raise _bad("a page without a list of users or with a cursor that is not a string")
    return UserPage(users=tuple(User.from_json(user) for user in users), next=cursor or None)


def _read_nothing(response: httpx.Response) -> None:
    return None


def _read_sessions_ended(response: httpx.Response) -> int:
    ended = _object(response).get("hawk_sessions_ended")
    if not isinstance(ended, int) or isinstance(ended, bool):
        raise _bad("no count of sessions ended")
    return ended


def _read_keys(response: httpx.Response) -> list[dict[str, Any]]:
    keys = _object(response).get("keys")
    if not isinstance(keys, list) or not all(isinstance(key, dict) for key in keys):
        raise _bad("no list of keys")
    return keys


# --------------------------------------------------------------------------
# The calls, built once for both clients
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Call(Generic[T]):
    """One request of the API and how to read its answer: sent by either client."""

    method: str
    path: str
    expect: int
    read: Callable[[httpx.Response], T]
    params: dict[str, Any] | None = None
    # Never in repr(): it may hold a password (a traceback shows the call).
    body: Any = dataclasses.field(default=None, repr=False)
    content_type: str | None = None
    if_match: str | None = None


def _segment(value: str, what: str) -> str:
    """``value`` as one path segment: percent-encoded, never empty, never a dot segment."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string")
    encoded = quote(value, safe="")
    # "." and ".." would be removed from the path (RFC 3986 5.2.4): another resource.
    return encoded.replace(".", "%2E") if encoded in (".", "..") else encoded


def _user_path(userid: str, *rest: str) -> str:
    return "/".join((USERS_PATH, _segment(userid, "userid"), *rest))


def _tag(if_match: str | User | None) -> str | None:
    """The ``If-Match`` value: an entity tag as given, or the one of a :class:`User`."""
    if isinstance(if_match, User):
        if if_match.etag is None:
            raise ValueError("this User carries no entity tag (a listing's users have none): get() it first")
        return if_match.etag
    if if_match is not None and (not isinstance(if_match, str) or not if_match or "\n" in if_match or "\r" in if_match):
        raise ValueError("if_match is an entity tag such as '\"3-1a2b\"', or '*'")
    return if_match


def _present(content: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in content.items() if value is not None}


class _Calls:
    """Each operation of ``client.users``, written once; both clients' methods are made from these.

    Each function takes the operation's arguments and returns the
    :class:`_Call` to send; its docstring is the method's.
    """

    @staticmethod
    def list(*, tenant: str | None = None, role: str | None = None, query: str | None = None,
             limit: int = 50, after: str | None = None) -> _Call[UserPage]:
        """One page of accounts, in userid order.

        ``tenant``, ``role``
            Only the accounts of this tenant / holding this role.
        ``query``
            Only the accounts whose userid, email or display name starts
            with this (case-insensitive).
        ``limit``
            Accounts per page, 1 to 200.
        ``after``
            The ``next`` cursor of the page before (``None``: the first page).

        Returns a :class:`UserPage`. Its users carry no ``etag``.
        """
        params = {"tenant": tenant, "role": role, "q": query, "limit": limit, "after": after}
        return _Call("GET", USERS_PATH, 200, _read_page, params=_present(params))

    @staticmethod
    def get(userid: str) -> _Call[User]:
        """The account ``userid``, with its ``etag``; :class:`UserNotFoundError` when there is none."""
        return _Call("GET", _user_path(userid), 200, _read_user)

    @staticmethod
    def create(userid: str, *, password: str | None = None, email: str | None = None,
               display_name: str | None = None, roles: Sequence[str] | None = None,
               tenant: str | None = None, custom_claims: Mapping[str, Any] | None = None) -> _Call[User]:
        """Create the account ``userid``; the new :class:`User`.

        ``password``
            8 to 1024 characters; ``None`` makes an account that cannot log
            in with a password until :meth:`set_password` gives it one.
        ``email``, ``display_name``, ``roles``, ``tenant``, ``custom_claims``
            The account's fields (``None``: unset).

        :class:`UserExistsError` when the userid or email is taken.
        """
        body = _present({
            "userid": userid, "password": password, "email": email, "display_name": display_name,
            "roles": list(roles) if roles is not None else None, "tenant": tenant,
            "custom_claims": dict(custom_claims) if custom_claims is not None else None,
        })
        return _Call("POST", USERS_PATH, 201, _read_user, body=body, content_type="application/json")

    @staticmethod
    def update(userid: str, changes: Mapping[str, Any], *, if_match: str | User | None = None) -> _Call[User]:
        """Change fields of ``userid`` (a JSON merge patch, RFC 7396); the updated :class:`User`.

        ``changes``
            ``{field: value}`` for ``email``, ``display_name``, ``roles``,
            ``tenant``, ``custom_claims``; ``None`` clears a field. In
            ``custom_claims``, the claims given are merged in and a ``None``
            removes one.
        ``if_match``
            An entity tag (or a :class:`User`, for its ``etag``): the change
            is made only if the account is still that version, else
            :class:`PreconditionFailedError`.
        """
        if not isinstance(changes, Mapping):
            raise TypeError("changes is a mapping of field names to values (None clears a field)")
        return _Call("PATCH", _user_path(userid), 200, _read_user, body=dict(changes),
                     content_type=MERGE_PATCH, if_match=_tag(if_match))

    @staticmethod
    def disable(userid: str, *, if_match: str | User | None = None) -> _Call[User]:
        """Disable ``userid`` (at once, on every process: its sessions and tokens stop working); the :class:`User`."""
        return _Call("POST", _user_path(userid, "disable"), 200, _read_user, if_match=_tag(if_match))

    @staticmethod
    def enable(userid: str, *, if_match: str | User | None = None) -> _Call[User]:
        """Enable ``userid`` again; the :class:`User`."""
        return _Call("POST", _user_path(userid, "enable"), 200, _read_user, if_match=_tag(if_match))

    @staticmethod
    def delete(userid: str, *, if_match: str | User | None = None) -> _Call[None]:
        """Delete ``userid`` and its keys."""
        return _Call("DELETE", _user_path(userid), 204, _read_nothing, if_match=_tag(if_match))

    @staticmethod
    def set_password(userid: str, password: str | None) -> _Call[None]:
        """Set the password of ``userid`` (``None`` removes it); its sessions and tokens end."""
        return _Call("PUT", _user_path(userid, "password"), 204, _read_nothing,
                     body={"password": password}, content_type="application/json")

    @staticmethod
    def end_sessions(userid: str) -> _Call[int]:
        """End every session and token of ``userid`` on every process; the number of Hawk sessions ended."""
        return _Call("DELETE", _user_path(userid, "sessions"), 200, _read_sessions_ended)

    @staticmethod
    def list_keys(userid: str) -> _Call[list]:
        """The challenge-response keys of ``userid``: dicts of ``key_id``, ``kind``, ``created_at``, ``fingerprint``."""
        return _Call("GET", _user_path(userid, "keys"), 200, _read_keys)

    @staticmethod
    def add_key(userid: str, kind: str, *, key_id: str | None = None, public_key: str | bytes | None = None) -> _Call[dict]:
        """Add a key to ``userid``; a dict as :meth:`list_keys` gives, plus ``secret`` for an ``hmac`` key.

        ``kind``
            ``hmac`` (the server makes the secret and shows it this once),
            ``ed25519`` or ``rsa``.
        ``key_id``
            The key's id (default: the server picks one).
        ``public_key``
            The PEM public key, for ``ed25519`` and ``rsa``.
        """
        if isinstance(public_key, bytes):
            public_key = public_key.decode("ascii")
        body = _present({"kind": kind, "key_id": key_id, "public_key": public_key})
        return _Call("POST", _user_path(userid, "keys"), 201, _object, body=body, content_type="application/json")

    @staticmethod
    def remove_key(userid: str, key_id: str) -> _Call[None]:
        """Remove the key ``key_id`` of ``userid``; :class:`NotFoundError` (``key_not_found``) when it has none such."""
        return _Call("DELETE", _user_path(userid, "keys", _segment(key_id, "key_id")), 204, _read_nothing)


def _next_page(call: _Call[UserPage], page: UserPage) -> _Call[UserPage] | None:
    """The call for the page after ``page`` (same filters), or ``None`` after the last one."""
    if page.next is None:
        return None
    return dataclasses.replace(call, params={**(call.params or {}), "after": page.next})


def _build(http: httpx.Client | httpx.AsyncClient, call: _Call) -> httpx.Request:
    headers = {}
    content = None
    if call.content_type is not None:
        headers["Content-Type"] = call.content_type
        content = json.dumps(call.body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if call.if_match is not None:
        headers["If-Match"] = call.if_match
    return http.build_request(call.method, call.path, params=call.params, content=content, headers=headers)


def _follow_up(request: httpx.Request, response: httpx.Response) -> httpx.Request | None:
    """The request to send after ``response``, or ``None`` when it is the answer.

    None today. This is where a refusal that the client can answer gets its
    answer: issue 13's ``otp=`` (a code, or a callable asked for one) will
    re-send ``request`` with the one-time code when the problem's code is
    ``otp_required``, for both clients at once.
    """
    return None


def _exchange(http: httpx.Client | httpx.AsyncClient, call: _Call[T]) -> Generator[httpx.Request, httpx.Response, T]:
    """Send ``call``: yields each request to send, is sent each answer, returns the result or raises."""
    request = _build(http, call)
    while True:
        response = yield request
        follow_up = _follow_up(request, response)
        if follow_up is None:
            break
        request = follow_up
    if response.status_code != call.expect:
        raise error_for_response(response)
    return call.read(response)


# --------------------------------------------------------------------------
# The two clients
# --------------------------------------------------------------------------


def _method(build: Callable, owner: str, asynchronous: bool) -> Callable:
    """``owner``'s method for the operation ``build``: its name, docstring and signature (the result,
    not the call, as the return annotation), its body one send through the client's transport."""
    if asynchronous:
        async def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            return await self._client._run(build(*args, **kwargs))
    else:
        def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            return self._client._run(build(*args, **kwargs))
    signature = inspect.signature(build)
    returned = str(signature.return_annotation)
    if returned.startswith("_Call[") and returned.endswith("]"):
        returned = returned[len("_Call["):-1]
    self_parameter = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    method.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[self_parameter, *signature.parameters.values()], return_annotation=returned)
    method.__name__ = build.__name__
    method.__qualname__ = f"{owner}.{build.__name__}"
    method.__doc__ = build.__doc__
    return method


_OPERATIONS = ("list", "get", "create", "update", "disable", "enable", "delete", "set_password",
               "end_sessions", "list_keys", "add_key", "remove_key")


class SyncUsers:
    """``SyncAdminClient.users``: the operations on accounts (see :class:`_Calls` for each one's arguments)."""

    def __init__(self, client: "SyncAdminClient"):
        self._client = client

    def iterate(self, **filters: Any) -> Iterator[User]:
        """Every user of every page, in userid order; ``filters`` as :meth:`list` takes them
        (``limit`` is then the page size)."""
        call: _Call[UserPage] | None = _Calls.list(**filters)
        while call is not None:
            page = self._client._run(call)
            yield from page.users
            call = _next_page(call, page)


class AsyncUsers:
    """``AdminClient.users``: as :class:`SyncUsers`, each method a coroutine (``iterate`` an async iterator)."""

    def __init__(self, client: "AdminClient"):
        self._client = client

    async def iterate(self, **filters: Any) -> AsyncIterator[User]:
        """Every user of every page, in userid order; ``filters`` as :meth:`list` takes them."""
        call: _Call[UserPage] | None = _Calls.list(**filters)
        while call is not None:
            page = await self._client._run(call)
            for user in page.users:
                yield user
            call = _next_page(call, page)


for _name in _OPERATIONS:
    setattr(SyncUsers, _name, _method(getattr(_Calls, _name), "SyncUsers", asynchronous=False))
    setattr(AsyncUsers, _name, _method(getattr(_Calls, _name), "AsyncUsers", asynchronous=True))
del _name


def _http_options(base_url: str, auth: httpx.Auth | None, timeout: float | httpx.Timeout,
                  transport: Any) -> dict[str, Any]:
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise ValueError("base_url is the http:// or https:// URL the admin API is under")
    return {
        # httpx joins "admin/users" under the base URL's path, so a route prefix is kept.
        "base_url": base_url,
        "auth": auth,
        "timeout": timeout,
        "transport": transport,
        "headers": {"Accept": "application/json, application/problem+json"},
        # A redirect would re-send credentials (and signed requests) elsewhere: never followed.
        "follow_redirects": False,
    }


class SyncAdminClient:
    """The admin API over a blocking ``httpx.Client``.

    ``base_url``
        The application's URL, route prefix included (``https://api.example.com/v1``).
    ``auth``
        An ``httpx.Auth``: any of the package's (Basic, Bearer, a service key's signature).
    ``timeout``
        Seconds (or an ``httpx.Timeout``) for each request.
    ``transport``
        An httpx transport to use instead of the network one.

    ``client.users`` holds the operations; a context manager (``with``), or call :meth:`close`.
    """

    def __init__(self, base_url: str, auth: httpx.Auth | None = None, timeout: float | httpx.Timeout = 10.0,
                 transport: httpx.BaseTransport | None = None):
        self._http = httpx.Client(**_http_options(base_url, auth, timeout, transport))
        self.users = SyncUsers(self)

    def __repr__(self) -> str:
        return f"SyncAdminClient({str(self._http.base_url)!r})"

    def _run(self, call: _Call[T]) -> T:
        flow = _exchange(self._http, call)
        request = next(flow)
        while True:
            response = self._http.send(request)
            try:
                request = flow.send(response)
            except StopIteration as done:
                return done.value

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __enter__(self) -> "SyncAdminClient":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


class AdminClient:
    """The admin API over an ``httpx.AsyncClient``: as :class:`SyncAdminClient` (same arguments,
    ``transport`` an ``httpx.AsyncBaseTransport``), each operation awaited.

    An async context manager (``async with``), or call :meth:`aclose`.
    """

    def __init__(self, base_url: str, auth: httpx.Auth | None = None, timeout: float | httpx.Timeout = 10.0,
                 transport: httpx.AsyncBaseTransport | None = None):
        self._http = httpx.AsyncClient(**_http_options(base_url, auth, timeout, transport))
        self.users = AsyncUsers(self)

    def __repr__(self) -> str:
        return f"AdminClient({str(self._http.base_url)!r})"

    async def _run(self, call: _Call[T]) -> T:
        flow = _exchange(self._http, call)
        request = next(flow)
        while True:
            response = await self._http.send(request)
            try:
                request = flow.send(response)
            except StopIteration as done:
                return done.value

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def __aenter__(self) -> "AdminClient":
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()
