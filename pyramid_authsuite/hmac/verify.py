"""Verifying a request's HTTP message signature (RFC 9421 section 3.2), with the verifier's policy.

RFC 9421 section 3.2.1 leaves the policy to the application; ours:

* Required coverage, never weaker than: ``@method``, ``@authority``, and
  either ``@target-uri`` or ``@path`` plus, when the request has a query
  string, ``@query``.  A request without a query needs no ``@query``: its
  value would be the constant ``?`` (RFC 9421 section 2.2.7), and adding a
  query to such a request makes ``@query`` required, so it is refused.
  ``@request-target`` and ``@query-param`` do not stand in for these.
* A non-empty body requires ``content-digest`` covered as a whole field
  (bare, or with ``;sf``); a ``;key=`` member alone does not count.  A
  ``Content-Digest`` that is present is always checked against the body
  (RFC 9530), after the signature.
* ``created``, ``keyid`` and ``nonce`` are required; ``expires``, ``alg`` and
  ``tag`` are optional; any other parameter is refused.  ``expires`` is
  honoured as sent (no skew allowance: the signer chose it).
* Structured-field types are checked on every label, as is the absence of
  duplicate labels, parameters and components (RFC 8941 would keep the last
  duplicate; we refuse, so that a signer and a verifier cannot disagree).
  Policy (parameters, coverage, clock) is checked on the selected label only
  (section 4.3: the first label whose ``keyid`` we know), so a second
  signature added by someone else does not break ours.
* The algorithm is the configured key's, never the message's ``alg``
  (section 3.2); ``hmac-sha256`` (section 3.3.3) is computed with
  precomputed HMAC pads and compared with ``hmac.compare_digest``,
  ``ed25519`` (section 3.3.6) by the library.
* ``@signature-params`` is re-serialised from the parsed header (section
  2.3), so insignificant whitespace in transit does not matter.
* A client must sign the URL in its normal percent-encoded form; ``/a?``
  (an empty query) reaches WSGI as ``/a`` and verifies only if signed that
  way (see :mod:`pyramid_authsuite.hmac.components`).
"""
from __future__ import annotations

import hashlib
import hmac
from typing import Any, Callable, Collection, Mapping

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from http_message_signatures import HTTPMessageSignaturesException

from pyramid_authsuite._hmac_state import HMACStates
from pyramid_authsuite.hmac.base import _base
from pyramid_authsuite.hmac.components import _EnvironMessage, _message, _ViewMessage
from pyramid_authsuite.hmac.digest import verify_content_digest
from pyramid_authsuite.hmac.errors import (
    AlgorithmMismatch,
    BadSignature,
    ExpiredSignature,
    FutureSignature,
    InvalidNonce,
    MissingComponent,
    MissingNonce,
    MissingParameter,
    MissingSignature,
    SignatureParseError,
    UnknownKey,
)
from pyramid_authsuite.hmac.model import (
    _NONCE_RE,
    _SIGNATURE_PARAMETERS,
    ALGORITHMS,
    MAX_NONCE_LENGTH,
    ParsedSignature,
    ServiceKey,
    VerifiedSignature,
    _verified_signature,
)
from pyramid_authsuite.hmac.structured import _Covered, _identity, _parse

__all__ = ["DEFAULT_REQUIRED", "MINIMUM_REQUIRED", "verify_request"]

#: Components every verified signature covers (see the module docstring for
#: the target and body rules that come on top).
MINIMUM_REQUIRED: tuple[str, ...] = ("@method", "@authority")
#: Default ``required_components`` of :func:`verify_request`; callers may add
#: to it (e.g. ``"date"``) but the minimum always applies.
DEFAULT_REQUIRED: tuple[str, ...] = MINIMUM_REQUIRED


def _signature_headers(message: _ViewMessage | _EnvironMessage) -> tuple[str, str]:
    signature_input = message.header("signature-input")
    signature = message.header("signature")
    if signature_input is None and signature is None:
        raise MissingSignature("the request has no Signature-Input and Signature headers")
    if signature_input is None or signature is None:
        raise SignatureParseError("Signature-Input and Signature must be sent together")
    return signature_input, signature


def _select(
    parsed: Mapping[str, ParsedSignature], resolve_key: Callable[[str], ServiceKey | None]
) -> tuple[ParsedSignature, ServiceKey]:
    """RFC 9421 section 4.3: use the first label whose ``keyid`` we know."""
    with_keyid = False
    for candidate in parsed.values():
        keyid = candidate.params.get("keyid")
        if keyid is None:
            continue
        with_keyid = True
        key = resolve_key(keyid)
        if key is not None:
            return candidate, key
    if not with_keyid:
        raise MissingParameter("the signature has no keyid parameter")
    raise UnknownKey("no signature uses a known keyid")


def _check_algorithm(parsed: ParsedSignature, key: ServiceKey) -> None:
    # RFC 9421 section 3.2: the key determines the algorithm; an ``alg`` that
    # says otherwise is refused rather than followed.
    alg = parsed.params.get("alg")
    if alg is not None and alg != key.algorithm:
        raise AlgorithmMismatch("the alg parameter does not match the key's algorithm")
    if key.algorithm not in ALGORITHMS:  # ServiceKey checks too; belt and braces
        raise AlgorithmMismatch("the key's algorithm is not allowed")


def _check_nonce(params: Mapping[str, Any], required: bool) -> str | None:
    nonce = params.get("nonce")
    if not nonce:
        if required:
            raise MissingNonce("the nonce parameter is missing")
        return None
    if len(nonce) > MAX_NONCE_LENGTH or not _NONCE_RE.fullmatch(nonce):
        raise InvalidNonce(f"the nonce must be 1 to {MAX_NONCE_LENGTH} characters of [A-Za-z0-9._~+/=-]")
    return nonce


def _check_clock(
    params: Mapping[str, Any], now: float, max_age_seconds: int, future_skew_seconds: int
) -> tuple[int, int | None]:
    """RFC 9421 section 2.3 ``created``/``expires`` against the verifier's clock."""
    created = params.get("created")
    if created is None:
        raise MissingParameter("the created parameter is missing")
    expires = params.get("expires")
    if expires is not None and expires < created:
        raise SignatureParseError("expires is earlier than created")
    if created > now + future_skew_seconds:
        raise FutureSignature("the signature was created in the future")
    if now - created > max_age_seconds:
        raise ExpiredSignature("the signature is older than the maximum age")
    if expires is not None and now > expires:
        raise ExpiredSignature("the signature has expired")
    return created, expires


def _check_parameters(params: Mapping[str, Any]) -> None:
    if not _SIGNATURE_PARAMETERS.issuperset(params):
        raise SignatureParseError("the signature has an unknown parameter")



_NO_PARAMS: frozenset = frozenset()
_TARGET_URI = ("@target-uri", _NO_PARAMS)
_PATH = ("@path", _NO_PARAMS)
_QUERY = ("@query", _NO_PARAMS)
# (enforce_minimum, required_components) -> the identities to require, in
# order; for tuples (what the policy passes), which are few and immutable.
_REQUIRED: dict[tuple[bool, tuple], tuple[tuple[str, frozenset], ...]] = {}
_REQUIRED_LIMIT = 64


def _required(components: Collection[str], enforce_minimum: bool) -> tuple[tuple[str, frozenset], ...]:
    cacheable = components.__class__ is tuple and enforce_minimum.__class__ is bool
    if cacheable:
        try:
            required = _REQUIRED.get((enforce_minimum, components))
        except TypeError:  # an unhashable member
            cacheable = False
            required = None
        if required is not None:
            return required
    specs = [*MINIMUM_REQUIRED, *components] if enforce_minimum else list(components)
    required = tuple(dict.fromkeys(_identity(spec) for spec in specs))
    if cacheable:
        if len(_REQUIRED) >= _REQUIRED_LIMIT:
            _REQUIRED.clear()
        _REQUIRED[(enforce_minimum, components)] = required
    return required


def _check_coverage(
    message: _ViewMessage | _EnvironMessage, covered: _Covered, components: Collection[str], enforce_minimum: bool
) -> None:
    """RFC 9421 section 3.2.1: the application decides what must be signed."""
    identities = covered.identities()
    for identity in _required(components, enforce_minimum):
        if identity not in identities:
            raise MissingComponent(f"the signature must cover {identity[0]}")
    if not enforce_minimum:
        return
    # RFC 9421 sections 2.2.2, 2.2.6, 2.2.7: the whole target URI, or its
    # path (and query, if any).
    has_query = message.has_query()
    if _TARGET_URI not in identities and (_PATH not in identities or (has_query and _QUERY not in identities)):
        raise MissingComponent("the signature must cover @target-uri, or @path and @query")
    if message.body and not covered.whole_digest():
        raise MissingComponent("a request with a body must cover content-digest")


# HMAC-SHA256 with each service key's padded states computed once (the shared
# primitive): a request hashes only its own signature base. Bounded.
_HMAC_STATES_LIMIT = 64
_HMAC_STATES = HMACStates(_HMAC_STATES_LIMIT)


def _hmac_sha256(key: bytes, message: bytes) -> bytes:
    return _HMAC_STATES.mac(key, hashlib.sha256, message)


def _verify_crypto(key: ServiceKey, signature: bytes, base: bytes) -> None:
    # ServiceKey guarantees the key's type matches its algorithm, so an
    # ed25519 signature checked against an HMAC key is just a wrong HMAC.
    if key.algorithm == "hmac-sha256" and type(key.key) is bytes:
        # RFC 9421 section 3.3.3, what the library's HMAC_SHA256 computes,
        # compared in constant time.
        if not hmac.compare_digest(_hmac_sha256(key.key, base), signature):
            raise BadSignature("the signature does not verify")
        return
    try:
        verifier = ALGORITHMS[key.algorithm](public_key=key.key)
        verifier.verify(signature=signature, message=base)
    except (_CryptoInvalidSignature, HTTPMessageSignaturesException, ValueError, TypeError):
        raise BadSignature("the signature does not verify") from None


def _check_digest(message: _ViewMessage | _EnvironMessage, max_header_length: int) -> None:
    value = message.header("content-digest")
    if value is not None:
        verify_content_digest(value, message.body, max_length=max_header_length)


def verify_request(
    request: Any,
    *,
    resolve_key: Callable[[str], ServiceKey | None],
    now: float,
    max_age_seconds: int = 300,
    future_skew_seconds: int = 5,
    required_components: Collection[str] = DEFAULT_REQUIRED,
    max_header_length: int = 8192,
    max_signatures: int = 8,
    require_nonce: bool = True,
    enforce_minimum_components: bool = True,
) -> VerifiedSignature:
    """Verify a request's HTTP message signature (RFC 9421 section 3.2).

    ``request`` is a WebOb ``Request`` or a :class:`RequestView`;
    ``resolve_key(keyid)`` returns the configured :class:`ServiceKey` or
    None; ``now`` is the verifier's clock in seconds since the epoch.
    ``required_components`` adds to :data:`MINIMUM_REQUIRED` and to the target
    and body rules of the module docstring.  Replay detection is the caller's:
    record the returned ``nonce`` after this succeeds.

    ``require_nonce=False`` and ``enforce_minimum_components=False`` exist for
    fixed test vectors (RFC 9421 Appendix B) only: they drop the nonce and the
    built-in coverage rules; a present ``Content-Digest`` is still checked.

    Raises a :class:`SignatureError` subclass, never anything else, for any
    request content.
    """
    message = _message(request)
    signature_input, signature = _signature_headers(message)
    parsed, extras = _parse(signature_input, signature, max_header_length, max_signatures)
    chosen, key = _select(parsed, resolve_key)
    params = chosen.params
    _check_parameters(params)
    _check_algorithm(chosen, key)
    created, expires = _check_clock(params, now, max_age_seconds, future_skew_seconds)
    nonce = _check_nonce(params, require_nonce)
    covered, serialised_params = extras[chosen.label] if extras is not None else (_Covered(chosen.components), None)
    _check_coverage(message, covered, required_components, enforce_minimum_components)
    _verify_crypto(key, chosen.signature, _base(message, chosen, covered, serialised_params))
    # After the signature, so that only an authenticated sender makes us hash
    # a body; the covered Content-Digest now speaks for the signer.
    _check_digest(message, max_header_length)
    return _verified_signature(
        chosen.label,
        key.keyid,
        key.service,
        key.algorithm,
        created,
        expires,
        nonce,
        params.get("tag"),
        covered.specs(),
    )
