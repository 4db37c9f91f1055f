"""Webhook signatures: HMAC-SHA256 over a timestamp and the payload.

The scheme (ours; close to what Stripe and Standard Webhooks do, kept
deliberately small):

* ``Webhook-Timestamp: <t>`` -- seconds since the epoch, canonical decimal
  (no sign, no leading zeros), at most 12 digits;
* ``Webhook-Signature: v1=<hex>[, v1=<hex>...]`` -- each ``<hex>`` is the
  lowercase hex HMAC-SHA256 (RFC 2104) of the bytes ``b"<t>." + payload``
  under one secret (``bytes``, or ``str`` taken as its UTF-8 bytes; at
  least 32 bytes, like every HMAC secret of this package).  During a secret
  rotation the sender signs with both secrets (several ``v1`` values) and the
  receiver accepts any of its own secrets: the two sides can switch over
  independently.  Entries with another scheme name (``v2=...``) are ignored,
  so the format can grow.

The timestamp is signed, so a captured delivery is only good within the
tolerance window; a receiver that must not process one twice deduplicates on
the event id inside the payload.  Every input is bounded before it is
scanned, and every comparison is constant-time.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import time
from typing import Sequence, Union

__all__ = [
    "MAX_SIGNATURE_HEADER_LENGTH",
    "MIN_SECRET_BYTES",
    "SCHEME",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "WebhookVerificationError",
    "sign_webhook",
    "verify_webhook",
]

TIMESTAMP_HEADER = "Webhook-Timestamp"
SIGNATURE_HEADER = "Webhook-Signature"
SCHEME = "v1"
MAX_SIGNATURE_HEADER_LENGTH = 1024
#: Entries in one ``Webhook-Signature`` header (any scheme).
MAX_SIGNATURES = 8
#: Secrets a receiver tries at once (current and previous ones).
MAX_SECRETS = 4
#: The shortest secret accepted, in bytes (a ``str`` counts by its UTF-8 bytes).
MIN_SECRET_BYTES = 32

#: A secret: bytes, or text (used as its UTF-8 bytes, e.g. the hex that
#: ``authsuite gen-secret`` prints, read from the environment).
Secret = Union[bytes, bytearray, str]

_TIMESTAMP_RE = re.compile(r"0|[1-9][0-9]{0,11}")
_ENTRY_RE = re.compile(r"([a-z][a-z0-9]{0,7})=([A-Za-z0-9+/=_-]{1,256})")
_V1_RE = re.compile(r"[0-9a-f]{64}")


class WebhookVerificationError(Exception):
    """A webhook delivery was refused.

    ``code`` is one of ``malformed_header``, ``stale_timestamp``,
    ``future_timestamp``, ``invalid_signature``; the message never contains a
    signature or a secret.
    """

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _secrets(secret: Secret | Sequence[Secret]) -> list[bytes]:
    """One secret or a list of them, each ``bytes`` or ``str`` (its UTF-8 bytes), as bytes."""
    candidates = [secret] if isinstance(secret, (str, bytes, bytearray)) else secret
    try:
        secrets = list(candidates)
    except TypeError:
        raise TypeError("a webhook secret is bytes or str, or a list of them") from None
    if not secrets or len(secrets) > MAX_SECRETS:
        raise ValueError(f"give 1 to {MAX_SECRETS} secrets, got {len(secrets)}")
    keys = []
    for item in secrets:
        if isinstance(item, str):
            item = item.encode("utf-8")
        elif not isinstance(item, (bytes, bytearray)):
            raise TypeError(f"a webhook secret is bytes or str, not {type(item).__name__}")
        if len(item) < MIN_SECRET_BYTES:
            # As for every other HMAC secret here: at least the hash's output
            # size (RFC 2104 section 3), so it cannot be guessed by brute force.
            raise ValueError(
                f"a webhook secret has at least {MIN_SECRET_BYTES} bytes (got {len(item)}); "
                "`authsuite gen-secret` prints one"
            )
        keys.append(bytes(item))
    return keys


def _mac(secret: bytes, timestamp: str, payload: bytes) -> bytes:
    return hmac.new(secret, timestamp.encode("ascii") + b"." + payload, hashlib.sha256).digest()


def sign_webhook(payload: bytes, secret: Secret | Sequence[Secret], timestamp: int | None = None) -> dict[str, str]:
    """Sign a webhook payload; return the ``Webhook-Timestamp`` and ``Webhook-Signature`` headers.

    ``secret`` is ``bytes`` or ``str`` (its UTF-8 bytes, so the hex text of
    ``authsuite gen-secret`` and its bytes sign alike), at least 32 bytes; a
    list of them (at most 4) signs with each during a rotation: one ``v1=``
    value per secret, in order.  ``timestamp`` defaults to now.  A bad secret
    raises ``TypeError`` or ``ValueError``.
    """
    if not isinstance(payload, (bytes, bytearray)):
        raise TypeError("the payload is bytes")
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    if not _TIMESTAMP_RE.fullmatch(stamp):
        raise ValueError("the timestamp is a non-negative integer of at most 12 digits")
    values = [f"{SCHEME}={_mac(s, stamp, bytes(payload)).hex()}" for s in _secrets(secret)]
    return {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: ", ".join(values)}


def _parse_timestamp(timestamp: str | int) -> tuple[str, int]:
    text = str(timestamp) if isinstance(timestamp, int) and not isinstance(timestamp, bool) else timestamp
    if not isinstance(text, str) or not _TIMESTAMP_RE.fullmatch(text):
        raise WebhookVerificationError("malformed_header", f"{TIMESTAMP_HEADER} is not a canonical integer")
    return text, int(text)


def _parse_v1(signature: str) -> list[bytes]:
    """The ``v1`` MACs of a ``Webhook-Signature`` header, bounded and strictly parsed."""
    if not isinstance(signature, str) or len(signature) > MAX_SIGNATURE_HEADER_LENGTH:
        raise WebhookVerificationError("malformed_header", f"{SIGNATURE_HEADER} is missing or too long")
    entries = [entry.strip(" \t") for entry in signature.split(",")]
    if len(entries) > MAX_SIGNATURES:
        raise WebhookVerificationError("malformed_header", f"{SIGNATURE_HEADER} has too many entries")
    macs = []
    for entry in entries:
        match = _ENTRY_RE.fullmatch(entry)
        if match is None:
            raise WebhookVerificationError("malformed_header", f"{SIGNATURE_HEADER} is malformed")
        scheme, value = match.groups()
        if scheme != SCHEME:
            continue  # another scheme version: not ours to judge
        if not _V1_RE.fullmatch(value):
            raise WebhookVerificationError("malformed_header", f"a {SCHEME} value is not 64 lowercase hex digits")
        macs.append(bytes.fromhex(value))
    if not macs:
        raise WebhookVerificationError("malformed_header", f"{SIGNATURE_HEADER} has no {SCHEME} value")
    return macs


def verify_webhook(
    payload: bytes,
    signature: str,
    timestamp: str | int,
    secret: Secret | Sequence[Secret],
    tolerance_seconds: int = 300,
    now: float | None = None,
    *,
    future_skew_seconds: int = 60,
) -> None:
    """Verify a webhook delivery; raise :class:`WebhookVerificationError` if refused.

    ``signature`` and ``timestamp`` are the header values as received;
    ``secret`` is as for :func:`sign_webhook`, or a list of the receiver's
    current and previous secrets.
    A timestamp older than ``tolerance_seconds`` is stale, one later than
    ``future_skew_seconds`` (clock skew between sender and receiver) is
    refused too.  Accepted when any ``v1`` value matches any secret.
    """
    if not isinstance(payload, (bytes, bytearray)):
        raise TypeError("the payload is bytes")
    keys = _secrets(secret)
    stamp, sent_at = _parse_timestamp(timestamp)
    macs = _parse_v1(signature)
    current = time.time() if now is None else now
    if current - sent_at > tolerance_seconds:
        raise WebhookVerificationError("stale_timestamp", f"{TIMESTAMP_HEADER} is older than the tolerance")
    if sent_at - current > future_skew_seconds:
        raise WebhookVerificationError("future_timestamp", f"{TIMESTAMP_HEADER} is in the future")
    expected = [_mac(key, stamp, bytes(payload)) for key in keys]
    # Try every pair without stopping at the first match, so the time taken
    # does not tell which value or which secret matched.
    matched = False
    for mac in macs:
        for candidate in expected:
            matched |= hmac.compare_digest(mac, candidate)
    if not matched:
        raise WebhookVerificationError("invalid_signature", f"{SIGNATURE_HEADER} does not match the payload")
