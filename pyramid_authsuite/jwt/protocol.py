"""Compact JWS / JWT verification with the rules of RFC 8725 (JWT Best Current Practices).

Pure functions and small value classes, no Pyramid: the policy calls
:func:`verify_token`, the tests call it with the RFCs' own vectors.

The cryptography is PyJWT's (its ``Algorithm`` objects, on ``cryptography``);
what is ours is the order and strictness of the checks:

1. size first: a token longer than the limit is refused before any decoding;
2. syntax: exactly three base64url segments (RFC 7515 section 7.1), five
   (a JWE) is refused by name;
3. the protected header: a JSON object whose ``alg`` is in the allow-list
   and never ``none`` (RFC 8725 section 3.1), with no ``crit``, ``b64`` or
   ``zip`` (extensions we do not implement must be refused, RFC 7515
   section 4.1.11), ``typ`` as required (RFC 8725 section 3.11);
   ``jku``, ``x5u``, ``jwk`` and ``x5c`` are ignored: keys come from the
   configuration only, never from the token;
4. the key chosen by ``kid`` from the configured keys only, and the
   token's ``alg`` must be one that key is bound to (so a public key is
   never used as an HMAC secret, RFC 8725 section 2.1);
5. the signature, then the claims (RFC 7519 section 4.1) against ``now``.

Every failure raises :class:`TokenError` whose ``description`` is a fixed
sentence, safe to send in ``error_description`` (RFC 6750 section 3): it
never echoes the token nor any part of it.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from binascii import b2a_base64 as _b2a_base64
import math
import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping, NamedTuple

from jwt.algorithms import get_default_algorithms

from pyramid_authsuite import _b64
from pyramid_authsuite._b64 import INVALID as _INVALID
from pyramid_authsuite._b64 import b64url_encode, decode_translated, url_to_standard_table
from pyramid_authsuite._hmac_state import HMACState

# The algorithms this library accepts (RFC 7518 section 3.1, RFC 8037 section 3.1).
# ES256K and the ES521 alias PyJWT also knows are left out on purpose.
HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")
RSA_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
EC_ALGORITHMS = ("ES256", "ES384", "ES512")
OKP_ALGORITHMS = ("EdDSA",)
SUPPORTED_ALGORITHMS = HMAC_ALGORITHMS + RSA_ALGORITHMS + EC_ALGORITHMS + OKP_ALGORITHMS
ALGORITHMS = {name: algorithm for name, algorithm in get_default_algorithms().items() if name in SUPPORTED_ALGORITHMS}

# RFC 7518 section 3.2: an HMAC key at least as long as the hash output.
HMAC_MIN_KEY_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}
# HMAC verification precomputes the keyed inner and outer hash states once per
# key (pyramid_authsuite._hmac_state.HMACState) and copies them per token: a
# third of the cost of hmac.digest, which sets up the key on every call.
# Results are compared in constant time. Signing, and every other algorithm,
# is PyJWT's.
_HMAC_HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}

DEFAULT_MAX_TOKEN_BYTES = 8192
MAX_KID_LENGTH = 256

# Claim names we may name in a description: no quotes, backslashes or controls.
SAFE_CLAIM_NAME = re.compile(r"[A-Za-z0-9_.:/+-]{1,64}")
# Header parameters we refuse: extensions we do not implement (RFC 7515
# 4.1.11 says an unknown "crit" must be refused), the unencoded payload
# option (RFC 7797) and compression, which is a JWE parameter and a zip bomb.
_REFUSED_HEADERS = ("crit", "b64", "zip")
# One translation does both the alphabet check and base64url -> base64: "-"
# and "_" become "+" and "/", the rest of the alphabet and the dots stay, and
# every other byte ("+", "/", "=", spaces...) becomes _INVALID ("!"), which a
# JWS never holds; one C pass and one memchr instead of a pass per check.
_TO_BASE64 = url_to_standard_table(keep=b".")
# Checked headers, by (base64 segment, allowed algorithms, required typ):
# every token signed by one key has the same header, so it is decoded and
# checked once per policy. Only headers whose token's signature verified are
# remembered (a forger cannot churn it), bounded. The key is still looked up
# by kid and checked against alg on every token.
_CHECKED_HEADERS: dict[tuple[Any, ...], tuple[Mapping[str, Any], str, str | None]] = {}
_CHECKED_HEADERS_LIMIT = 256


def _no_constant(name: str) -> None:
    # RFC 8259 section 6: NaN and Infinity are not JSON; Python's decoder accepts them unless told.
    raise ValueError(f"{name} is not JSON")


_JSON = json.JSONDecoder(parse_constant=_no_constant)
# The C scanner, called directly: JSONDecoder.decode adds two regular
# expression matches and a Python frame around it (_json_object does the rest).
_SCAN_JSON = _JSON.scan_once
_JSON_WHITESPACE = " \t\n\r"  # RFC 8259 section 2


# How far verification got when a token was refused (``TokenError.stage``).
# A server with several JWT policies tells by it which policy a token was
# meant for: the one that verified its signature, not one that holds no key
# for it at all.
NO_KEY = 0
"""The verifier holds no key for this token: ``alg`` outside its allow-list, unknown ``kid``, ``alg`` not bound to the key."""
UNVERIFIED = 1
"""Refused before its signature verified: malformed, unsigned, bad signature..."""
SIGNED = 2
"""The signature verified (the token is this verifier's), then the token was refused: expired, wrong issuer..."""


class TokenError(Exception):
    """A token was refused.

    ``description``
        A fixed sentence (RFC 6750 ``error_description``).
    ``stage``
        :data:`NO_KEY`, :data:`UNVERIFIED` (the default) or :data:`SIGNED`.
    """

    def __init__(self, description: str, stage: int = UNVERIFIED):
        super().__init__(description)
        self.description = description
        self.stage = stage


MALFORMED = "The access token is malformed."
TOO_LARGE = "The access token is too large."
ENCRYPTED = "Encrypted tokens (JWE) are not accepted."
ALG_NONE = "Unsigned tokens (alg none) are never accepted."
ALG_REFUSED = "The access token algorithm is not accepted."
UNSUPPORTED_HEADER = "The access token uses a header parameter that is not supported."
WRONG_TYPE = "The access token type is not accepted."
UNKNOWN_KEY = "The access token names an unknown key."
BAD_SIGNATURE = "The access token signature is invalid."
EXPIRED = "The access token has expired."
NOT_YET_VALID = "The access token is not valid yet."
ISSUED_IN_FUTURE = "The access token was issued in the future."
WRONG_ISSUER = "The access token issuer is not accepted."
WRONG_AUDIENCE = "The access token audience is not accepted."


@dataclass(frozen=True)
class VerificationKey:
    """A key a token may be verified with.

    ``kid``
        Its key id, or ``None`` for the key that verifies tokens without one.
    ``algorithms``
        The algorithms this key is bound to (RFC 8725 section 3.1: one key,
        one kind of algorithm). A token whose ``alg`` is not among them is
        refused before the key is used.
    ``key``
        What PyJWT's algorithm verifies with: the secret's bytes for HMAC,
        a ``cryptography`` public key object otherwise.
    """

    kid: str | None
    algorithms: frozenset[str]
    key: Any = field(repr=False)

    def __post_init__(self) -> None:
        hmac_states = {}
        if isinstance(self.key, bytes):
            for alg in self.algorithms:
                if alg in _HMAC_HASHES:
                    hmac_states[alg] = HMACState(self.key, _HMAC_HASHES[alg])
        object.__setattr__(self, "_hmac", hmac_states)


@dataclass(frozen=True)
class ClaimRules:
    """What the claims of a token must satisfy (RFC 7519 section 4.1).

    ``required``
        Claim names that must be present and not null.
    ``issuer``
        When set, ``iss`` must be this string.
    ``audiences``
        When set, ``aud`` (a string or a list) must name one of them; when
        empty, a token that names any audience is refused (RFC 7519 4.1.3:
        a recipient that does not identify itself with the value rejects it).
    ``leeway``
        Seconds of clock skew allowed on ``exp``, ``nbf`` and ``iat``.
    ``typ``
        When set, the header's ``typ`` must be this media type (compared
        without case and without an ``application/`` prefix, RFC 7515 4.1.9).
    """

    required: tuple[str, ...] = ("exp", "iat", "sub")
    issuer: str | None = None
    audiences: frozenset[str] = frozenset()
    leeway: float = 0.0
    typ: str | None = None


class VerifiedToken(NamedTuple):
    """A token whose signature and claims were verified.

    ``signing_input`` is ``header.payload``: unlike the whole token it cannot
    be changed without the key (an ECDSA signature can be rewritten into
    another valid one, a base64url signature can be spelled several ways),
    so its digest names the token for revocation when there is no ``jti``.
    (A named tuple: built once per verification, on the hot path.)
    """

    header: Mapping[str, Any]
    claims: dict[str, Any]
    kid: str | None
    algorithm: str
    signing_input: str


_new_tuple = tuple.__new__


def b64url_decode(segment: str) -> bytes:
    """Decode one base64url segment without padding (RFC 7515 section 2); ``ValueError`` if invalid.

    The tokens' own rules (canonical: the unused bits of the last character
    are zero, as in ``_b64_decode``), for one segment given on its own: the
    RFCs' keys and values. ``b64url_encode`` is the shared one, re-exported.
    """
    return _b64.b64url_decode(segment)


def normalize_typ(value: str) -> str:
    """RFC 7515 4.1.9: ``application/`` may be omitted from ``typ``; compare without case."""
    value = value.strip().lower()
    return value[len("application/"):] if value.startswith("application/") else value


def _json_object(data: bytes) -> dict[str, Any]:
    """A JSON object in strict UTF-8 (RFC 8259 section 8.1), or ``TokenError``.

    Whitespace may surround the object (RFC 8259 section 2); anything else
    after it is refused, as ``json.loads`` would.
    """
    try:
        text = data.decode("utf-8")
        start = 0
        if text[:1] != "{":  # leading whitespace, or not an object at all
            start = len(text) - len(text.lstrip(_JSON_WHITESPACE))
            if text[start:start + 1] != "{":
                raise TokenError(MALFORMED)
        # Starting at "{", the scanner returns a dict or raises.
        value, end = _SCAN_JSON(text, start)
    except (ValueError, RecursionError, StopIteration):
        raise TokenError(MALFORMED) from None
    if end != len(text) and text[end:].strip(_JSON_WHITESPACE):
        raise TokenError(MALFORMED)
    return value


def _b64_decode(segment: bytes) -> bytes:
    """Decode a segment already translated by ``_TO_BASE64`` (so already checked); ``TokenError``
    if its length is no encoding's, or if its last character is not the canonical one.

    Canonical only (RFC 4648 section 3.5 lets a decoder refuse non-zero unused
    bits): one token has one spelling, as PyJWT (2.15 and later) requires too,
    so a token another verifier refuses is never accepted here.
    """
    try:
        data = decode_translated(segment)
    except ValueError:
        raise TokenError(MALFORMED) from None
    if len(segment) % 4 and _b2a_base64(data, newline=False).rstrip(b"=") != segment:
        raise TokenError(MALFORMED)
    return data


def _split_token(token: str, max_bytes: int) -> tuple[bytes, bytes, bytes, bytes]:
    """Size, syntax and signature decoding: ``(token_ascii, header_b64, payload_b64, signature)``.

    The segments are returned in standard base64 (``-_`` as ``+/``) for
    :func:`_b64_decode`; the size is checked before anything else is
    looked at, so a hostile token costs one comparison or one C pass.
    """
    if len(token) > max_bytes:
        raise TokenError(TOO_LARGE)
    if not token.isascii():
        raise TokenError(MALFORMED)
    raw = token.encode("ascii")
    translated = raw.translate(_TO_BASE64)
    if _INVALID in translated:
        raise TokenError(MALFORMED)
    segments = translated.split(b".")
    if len(segments) != 3:
        raise TokenError(ENCRYPTED if len(segments) == 5 else MALFORMED)
    header_segment, payload_segment, signature_segment = segments
    if not (header_segment and payload_segment):
        raise TokenError(MALFORMED)
    if not signature_segment:
        # An empty signature is what alg "none" makes (RFC 7519 section 6.1):
        # name that refusal rather than calling the token malformed.
        raise TokenError(ALG_NONE if _names_alg_none(header_segment) else MALFORMED)
    # Not required to be the canonical encoding: nothing is keyed on the
    # signature's spelling (revocation uses the signed part or jti).
    return raw, header_segment, payload_segment, _b64_decode(signature_segment)


def _names_alg_none(header_segment: bytes) -> bool:
    """Whether a (translated) header segment is a JSON object whose ``alg`` is ``none``, in any case."""
    try:
        alg = _json_object(_b64_decode(header_segment)).get("alg")
    except TokenError:
        return False
    return isinstance(alg, str) and alg.lower() == "none"


def check_header(header: Mapping[str, Any], allowed_algorithms: Iterable[str], typ: str | None) -> tuple[str, str | None]:
    """RFC 8725 checks on the protected header; returns ``(alg, kid)``."""
    alg = header.get("alg")
    if not isinstance(alg, str):
        raise TokenError(MALFORMED)
    if alg.lower() == "none":
        raise TokenError(ALG_NONE)
    if alg not in allowed_algorithms:
        raise TokenError(ALG_REFUSED, NO_KEY)
    for name in _REFUSED_HEADERS:
        if name in header:
            raise TokenError(UNSUPPORTED_HEADER)
    kid = header.get("kid")
    if kid is not None and (not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_LENGTH):
        raise TokenError(UNKNOWN_KEY, NO_KEY)
    if typ is not None:
        token_typ = header.get("typ")
        if not isinstance(token_typ, str) or normalize_typ(token_typ) != normalize_typ(typ):
            raise TokenError(WRONG_TYPE)
    return alg, kid


def verify_signature(signing_input: str | bytes, signature: bytes, alg: str, key: VerificationKey) -> None:
    """Verify with ``key`` if ``alg`` is one it is bound to; ``TokenError`` otherwise."""
    if alg not in key.algorithms:
        raise TokenError(ALG_REFUSED, NO_KEY)
    message = signing_input if type(signing_input) is bytes else signing_input.encode("ascii")  # type: ignore[union-attr]
    hmac_state = key._hmac.get(alg)  # type: ignore[attr-defined]
    if hmac_state is not None:
        valid = hmac.compare_digest(hmac_state.mac(message), signature)
    else:
        valid = ALGORITHMS[alg].verify(message, key.key, signature)
    if not valid:
        raise TokenError(BAD_SIGNATURE)


def _numeric_date(claims: Mapping[str, Any], name: str) -> float | None:
    """RFC 7519 section 2 NumericDate: a JSON number (not a boolean), finite."""
    value = claims.get(name)
    if value is None or type(value) is int:
        return value
    if type(value) is not float or not math.isfinite(value):
        raise TokenError(f"The access token has a malformed {name} claim.")
    return value


def missing_claim(name: str) -> str:
    if SAFE_CLAIM_NAME.fullmatch(name):
        return f"The access token lacks the required {name} claim."
    return "The access token lacks a required claim."


def validate_claims(claims: Mapping[str, Any], rules: ClaimRules, now: float) -> None:
    """RFC 7519 section 4.1 checks against ``now`` (seconds since the epoch)."""
    get = claims.get
    for name in rules.required:
        if get(name) is None:
            raise TokenError(missing_claim(name))
    leeway = rules.leeway
    # NumericDate (RFC 7519 section 2): a JSON number, not a boolean, finite.
    # Integers, the usual case, are checked inline; the rest by _numeric_date.
    exp, nbf, iat = get("exp"), get("nbf"), get("iat")
    if exp is not None:
        if type(exp) is not int:
            exp = _numeric_date(claims, "exp")
        # now - leeway, not exp + leeway: an integer exp too large for a
        # float (10**400) would make the sum raise; comparisons are exact.
        if now - leeway >= exp:
            raise TokenError(EXPIRED)
    if nbf is not None:
        if type(nbf) is not int:
            nbf = _numeric_date(claims, "nbf")
        if now + leeway < nbf:
            raise TokenError(NOT_YET_VALID)
    if iat is not None:
        if type(iat) is not int:
            iat = _numeric_date(claims, "iat")
        if iat > now + leeway:
            raise TokenError(ISSUED_IN_FUTURE)
    if rules.issuer is not None and claims.get("iss") != rules.issuer:
        raise TokenError(WRONG_ISSUER)
    aud = get("aud")
    if rules.audiences:
        values = [aud] if isinstance(aud, str) else aud
        if not isinstance(values, list) or not any(isinstance(v, str) and v in rules.audiences for v in values):
            raise TokenError(WRONG_AUDIENCE)
    elif aud is not None:
        raise TokenError(WRONG_AUDIENCE)
    for name in ("sub", "jti", "iss"):
        value = get(name)
        if value is not None and type(value) is not str:
            raise TokenError(f"The access token has a malformed {name} claim.")


def verify_token(
    token: str,
    find_key: Callable[[str | None], VerificationKey],
    allowed_algorithms: Iterable[str],
    rules: ClaimRules,
    now: float,
    *,
    max_bytes: int = DEFAULT_MAX_TOKEN_BYTES,
) -> VerifiedToken:
    """Verify a compact JWT: size, syntax, header, key by ``kid``, signature, claims.

    ``find_key(kid)`` returns the configured key for a ``kid`` (``None``
    when the token has none) or raises :class:`TokenError`; it is only
    ever given the ``kid``, never a URL or key from the token.
    """
    raw, header_segment, payload_segment, signature = _split_token(token, max_bytes)
    memo_key: tuple[Any, ...] | None = (header_segment, allowed_algorithms, rules.typ)
    try:
        checked = _CHECKED_HEADERS.get(memo_key)  # type: ignore[arg-type]
    except TypeError:  # an unhashable allow-list (a list): no memo
        memo_key, checked = None, None
    if checked is None:
        header: Mapping[str, Any] = MappingProxyType(_json_object(_b64_decode(header_segment)))
        alg, kid = check_header(header, allowed_algorithms, rules.typ)
    else:
        header, alg, kid = checked
    key = find_key(kid)
    signed_length = len(header_segment) + 1 + len(payload_segment)
    verify_signature(raw[:signed_length], signature, alg, key)
    if checked is None and memo_key is not None:
        if len(_CHECKED_HEADERS) >= _CHECKED_HEADERS_LIMIT:
            _CHECKED_HEADERS.clear()
        _CHECKED_HEADERS[memo_key] = (header, alg, kid)
    try:
        claims = _json_object(_b64_decode(payload_segment))
        validate_claims(claims, rules, now)
    except TokenError as error:
        # Signed by a key of ours: whatever is wrong, the token is ours.
        error.stage = SIGNED
        raise
    # VerifiedToken(...) without the Python-level __new__ of a named tuple.
    return _new_tuple(VerifiedToken, (header, claims, kid, alg, token[:signed_length]))


def verify_jws(token: str, key: VerificationKey, *, max_bytes: int = DEFAULT_MAX_TOKEN_BYTES) -> tuple[dict[str, Any], bytes]:
    """Verify a compact JWS whose payload need not be JSON; returns ``(header, payload)``.

    For the RFCs' signature vectors (RFC 8037 A.4 signs a plain sentence).
    The header rules are those of :func:`verify_token`.
    """
    raw, header_segment, payload_segment, signature = _split_token(token, max_bytes)
    header = _json_object(_b64_decode(header_segment))
    alg, _ = check_header(header, key.algorithms, None)
    verify_signature(raw[: len(header_segment) + 1 + len(payload_segment)], signature, alg, key)
    return header, _b64_decode(payload_segment)


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url) of a public JWK: its default ``kid``."""
    required = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}[jwk["kty"]]
    canonical = json.dumps({name: jwk[name] for name in required}, sort_keys=True, separators=(",", ":"))
    return b64url_encode(hashlib.sha256(canonical.encode("utf-8")).digest())
