"""The refusals of HTTP message signature verification, one class per error code.

RFC 9421 section 3.2 lists the reasons a verifier stops ("the verifier MUST
fail"); section 3.2.1 leaves the application's own requirements (coverage,
clock window, nonce) to it, and RFC 9530 section 2 adds the digest check.
Each reason is a subclass of :class:`SignatureError` with a stable ``code``,
so a policy turns any of them into one 401 without knowing which.
"""
from __future__ import annotations

__all__ = [
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
    "SignatureError",
    "SignatureParseError",
    "UnknownKey",
]


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
