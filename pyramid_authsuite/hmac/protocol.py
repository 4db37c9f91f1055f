"""HTTP Message Signatures (RFC 9421) for service keys: parse, sign, verify.

No Pyramid imports: :func:`verify_request` takes a WebOb ``Request`` (read
through its public attributes only) or a :class:`RequestView`, so the module
can be tested against the RFC's own examples and against independent peers
(``requests-http-signature``) alone.

What comes from the ``http-message-signatures`` library and what is ours:

* the library resolves covered component values (RFC 9421 section 2: HTTP
  fields, ``sf``/``key``/``bs`` parameters, the derived components of
  section 2.2 with their normalisation rules), implements the two algorithms
  we allow (section 3.3.3 ``hmac-sha256``, section 3.3.6 ``ed25519``), and
  signs (:func:`sign_request` is its ``HTTPMessageSigner`` plus our defaults);
* ours is the verifier's policy, which RFC 9421 section 3.2.1 leaves to the
  application: bounded parsing of ``Signature-Input``/``Signature``
  (sections 4.1, 4.2) with ``http_sf`` (RFC 8941), the choice among several
  labels (section 4.3), the algorithm taken from the configured key rather
  than the message, the required components and parameters, the clock
  window, the RFC 9530 ``Content-Digest`` check (the library's refuses
  unknown digest algorithms, which RFC 9530 section 2 lets a recipient ignore), and
  the assembly of the signature base (section 2.5, a few lines), so that it
  uses the parameters exactly as received and fails with our error codes.

Decisions where the RFCs leave a choice (each is tested):

* Required coverage, never weaker than: ``@method``, ``@authority``, and
  either ``@target-uri`` or ``@path`` plus, when the request has a query
  string, ``@query``.  A request without a query needs no ``@query``: its
  value would be the constant ``?`` (RFC 9421 section 2.2.7), and adding a
  query to such a request makes ``@query`` required, so it is refused.
  ``@request-target`` and ``@query-param`` do not stand in for these.
* A non-empty body requires ``content-digest`` covered as a whole field
  (bare, or with ``;sf``); a ``;key=`` member alone does not count.  A
  ``Content-Digest`` that is present is always checked against the body.
* ``created``, ``keyid`` and ``nonce`` are required; ``expires``, ``alg`` and
  ``tag`` are optional; any other parameter is refused.  ``expires`` is
  honoured as sent (no skew allowance: the signer chose it).
* Structured-field types are checked on every label, as is the absence of
  duplicate labels, parameters and components (RFC 8941 would keep the last
  duplicate; we refuse, so that a signer and a verifier cannot disagree).
  Policy (parameters, coverage, clock) is checked on the selected label only,
  so a second signature added by someone else does not break ours.
* ``@signature-params`` is re-serialised from the parsed header (RFC 9421
  section 2.3), so insignificant whitespace in transit does not matter.
* The request URL is rebuilt from WebOb: ``wsgi.url_scheme``, the ``Host``
  header (validated as a bare ``host[:port]``, so a forged ``Host`` cannot
  move characters into the path or query), ``request.path`` (re-quoted by
  WebOb) and the raw ``QUERY_STRING``.  A client must therefore sign the URL
  in its normal percent-encoded form; ``/a?`` (an empty query) reaches WSGI
  as ``/a`` and verifies only if signed that way.
"""
from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Collection, Iterable, Mapping, Sequence
from urllib.parse import urlsplit

import http_sf
from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519
from http_message_signatures import (
    HTTPMessageSignaturesException,
    HTTPMessageSigner,
    HTTPSignatureComponentResolver,
    HTTPSignatureKeyResolver,
    algorithms,
)
from http_sf.compat import Item
from http_sf.parameters import ser_params

__all__ = [
    "ALGORITHMS",
    "DEFAULT_REQUIRED",
    "DEFAULT_SIGNED_COMPONENTS",
    "MAX_NONCE_LENGTH",
    "MINIMUM_REQUIRED",
    "AlgorithmMismatch",
    "BadSignature",
    "DigestMismatch",
    "ExpiredSignature",
    "FutureSignature",
    "InvalidNonce",
    "MalformedDigest",
    "MalformedRequest",
    "MissingComponent",
    "MissingNonce",
    "MissingParameter",
    "MissingSignature",
    "ParsedSignature",
    "RequestView",
    "ServiceKey",
    "SignatureError",
    "SignatureParseError",
    "UnknownKey",
    "VerifiedSignature",
    "content_digest",
    "parse_signature_headers",
    "request_view",
    "sign_request",
    "signature_base",
    "verify_content_digest",
    "verify_request",
]

# --------------------------------------------------------------------------
# Limits and constants
# --------------------------------------------------------------------------

#: Explicit allow-list (RFC 9421 section 3.3): nothing else is ever verified,
#: whatever a message's ``alg`` says.
ALGORITHMS: Mapping[str, type[algorithms.HTTPSignatureAlgorithm]] = {
    "hmac-sha256": algorithms.HMAC_SHA256,
    "ed25519": algorithms.ED25519,
}
#: Components every verified signature covers (see the module docstring for
#: the target and body rules that come on top).
MINIMUM_REQUIRED: tuple[str, ...] = ("@method", "@authority")
#: Default ``required_components`` of :func:`verify_request`; callers may add
#: to it (e.g. ``"date"``) but the minimum always applies.
DEFAULT_REQUIRED: tuple[str, ...] = MINIMUM_REQUIRED
#: What :func:`sign_request` covers by default (``content-digest`` is added
#: when there is a body).
DEFAULT_SIGNED_COMPONENTS: tuple[str, ...] = ("@method", "@authority", "@target-uri")

MAX_NONCE_LENGTH = 128
MAX_KEYID_LENGTH = 256
#: Covered components per signature; far more than any real profile needs.
MAX_COMPONENTS = 32
#: Shortest HMAC key accepted: RFC 2104 section 3 advises at least the hash
#: output length.
MIN_HMAC_KEY_LENGTH = 32

# A nonce becomes part of a replay-cache key: keep it to URL-safe/base64 text.
_NONCE_RE = re.compile(r"[A-Za-z0-9._~+/=-]+")
# host[:port] only: reg-name letters, an IPv4 address or a bracketed IPv6
# literal, then an optional decimal port.  No "/", "?", "#", "@" or "%".
_HOST_RE = re.compile(r"(?:[A-Za-z0-9._~-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
_SIGNATURE_PARAMETERS = frozenset({"created", "expires", "nonce", "alg", "keyid", "tag"})
_INTEGER_PARAMETERS = frozenset({"created", "expires"})
_STRING_PARAMETERS = frozenset({"nonce", "alg", "keyid", "tag"})
# RFC 9530 section 5: the registry's two secure algorithms; a Content-Digest
# must carry at least one of them.
_DIGESTS: Mapping[str, Callable[[bytes], Any]] = {
    "sha-256": hashlib.sha256,
    "sha-512": hashlib.sha512,
}

# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


class SignatureError(Exception):
    """A request's HTTP message signature was refused.

    ``code`` is a stable machine-readable reason for logs, metrics and the
    problem+json ``detail``; the message is fixed text that never contains a
    signature, a key or a covered value.
    """

    code = "invalid_signature"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class MissingSignature(SignatureError):
    """Neither ``Signature-Input`` nor ``Signature`` is present."""

    code = "missing_signature"


class SignatureParseError(SignatureError):
    """A ``Signature-Input`` or ``Signature`` header is malformed (RFC 9421 sections 4.1, 4.2)."""

    code = "malformed_signature"


class UnknownKey(SignatureError):
    """No label names a ``keyid`` the resolver knows."""

    code = "unknown_key"


class AlgorithmMismatch(SignatureError):
    """The ``alg`` parameter differs from the configured key's algorithm (RFC 9421 section 3.2)."""

    code = "algorithm_mismatch"


class MissingComponent(SignatureError):
    """The signature does not cover a component the policy requires (RFC 9421 section 3.2.1)."""

    code = "missing_component"


class MissingParameter(SignatureError):
    """A required signature parameter (``created``, ``keyid``) is absent (RFC 9421 section 2.3)."""

    code = "missing_parameter"


class MissingNonce(SignatureError):
    """The ``nonce`` parameter is absent or empty; replay protection needs it."""

    code = "missing_nonce"


class InvalidNonce(SignatureError):
    """The ``nonce`` is too long or has characters outside the safe set."""

    code = "invalid_nonce"


class ExpiredSignature(SignatureError):
    """``created`` is older than the maximum age, or ``expires`` has passed."""

    code = "expired_signature"


class FutureSignature(SignatureError):
    """``created`` is later than now plus the allowed clock skew."""

    code = "future_signature"


class DigestMismatch(SignatureError):
    """The ``Content-Digest`` does not match the body (RFC 9530 section 2)."""

    code = "digest_mismatch"


class MalformedDigest(DigestMismatch):
    """The ``Content-Digest`` is unparseable or has no supported algorithm."""

    code = "malformed_digest"


class MalformedRequest(SignatureError):
    """The request itself cannot be canonicalised (e.g. a ``Host`` that is not ``host[:port]``)."""

    code = "malformed_request"


class BadSignature(SignatureError):
    """The signature does not verify, or a covered component cannot be resolved."""

    code = "invalid_signature"


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceKey:
    """A configured service key.

    ``algorithm`` is ``"hmac-sha256"`` (``key`` is the shared secret, bytes,
    at least 32 long) or ``"ed25519"`` (``key`` is an
    ``Ed25519PublicKey``).  The algorithm comes from here, never from the
    message (RFC 9421 section 3.2).  ``key`` is left out of ``repr``.
    """

    keyid: str
    service: str
    algorithm: str
    key: bytes | ed25519.Ed25519PublicKey = field(repr=False)

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"unsupported algorithm {self.algorithm!r}; use one of {sorted(ALGORITHMS)}")
        _check_key(self.algorithm, self.key, public=True)


@dataclass(frozen=True)
class Component:
    """One covered component identifier: a lowercase name and its parameters (RFC 9421 section 2)."""

    name: str
    params: tuple[tuple[str, Any], ...] = ()

    @property
    def identifier(self) -> str:
        """The serialised identifier as it appears in a signature base line (``"@method"``).

        RFC 8941 section 4.1.6: an sf-string is quoted with ``\\`` and ``"``
        escaped; the name came from a parsed sf-string, so it is printable
        ASCII already.  Parameters are serialised by ``http_sf``.
        """
        quoted = '"' + self.name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return quoted + ser_params(dict(self.params)) if self.params else quoted

    @property
    def spec(self) -> str:
        """The form :func:`sign_request` accepts: the bare name, or the identifier when parameterised."""
        return self.identifier if self.params else self.name


@dataclass(frozen=True)
class ParsedSignature:
    """One label of ``Signature-Input`` with its ``Signature`` bytes (RFC 9421 sections 4.1, 4.2)."""

    label: str
    components: tuple[Component, ...]
    params: Mapping[str, Any]
    signature: bytes = field(repr=False)


@dataclass(frozen=True)
class VerifiedSignature:
    """What :func:`verify_request` vouches for.

    The caller records ``nonce`` in its replay cache (for at least
    ``max_age_seconds + future_skew_seconds``) after this is returned.
    """

    label: str
    keyid: str
    service: str
    algorithm: str
    created: int
    expires: int | None
    nonce: str | None
    tag: str | None
    covered_components: tuple[str, ...]


@dataclass(frozen=True)
class RequestView:
    """The parts of a request a signature covers.

    ``url`` is the absolute, percent-encoded URL as the client addressed it;
    ``headers`` are (name, value) pairs, repeated names allowed.  Use
    :func:`request_view` to build one from a WebOb request.
    """

    method: str
    url: str
    headers: Sequence[tuple[str, str]]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """All lines of one header joined with ``", "`` (RFC 9110 section 5.3), or None."""
        name = name.lower()
        values = [value for key, value in self.headers if key.lower() == name]
        return ", ".join(values) if values else None


class _FieldLines:
    """The header interface the library's component resolver reads (``items()``)."""

    def __init__(self, pairs: Sequence[tuple[str, str]]):
        self._pairs = pairs

    def items(self) -> Iterable[tuple[str, str]]:
        return iter(self._pairs)

    def __iter__(self):
        return iter(dict.fromkeys(name for name, _ in self._pairs))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(key.lower() == name.lower() for key, _ in self._pairs)


@dataclass
class _Message:
    """A request as the library's ``HTTPSignatureComponentResolver`` expects it."""

    method: str
    url: str
    headers: Any


# --------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------


def request_view(request: Any) -> RequestView:
    """Build a :class:`RequestView` from a WebOb ``Request``.

    The authority is the ``Host`` header (RFC 9421 section 2.2.3; WebOb falls
    back to ``SERVER_NAME:SERVER_PORT``), checked to be a bare ``host[:port]``
    so that it cannot smuggle a path or a query into the rebuilt URL.
    """
    if isinstance(request, RequestView):
        return request
    host = request.host
    if not _HOST_RE.fullmatch(host or ""):
        raise MalformedRequest("the Host header is not a valid host[:port]")
    scheme = request.scheme
    query = request.query_string
    url = f"{scheme}://{_normalise_authority(scheme, host)}{request.path}" + (f"?{query}" if query else "")
    return RequestView(request.method, url, _environ_headers(request.environ), request.body)


# The two headers PEP 3333 stores without the HTTP_ prefix.
_CGI_HEADERS = {"CONTENT_TYPE": "content-type", "CONTENT_LENGTH": "content-length"}


def _environ_headers(environ: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The request headers from a WSGI environ (PEP 3333), as ``request.headers`` has them.

    Read directly because WebOb's ``EnvironHeaders`` translates every environ
    key on each access, which was a fifth of the verification time.  Names
    come out lowercase with ``-``; header names are case-insensitive.
    """
    pairs = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            pairs.append((key[5:].replace("_", "-").lower(), value))
        elif key in _CGI_HEADERS and value:
            pairs.append((_CGI_HEADERS[key], value))
    return pairs


def _normalise_authority(scheme: str, host: str) -> str:
    """RFC 3986 sections 6.2.2.1 and 6.2.3: lowercase host, no default port.

    Clients (urllib3) send ``Host`` without the default port and sign the
    URL as they were given it, usually without it too; WSGI servers and
    ``webob.Request.blank`` may add it back.  The library applies the same
    rule to ``@authority`` (RFC 9421 section 2.2.3); doing it here keeps
    ``@target-uri`` consistent with it.
    """
    host = host.lower()
    default = {"http": ":80", "https": ":443"}.get(scheme)
    if default and host.endswith(default):
        host = host[: -len(default)]
    return host


# --------------------------------------------------------------------------
# Parsing (RFC 9421 sections 4.1 and 4.2, RFC 8941 dictionaries)
# --------------------------------------------------------------------------


def _reject_duplicate(key: str, context: str) -> None:
    raise SignatureParseError(f"duplicate {context} key in a signature header")


def _parse_dictionary(value: str, header: str, max_length: int, max_members: int) -> dict[str, Any]:
    if len(value) > max_length:
        raise SignatureParseError(f"{header} is longer than {max_length} characters")
    try:
        data = value.encode("ascii")
    except UnicodeEncodeError:
        raise SignatureParseError(f"{header} is not ASCII") from None
    try:
        parsed = http_sf.parse(data, tltype="dictionary", on_duplicate_key=_reject_duplicate)
    except (ValueError, TypeError, KeyError):
        # http_sf's messages quote offsets, not content; still, say nothing.
        raise SignatureParseError(f"{header} is not a structured-field dictionary") from None
    if not isinstance(parsed, dict) or not parsed:
        raise SignatureParseError(f"{header} has no signature")
    if len(parsed) > max_members:
        raise SignatureParseError(f"{header} has more than {max_members} signatures")
    return parsed


def _parse_component(member: Any) -> Component:
    value, params = member
    # RFC 9421 section 2: identifiers are sf-strings (not tokens), lowercase.
    if type(value) is not str or not value or value != value.lower():
        raise SignatureParseError("a component identifier is not a lowercase string")
    if value == "@signature-params":
        raise SignatureParseError("@signature-params cannot be a covered component")
    return Component(value, tuple(params.items()))


def _check_param_types(params: Mapping[str, Any]) -> None:
    """RFC 9421 section 2.3: ``created``/``expires`` Integers, the others Strings."""
    for name, value in params.items():
        if name in _INTEGER_PARAMETERS and type(value) is not int:
            raise SignatureParseError(f"the {name} parameter is not an integer")
        if name in _STRING_PARAMETERS and type(value) is not str:
            raise SignatureParseError(f"the {name} parameter is not a string")
    if "keyid" in params and not 0 < len(params["keyid"]) <= MAX_KEYID_LENGTH:
        raise SignatureParseError("the keyid parameter is empty or too long")


def _parse_input_member(label: str, member: Any, signature: Any) -> ParsedSignature:
    inner, params = member
    if not isinstance(inner, list):
        raise SignatureParseError("a Signature-Input member is not an inner list")
    if len(inner) > MAX_COMPONENTS:
        raise SignatureParseError(f"a signature covers more than {MAX_COMPONENTS} components")
    components = tuple(_parse_component(item) for item in inner)
    # RFC 9421 section 2.5: an identifier appears at most once (parameter
    # order is not significant, hence the frozenset).
    identities = {(c.name, frozenset(c.params)) for c in components}
    if len(identities) != len(components):
        raise SignatureParseError("a component is covered twice")
    _check_param_types(params)
    sig_value, sig_params = signature
    if type(sig_value) is not bytes or not sig_value or sig_params:
        raise SignatureParseError("a Signature member is not a byte sequence")
    return ParsedSignature(label, components, dict(params), sig_value)


def parse_signature_headers(
    signature_input: str,
    signature: str,
    *,
    max_header_length: int = 8192,
    max_signatures: int = 8,
) -> dict[str, ParsedSignature]:
    """Parse both headers into labelled signatures, in header order.

    RFC 9421 sections 4.1 and 4.2: each is an RFC 8941 Dictionary, the first
    of inner lists of component identifiers with parameters, the second of
    byte sequences, keyed by the same labels.  Every length is bounded before
    parsing; anything off raises :class:`SignatureParseError`.
    """
    inputs = _parse_dictionary(signature_input, "Signature-Input", max_header_length, max_signatures)
    signatures = _parse_dictionary(signature, "Signature", max_header_length, max_signatures)
    if set(inputs) != set(signatures):
        raise SignatureParseError("Signature-Input and Signature have different labels")
    return {label: _parse_input_member(label, inputs[label], signatures[label]) for label in inputs}


# --------------------------------------------------------------------------
# Signature base (RFC 9421 section 2.5)
# --------------------------------------------------------------------------


def _message(view: RequestView) -> _Message:
    return _Message(view.method, view.url, _FieldLines(view.headers))


def _resolver(view: RequestView) -> HTTPSignatureComponentResolver:
    try:
        return HTTPSignatureComponentResolver(_message(view))
    except (HTTPMessageSignaturesException, ValueError, TypeError):
        raise MalformedRequest("the request method or URL cannot be canonicalised") from None


def _component_value(resolver: HTTPSignatureComponentResolver, component: Component) -> str:
    node = Item(component.name)
    node.params.update(component.params)
    try:
        value = resolver.resolve(node)
    except (HTTPMessageSignaturesException, ValueError, TypeError, KeyError, UnicodeError):
        # RFC 9421 section 2.5: a component that cannot be resolved fails
        # the whole signature (e.g. a covered header that is absent).
        raise BadSignature("a covered component is absent from the request or invalid") from None
    # A newline would let one line of the base pose as two.
    if not isinstance(value, str) or "\n" in value or "\r" in value:
        raise BadSignature("a covered component has a value that cannot be signed")
    return value


def _base(resolver: HTTPSignatureComponentResolver, parsed: ParsedSignature) -> bytes:
    identifiers = [c.identifier for c in parsed.components]
    lines = [f"{i}: {_component_value(resolver, c)}" for i, c in zip(identifiers, parsed.components)]
    # RFC 9421 section 2.3: @signature-params is the serialised inner list
    # (RFC 8941 section 4.1.1.1: items separated by one space, then parameters).
    lines.append(f'"@signature-params": ({" ".join(identifiers)}){ser_params(dict(parsed.params))}')
    base = "\n".join(lines)
    if not base.isascii():
        raise BadSignature("the signature base is not ASCII")
    return base.encode("ascii")


def signature_base(request: Any, parsed: ParsedSignature) -> bytes:
    """The signature base of one parsed signature over a request (RFC 9421 section 2.5).

    One line ``<identifier>: <value>`` per covered component, in order, then
    ``"@signature-params": <inner list>``; lines joined by LF, no trailing LF.
    """
    return _base(_resolver(request_view(request)), parsed)


# --------------------------------------------------------------------------
# Content-Digest (RFC 9530)
# --------------------------------------------------------------------------


def content_digest(body: bytes, algorithm: str = "sha-256") -> str:
    """A ``Content-Digest`` value for ``body`` (RFC 9530 section 2): ``sha-256=:<base64>:``."""
    if algorithm not in _DIGESTS:
        raise ValueError(f"unsupported digest algorithm {algorithm!r}")
    return f"{algorithm}=:{base64.b64encode(_DIGESTS[algorithm](body).digest()).decode('ascii')}:"


def verify_content_digest(value: str, body: bytes, *, max_length: int = 8192) -> None:
    """Check a ``Content-Digest`` header against the body (RFC 9530 section 2).

    The header is an RFC 8941 Dictionary of byte sequences keyed by algorithm.
    Unknown algorithms are ignored; at least one of ``sha-256``/``sha-512``
    must be present, and every one present must match (constant-time).
    """
    if len(value) > max_length:
        raise MalformedDigest("Content-Digest is too long")
    try:
        parsed = http_sf.parse(value.encode("ascii"), tltype="dictionary", on_duplicate_key=_reject_digest_duplicate)
    except (ValueError, TypeError, KeyError, UnicodeError):
        raise MalformedDigest("Content-Digest is not a structured-field dictionary") from None
    matched = True
    supported = 0
    for algorithm, (digest, _params) in parsed.items():
        if algorithm not in _DIGESTS:
            continue  # RFC 9530 section 2: "A recipient MAY ignore any or all digests"
        if type(digest) is not bytes:
            raise MalformedDigest("a Content-Digest value is not a byte sequence")
        supported += 1
        # Evaluate every member, no early exit; compare_digest also handles
        # a value of the wrong length.
        matched &= hmac.compare_digest(digest, _DIGESTS[algorithm](body).digest())
    if not supported:
        raise MalformedDigest("Content-Digest has no sha-256 or sha-512 value")
    if not matched:
        raise DigestMismatch("Content-Digest does not match the body")


def _reject_digest_duplicate(key: str, context: str) -> None:
    raise MalformedDigest("duplicate key in Content-Digest")


# --------------------------------------------------------------------------
# Verification (RFC 9421 section 3.2)
# --------------------------------------------------------------------------


def _signature_headers(view: RequestView) -> tuple[str, str]:
    signature_input = view.header("Signature-Input")
    signature = view.header("Signature")
    if signature_input is None and signature is None:
        raise MissingSignature("the request has no Signature-Input and Signature headers")
    if signature_input is None or signature is None:
        raise SignatureParseError("Signature-Input and Signature must be sent together")
    return signature_input, signature


def _select(
    parsed: Mapping[str, ParsedSignature], resolve_key: Callable[[str], ServiceKey | None]
) -> tuple[ParsedSignature, ServiceKey]:
    """RFC 9421 section 4.3: use the first label whose ``keyid`` we know."""
    if all("keyid" not in p.params for p in parsed.values()):
        raise MissingParameter("the signature has no keyid parameter")
    for candidate in parsed.values():
        keyid = candidate.params.get("keyid")
        if keyid is None:
            continue
        key = resolve_key(keyid)
        if key is not None:
            return candidate, key
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
    unknown = set(params) - _SIGNATURE_PARAMETERS
    if unknown:
        raise SignatureParseError("the signature has an unknown parameter")


def _identity(spec: str) -> tuple[str, frozenset]:
    """A component spec (``"date"`` or ``'"@query-param";name="a"'``) as a comparable identity."""
    if spec.startswith('"'):
        value, params = http_sf.parse(spec.encode("ascii"), tltype="item")
        return str(value), frozenset(params.items())
    return spec, frozenset()


_NO_PARAMS: frozenset = frozenset()


def _target_options(view: RequestView) -> tuple[tuple[tuple[str, frozenset], ...], ...]:
    """RFC 9421 sections 2.2.2, 2.2.6, 2.2.7: the whole target URI, or its path (and query, if any)."""
    path_query = [("@path", _NO_PARAMS)]
    if urlsplit(view.url).query:
        path_query.append(("@query", _NO_PARAMS))
    return ((("@target-uri", _NO_PARAMS),), tuple(path_query))


def _check_coverage(
    view: RequestView, parsed: ParsedSignature, components: Collection[str], enforce_minimum: bool
) -> None:
    """RFC 9421 section 3.2.1: the application decides what must be signed."""
    covered = {(c.name, frozenset(c.params)) for c in parsed.components}
    specs = [*MINIMUM_REQUIRED, *components] if enforce_minimum else list(components)
    for identity in dict.fromkeys(_identity(spec) for spec in specs):
        if identity not in covered:
            raise MissingComponent(f"the signature must cover {identity[0]}")
    if not enforce_minimum:
        return
    if not any(all(part in covered for part in option) for option in _target_options(view)):
        raise MissingComponent("the signature must cover @target-uri, or @path and @query")
    if view.body and not _covers_whole_digest(parsed):
        raise MissingComponent("a request with a body must cover content-digest")


def _covers_whole_digest(parsed: ParsedSignature) -> bool:
    return any(c.name == "content-digest" and set(dict(c.params)) <= {"sf"} for c in parsed.components)


def _verify_crypto(key: ServiceKey, signature: bytes, base: bytes) -> None:
    # ServiceKey guarantees the key's type matches its algorithm, so an
    # ed25519 signature checked against an HMAC key is just a wrong HMAC.
    try:
        verifier = ALGORITHMS[key.algorithm](public_key=key.key)
        verifier.verify(signature=signature, message=base)
    except (_CryptoInvalidSignature, HTTPMessageSignaturesException, ValueError, TypeError):
        raise BadSignature("the signature does not verify") from None


def _check_digest(view: RequestView, max_header_length: int) -> None:
    value = view.header("Content-Digest")
    if value is not None:
        verify_content_digest(value, view.body, max_length=max_header_length)


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
    view = request_view(request)
    signature_input, signature = _signature_headers(view)
    parsed = parse_signature_headers(
        signature_input, signature, max_header_length=max_header_length, max_signatures=max_signatures
    )
    chosen, key = _select(parsed, resolve_key)
    _check_parameters(chosen.params)
    _check_algorithm(chosen, key)
    created, expires = _check_clock(chosen.params, now, max_age_seconds, future_skew_seconds)
    nonce = _check_nonce(chosen.params, require_nonce)
    _check_coverage(view, chosen, required_components, enforce_minimum_components)
    _verify_crypto(key, chosen.signature, _base(_resolver(view), chosen))
    # After the signature, so that only an authenticated sender makes us hash
    # a body; the covered Content-Digest now speaks for the signer.
    _check_digest(view, max_header_length)
    return VerifiedSignature(
        label=chosen.label,
        keyid=key.keyid,
        service=key.service,
        algorithm=key.algorithm,
        created=created,
        expires=expires,
        nonce=nonce,
        tag=chosen.params.get("tag"),
        covered_components=tuple(c.spec for c in chosen.components),
    )


# --------------------------------------------------------------------------
# Signing (RFC 9421 section 3.1)
# --------------------------------------------------------------------------


def _check_key(algorithm: str, key: Any, *, public: bool) -> None:
    """The key's type must match its algorithm, so one can never pass for the other."""
    if algorithm == "hmac-sha256":
        if not isinstance(key, bytes) or len(key) < MIN_HMAC_KEY_LENGTH:
            raise ValueError(f"an hmac-sha256 key is bytes of at least {MIN_HMAC_KEY_LENGTH} bytes")
        return
    expected = ed25519.Ed25519PublicKey if public else ed25519.Ed25519PrivateKey
    if not isinstance(key, expected):
        raise ValueError(f"an ed25519 key must be an {expected.__name__}")


class _SigningKey(HTTPSignatureKeyResolver):
    """Hands the one signing key to the library's signer (and verifies nothing)."""

    def __init__(self, key: Any):
        self._key = key

    def resolve_private_key(self, key_id: str) -> Any:
        return self._key

    def resolve_public_key(self, key_id: str) -> None:
        return None


def sign_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    keyid: str,
    key: bytes | ed25519.Ed25519PrivateKey,
    algorithm: str,
    created: int | None = None,
    nonce: str | None = None,
    components: Sequence[str] | None = None,
    label: str = "sig1",
    include_alg: bool = True,
) -> dict[str, str]:
    """Sign a request; return the headers to add (RFC 9421 section 3.1).

    ``url`` is absolute and percent-encoded, as it will be sent.  Returns
    ``Signature-Input`` and ``Signature``, plus ``Content-Digest`` (sha-256,
    RFC 9530) when ``body`` is non-empty; a ``Content-Digest`` (given or
    added) is always covered.  ``created`` defaults to now, ``nonce`` to 128
    random bits, ``components`` to :data:`DEFAULT_SIGNED_COMPONENTS`.  Bad
    arguments raise ValueError.
    """
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unsupported algorithm {algorithm!r}; use one of {sorted(ALGORITHMS)}")
    _check_key(algorithm, key, public=False)
    nonce = secrets.token_urlsafe(16) if nonce is None else nonce
    if not nonce or len(nonce) > MAX_NONCE_LENGTH or not _NONCE_RE.fullmatch(nonce):
        raise ValueError(f"the nonce must be 1 to {MAX_NONCE_LENGTH} characters of [A-Za-z0-9._~+/=-]")
    digest = _digest_to_add(headers, body)
    message = _Message(method, url, {**headers, **digest})
    has_digest = any(name.lower() == "content-digest" for name in message.headers)
    signer = HTTPMessageSigner(signature_algorithm=ALGORITHMS[algorithm], key_resolver=_SigningKey(key))
    try:
        signer.sign(
            message,
            key_id=keyid,
            created=datetime.datetime.fromtimestamp(
                int(time.time()) if created is None else created, tz=datetime.timezone.utc
            ),
            nonce=nonce,
            label=label,
            include_alg=include_alg,
            covered_component_ids=_components_to_sign(components, has_digest),
            # We add the digest ourselves (the same code the verifier uses);
            # the library is told to keep it, and checks its syntax.
            use_existing_digest=has_digest,
        )
    except HTTPMessageSignaturesException as error:
        raise ValueError(f"cannot sign this request: {error}") from None
    signed = {name: message.headers[name] for name in ("Signature-Input", "Signature")}
    return {**digest, **signed}


def _digest_to_add(headers: Mapping[str, str], body: bytes) -> dict[str, str]:
    """``Content-Digest`` for a non-empty body (RFC 9530), unless the caller gave one, checked here."""
    given = [value for name, value in headers.items() if name.lower() == "content-digest"]
    if given:
        try:
            verify_content_digest(given[0], body)
        except SignatureError:
            raise ValueError("the Content-Digest given does not match the body") from None
        return {}
    return {"Content-Digest": content_digest(body)} if body else {}


def _components_to_sign(components: Sequence[str] | None, has_digest: bool) -> tuple[str, ...]:
    specs = list(DEFAULT_SIGNED_COMPONENTS if components is None else components)
    try:
        names = {_identity(spec)[0] for spec in specs}
    except (ValueError, TypeError, UnicodeError):
        raise ValueError("a component is not a name or a serialised component identifier") from None
    if has_digest and "content-digest" not in names:
        specs.append("content-digest")
    return tuple(specs)
