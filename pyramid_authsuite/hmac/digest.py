"""``Content-Digest`` (RFC 9530 section 2): make one, and check one against a body.

The registry's two secure algorithms (section 5), ``sha-256`` and
``sha-512``, are the ones we compute and accept; others are ignored, as
section 2 lets a recipient do.  The usual shape is read by the fast parser
of ``Signature`` (:func:`~pyramid_authsuite.hmac.structured._fast_signatures`),
anything else by ``http_sf`` (RFC 8941).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any, Callable, Iterable, Mapping

import http_sf

from pyramid_authsuite.hmac.errors import DigestMismatch, MalformedDigest
from pyramid_authsuite.hmac.structured import _fast_signatures

__all__ = ["content_digest", "verify_content_digest"]

# RFC 9530 section 5: the registry's two secure algorithms; a Content-Digest
# must carry at least one of them.
_DIGESTS: Mapping[str, Callable[[bytes], Any]] = {
    "sha-256": hashlib.sha256,
    "sha-512": hashlib.sha512,
}


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
