"""The server's side of a request: verification and ``Server-Authorization``.

``lib/server.js`` of the reference implementation (hapijs/hawk):
``authenticate`` (:func:`verify_request`, and :func:`verify_payload_hash` for
a body read later) and ``header`` (:func:`server_authorization`); README
"Payload Validation" and "Response Payload Validation". The ``*_fields``
variants take the request's lines built once by
:func:`~pyramid_authsuite.hawk.mac.request_fields`: the policy's hot path.
No Pyramid or WebOb imports.
"""
from __future__ import annotations

from typing import Collection

from pyramid_authsuite.hawk.errors import HawkMACError, HawkPayloadError, HawkStaleTimestamp
from pyramid_authsuite.hawk.header import _VALUE_RE, HawkAuthorization
from pyramid_authsuite.hawk.mac import (
    _HEADER_PREFIX,
    _RESPONSE_PREFIX,
    DEFAULT_ALLOWED_ALGORITHMS,
    _assemble,
    _check_algorithm,
    _mac,
    _payload_hash,
    payload_hash,
    request_fields,
    verify_mac,
)
from pyramid_authsuite.hawk.timestamp import _challenge, _ts_mac

__all__ = [
    "server_authorization",
    "server_authorization_fields",
    "verify_payload_hash",
    "verify_request",
    "verify_request_fields",
]


def verify_request(
    auth: HawkAuthorization,
    *,
    key: bytes | str,
    algorithm: str,
    method: str,
    resource: str,
    host: str,
    port: int | str,
    now: float,
    skew_seconds: int,
    content_type: str | None = None,
    body: bytes | None = None,
    verify_payload: bool = True,
    allowed_algorithms: Collection[str] = DEFAULT_ALLOWED_ALGORITHMS,
    realm: str | None = None,
) -> None:
    """Verify a parsed request header; return ``None`` or raise a :class:`HawkError`.

    The order is deliberate (compare ``lib/server.js`` ``authenticate``):

    1. the algorithm is allowed, else :class:`HawkAlgorithmError`;
    2. the MAC over ``hawk.1.header`` (using the header's own ``hash``),
       compared in constant time, else :class:`HawkMACError` -- first, so that
       nobody without the key learns anything from later checks;
    3. the timestamp: ``|ts - now| > skew_seconds`` raises
       :class:`HawkStaleTimestamp` carrying the signed server time (README
       "Replay Protection");
    4. the payload when ``verify_payload`` (see :func:`verify_payload_hash`),
       else :class:`HawkPayloadError`. With ``verify_payload=False`` the
       caller checks it later, once it has the body.

    ``resource`` is the request target as sent (path and query), ``host`` the
    Host header's name and ``port`` its port. The nonce is *not* recorded
    here: the caller records ``(id, ts, nonce)`` in its replay cache once this
    returns.
    """
    verify_request_fields(
        auth, request_fields(auth.ts, auth.nonce, method, resource, host, port), key, algorithm, now,
        skew_seconds, content_type, body, verify_payload, allowed_algorithms, realm,
    )


def verify_request_fields(
    auth: HawkAuthorization,
    fields: str,
    key: bytes | str,
    algorithm: str,
    now: float,
    skew_seconds: int,
    content_type: str | None = None,
    body: bytes | None = None,
    verify_payload: bool = True,
    allowed_algorithms: Collection[str] = DEFAULT_ALLOWED_ALGORITHMS,
    realm: str | None = None,
) -> None:
    """:func:`verify_request` with the request's lines already built by
    :func:`request_fields` (from ``auth.ts``, ``auth.nonce`` and the request),
    and positional arguments: the server's hot path, which keeps ``fields``
    for :func:`server_authorization_fields`. Same checks, same order.
    """
    _check_algorithm(algorithm, allowed_algorithms)
    if isinstance(key, str):
        key = key.encode("utf-8")
    expected = _mac(key, algorithm, _assemble(_HEADER_PREFIX, fields, auth.hash, auth.ext, auth.app, auth.dlg))
    if not verify_mac(expected, auth.mac):
        raise HawkMACError("Hawk MAC mismatch")
    if abs(auth.ts - now) > skew_seconds:
        server_now = int(now)
        tsm = _ts_mac(key, algorithm, server_now, allowed_algorithms)
        raise HawkStaleTimestamp(
            "stale Hawk timestamp",
            ts=auth.ts,
            now=server_now,
            tsm=tsm,
            challenge=_challenge(server_now, tsm, realm),
        )
    if verify_payload:
        # verify_payload_hash(), the algorithm already checked.
        if auth.hash is None:
            if body:
                raise HawkPayloadError("Hawk payload hash missing")
        elif not verify_mac(_payload_hash(algorithm, content_type, body), auth.hash):
            raise HawkPayloadError("Hawk payload hash mismatch")


def verify_payload_hash(
    auth: HawkAuthorization,
    *,
    algorithm: str,
    content_type: str | None,
    body: bytes | None,
    allowed_algorithms: Collection[str] = DEFAULT_ALLOWED_ALGORITHMS,
) -> None:
    """Check the request body against the header's (already MAC-verified) ``hash``.

    README "Payload Validation": the MAC only proves the client sent that
    hash; the server must hash the body itself. A header with a ``hash`` must
    match ``payload_hash(algorithm, content_type, body)``. A header without
    one is accepted only when the body is empty (a GET, as in the README's
    example); with a body it is refused (``lib/server.js`` "Missing required
    payload hash"), since the body would be unauthenticated.
    """
    if auth.hash is None:
        if body:
            raise HawkPayloadError("Hawk payload hash missing")
        return
    expected = payload_hash(algorithm, content_type, body, allowed_algorithms=allowed_algorithms)
    if not verify_mac(expected, auth.hash):
        raise HawkPayloadError("Hawk payload hash mismatch")


# Server-Authorization (README "Response Payload Validation")


def server_authorization(
    key: bytes | str,
    algorithm: str,
    auth: HawkAuthorization,
    *,
    method: str,
    resource: str,
    host: str,
    port: int | str,
    content_type: str | None,
    body: bytes | None,
    ext: str | None = None,
    allowed_algorithms: Collection[str] = DEFAULT_ALLOWED_ALGORITHMS,
) -> str:
    """The ``Server-Authorization`` value for a response (``lib/server.js`` ``header``).

    README "Response Payload Validation": the MAC covers ``hawk.1.response``
    with the *request's* ts, nonce, method, resource, host, port, app and dlg,
    but the response's payload hash and ext. A ``body`` of ``None`` sends no
    hash (an empty ``b""`` body is hashed). ``ext`` must use the attribute
    alphabet, else ``ValueError`` (it is written into a header).
    """
    return server_authorization_fields(
        key, algorithm, auth, request_fields(auth.ts, auth.nonce, method, resource, host, port),
        content_type, body, ext, allowed_algorithms,
    )


def server_authorization_fields(
    key: bytes | str,
    algorithm: str,
    auth: HawkAuthorization,
    fields: str,
    content_type: str | None,
    body: bytes | None,
    ext: str | None = None,
    allowed_algorithms: Collection[str] = DEFAULT_ALLOWED_ALGORITHMS,
) -> str:
    """:func:`server_authorization` with the request's lines already built by
    :func:`request_fields` (as :func:`verify_request_fields` used them)."""
    if ext and _VALUE_RE.fullmatch(ext) is None:
        raise ValueError("ext contains characters not allowed in a Hawk attribute")
    _check_algorithm(algorithm, allowed_algorithms)
    if isinstance(key, str):
        key = key.encode("utf-8")
    if body is None:
        mac = _mac(key, algorithm, _assemble(_RESPONSE_PREFIX, fields, None, ext, auth.app, auth.dlg))
        if ext:
            return f'Hawk mac="{mac}", ext="{ext}"'
        return f'Hawk mac="{mac}"'
    hash_ = _payload_hash(algorithm, content_type, body)
    mac = _mac(key, algorithm, _assemble(_RESPONSE_PREFIX, fields, hash_, ext, auth.app, auth.dlg))
    if ext:
        return f'Hawk mac="{mac}", hash="{hash_}", ext="{ext}"'
    return f'Hawk mac="{mac}", hash="{hash_}"'
