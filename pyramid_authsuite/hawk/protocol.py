"""The Hawk 1 protocol, server side: parsing, MACs, bewits, Server-Authorization.

No Pyramid or WebOb imports (stdlib, plus ``cryptography`` for the session
token KDF only), so that it can be tested against independent peers alone.

References, cited by name below:

* the Hawk README (hapijs/hawk, formerly hueniverse/hawk): "Protocol Example",
  "Payload Validation", "Response Payload Validation", "Replay Protection",
  "Single URI Authorization";
* its reference implementation: ``lib/utils.js`` (``parseAuthorizationHeader``,
  ``parseContentType``), ``lib/crypto.js`` (``generateNormalizedString``,
  ``calculatePayloadHash``, ``calculateTsMac``), ``lib/server.js``
  (``authenticate``, ``authenticateBewit``, ``header``) and ``lib/client.js``
  (``getBewit``; ``lib/uri.js`` in old releases).

This is the server's hot path: the regular expressions are compiled once, are
anchored and have no nested quantifiers over overlapping character sets (so no
catastrophic backtracking), and every input is bounded before it is scanned.
"""
from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import re
from types import MappingProxyType
from typing import Any, Callable, Collection, Mapping, NamedTuple

__all__ = [
    "ALGORITHMS",
    "DEFAULT_ALLOWED_ALGORITHMS",
    "MAX_HEADER_LENGTH",
    "Bewit",
    "HashAlgorithm",
    "HawkAlgorithmError",
    "HawkAuthorization",
    "HawkBewitExpired",
    "HawkBewitMethodError",
    "HawkError",
    "HawkMACError",
    "HawkParseError",
    "HawkPayloadError",
    "HawkSchemeError",
    "HawkStaleTimestamp",
    "SESSION_TOKEN_INFO",
    "calculate_mac",
    "derive_session_credentials",
    "is_hawk",
    "make_bewit",
    "normalized_string",
    "parse_authorization",
    "parse_bewit",
    "payload_hash",
    "request_fields",
    "server_authorization",
    "server_authorization_fields",
    "strip_bewit",
    "timestamp_challenge",
    "verify_bewit",
    "verify_mac",
    "verify_payload_hash",
    "verify_request",
    "verify_request_fields",
]

# --------------------------------------------------------------------------
# Limits and constants
# --------------------------------------------------------------------------

#: An Authorization header longer than this is refused before it is scanned
#: (the same bound as the reference ``Utils.limits.maxMatchLength``).
MAX_HEADER_LENGTH = 4096
#: Bound on a request target given to :func:`strip_bewit` (same reason).
MAX_RESOURCE_LENGTH = 4096
#: Bound on an encoded bewit value.
MAX_BEWIT_LENGTH = 4096

#: HKDF ``info`` of Firefox Accounts / Kinto session tokens (requests-hawk).
SESSION_TOKEN_INFO = b"identity.mozilla.com/picl/v1/sessionToken"


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

_ATTRIBUTE_NAMES = frozenset({"id", "ts", "nonce", "hash", "ext", "mac", "app", "dlg"})
_KIND_PREFIX = MappingProxyType(
    {"header": "hawk.1.header\n", "response": "hawk.1.response\n", "bewit": "hawk.1.bewit\n"}
)
_HEADER_PREFIX = _KIND_PREFIX["header"]
_RESPONSE_PREFIX = _KIND_PREFIX["response"]
_PAYLOAD_PREFIX = b"hawk.1.payload\n"
_NEWLINE = b"\n"

# The attribute value alphabet of ``parseAuthorizationHeader``: printable
# ASCII less '"' and '\' -- i.e. space, !, #..[ and ]..~ as ranges.
_VALUE = r'[ !#-\[\]-~]'
# A whole attribute list, validated in one C-level pass: `name="value"`
# separated by commas with optional SP/HTAB around them, optional trailing
# SP/HTAB. At most 8 attributes exist, so the repetition is bounded too.
# Each repetition ends in a literal ',' that a value cannot contain
# unquoted, so the engine backtracks at most once per attribute.
_HEADER_RE = re.compile(
    rf'[ \t]*(?:[a-z]+="{_VALUE}*"[ \t]*,[ \t]*){{0,7}}[a-z]+="{_VALUE}*"[ \t]*'
)
# Once _HEADER_RE has validated the layout, this extracts the pairs in order;
# values contain no '"', so matches cannot straddle two attributes.
_PAIR_RE = re.compile(r'([a-z]+)="([^"]*)"')
_VALUE_RE = re.compile(rf"{_VALUE}+")
# The layouts the common clients send, matched in one pass with every check of
# the general path built in (known names, each once, non-empty values from
# the alphabet, ts and digests well-formed, dlg only after app): each accepts
# a subset of what the general path accepts, and the same attributes, so it
# only saves time. mohawk and requests-hawk send
# ``mac, [hash], id, ts, nonce, [ext], [app, [dlg]]``; the reference
# (hawk.js) and our client send ``id, ts, nonce, [hash], [ext], mac, [app, [dlg]]``.
_FAST_DIGEST = r"(?:[A-Za-z0-9+/]{27}=|[A-Za-z0-9+/]{43}=)"
_FAST_TS = r"(?:0|[1-9][0-9]{0,9})"
_FAST_TAIL = rf'(?:, ext="({_VALUE}+)")?'
_FAST_APP = rf'(?:, app="({_VALUE}+)"(?:, dlg="({_VALUE}+)")?)?'
_MOHAWK_LAYOUT_RE = re.compile(
    rf'Hawk mac="({_FAST_DIGEST})"(?:, hash="({_FAST_DIGEST})")?, id="({_VALUE}+)", ts="({_FAST_TS})", '
    rf'nonce="({_VALUE}+)"{_FAST_TAIL}{_FAST_APP}'
)
_REFERENCE_LAYOUT_RE = re.compile(
    rf'Hawk id="({_VALUE}+)", ts="({_FAST_TS})", nonce="({_VALUE}+)"(?:, hash="({_FAST_DIGEST})")?'
    rf'{_FAST_TAIL}, mac="({_FAST_DIGEST})"{_FAST_APP}'
)
# Seconds since the epoch: no sign, no leading zero (so that str(int(ts)) is
# the text the client MACed), at most 10 digits (until year 2286).
_TS_RE = re.compile(r"0|[1-9][0-9]{0,9}")
_MAX_TS = 9_999_999_999
# Standard base64 of a 20-byte (SHA-1) or 32-byte (SHA-256) digest.
_DIGEST_B64_RE = re.compile(r"[A-Za-z0-9+/]{27}=|[A-Za-z0-9+/]{43}=")
# URL-safe base64 (README "Single URI Authorization": padding stripped;
# mohawk keeps it, so up to two '=' are tolerated).
_BEWIT_RE = re.compile(r"[A-Za-z0-9_-]+={0,2}")
_HEX64_RE = re.compile(r"[0-9a-fA-F]{64}")
# JavaScript line terminators: the reference bewit regex's '.' stops at them.
_LINE_TERMINATORS = ("\n", "\r", "\u2028", "\u2029")
_CT_WHITESPACE = " \t\r\n\f\v"


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


class HawkError(Exception):
    """Any Hawk failure. Messages are short and never echo a MAC or a key."""


class HawkParseError(HawkError, ValueError):
    """The header, bewit or resource is not well-formed (a client error)."""


class HawkSchemeError(HawkParseError):
    """The Authorization header does not use the Hawk scheme at all."""


class HawkAlgorithmError(HawkError):
    """The credentials' algorithm is unknown or not in ``allowed_algorithms``."""


class HawkMACError(HawkError):
    """The request (or bewit) MAC does not match: wrong key or tampered request."""


class HawkPayloadError(HawkError):
    """The payload hash is missing where a body was sent, or does not match."""


class HawkStaleTimestamp(HawkError):
    """The MAC was right but ``ts`` is outside the allowed skew.

    Carries what the ``401`` challenge needs (README "Replay Protection";
    ``lib/server.js`` answers ``Stale timestamp`` with ``ts`` and ``tsm``):
    ``now`` (the server time sent back), ``tsm`` (its MAC), ``challenge``
    (the whole ``WWW-Authenticate`` value) and ``ts`` (the client's).
    """

    def __init__(self, message: str, *, ts: int, now: int, tsm: str, challenge: str):
        super().__init__(message)
        self.ts = ts
        self.now = now
        self.tsm = tsm
        self.challenge = challenge


class HawkBewitExpired(HawkError):
    """The bewit's expiry time has passed (``Access expired``)."""


class HawkBewitMethodError(HawkError):
    """Bewits only authorize GET and HEAD (``Invalid method``)."""


# --------------------------------------------------------------------------
# Authorization header
# --------------------------------------------------------------------------


class HawkAuthorization(NamedTuple):
    """The attributes of a parsed ``Authorization: Hawk`` header."""

    id: str
    ts: int
    nonce: str
    mac: str
    hash: str | None = None
    ext: str | None = None
    app: str | None = None
    dlg: str | None = None

    def __repr__(self) -> str:
        # Keep the MAC out of logs and tracebacks.
        return (
            f"HawkAuthorization(id={self.id!r}, ts={self.ts}, nonce={self.nonce!r}, "
            f"mac=<redacted>, hash={self.hash!r}, ext={self.ext!r}, app={self.app!r}, "
            f"dlg={self.dlg!r})"
        )


# tuple.__new__ on the NamedTuple class: what its generated __new__ does, minus a call.
_new_authorization = tuple.__new__


def is_hawk(header: str | None) -> bool:
    """Whether the header names the Hawk scheme (case-insensitive token)."""
    return header is not None and header[:5].split(" ", 1)[0].lower() == "hawk"


def parse_authorization(header: str) -> HawkAuthorization:
    """Parse ``Hawk id="...", ts="...", nonce="...", ..., mac="..."``.

    Follows ``lib/utils.js`` ``parseAuthorizationHeader`` and is stricter
    where it is lax: the header is bounded (:data:`MAX_HEADER_LENGTH`) and
    ASCII; the scheme is ``Hawk`` (any case) and a space; attributes are
    ``id ts nonce hash ext mac app dlg``, each at most once, non-empty, in
    quotes, with values from the spec's alphabet (printable ASCII but ``"``
    and ``\\``) and separated by commas with optional blanks; ``id``, ``ts``,
    ``nonce`` and ``mac`` are required (``lib/server.js`` "Missing
    attributes"); ``ts`` is 1-10 digits without leading zero; ``mac`` and
    ``hash`` are standard base64 of a SHA-1 or SHA-256 digest; ``dlg``
    requires ``app`` (without ``app``, ``generateNormalizedString`` leaves
    ``dlg`` out of the MAC, so it would be unauthenticated). A trailing comma,
    which the reference tolerates, is refused like any other garbage.

    Every problem raises :class:`HawkParseError` with a message that echoes
    nothing from the header.
    """
    if not isinstance(header, str):
        raise HawkParseError("Authorization header is not text")
    if len(header) > MAX_HEADER_LENGTH:
        raise HawkParseError("Authorization header too long")
    match = _MOHAWK_LAYOUT_RE.fullmatch(header)
    if match is not None:
        mac, hash_, id_, ts, nonce, ext, app, dlg = match.groups()
        return _new_authorization(HawkAuthorization, (id_, int(ts), nonce, mac, hash_, ext, app, dlg))
    match = _REFERENCE_LAYOUT_RE.fullmatch(header)
    if match is not None:
        id_, ts, nonce, hash_, ext, mac, app, dlg = match.groups()
        return _new_authorization(HawkAuthorization, (id_, int(ts), nonce, mac, hash_, ext, app, dlg))
    if not header.isascii():
        # Checked before the scheme: str.lower() folds some non-ASCII
        # letters (KELVIN SIGN) onto ASCII ones.
        raise HawkParseError("Authorization header contains non-ASCII characters")
    after_scheme = header[4:5]
    if header[:4].lower() != "hawk" or after_scheme not in ("", " ", "\t"):
        # "Hawkish ..." is some other scheme.
        raise HawkSchemeError("not a Hawk Authorization header")
    if after_scheme != " ":
        # RFC 7235 section 2.1: exactly SP between the scheme and its parameters.
        if not after_scheme:
            raise HawkParseError("Hawk header without attributes")
        raise HawkParseError("malformed Hawk header")
    if _HEADER_RE.fullmatch(header, 5) is None:
        raise HawkParseError("malformed Hawk header")
    attributes: dict[str, str] = {}
    for name, value in _PAIR_RE.findall(header, 5):
        if name not in _ATTRIBUTE_NAMES:
            raise HawkParseError("unknown Hawk attribute")
        if name in attributes:
            raise HawkParseError("duplicate Hawk attribute")
        if not value:
            raise HawkParseError("empty Hawk attribute")
        attributes[name] = value
    return _build_authorization(attributes)


def _build_authorization(attributes: dict[str, str]) -> HawkAuthorization:
    """Check the required and typed attributes of a parsed header."""
    get = attributes.get
    id_, ts, nonce, mac = get("id"), get("ts"), get("nonce"), get("mac")
    if id_ is None or ts is None or nonce is None or mac is None:
        raise HawkParseError("missing required Hawk attribute (id, ts, nonce, mac)")
    if _TS_RE.fullmatch(ts) is None:
        raise HawkParseError("Hawk ts is not a timestamp in seconds")
    if _DIGEST_B64_RE.fullmatch(mac) is None:
        raise HawkParseError("Hawk mac is not a base64 digest")
    hash_ = get("hash")
    if hash_ is not None and _DIGEST_B64_RE.fullmatch(hash_) is None:
        raise HawkParseError("Hawk hash is not a base64 digest")
    app, dlg = get("app"), get("dlg")
    if dlg is not None and app is None:
        raise HawkParseError("Hawk dlg without app")
    return HawkAuthorization(id_, int(ts), nonce, mac, hash_, get("ext"), app, dlg)


# --------------------------------------------------------------------------
# Normalized string, MACs, payload hash
# --------------------------------------------------------------------------


def _check_algorithm(algorithm: str, allowed_algorithms: Collection[str]) -> None:
    if algorithm not in allowed_algorithms or algorithm not in ALGORITHMS:
        raise HawkAlgorithmError("Hawk algorithm not allowed")


# HMAC (RFC 2104) with the keyed inner and outer hash states computed once per
# key and copied for each message: half the cost of a one-shot HMAC, which
# re-derives them every time. Bounded; cleared when full.
_HMAC_STATES: dict[tuple[bytes, str], tuple[Any, Any]] = {}
_HMAC_STATES_LIMIT = 10_000
_IPAD = bytes(byte ^ 0x36 for byte in range(256))
_OPAD = bytes(byte ^ 0x5C for byte in range(256))


def _hmac_states(key: bytes, algorithm: str) -> tuple[Any, Any]:
    new = ALGORITHMS[algorithm].new
    inner, outer = new(), new()
    block_size = inner.block_size
    padded = new(key).digest() if len(key) > block_size else key
    padded = padded.ljust(block_size, b"\0")
    inner.update(padded.translate(_IPAD))
    outer.update(padded.translate(_OPAD))
    if len(_HMAC_STATES) >= _HMAC_STATES_LIMIT:
        _HMAC_STATES.clear()
    states = _HMAC_STATES[key, algorithm] = (inner, outer)
    return states


def _mac(key: bytes, algorithm: str, normalized: bytes) -> str:
    """Base64 HMAC of ``normalized``; the caller has checked the algorithm."""
    states = _HMAC_STATES.get((key, algorithm))
    if states is None:
        states = _hmac_states(key, algorithm)
    inner = states[0].copy()
    inner.update(normalized)
    outer = states[1].copy()
    outer.update(inner.digest())
    return binascii.b2a_base64(outer.digest(), newline=False).decode("ascii")


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


# --------------------------------------------------------------------------
# Request verification
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# Stale timestamp challenge
# --------------------------------------------------------------------------


def _ts_mac(key: bytes | str, algorithm: str, now: int, allowed: Collection[str]) -> str:
    # lib/crypto.js calculateTsMac: HMAC of "hawk.1.ts\n<ts>\n".
    return calculate_mac(key, algorithm, f"hawk.1.ts\n{now}\n".encode("ascii"), allowed_algorithms=allowed)


def _challenge(now: int, tsm: str, realm: str | None) -> str:
    if realm:
        if _VALUE_RE.fullmatch(realm) is None:
            # It goes into a response header: refuse quotes, CR/LF, etc.
            raise ValueError("realm contains characters not allowed in a Hawk attribute")
        return f'Hawk realm="{realm}", ts="{now}", tsm="{tsm}", error="Stale timestamp"'
    return f'Hawk ts="{now}", tsm="{tsm}", error="Stale timestamp"'


def timestamp_challenge(
    key: bytes | str,
    algorithm: str,
    now: int,
    realm: str | None = None,
    *,
    allowed_algorithms: Collection[str] = DEFAULT_ALLOWED_ALGORITHMS,
) -> str:
    """The ``WWW-Authenticate`` value answering a stale timestamp.

    ``Hawk ts="<now>", tsm="<mac>", error="Stale timestamp"`` where ``tsm`` is
    the base64 HMAC of ``hawk.1.ts\\n<now>\\n`` (``lib/crypto.js``
    ``calculateTsMac``), so the client can trust the server time and compute
    its clock offset (README "Replay Protection"). ``realm``, if given, comes
    first.
    """
    now = int(now)
    return _challenge(now, _ts_mac(key, algorithm, now, allowed_algorithms), realm)


# --------------------------------------------------------------------------
# Server-Authorization
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# Bewits (README "Single URI Authorization")
# --------------------------------------------------------------------------


class Bewit(NamedTuple):
    """A decoded bewit: ``id\\exp\\mac\\ext``."""

    id: str
    exp: int
    mac: str
    ext: str

    def __repr__(self) -> str:
        return f"Bewit(id={self.id!r}, exp={self.exp}, mac=<redacted>, ext={self.ext!r})"


def make_bewit(
    id: str,  # noqa: A002 - the spec's name
    key: bytes | str,
    algorithm: str,
    *,
    method: str = "GET",
    resource: str,
    host: str,
    port: int | str,
    expiry: int,
    ext: str = "",
    allowed_algorithms: Collection[str] = DEFAULT_ALLOWED_ALGORITHMS,
) -> str:
    """A bewit for ``resource`` valid until ``expiry`` (``lib/client.js`` ``getBewit``).

    The MAC covers ``hawk.1.bewit`` with ``ts=expiry``, an empty nonce and
    method ``GET`` (always, even for HEAD); the bewit is URL-safe base64,
    padding stripped, of ``id\\expiry\\mac\\ext``. ``method`` only guards
    against issuing a bewit for anything but GET/HEAD. ``id`` and ``ext``
    must use the attribute alphabet (which has no ``\\``), else ``ValueError``.
    """
    if method not in ("GET", "HEAD"):
        raise ValueError("bewits are for GET and HEAD requests only")
    if not id or _VALUE_RE.fullmatch(id) is None:
        raise ValueError("bewit id must be non-empty Hawk attribute text")
    if ext and _VALUE_RE.fullmatch(ext) is None:
        raise ValueError("bewit ext contains characters not allowed in a Hawk attribute")
    if isinstance(expiry, bool) or not isinstance(expiry, int) or not 0 < expiry <= _MAX_TS:
        raise ValueError("bewit expiry must be a positive timestamp in seconds")
    mac = calculate_mac(
        key,
        algorithm,
        _normalized(_KIND_PREFIX["bewit"], expiry, "", "GET", resource, host, port, None, ext, None, None),
        allowed_algorithms=allowed_algorithms,
    )
    raw = f"{id}\\{expiry}\\{mac}\\{ext}".encode("ascii")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def strip_bewit(resource: str) -> tuple[str, str | None]:
    """Split ``resource`` into ``(resource without the bewit, bewit value)``.

    Does what ``lib/server.js`` ``authenticateBewit`` does with its regex
    ``^(\\/.*)([\\?&])bewit\\=([^&$]*)(?:&(.+))?$``: the *last* ``?bewit=`` or
    ``&bewit=`` whose value (up to the next ``&``) contains no ``$`` and is
    not followed by a bare trailing ``&`` is removed, together with the
    ``&`` after it, keeping the separator before it: ``/r?bewit=X&a=1`` ->
    ``/r?a=1``, ``/r?a=1&bewit=X`` -> ``/r?a=1``. Returns ``(resource, None)``
    when there is no bewit (or the resource does not start with ``/``).
    Raises :class:`HawkParseError` for an empty bewit, a resource over
    :data:`MAX_RESOURCE_LENGTH`, or one with line terminators (which the
    reference regex cannot match consistently).
    """
    if len(resource) > MAX_RESOURCE_LENGTH:
        raise HawkParseError("resource too long")
    if not resource.startswith("/"):
        return resource, None
    for terminator in _LINE_TERMINATORS:
        if terminator in resource:
            raise HawkParseError("resource contains line terminators")
    index = resource.rfind("bewit=")
    # index >= 2: the part before the separator is at least "/".
    while index >= 2:
        separator = resource[index - 1]
        if separator == "?" or separator == "&":
            start = index + 6
            ampersand = resource.find("&", start)
            if ampersand < 0:
                value, rest, matched = resource[start:], "", True
            else:
                value, rest = resource[start:ampersand], resource[ampersand + 1 :]
                matched = rest != ""  # the regex's (.+) needs one character
            if matched and "$" not in value:  # [^&$] stops at '$'
                if not value:
                    raise HawkParseError("empty bewit")
                head = resource[: index - 1]
                return (f"{head}{separator}{rest}" if rest else head), value
        # An earlier occurrence: the regex's greedy (\/.*) backtracks leftwards.
        index = resource.rfind("bewit=", 0, index + 5)
    return resource, None


def parse_bewit(value: str) -> Bewit:
    """Decode a bewit value (``lib/server.js`` ``authenticateBewit``), strictly.

    The value is bounded (:data:`MAX_BEWIT_LENGTH`) URL-safe base64 (up to
    two ``=`` of padding tolerated) of ASCII ``id\\exp\\mac\\ext``: exactly
    four parts, ``id`` non-empty attribute text, ``exp`` a timestamp like a
    header's ``ts``, ``mac`` a base64 SHA-1/SHA-256 digest, ``ext`` attribute
    text or empty. Anything else raises :class:`HawkParseError`.
    """
    if not isinstance(value, str) or not value:
        raise HawkParseError("empty bewit")
    if len(value) > MAX_BEWIT_LENGTH:
        raise HawkParseError("bewit too long")
    if _BEWIT_RE.fullmatch(value) is None:
        raise HawkParseError("invalid bewit encoding")
    data = value.rstrip("=")
    try:
        text = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)).decode("ascii")
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        raise HawkParseError("invalid bewit encoding") from None
    parts = text.split("\\")
    if len(parts) != 4:
        raise HawkParseError("invalid bewit structure")
    id_, exp, mac, ext = parts
    if _VALUE_RE.fullmatch(id_) is None:
        raise HawkParseError("invalid bewit id")
    if _TS_RE.fullmatch(exp) is None:
        raise HawkParseError("invalid bewit expiry")
    if _DIGEST_B64_RE.fullmatch(mac) is None:
        raise HawkParseError("invalid bewit mac")
    if ext and _VALUE_RE.fullmatch(ext) is None:
        raise HawkParseError("invalid bewit ext")
    return Bewit(id_, int(exp), mac, ext)


def verify_bewit(
    bewit: Bewit,
    *,
    key: bytes | str,
    algorithm: str,
    method: str,
    resource: str,
    host: str,
    port: int | str,
    now: float,
    allowed_algorithms: Collection[str] = DEFAULT_ALLOWED_ALGORITHMS,
) -> None:
    """Verify a parsed bewit for a request; return ``None`` or raise.

    ``resource`` is the request target *with the bewit stripped*
    (:func:`strip_bewit`). Order: the method must be GET or HEAD
    (:class:`HawkBewitMethodError`); the algorithm allowed
    (:class:`HawkAlgorithmError`); the MAC, computed with method ``GET`` and
    an empty nonce, must match (:class:`HawkMACError`); then the bewit must
    not have expired, i.e. ``exp > now`` (:class:`HawkBewitExpired`;
    ``authenticateBewit`` refuses ``exp * 1000 <= now``). Bewits have no
    nonce and may be replayed until they expire (README "Bewit Limitations").
    """
    if method != "GET" and method != "HEAD":
        raise HawkBewitMethodError("bewits only authorize GET and HEAD")
    expected = calculate_mac(
        key,
        algorithm,
        _normalized(
            _KIND_PREFIX["bewit"], bewit.exp, "", "GET", resource, host, port, None, bewit.ext, None, None
        ),
        allowed_algorithms=allowed_algorithms,
    )
    if not verify_mac(expected, bewit.mac):
        raise HawkMACError("bewit MAC mismatch")
    if bewit.exp <= now:
        raise HawkBewitExpired("bewit expired")


# --------------------------------------------------------------------------
# Session tokens (Firefox Accounts, Kinto, requests-hawk)
# --------------------------------------------------------------------------


def derive_session_credentials(token_hex: str) -> tuple[str, bytes]:
    """``(hawk_id, key)`` from a 32-byte session token given in hex.

    As requests-hawk's ``HawkAuth(hawk_session=...)`` does: HKDF-SHA256
    (RFC 5869) with an empty salt and info :data:`SESSION_TOKEN_INFO`,
    64 bytes out; the Hawk id is the hex of the first 32 bytes and the key
    is the hex of the last 32 -- requests-hawk hands mohawk that hex *as
    bytes*, so the HMAC key is the 64 ASCII characters, returned as bytes.
    A token that is not exactly 64 hex digits raises ``ValueError``.
    """
    if not isinstance(token_hex, str) or _HEX64_RE.fullmatch(token_hex) is None:
        raise ValueError("session token must be 64 hexadecimal characters")
    # Imported here: only this function needs cryptography.
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    material = HKDF(algorithm=hashes.SHA256(), length=64, salt=b"", info=SESSION_TOKEN_INFO).derive(
        bytes.fromhex(token_hex)
    )
    return material[:32].hex(), material[32:].hex().encode("ascii")
