"""A ``requests`` client for Hawk sessions: log in, sign requests, verify responses, log out.

This module imports no Pyramid: the standard library, ``requests`` and our
own :mod:`pyramid_authsuite.hawk.protocol` and :mod:`pyramid_authsuite.client`
(the plumbing every client shares) only (the package's ``__init__``
still needs Pyramid installed; ``requests`` is not a dependency of the server,
install it alongside)::

    from pyramid_authsuite.hawk.client import HawkSessionAuth, login, logout

    token = login("https://api.example.com", "alice", password)
    auth = HawkSessionAuth(token, verify_response=True)
    requests.get("https://api.example.com/whoami", auth=auth, timeout=10)
    logout("https://api.example.com", token)

What :class:`HawkSessionAuth` does (Hawk 1, as in the Hawk README,
"Protocol Example", "Payload Validation", "Response Payload Validation" and
"Replay Protection"):

* signs each request with ``Authorization: Hawk id, ts, nonce, [hash], [ext],
  mac``; the resource is the request target as sent (path and query), host and
  port come from the ``Host`` header if one is set, else from the URL (80 and
  443 by default);
* hashes the body (with its ``Content-Type``) whenever there is one -- the
  server refuses a body without a hash, and accepts no hash for an empty body;
* on ``401`` with a Hawk stale-timestamp challenge (``ts`` and ``tsm``),
  checks ``tsm`` with the session key, corrects :attr:`~HawkSessionAuth.clock_offset`
  and sends the request once more, freshly signed;
* with ``verify_response=True``, checks ``Server-Authorization`` on responses.

requests-hawk works against the server too: ``requests_hawk.HawkAuth(hawk_session=token)``
derives the same id and key from a session token (HKDF-SHA256, as Firefox
Accounts and Kinto do). Pass it ``always_hash_content=False`` to sign requests
without a body (GET, DELETE): otherwise mohawk refuses to sign them
(``MissingContent``); requests with a body are hashed either way. It neither
verifies responses nor corrects clock skew.
"""
from __future__ import annotations

import math
import re
import secrets
import time
from typing import Any, Callable
from urllib.parse import urlsplit

import requests
from requests.auth import AuthBase
from requests.cookies import extract_cookies_to_jar

from pyramid_authsuite.client import (
    ServerRefusedError,
    UTF8BasicAuth,
    parse_challenges,
    request_body,
    response_challenges,
)
from pyramid_authsuite.hawk import protocol

__all__ = [
    "HawkResponseError",
    "HawkSessionAuth",
    "HawkSessionError",
    "login",
    "logout",
]

#: Where ``authsuite.endpoints = hawk_sessions`` serves sessions, under the base URL.
SESSIONS_PATH = "/hawk-sessions"
#: Default seconds for :func:`login` and :func:`logout` (``requests`` has no default: it waits forever).
DEFAULT_TIMEOUT = 10.0

# Printable ASCII but '"' and '\': what a Hawk attribute value may contain
# (the server's parser refuses anything else).
_ATTRIBUTE_VALUE_RE = re.compile(r'[ !#-\[\]-~]+')
_HEX64_RE = re.compile(r"[0-9a-fA-F]{64}")
# A server time in a challenge: like a request's ts (no sign, no leading zero).
_TS_RE = re.compile(r"0|[1-9][0-9]{0,9}")
_DIGEST_B64_RE = re.compile(r"[A-Za-z0-9+/]{27}=|[A-Za-z0-9+/]{43}=")
# Responses whose body is never sent (RFC 9110 9.3.2, 15.4.5): the server
# hashed a body the client cannot see, so only the MAC can be checked.
_NO_BODY_STATUSES = frozenset({304})


class HawkResponseError(requests.RequestException):
    """A response to a Hawk-signed request failed ``Server-Authorization`` verification.

    Raised (from the ``requests`` call) by :class:`HawkSessionAuth` with
    ``verify_response=True`` when the header is missing from a 2xx response,
    is malformed, or its MAC or payload hash does not match. ``response`` and
    ``request`` are set; the body must not be trusted.
    """


class HawkSessionError(ServerRefusedError):
    """:func:`login` or :func:`logout` got an unexpected status.

    ``status_code`` is the HTTP status, ``problem`` the RFC 9457 problem
    document (a ``dict``) when the server sent one, else ``None``, and
    ``detail`` its ``detail`` (or ``title``, or the reason phrase); see
    :class:`pyramid_authsuite.client.ServerRefusedError`.
    """

    def __init__(self, message: str, *, response: requests.Response):
        super().__init__(message, response=response)


# --------------------------------------------------------------------------
# Header parsing (challenges and Server-Authorization)
# --------------------------------------------------------------------------


def _parse_server_authorization(value: str) -> dict[str, str]:
    """``mac``, ``hash`` and ``ext`` of ``Server-Authorization: Hawk ...``, strictly.

    As ``lib/client.js`` ``authenticate`` does (``parseAuthorizationHeader``
    with ``mac``, ``ext`` and ``hash`` only): one Hawk credential, ``mac``
    required, no other attribute. Raises ``ValueError``.
    """
    challenges = parse_challenges(value)
    if len(challenges) != 1 or challenges[0][0].lower() != "hawk":
        raise ValueError("not a single Hawk Server-Authorization")
    attributes = challenges[0][1]
    if set(attributes) - {"mac", "hash", "ext"} or "mac" not in attributes:
        raise ValueError("Server-Authorization attributes must be mac and optionally hash, ext")
    return attributes


# --------------------------------------------------------------------------
# The auth class
# --------------------------------------------------------------------------


def _request_target(prepared: requests.PreparedRequest) -> tuple[str, str, int | str]:
    """``(resource, host, port)`` as the server will see them (what the MACs cover)."""
    parts = urlsplit(prepared.url or "")
    resource = prepared.path_url  # path and query, as urllib3 sends them
    default_port = 443 if parts.scheme.lower() == "https" else 80
    host_header = prepared.headers.get("Host")
    if host_header:
        # An explicit Host header is what the server reads (and what urllib3
        # sends instead of the URL's); split it as the server does.
        if host_header.startswith("["):
            name, _, rest = host_header.partition("]")
            name += "]"
            port: int | str = rest[1:] if rest.startswith(":") else ""
        else:
            name, _, port = host_header.partition(":")
        return resource, name, port or default_port
    hostname = parts.hostname or ""
    if ":" in hostname:
        # An IPv6 literal: the Host header (hence the server) keeps the brackets.
        hostname = f"[{hostname}]"
    return resource, hostname, parts.port or default_port


class HawkSessionAuth(AuthBase):
    """Sign ``requests`` requests with a Hawk session token (``auth=HawkSessionAuth(token)``).

    Arguments:

    ``token``
        The session token from :func:`login` (``POST /hawk-sessions``): 64
        hex digits. The Hawk id and key are derived from it (HKDF-SHA256, as
        requests-hawk's ``hawk_session``); the token itself is not kept.
    ``verify_response``
        Check ``Server-Authorization`` on every response to a request this
        object signed (see :meth:`verify_response_header`); a failure raises
        :class:`HawkResponseError` from the ``requests`` call. This reads the
        whole body, so ``stream=True`` no longer streams. Default off.
    ``algorithm``
        ``sha256`` (default) or ``sha1``; the server must accept it.
    ``ext``
        Application data sent in the header's ``ext`` and covered by the MAC:
        printable ASCII without ``"`` or ``\\``. Default none.
    ``clock_offset``
        Seconds added to the local clock for ``ts``. Updated when the server
        answers a stale timestamp (see below); keep the object to keep it.

    Stale timestamps (Hawk README "Replay Protection"): when a signed request
    gets ``401`` with ``WWW-Authenticate: Hawk ts="...", tsm="..."``, ``tsm``
    is checked in constant time against ``HMAC(key, "hawk.1.ts\\n<ts>\\n")``.
    If it matches, the server time is trusted: :attr:`clock_offset` becomes
    ``ts - time.time()`` and the request is sent once more, freshly signed
    (new ts and nonce), on the same connection adapter; the ``401`` is in the
    new response's ``history``. That happens whether or not
    ``verify_response`` is set, and at most once per request. Resending is
    safe: the server refused the first request before any view ran. A
    challenge whose ``tsm`` does not match is ignored (the ``401`` is returned).

    Limitations: the body must be bytes or ``str`` (generators and files
    raise ``TypeError``: the payload hash needs the whole body first).
    ``requests`` follows redirects with the *original* header, whose MAC
    covers the original URL; use ``allow_redirects=False`` and sign the new
    request. A response without ``Server-Authorization`` is only refused when
    it is a 2xx: the server cannot sign a refusal of credentials.
    """

    def __init__(
        self,
        token: str,
        *,
        verify_response: bool = False,
        algorithm: str = "sha256",
        ext: str | None = None,
        clock_offset: float = 0.0,
    ):
        if algorithm not in protocol.ALGORITHMS:
            raise ValueError(f"algorithm must be one of {', '.join(sorted(protocol.ALGORITHMS))}")
        if ext is not None and ext != "" and _ATTRIBUTE_VALUE_RE.fullmatch(ext) is None:
            raise ValueError('ext must be printable ASCII without " or \\')
        self.id, self._key = protocol.derive_session_credentials(token)
        self.algorithm = algorithm
        self.ext = ext or None
        self.verify_response = bool(verify_response)
        self.clock_offset = float(clock_offset)
        # calculate_mac refuses algorithms outside this set; ours is the only one.
        self._allowed = frozenset({algorithm})

    def __repr__(self) -> str:
        # Never the key.
        return (
            f"HawkSessionAuth(id={self.id!r}, algorithm={self.algorithm!r}, "
            f"verify_response={self.verify_response}, clock_offset={self.clock_offset})"
        )

    # -- signing ----------------------------------------------------------

    def __call__(self, prepared: requests.PreparedRequest) -> requests.PreparedRequest:
        """Sign ``prepared`` and register the response hook (``requests`` calls this).

        Arguments: ``prepared``, the request about to be sent. Raises
        ``TypeError`` for a body that is not bytes or ``str``.
        """
        self.sign(prepared)
        hook = self.handle_response
        if hook not in prepared.hooks["response"]:
            prepared.register_hook("response", hook)
        return prepared

    def sign(self, prepared: requests.PreparedRequest) -> protocol.HawkAuthorization:
        """Set ``Authorization: Hawk ...`` on ``prepared`` and return what it says.

        Arguments: ``prepared``, the request. A fresh ts (local clock plus
        :attr:`clock_offset`) and random nonce each time; ``hash`` only when
        there is a body.
        """
        body = request_body(prepared, "HawkSessionAuth", "the Hawk payload hash")
        content_type = prepared.headers.get("Content-Type")
        hash_ = None
        if body:
            hash_ = protocol.payload_hash(self.algorithm, content_type, body, allowed_algorithms=self._allowed)
        # Hawk's client takes floor((now + offset)); whole seconds, no sign.
        ts = math.floor(time.time() + self.clock_offset)
        # 96 random bits, URL-safe base64: inside the attribute alphabet.
        nonce = secrets.token_urlsafe(12)
        method = (prepared.method or "GET").upper()
        resource, host, port = _request_target(prepared)
        mac = protocol.calculate_mac(
            self._key,
            self.algorithm,
            protocol.normalized_string(
                "header", ts=ts, nonce=nonce, method=method, resource=resource,
                host=host, port=port, hash=hash_, ext=self.ext,
            ),
            allowed_algorithms=self._allowed,
        )
        header = f'Hawk id="{self.id}", ts="{ts}", nonce="{nonce}"'
        if hash_:
            header += f', hash="{hash_}"'
        if self.ext:
            header += f', ext="{self.ext}"'
        prepared.headers["Authorization"] = f'{header}, mac="{mac}"'
        return protocol.HawkAuthorization(self.id, ts, nonce, mac, hash_, self.ext)

    def _signed_by_us(self, request: requests.PreparedRequest | None) -> protocol.HawkAuthorization | None:
        # The response hook reads the request's own header rather than state
        # kept here: one auth object signs many requests, in many threads.
        if request is None:
            return None
        header = request.headers.get("Authorization")
        if header is None or not protocol.is_hawk(header):
            return None
        try:
            auth = protocol.parse_authorization(header)
        except protocol.HawkParseError:
            return None
        return auth if auth.id == self.id else None

    # -- responses --------------------------------------------------------

    def handle_response(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        """The response hook: stale-timestamp retry, then (if enabled) verification.

        Arguments: ``response``, and the ``kwargs`` ``requests`` passes to
        hooks (``timeout``, ``verify``, ``proxies``, ...), reused for the retry.
        Returns the response to use (the retried one after a correction).
        """
        if response.status_code == 401:
            retried = self._retry_stale(response, **kwargs)
            if retried is not None:
                response = retried
        if self.verify_response:
            self.verify_response_header(response)
        return response

    def stale_timestamp(self, response: requests.Response) -> int | None:
        """The server time of a *verified* stale-timestamp challenge in ``response``, or ``None``.

        Arguments: ``response``, a ``401``. The ``Hawk`` challenge must carry
        ``ts`` and ``tsm``, and ``tsm`` must equal the HMAC of
        ``hawk.1.ts\\n<ts>\\n`` with this session's key (``lib/crypto.js``
        ``calculateTsMac``), compared in constant time.
        """
        for scheme, params in response_challenges(response):
            if scheme.lower() != "hawk":
                continue
            ts, tsm = params.get("ts"), params.get("tsm")
            if ts is None or tsm is None or _TS_RE.fullmatch(ts) is None or _DIGEST_B64_RE.fullmatch(tsm) is None:
                continue
            expected = protocol.calculate_mac(
                self._key, self.algorithm, f"hawk.1.ts\n{ts}\n".encode("ascii"),
                allowed_algorithms=self._allowed,
            )
            if protocol.verify_mac(expected, tsm):
                return int(ts)
        return None

    def _retry_stale(self, response: requests.Response, **kwargs: Any) -> requests.Response | None:
        request = response.request
        if self._signed_by_us(request) is None:
            return None
        server_time = self.stale_timestamp(response)
        if server_time is None:
            return None
        self.clock_offset = server_time - time.time()
        connection = getattr(response, "connection", None)
        if connection is None:
            # Not from an adapter (built by hand): the offset is learned, but
            # there is nothing to resend with.
            return None
        # As requests' HTTPDigestAuth.handle_401: drain and release the
        # connection, carry cookies over, resend through the same adapter.
        # adapter.send() runs no hooks, so this happens once per request.
        response.content
        response.close()
        retry = request.copy()
        extract_cookies_to_jar(retry._cookies, request, response.raw)
        retry.prepare_cookies(retry._cookies)
        self.sign(retry)
        retried = connection.send(retry, **kwargs)
        retried.history.append(response)
        retried.request = retry
        return retried

    def verify_response_header(self, response: requests.Response) -> None:
        """Check ``Server-Authorization`` on ``response``; raise :class:`HawkResponseError`.

        Arguments: ``response``, whose ``request`` this object signed (other
        responses pass unchecked). README "Response Payload Validation": the
        MAC covers ``hawk.1.response`` with the request's ts, nonce, method,
        resource, host and port and the response's ``hash`` and ``ext``; the
        ``hash`` must match the body and ``Content-Type``. Comparisons are
        constant-time. Refused: a missing header on a 2xx, a malformed one, a
        wrong MAC, a wrong hash, or a body without a hash. For HEAD and 304
        no body is sent, so only the MAC is checked.
        """
        request = response.request
        auth = self._signed_by_us(request)
        if auth is None:
            return
        value = response.headers.get("Server-Authorization")
        if value is None:
            if 200 <= response.status_code < 300:
                raise HawkResponseError(
                    "response has no Server-Authorization header", response=response, request=request
                )
            return
        try:
            attributes = _parse_server_authorization(value)
        except ValueError:
            raise HawkResponseError(
                "malformed Server-Authorization header", response=response, request=request
            ) from None
        mac, hash_, ext = attributes["mac"], attributes.get("hash"), attributes.get("ext")
        resource, host, port = _request_target(request)
        expected = protocol.calculate_mac(
            self._key,
            self.algorithm,
            protocol.normalized_string(
                "response", ts=auth.ts, nonce=auth.nonce, method=(request.method or "GET").upper(),
                resource=resource, host=host, port=port, hash=hash_, ext=ext, app=auth.app, dlg=auth.dlg,
            ),
            allowed_algorithms=self._allowed,
        )
        if not protocol.verify_mac(expected, mac):
            raise HawkResponseError("Server-Authorization MAC mismatch", response=response, request=request)
        if (request.method or "").upper() == "HEAD" or response.status_code in _NO_BODY_STATUSES:
            return
        body = response.content or b""
        if hash_ is None:
            if body:
                raise HawkResponseError(
                    "Server-Authorization has no payload hash for a response body",
                    response=response, request=request,
                )
            return
        content_type = response.headers.get("Content-Type")
        expected_hash = protocol.payload_hash(self.algorithm, content_type, body, allowed_algorithms=self._allowed)
        if not protocol.verify_mac(expected_hash, hash_):
            raise HawkResponseError("response payload hash mismatch", response=response, request=request)


# --------------------------------------------------------------------------
# Log in, log out
# --------------------------------------------------------------------------


def _sender(session: requests.Session | None) -> Callable[..., requests.Response]:
    return session.request if session is not None else requests.request


def _sessions_url(base_url: str) -> str:
    return base_url.rstrip("/") + SESSIONS_PATH


def login(
    base_url: str,
    userid: str,
    password: str,
    *,
    session: requests.Session | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> str:
    """Log in with Basic credentials (``POST /hawk-sessions``) and return the session token.

    Arguments:

    ``base_url``
        The application's URL (``https://api.example.com``, or with a path
        prefix); ``/hawk-sessions`` is appended.
    ``userid``, ``password``
        The account's credentials, sent as UTF-8 Basic (RFC 7617).
    ``session``
        A ``requests.Session`` to send with (connection reuse, proxies,
        certificates); by default a one-off one.
    ``timeout``
        Seconds, as ``requests``' ``timeout``. Default 10.

    Returns the 64-hex-digit token for :class:`HawkSessionAuth`. Raises
    :class:`HawkSessionError` for any status but ``201`` (with the problem
    document's detail) or a ``201`` without a token, and ``requests``'
    exceptions for network errors.
    """
    response = _sender(session)(
        "POST", _sessions_url(base_url), auth=UTF8BasicAuth(userid, password),
        headers={"Accept": "application/json"}, timeout=timeout,
    )
    if response.status_code != 201:
        raise HawkSessionError("Hawk login failed", response=response)
    token = None
    try:
        document = response.json()
    except ValueError:
        document = None
    if isinstance(document, dict):
        token = document.get("token")
    if not isinstance(token, str):
        token = response.headers.get("Hawk-Session-Token")
    if not isinstance(token, str) or _HEX64_RE.fullmatch(token) is None:
        raise HawkSessionError("Hawk login answered no session token", response=response)
    return token


def logout(
    base_url: str,
    token: str,
    *,
    session: requests.Session | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    verify_response: bool = False,
) -> None:
    """End a session (``DELETE /hawk-sessions`` signed with it), everywhere, at once.

    Arguments:

    ``base_url``
        As for :func:`login`.
    ``token``
        The session token to end.
    ``session``
        A ``requests.Session`` to send with; by default a one-off one.
    ``timeout``
        Seconds, as ``requests``' ``timeout``. Default 10.
    ``verify_response``
        Also verify the ``204``'s ``Server-Authorization``
        (:class:`HawkResponseError`). Default off.

    Raises :class:`HawkSessionError` for any status but ``204`` (``401`` when
    the session had already ended).
    """
    response = _sender(session)(
        "DELETE", _sessions_url(base_url), auth=HawkSessionAuth(token, verify_response=verify_response),
        headers={"Accept": "application/json"}, timeout=timeout,
    )
    if response.status_code != 204:
        raise HawkSessionError("Hawk logout failed", response=response)
