"""Hawk MACs: the normalized strings, the HMAC, the payload hash.

``lib/crypto.js`` of the reference implementation (hapijs/hawk):
``generateNormalizedString`` (:func:`normalized_string`, for ``hawk.1.header``,
``hawk.1.response`` and ``hawk.1.bewit``), ``calculateMac``
(:func:`calculate_mac`) and ``calculatePayloadHash`` (:func:`payload_hash`);
README "Protocol Example" and "Payload Validation". The algorithms
(:data:`ALGORITHMS`) and the allow-list every function checks live here too.

The positional helpers (:func:`request_fields`, ``_assemble``,
``_normalized``, ``_mac``, ``_payload_hash``) are the server's hot path: the
public functions check their arguments and call them. No Pyramid or WebOb
imports.
"""
from __future__ import annotations

import binascii
import functools
import hashlib
import hmac
from types import MappingProxyType
from typing import Any, Callable, Collection, Mapping, NamedTuple

from pyramid_authsuite._hmac_state import HMACStates
from pyramid_authsuite.hawk.errors import HawkAlgorithmError

__all__ = [
    "ALGORITHMS",
    "DEFAULT_ALLOWED_ALGORITHMS",
    "HashAlgorithm",
    "calculate_mac",
    "normalized_string",
    "payload_hash",
    "request_fields",
    "verify_mac",
]


class HashAlgorithm(NamedTuple):
    """A MAC algorithm of ``lib/crypto.js`` ``algorithms`` (``sha1``, ``sha256``)."""

    name: str  #: the hashlib / OpenSSL name, also the Hawk credentials' name
    digest_size: int
    b64_length: int  #: length of a base64 MAC or payload hash, padding included
    new: Callable[..., Any]


#: Every algorithm Hawk 1 defines. Callers still choose which they accept
#: through ``allowed_algorithms``: SHA-1 is only used when they pass it.
ALGORITHMS: Mapping[str, HashAlgorithm] = MappingProxyType(
    {
        "sha256": HashAlgorithm("sha256", 32, 44, hashlib.sha256),
        "sha1": HashAlgorithm("sha1", 20, 28, hashlib.sha1),
    }
)
#: What every function accepts unless the caller passes ``allowed_algorithms``.
DEFAULT_ALLOWED_ALGORITHMS: frozenset[str] = frozenset({"sha256"})

_KIND_PREFIX = MappingProxyType(
    {"header": "hawk.1.header\n", "response": "hawk.1.response\n", "bewit": "hawk.1.bewit\n"}
)
_HEADER_PREFIX = _KIND_PREFIX["header"]
_RESPONSE_PREFIX = _KIND_PREFIX["response"]
_PAYLOAD_PREFIX = b"hawk.1.payload\n"
_NEWLINE = b"\n"
_CT_WHITESPACE = " \t\r\n\f\v"


def _check_algorithm(algorithm: str, allowed_algorithms: Collection[str]) -> None:
    if algorithm not in allowed_algorithms or algorithm not in ALGORITHMS:
        raise HawkAlgorithmError("Hawk algorithm not allowed")


# HMAC (RFC 2104) with the keyed inner and outer hash states computed once per
# key and copied for each message (pyramid_authsuite._hmac_state): half the
# cost of a one-shot HMAC, which re-derives them every time. Bounded (one
# entry per session key in use); cleared when full.
_HMAC_STATES = HMACStates(10_000)
# ALGORITHMS[...].new without the mapping proxy, for the hot path.
_HASHES = {name: algorithm.new for name, algorithm in ALGORITHMS.items()}


def _mac(key: bytes, algorithm: str, normalized: bytes) -> str:
    """Base64 HMAC of ``normalized``; the caller has checked the algorithm."""
    return binascii.b2a_base64(_HMAC_STATES.mac(key, _HASHES[algorithm], normalized), newline=False).decode("ascii")


def request_fields(ts: int | str, nonce: str, method: str, resource: str, host: str, port: int | str) -> str:
    """The lines ``ts`` to ``port`` of a normalized string, each with its newline.

    A request's MAC and its response's MAC (README "Response Payload
    Validation") cover these same lines: a server computes them once per
    request (:func:`verify_request_fields`, :func:`server_authorization_fields`).
    """
    return f"{ts}\n{nonce}\n{method.upper()}\n{resource}\n{host.lower()}\n{port}\n"


def _assemble(prefix: str, fields: str, hash_: str | None, ext: str | None, app: str | None, dlg: str | None) -> bytes:
    if ext:
        if "\\" in ext or "\n" in ext:
            ext = ext.replace("\\", "\\\\").replace("\n", "\\n")
    else:
        ext = ""
    if app:
        text = f"{prefix}{fields}{hash_ or ''}\n{ext}\n{app}\n{dlg or ''}\n"
    else:
        text = f"{prefix}{fields}{hash_ or ''}\n{ext}\n"
    # Node hashes strings as UTF-8; surrogatepass so that no str can make
    # this raise (WSGI strings are latin-1 decoded and never need it).
    return text.encode("utf-8", "surrogatepass")


def _normalized(
    prefix: str,
    ts: int | str,
    nonce: str,
    method: str,
    resource: str,
    host: str,
    port: int | str,
    hash_: str | None,
    ext: str | None,
    app: str | None,
    dlg: str | None,
) -> bytes:
    # Positional twin of normalized_string(): the hot path avoids keyword
    # argument processing.
    return _assemble(prefix, request_fields(ts, nonce, method, resource, host, port), hash_, ext, app, dlg)


def normalized_string(
    kind: str,
    *,
    ts: int | str,
    nonce: str,
    method: str,
    resource: str,
    host: str,
    port: int | str,
    hash: str | None = None,  # noqa: A002 - the spec's attribute name
    ext: str | None = None,
    app: str | None = None,
    dlg: str | None = None,
) -> bytes:
    """The string a Hawk MAC covers (``lib/crypto.js`` ``generateNormalizedString``).

    ``hawk.1.<kind>``, ts, nonce, METHOD (upper-cased), resource (the request
    target as sent: path and query), host (lower-cased), port, payload hash
    (or empty), ext (``\\`` written ``\\\\`` and newline written ``\\n``, or
    empty), then ``app`` and ``dlg`` only when ``app`` is set; each followed
    by a newline (README "Protocol Example"). ``kind`` is ``header``,
    ``response`` or ``bewit`` (bewits pass ``method="GET"`` and an empty
    nonce).
    """
    prefix = _KIND_PREFIX.get(kind)
    if prefix is None:
        raise ValueError("kind must be 'header', 'response' or 'bewit'")
    return _normalized(prefix, ts, nonce, method, resource, host, port, hash, ext, app, dlg)


def calculate_mac(
    key: bytes | str,
    algorithm: str,
    normalized: bytes,
    *,
    allowed_algorithms: Collection[str] = DEFAULT_ALLOWED_ALGORITHMS,
) -> str:
    """Base64 HMAC of ``normalized`` (``lib/crypto.js`` ``calculateMac``).

    ``algorithm`` must be in both :data:`ALGORITHMS` and ``allowed_algorithms``
    (default: SHA-256 only), else :class:`HawkAlgorithmError`. A ``str`` key
    is used as its UTF-8 bytes, as Node's ``createHmac`` does.
    """
    _check_algorithm(algorithm, allowed_algorithms)
    if isinstance(key, str):
        key = key.encode("utf-8")
    return _mac(key, algorithm, normalized)


def _content_type_token(content_type: str | None) -> bytes:
    # lib/utils.js parseContentType: the part before ';', trimmed, lower-cased.
    if not content_type:
        return b""
    semicolon = content_type.find(";")
    if semicolon >= 0:
        content_type = content_type[:semicolon]
    return content_type.strip(_CT_WHITESPACE).lower().encode("utf-8", "surrogatepass")


def payload_hash(
    algorithm: str,
    content_type: str | None,
    body: bytes | bytearray | memoryview | str | None,
    *,
    allowed_algorithms: Collection[str] = DEFAULT_ALLOWED_ALGORITHMS,
) -> str:
    """Base64 hash of ``hawk.1.payload\\n<mime type>\\n<body>\\n``.

    README "Payload Validation" and ``lib/crypto.js`` ``calculatePayloadHash``:
    the MIME type is lower-cased, its parameters dropped and blanks trimmed.
    ``None`` counts as an empty body; a ``str`` body is hashed as UTF-8.
    """
    _check_algorithm(algorithm, allowed_algorithms)
    return _payload_hash(algorithm, content_type, body)


def _payload_hash(algorithm: str, content_type: str | None, body: bytes | bytearray | memoryview | str | None) -> str:
    # payload_hash() once the algorithm is checked.
    if not body:
        # Body-less requests and responses are most of the traffic: their
        # hash depends only on the algorithm and content type.
        return _empty_payload_hash(algorithm, content_type)
    if isinstance(body, str):
        body = body.encode("utf-8")
    digest = ALGORITHMS[algorithm].new(_PAYLOAD_PREFIX + _content_type_token(content_type) + _NEWLINE)
    digest.update(body)
    digest.update(_NEWLINE)
    return binascii.b2a_base64(digest.digest(), newline=False).decode("ascii")


@functools.lru_cache(maxsize=256)
def _empty_payload_hash(algorithm: str, content_type: str | None) -> str:
    digest = ALGORITHMS[algorithm].new(_PAYLOAD_PREFIX + _content_type_token(content_type) + _NEWLINE + _NEWLINE)
    return binascii.b2a_base64(digest.digest(), newline=False).decode("ascii")


def verify_mac(expected: str, given: str) -> bool:
    """Constant-time comparison of two base64 MACs or hashes."""
    if expected.isascii() and given.isascii():
        return hmac.compare_digest(expected, given)
    # compare_digest refuses non-ASCII str; compare their bytes instead.
    return hmac.compare_digest(
        expected.encode("utf-8", "surrogatepass"), given.encode("utf-8", "surrogatepass")
    )
