"""The data HTTP message signatures are about: keys, component identifiers, parsed and verified signatures.

* :class:`ServiceKey`: a configured key and the one algorithm it may be used
  with (RFC 9421 section 3.2: the algorithm comes from the key, never from
  the message), with the allow-list :data:`ALGORITHMS` (section 3.3);
* :class:`Component`: a covered component identifier (section 2);
* :class:`ParsedSignature`: one label of ``Signature-Input`` with its
  ``Signature`` bytes (sections 4.1, 4.2);
* :class:`VerifiedSignature`: what verification vouches for;
* :class:`RequestView`: the parts of a request a signature covers.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from dataclasses import fields as _dataclass_fields
from typing import Any, Mapping, Sequence

from cryptography.hazmat.primitives.asymmetric import ed25519
from http_message_signatures import algorithms
from http_sf.parameters import ser_params

__all__ = [
    "ALGORITHMS",
    "MAX_NONCE_LENGTH",
    "MIN_HMAC_KEY_LENGTH",
    "Component",
    "ParsedSignature",
    "RequestView",
    "ServiceKey",
    "VerifiedSignature",
]

#: Explicit allow-list (RFC 9421 section 3.3): nothing else is ever verified,
#: whatever a message's ``alg`` says.
ALGORITHMS: Mapping[str, type[algorithms.HTTPSignatureAlgorithm]] = {
    "hmac-sha256": algorithms.HMAC_SHA256,
    "ed25519": algorithms.ED25519,
}

MAX_NONCE_LENGTH = 128
#: Shortest HMAC key accepted: RFC 2104 section 3 advises at least the hash
#: output length.
MIN_HMAC_KEY_LENGTH = 32

# A nonce becomes part of a replay-cache key: keep it to URL-safe/base64 text.
_NONCE_RE = re.compile(r"[A-Za-z0-9._~+/=-]+")
_SIGNATURE_PARAMETERS = frozenset({"created", "expires", "nonce", "alg", "keyid", "tag"})


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



def _check_key(algorithm: str, key: Any, *, public: bool) -> None:
    """The key's type must match its algorithm, so one can never pass for the other."""
    if algorithm == "hmac-sha256":
        if not isinstance(key, bytes) or len(key) < MIN_HMAC_KEY_LENGTH:
            raise ValueError(f"an hmac-sha256 key is bytes of at least {MIN_HMAC_KEY_LENGTH} bytes")
        return
    expected = ed25519.Ed25519PublicKey if public else ed25519.Ed25519PrivateKey
    if not isinstance(key, expected):
        raise ValueError(f"an ed25519 key must be an {expected.__name__}")
