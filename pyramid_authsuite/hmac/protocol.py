"""HTTP Message Signatures (RFC 9421) for service keys: parse, sign, verify.

No Pyramid imports: :func:`verify_request` takes a WebOb ``Request`` (read
through its public attributes, or its environ as they read it) or a
:class:`RequestView`, so the module can be tested against the RFC's own
examples and against independent peers (``requests-http-signature``) alone.

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

Fast paths (the verifier's cost per request is a budget): the usual shapes
are handled without the general code, which stays as the fallback and the
reference.  ``_parse_fast`` reads the headers signers send with bounded
regular expressions instead of ``http_sf``; ``_EnvironMessage`` reads a
plain WebOb request's environ once and computes ``@method``,
``@authority``, ``@target-uri``, ``@path``, ``@query``, ``@scheme``,
``@request-target`` and plain fields with the library's formulas (anything
else goes to the library's resolver); ``hmac-sha256`` is verified with
precomputed HMAC pads and ``hmac.compare_digest``.  Each gives exactly what
the general path gives, errors included: ``tests/hmac/test_fast_paths.py``.

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
import binascii
import datetime
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass, field
from dataclasses import fields as _dataclass_fields
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
from http_message_signatures.structures import normalize_header_value
from http_sf.compat import Item
from http_sf.parameters import ser_params
from webob.request import BaseRequest as _WebObRequest

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
#: Longest covered field parsed as a structured field (the ``sf`` and ``key``
#: component parameters, RFC 9421 section 2.1.1-2.1.2). The parse runs before
#: the signature can be checked, and costs about 1 µs a byte.
MAX_STRUCTURED_FIELD_LENGTH = 8192
# Separators (";", ",", " ", "(") per signature a header may hold before
# http_sf parses it (about 1.5 µs each): MAX_COMPONENTS items with every
# component parameter RFC 9421 defines, and the signature's own, fit.
_SEPARATORS_PER_SIGNATURE = 8 * MAX_COMPONENTS + 32
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


# ParsedSignature(...) and VerifiedSignature(...) for the fast path, without
# the frozen dataclass __init__'s object.__setattr__ per field (they were a
# tenth of a verification).  Same instances: the fields set in the same
# order; the check below fails at import if a field, a __post_init__ or
# __slots__ is added to either class.
def _parsed_signature(label: str, components: tuple, params: dict, signature: bytes) -> ParsedSignature:
    instance = object.__new__(ParsedSignature)
    values = instance.__dict__
    values["label"] = label
    values["components"] = components
    values["params"] = params
    values["signature"] = signature
    return instance


def _verified_signature(
    label: str,
    keyid: str,
    service: str,
    algorithm: str,
    created: int,
    expires: int | None,
    nonce: str | None,
    tag: str | None,
    covered_components: tuple[str, ...],
) -> VerifiedSignature:
    instance = object.__new__(VerifiedSignature)
    values = instance.__dict__
    values["label"] = label
    values["keyid"] = keyid
    values["service"] = service
    values["algorithm"] = algorithm
    values["created"] = created
    values["expires"] = expires
    values["nonce"] = nonce
    values["tag"] = tag
    values["covered_components"] = covered_components
    return instance


def _check_builders() -> None:
    for cls, builder in ((ParsedSignature, _parsed_signature), (VerifiedSignature, _verified_signature)):
        names = tuple(f.name for f in _dataclass_fields(cls))
        arguments = builder.__code__.co_varnames[: builder.__code__.co_argcount]
        if names != arguments or hasattr(cls, "__post_init__") or hasattr(cls, "__slots__"):
            raise TypeError(f"_{cls.__name__} no longer builds a {cls.__name__}")


_check_builders()


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


# What verification reads from a request, in two implementations.  Both have
# ``header(lowercase_name)``, ``body``, ``has_query()``, ``open()`` (called
# where the library's resolver used to be built; raises MalformedRequest as
# its constructor did) and ``value(component)`` (a covered value, unchecked;
# ``_base`` checks it).
#
# * ``_ViewMessage``: any request, through :func:`request_view` and the
#   library's ``HTTPSignatureComponentResolver``, exactly as before.
# * ``_EnvironMessage``: the fast path, for a WebOb request whose URL parts
#   are in the plain shapes below (which cover what WSGI servers hand us): it
#   reads the environ once into ``{lowercase name: [values]}`` and computes the
#   common components itself with the library's formulas
#   (``tests/hmac/test_fast_paths.py`` checks them against the library); any
#   other component goes to a library resolver built on first use.

# Character sets of the plain shapes, checked with ``not text.strip(chars)``
# (true when every character of ``text`` is in ``chars``).
_ALPHANUMERIC = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
# Percent-encoding leaves these alone (``urllib.parse.quote``'s always-safe
# characters plus WebOb's PATH_SAFE), so WebOb's ``request.path`` of a
# SCRIPT_NAME + PATH_INFO of them is the same string; all are valid in a URL path.
_PATH_CHARS = _ALPHANUMERIC + "_.~-/!$&'()*+,;=:@"
# RFC 3986 query characters but "%", which the library's URL grammar accepts as they are.
_QUERY_CHARS = _ALPHANUMERIC + "._~-!$&'()*+,;=:@/?"
# The same with percent-encoded octets, for a query that has some.
_FAST_QUERY_RE = re.compile(r"(?:[A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*")
# A reg-name host (the non-IPv6 part of _HOST_RE) and a port of 1 to 5 digits.
_HOST_NAME_CHARS = _ALPHANUMERIC + "._~-"
_DIGITS = "0123456789"
_DEFAULT_PORTS = {"http": "80", "https": "443"}
_MALFORMED_URL = "the request method or URL cannot be canonicalised"
_UNRESOLVABLE = "a covered component is absent from the request or invalid"

# The environ's keys, in order -> (key, header name, CGI key?) for its header
# keys, as _environ_headers reads them; a memo, since a server sends the same
# few key sets again and again.  Bounded: cleared when full.
_PLANS: dict[tuple, tuple[tuple[str, str, bool], ...] | None] = {}
_PLANS_LIMIT = 256


def _plan(keys: tuple) -> tuple[tuple[str, str, bool], ...] | None:
    """The header keys among ``keys``; None if a key is not an ASCII str (left to the general path)."""
    plan = []
    for key in keys:
        if key.__class__ is not str or not key.isascii():
            return None
        if key.startswith("HTTP_"):
            plan.append((key, key[5:].replace("_", "-").lower(), False))
        elif key in _CGI_HEADERS:
            plan.append((key, _CGI_HEADERS[key], True))
    return tuple(plan)


def _environ_fields(environ: dict) -> dict[str, list[str]] | None:
    """``_environ_headers`` grouped by name, values in the same order; None if a key or value is unusual."""
    keys = tuple(environ)
    plan = _PLANS.get(keys, False)
    if plan is False:
        plan = _plan(keys)
        if len(_PLANS) >= _PLANS_LIMIT:
            _PLANS.clear()
        _PLANS[keys] = plan
    if plan is None:
        return None
    fields: dict[str, list[str]] = {}
    for key, name, cgi in plan:
        value = environ[key]
        if cgi and not value:
            continue
        if value.__class__ is not str:
            return None
        values = fields.get(name)
        if values is None:
            fields[name] = [value]
        else:
            values.append(value)
    return fields


class _ViewMessage:
    """Any request: a :class:`RequestView` and the library's resolver for every value."""

    __slots__ = ("view", "body", "_resolver")

    def __init__(self, view: RequestView):
        self.view = view
        self.body = view.body
        self._resolver: HTTPSignatureComponentResolver | None = None

    def header(self, name: str) -> str | None:
        return self.view.header(name)

    def has_query(self) -> bool:
        try:
            return bool(urlsplit(self.view.url).query)
        except ValueError:  # e.g. an invalid IPv6 literal in Host, which the library refuses too
            raise MalformedRequest(_MALFORMED_URL) from None

    def open(self) -> None:
        self._resolver = _resolver(self.view)

    def value(self, component: Component) -> Any:
        return _library_value(self._resolver, component)


class _EnvironMessage:
    """A WebOb request in the common shape; the URL parts are those the library would parse.

    ``scheme`` is ``http`` or ``https``; ``host`` is lowercase and ``port``
    None or digits (without the scheme's default port, as
    :func:`_normalise_authority` leaves it); ``path`` is empty or starts with
    ``/``; ``query`` is None when the query string is empty.
    """

    __slots__ = ("method", "body", "fields", "scheme", "host", "port", "path", "query", "_library")

    def header(self, name: str) -> str | None:
        values = self.fields.get(name)
        if values is None:
            return None
        return values[0] if len(values) == 1 else ", ".join(values)

    def has_query(self) -> bool:
        return self.query is not None

    def open(self) -> None:
        # What the library's constructor checks that the fast path has not.
        method = self.method
        if not isinstance(method, str) or method != method.upper():
            raise MalformedRequest(_MALFORMED_URL)

    def value(self, component: Component) -> Any:
        name = component.name
        if component.params or name.__class__ is not str:
            return self._library_value(component)
        if name[:1] == "@":
            derived = _FAST_DERIVED.get(name)
            return self._library_value(component) if derived is None else derived(self)
        # RFC 9421 section 2.1: a field's lines, each trimmed (obs-fold
        # unfolded), joined with ", " (the library's HTTPSignatureComponentResolver.resolve).
        values = self.fields.get(name.lower())
        if values is None:
            raise BadSignature(_UNRESOLVABLE)
        if len(values) == 1:
            return normalize_header_value(values[0])
        if name == "set-cookie":
            raise BadSignature(_UNRESOLVABLE)
        return ", ".join([normalize_header_value(value) for value in values])

    # RFC 9421 section 2.2, as the library's get_* methods compute them.
    def _authority_as_sent(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def _query_suffix(self) -> str:
        return "" if self.query is None else "?" + self.query

    def _method(self) -> str:
        return self.method

    def _scheme(self) -> str:
        return self.scheme

    def _authority(self) -> str:
        port = self.port
        if port and port.lstrip("0") == _DEFAULT_PORTS[self.scheme]:
            return self.host
        return f"{self.host}:{port}" if port else self.host

    def _target_uri(self) -> str:
        path = self.path if self.method == "OPTIONS" else (self.path or "/")
        return f"{self.scheme}://{self._authority_as_sent()}{path}{self._query_suffix()}"

    def _path(self) -> str:
        return self.path or "/"

    def _query(self) -> str:
        return "?" + (self.query or "")

    def _request_target(self) -> str:
        if self.method == "CONNECT":
            return self._authority_as_sent()
        return (self.path or "/") + self._query_suffix()

    def _library_value(self, component: Component) -> Any:
        resolver = self._library
        if resolver is None:
            url = f"{self.scheme}://{self._authority_as_sent()}{self.path}{self._query_suffix()}"
            pairs = [(name, value) for name, values in self.fields.items() for value in values]
            try:
                resolver = HTTPSignatureComponentResolver(_Message(self.method, url, _FieldLines(pairs)))
            except (HTTPMessageSignaturesException, ValueError, TypeError):
                raise MalformedRequest(_MALFORMED_URL) from None
            self._library = resolver
        return _library_value(resolver, component)


_FAST_DERIVED: Mapping[str, Callable[[_EnvironMessage], str]] = {
    "@method": _EnvironMessage._method,
    "@authority": _EnvironMessage._authority,
    "@target-uri": _EnvironMessage._target_uri,
    "@path": _EnvironMessage._path,
    "@query": _EnvironMessage._query,
    "@scheme": _EnvironMessage._scheme,
    "@request-target": _EnvironMessage._request_target,
}


# What _environ_message reads from the environ rather than through these
# attributes: a Request class qualifies if it keeps WebOb's.
_WEBOB_ATTRIBUTES = (
    "host", "scheme", "path", "script_name", "path_info", "url_encoding", "query_string", "method",
    "body", "is_body_readable", "content_length",
)
_PLAIN_REQUEST_CLASSES: dict[type, bool] = {}


def _plain_request_class(cls: type) -> bool:
    plain = _PLAIN_REQUEST_CLASSES.get(cls)
    if plain is None:
        plain = issubclass(cls, _WebObRequest) and all(
            getattr(cls, name, None) is getattr(_WebObRequest, name) for name in _WEBOB_ATTRIBUTES
        )
        if len(_PLAIN_REQUEST_CLASSES) < 64:
            _PLAIN_REQUEST_CLASSES[cls] = plain
    return plain


def _environ_message(request: Any) -> _EnvironMessage | None:
    """The fast path's view of a WebOb request, or None when it is not in the plain shape.

    Reads the environ as WebOb's ``Request`` attributes do, without side
    effects, until it is sure :func:`request_view` would succeed and build
    the same URL and headers; then the method and the body (``request.body``
    unless the environ says there is none).
    """
    if not _plain_request_class(request.__class__):
        return None
    environ = request.environ
    if environ.__class__ is not dict or "webob.url_encoding" in environ:
        return None
    scheme = environ.get("wsgi.url_scheme")
    host = environ.get("HTTP_HOST")
    if scheme.__class__ is not str or scheme not in _DEFAULT_PORTS or host.__class__ is not str:
        return None
    name, colon, port = host.partition(":")
    if not name or name.strip(_HOST_NAME_CHARS):
        return None
    if colon and (not 0 < len(port) <= 5 or port.strip(_DIGITS)):
        return None
    path = environ.get("SCRIPT_NAME", "")
    path_info = environ.get("PATH_INFO")
    if path.__class__ is not str or path_info.__class__ is not str:
        return None
    path += path_info
    if path and (path[0] != "/" or path.strip(_PATH_CHARS)):
        return None
    query = environ.get("QUERY_STRING", "")
    if query.__class__ is not str:
        return None
    if query and query.strip(_QUERY_CHARS) and _FAST_QUERY_RE.fullmatch(query) is None:
        return None
    fields = _environ_fields(environ)
    if fields is None:
        return None
    message = _EnvironMessage()
    message.scheme = scheme
    message.host = name.lower()
    # _normalise_authority: the default port is dropped from the URL.
    message.port = port if colon and port != _DEFAULT_PORTS[scheme] else None
    message.path = path
    message.query = query or None
    message.fields = fields
    message.method = environ.get("REQUEST_METHOD", "GET")
    # WebOb's Request.body is b"" without reading when is_body_readable is
    # false: a CONTENT_LENGTH of 0, or none and no readable-input flag.
    length = environ.get("CONTENT_LENGTH")
    if length == "0" or (
        (length is None or length == "")
        and not environ.get("wsgi.input_terminated", environ.get("webob.is_body_readable", False))
    ):
        message.body = b""
    else:
        message.body = request.body
    message._library = None
    return message


def _message(request: Any) -> _ViewMessage | _EnvironMessage:
    if not isinstance(request, RequestView):
        message = _environ_message(request)
        if message is not None:
            return message
    return _ViewMessage(request_view(request))


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
    # Counted in C before the pure-Python parser sees it: a header that is
    # all separators would cost milliseconds before any signature is checked.
    separators = data.count(b";") + data.count(b",") + data.count(b" ") + data.count(b"(")
    if separators > max_members * _SEPARATORS_PER_SIGNATURE:
        raise SignatureParseError(f"{header} has too many items or parameters")
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
        if name in _STRING_PARAMETERS:
            if type(value) is not str:
                raise SignatureParseError(f"the {name} parameter is not a string")
        elif name in _INTEGER_PARAMETERS and type(value) is not int:
            raise SignatureParseError(f"the {name} parameter is not an integer")
    if "keyid" in params and not 0 < len(params["keyid"]) <= MAX_KEYID_LENGTH:
        raise SignatureParseError("the keyid parameter is empty or too long")


def _components(inner: list) -> tuple[Component, ...]:
    if len(inner) > MAX_COMPONENTS:
        raise SignatureParseError(f"a signature covers more than {MAX_COMPONENTS} components")
    components = tuple(_parse_component(item) for item in inner)
    # RFC 9421 section 2.5: an identifier appears at most once (parameter
    # order is not significant, hence the frozenset).
    identities = {(c.name, frozenset(c.params)) for c in components}
    if len(identities) != len(components):
        raise SignatureParseError("a component is covered twice")
    return components


def _check_signature_value(sig_value: Any, sig_params: Any) -> None:
    if type(sig_value) is not bytes or not sig_value or sig_params:
        raise SignatureParseError("a Signature member is not a byte sequence")


def _parse_input_member(label: str, member: Any, signature: Any) -> ParsedSignature:
    inner, params = member
    if not isinstance(inner, list):
        raise SignatureParseError("a Signature-Input member is not an inner list")
    components = _components(inner)
    _check_param_types(params)
    sig_value, sig_params = signature
    _check_signature_value(sig_value, sig_params)
    return ParsedSignature(label, components, dict(params), sig_value)


def _parse_full(signature_input: str, signature: str, max_header_length: int, max_signatures: int):
    """The general parser: ``http_sf`` (RFC 8941) for both headers, then our checks."""
    inputs = _parse_dictionary(signature_input, "Signature-Input", max_header_length, max_signatures)
    signatures = _parse_dictionary(signature, "Signature", max_header_length, max_signatures)
    if set(inputs) != set(signatures):
        raise SignatureParseError("Signature-Input and Signature have different labels")
    return {label: _parse_input_member(label, inputs[label], signatures[label]) for label in inputs}


# The fast parser.  It accepts a strict subset of what http_sf accepts, the
# shapes signers send, and returns the same structures; for anything else it
# returns None and _parse_full decides (tests/hmac/test_fast_paths.py holds
# the two to that).  The subset: no leading or trailing whitespace; members
# separated by a comma with optional SP/HTAB around it; each member of
# Signature-Input an inner list of sf-strings without escapes, each with
# parameters; parameters whose values are such strings, Integers or the
# bare key (true); each member of Signature a byte sequence without
# parameters.  Every part ends at a character it cannot contain, so what
# backtracking there is stays linear in the input (no nested ambiguity; see
# test_fast_expressions_run_in_linear_time); inputs are bounded by
# max_header_length before any matching.
_SF_KEY = r"[a-z*][a-z0-9_.*-]*"
_SF_STRING_CHARS = r"[\x20\x21\x23-\x5b\x5d-\x7e]*"  # printable ASCII but '"' and '\'
_SF_STRING = f'"{_SF_STRING_CHARS}"'
_SF_PARAMS = rf"(?:; *{_SF_KEY}(?:=(?:{_SF_STRING}|-?[0-9]{{1,15}}))?)*"
_SF_ITEM = _SF_STRING + _SF_PARAMS
_SF_INNER_LIST = rf"\( *(?:{_SF_ITEM}(?: +{_SF_ITEM})*)? *\)"
# The signature parameters in the order the library's HTTPMessageSigner
# writes them (ours, requests-http-signature's), Integers without a leading
# zero: so written, they are their own serialisation, and their types are
# known.  Other orders take the general parameter expression.
_SF_CANONICAL_INTEGER = r"(?:0|-?[1-9][0-9]{0,14})"
_SIGNER_PARAMS = (
    rf'(;created=({_SF_CANONICAL_INTEGER});keyid="({_SF_STRING_CHARS})"(?:;alg="({_SF_STRING_CHARS})")?'
    rf'(?:;expires=({_SF_CANONICAL_INTEGER}))?(?:;nonce="({_SF_STRING_CHARS})")?(?:;tag="({_SF_STRING_CHARS})")?)'
)
# Groups: label, inner list, then either the signer's parameters (the whole,
# created, keyid, alg, expires, nonce, tag) if the member ends there, or any
# parameters.
_FAST_INPUT_MEMBER_RE = re.compile(
    rf"({_SF_KEY})=({_SF_INNER_LIST})(?:{_SIGNER_PARAMS}(?=[ \t]*,|\Z)|({_SF_PARAMS}))"
)
_FAST_SIGNATURE_MEMBER_RE = re.compile(rf"({_SF_KEY})=:([A-Za-z0-9+/]+)={{0,2}}:")
_FAST_SEPARATOR_RE = re.compile(r"[ \t]*,[ \t]*")
# On text those have matched already: one parameter, and one component with its parameters.
_FAST_PARAM_RE = re.compile(rf'; *({_SF_KEY})(?:=("[^"]*"|-?[0-9]+))?')
_FAST_ITEM_RE = re.compile(rf'"([^"]*)"({_SF_PARAMS})')


def _scan_members(value: str, member_re: re.Pattern, max_members: int) -> Sequence[re.Match] | None:
    match = member_re.fullmatch(value)  # one member, the usual case
    if match is not None:
        return (match,) if max_members >= 1 else None
    members = []
    position, end = 0, len(value)
    while True:
        match = member_re.match(value, position)
        if match is None:
            return None
        members.append(match)
        position = match.end()
        if position == end:
            return members if len(members) <= max_members else None
        separator = _FAST_SEPARATOR_RE.match(value, position)
        if separator is None or separator.end() == end or len(members) >= max_members:
            return None
        position = separator.end()


def _fast_params(text: str) -> dict[str, Any] | None:
    """Parameters as http_sf returns them; None for a duplicate key (http_sf's on_duplicate_key)."""
    params: dict[str, Any] = {}
    if text:
        for key, value in _FAST_PARAM_RE.findall(text):
            if key in params:
                return None
            if not value:
                params[key] = True
            elif value[0] == '"':
                params[key] = value[1:-1]
            else:
                params[key] = int(value)
    return params


def _fast_items(inner: str) -> list[tuple[str, dict[str, Any]]] | None:
    """An inner list's items, as http_sf returns them."""
    items = []
    for name, text in _FAST_ITEM_RE.findall(inner):
        params = _fast_params(text)
        if params is None:
            return None
        items.append((name, params))
    return items


class _Covered:
    """What verification derives from a component tuple, computed on first use.

    The fast parser keeps one per distinct inner list text (a bounded memo:
    signers send the same few), fully computed, so that a request pays for
    none of it; other parsed signatures get a fresh one.
    """

    __slots__ = ("components", "_identities", "_whole_digest", "_identifiers", "_inner", "_specs")

    def __init__(self, components: tuple[Component, ...]):
        self.components = components
        self._identities: frozenset | None = None
        self._whole_digest: bool | None = None
        self._identifiers: tuple[str, ...] | None = None
        self._inner: str | None = None
        self._specs: tuple[str, ...] | None = None

    def identities(self) -> frozenset:
        if self._identities is None:
            self._identities = frozenset((c.name, frozenset(c.params)) for c in self.components)
        return self._identities

    def whole_digest(self) -> bool:
        """A body needs ``content-digest`` covered bare or with ``;sf`` (a ``;key=`` member is not enough)."""
        if self._whole_digest is None:
            self._whole_digest = any(
                c.name == "content-digest" and set(dict(c.params)) <= {"sf"} for c in self.components
            )
        return self._whole_digest

    def identifiers(self) -> tuple[str, ...]:
        if self._identifiers is None:
            self._identifiers = tuple(c.identifier for c in self.components)
        return self._identifiers

    def inner_list(self) -> str:
        """RFC 8941 section 4.1.1.1: the identifiers separated by one space, in parentheses."""
        if self._inner is None:
            self._inner = f"({' '.join(self.identifiers())})"
        return self._inner

    def specs(self) -> tuple[str, ...]:
        """Each component as ``Component.spec``: the bare name, or the identifier when parameterised."""
        if self._specs is None:
            self._specs = tuple(
                identifier if c.params else c.name for c, identifier in zip(self.components, self.identifiers())
            )
        return self._specs


_COVERED: dict[str, _Covered] = {}
_COVERED_LIMIT = 256


def _fast_inputs(value: str, max_members: int) -> dict[str, tuple] | None:
    """Signature-Input as ``{label: (inner list text, _Covered or the items, parameters,
    their serialisation or None, whether their types are known)}``, or None."""
    if "  " in value:
        # Runs of spaces are never in the canonical serialisation signers
        # write, and the inner-list expression's optional spaces on both
        # sides of its items backtrack over them in quadratic time
        # ("sig1=(" + 8000 spaces: 85 ms): the general parser takes those.
        return None
    members = _scan_members(value, _FAST_INPUT_MEMBER_RE, max_members)
    if members is None:
        return None
    inputs = {}
    for match in members:
        label, inner, signer, created, keyid, alg, expires, nonce, tag, text = match.groups()
        if label in inputs:
            return None
        if signer is not None:
            params: dict[str, Any] | None = {"created": int(created), "keyid": keyid}
            if alg is not None:
                params["alg"] = alg
            if expires is not None:
                params["expires"] = int(expires)
            if nonce is not None:
                params["nonce"] = nonce
            if tag is not None:
                params["tag"] = tag
            serialised = signer
        else:
            params = _fast_params(text)
            if params is None:
                return None
            # Received parameters are their serialisation when each ";" is
            # followed by the key and no Integer has a leading zero (the
            # grammar leaves no other way to write these values).
            serialised = text if "; " not in text and "=0" not in text and "=-0" not in text else None
        covered: Any = _COVERED.get(inner)
        if covered is None:
            # Parsed now, so that a duplicate parameter defers to http_sf
            # before any later check, as the general parser would fail.
            covered = _fast_items(inner)
            if covered is None:
                return None
        inputs[label] = (inner, covered, params, serialised, signer is not None)
    return inputs


def _fast_signatures(value: str, max_members: int) -> dict[str, bytes] | None:
    members = _scan_members(value, _FAST_SIGNATURE_MEMBER_RE, max_members)
    if members is None:
        return None
    signatures = {}
    for match in members:
        label, data = match.groups()
        if label in signatures:
            return None
        # As http_sf: padding dropped, then what base64 needs put back.
        try:
            signatures[label] = base64.b64decode(data + "=" * (-len(data) % 4), validate=True)
        except (binascii.Error, ValueError):
            return None
    return signatures


def _parse_fast(signature_input: str, signature: str, max_header_length: int, max_signatures: int):
    """_parse's result for the common shapes; None for anything else."""
    if signature_input.__class__ is not str or signature.__class__ is not str:
        return None
    if len(signature_input) > max_header_length or len(signature) > max_header_length:
        return None
    inputs = _fast_inputs(signature_input, max_signatures)
    if inputs is None:
        return None
    signatures = _fast_signatures(signature, max_signatures)
    if signatures is None or inputs.keys() != signatures.keys():
        return None
    # From here on the structures are those http_sf would have returned, so
    # the checks (and the errors) are _parse_input_member's, in its order.
    parsed = {}
    extras = {}
    for label, (inner, covered, params, serialised, typed) in inputs.items():
        if covered.__class__ is not _Covered:
            covered = _Covered(_components(covered))
            covered.specs()
            covered.inner_list()
            covered.identities()
            covered.whole_digest()
            if len(_COVERED) >= _COVERED_LIMIT:
                _COVERED.clear()
            _COVERED[inner] = covered
        if not typed:
            _check_param_types(params)
        elif not 0 < len(params["keyid"]) <= MAX_KEYID_LENGTH:  # the rest of _check_param_types
            raise SignatureParseError("the keyid parameter is empty or too long")
        sig_value = signatures[label]
        if not sig_value:  # the rest of _check_signature_value holds: bytes, no parameters
            raise SignatureParseError("a Signature member is not a byte sequence")
        parsed[label] = _parsed_signature(label, covered.components, params, sig_value)
        extras[label] = (covered, serialised)
    return parsed, extras


def _parse(
    signature_input: str, signature: str, max_header_length: int, max_signatures: int
) -> tuple[dict[str, ParsedSignature], dict[str, tuple[_Covered, str | None]] | None]:
    """The parsed signatures and, when the fast parser read them, each label's
    _Covered and serialised parameters (or None where they must be serialised)."""
    fast = _parse_fast(signature_input, signature, max_header_length, max_signatures)
    if fast is not None:
        return fast
    return _parse_full(signature_input, signature, max_header_length, max_signatures), None


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
    return _parse(signature_input, signature, max_header_length, max_signatures)[0]


# --------------------------------------------------------------------------
# Signature base (RFC 9421 section 2.5)
# --------------------------------------------------------------------------


def _resolver(view: RequestView) -> HTTPSignatureComponentResolver:
    try:
        return HTTPSignatureComponentResolver(_Message(view.method, view.url, _FieldLines(view.headers)))
    except (HTTPMessageSignaturesException, ValueError, TypeError):
        raise MalformedRequest(_MALFORMED_URL) from None


def _library_value(resolver: HTTPSignatureComponentResolver, component: Component) -> Any:
    node = Item(component.name)
    node.params.update(component.params)
    try:
        return resolver.resolve(node)
    except (HTTPMessageSignaturesException, ValueError, TypeError, KeyError, UnicodeError):
        # RFC 9421 section 2.5: a component that cannot be resolved fails
        # the whole signature (e.g. a covered header that is absent).
        raise BadSignature(_UNRESOLVABLE) from None


# What ser_params produces for these parameters when their values are True,
# an in-range Integer or a printable ASCII string; anything else goes to it.
_PLAIN_PARAMETER_KEYS = _SIGNATURE_PARAMETERS
_MAX_SF_INTEGER = 999_999_999_999_999


def _ser_signature_params(params: Mapping[str, Any]) -> str:
    serialised = ""
    for key, value in params.items():
        if key.__class__ is not str or key not in _PLAIN_PARAMETER_KEYS:
            return ser_params(dict(params))
        if value is True:
            serialised += ";" + key
        elif value.__class__ is int and -_MAX_SF_INTEGER <= value <= _MAX_SF_INTEGER:
            serialised += f";{key}={value}"
        elif value.__class__ is str and value.isascii() and value.isprintable():
            serialised += f';{key}="' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        else:
            return ser_params(dict(params))
    return serialised


def _parses_field(component: Component) -> bool:
    """Whether resolving ``component`` parses its field as a structured field (``sf``, ``key``)."""
    return any(key == "sf" or key == "key" for key, _ in component.params)


def _base(
    message: _ViewMessage | _EnvironMessage,
    parsed: ParsedSignature,
    covered: _Covered,
    serialised_params: str | None = None,
) -> bytes:
    message.open()
    lines = []
    for identifier, component in zip(covered.identifiers(), parsed.components):
        if component.params and _parses_field(component):
            field = message.header(component.name)
            if field is not None and len(field) > MAX_STRUCTURED_FIELD_LENGTH:
                raise BadSignature(_UNRESOLVABLE)
        value = message.value(component)
        # A newline would let one line of the base pose as two.
        if not isinstance(value, str) or "\n" in value or "\r" in value:
            raise BadSignature("a covered component has a value that cannot be signed")
        lines.append(f"{identifier}: {value}")
    # RFC 9421 section 2.3: @signature-params is the serialised inner list
    # (RFC 8941 section 4.1.1.1: items separated by one space, then parameters).
    if serialised_params is None:
        serialised_params = _ser_signature_params(parsed.params)
    lines.append(f'"@signature-params": {covered.inner_list()}{serialised_params}')
    base = "\n".join(lines)
    if not base.isascii():
        raise BadSignature("the signature base is not ASCII")
    return base.encode("ascii")


def signature_base(request: Any, parsed: ParsedSignature) -> bytes:
    """The signature base of one parsed signature over a request (RFC 9421 section 2.5).

    One line ``<identifier>: <value>`` per covered component, in order, then
    ``"@signature-params": <inner list>``; lines joined by LF, no trailing LF.
    """
    return _base(_message(request), parsed, _Covered(parsed.components))


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
    # The usual shape (byte sequences without parameters) as the fast parser
    # reads Signature; http_sf for anything else.
    fast = _fast_signatures(value, max_length) if value.__class__ is str else None
    if fast is not None:
        members: Iterable[tuple[str, Any]] = fast.items()
    else:
        try:
            parsed = http_sf.parse(
                value.encode("ascii"), tltype="dictionary", on_duplicate_key=_reject_digest_duplicate
            )
        except (ValueError, TypeError, KeyError, UnicodeError):
            raise MalformedDigest("Content-Digest is not a structured-field dictionary") from None
        members = [(algorithm, digest) for algorithm, (digest, _params) in parsed.items()]
    matched = True
    supported = 0
    for algorithm, digest in members:
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


def _identity(spec: str) -> tuple[str, frozenset]:
    """A component spec (``"date"`` or ``'"@query-param";name="a"'``) as a comparable identity."""
    if spec.startswith('"'):
        value, params = http_sf.parse(spec.encode("ascii"), tltype="item")
        return str(value), frozenset(params.items())
    return spec, frozenset()


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


# HMAC-SHA256 (RFC 2104) keeps, per key, the SHA-256 states after the inner
# and outer padded key, so that a request hashes only its own data (as the
# standard library's hmac module does in pure Python, but without
# re-deriving the pads each time).  Bounded: cleared when full.
_HMAC_STATES: dict[bytes, tuple[Any, Any]] = {}
_HMAC_STATES_LIMIT = 64
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


def _hmac_sha256(key: bytes, message: bytes) -> bytes:
    states = _HMAC_STATES.get(key)
    if states is None:
        block = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
        states = (hashlib.sha256(block.translate(_IPAD)), hashlib.sha256(block.translate(_OPAD)))
        if len(_HMAC_STATES) >= _HMAC_STATES_LIMIT:
            _HMAC_STATES.clear()
        _HMAC_STATES[key] = states
    inner = states[0].copy()
    inner.update(message)
    outer = states[1].copy()
    outer.update(inner.digest())
    return outer.digest()


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
