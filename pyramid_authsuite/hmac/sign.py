"""Signing a request (RFC 9421 section 3.1), for clients, tests and the ``authsuite`` command.

The library's ``HTTPMessageSigner`` with our defaults: ``created`` now, a
128-bit ``nonce``, ``@method``, ``@authority`` and ``@target-uri`` covered,
and a ``Content-Digest`` (RFC 9530, sha-256) added and covered when there is
a body, computed by the same code the verifier checks it with.
"""
from __future__ import annotations

import datetime
import secrets
import time
from typing import Any, Mapping, Sequence

from cryptography.hazmat.primitives.asymmetric import ed25519
from http_message_signatures import HTTPMessageSignaturesException, HTTPMessageSigner, HTTPSignatureKeyResolver

from pyramid_authsuite.hmac.components import _Message
from pyramid_authsuite.hmac.digest import content_digest, verify_content_digest
from pyramid_authsuite.hmac.errors import SignatureError
from pyramid_authsuite.hmac.model import _NONCE_RE, ALGORITHMS, MAX_NONCE_LENGTH, _check_key
from pyramid_authsuite.hmac.structured import _identity

__all__ = ["DEFAULT_SIGNED_COMPONENTS", "sign_request"]

#: What :func:`sign_request` covers by default (``content-digest`` is added
#: when there is a body).
DEFAULT_SIGNED_COMPONENTS: tuple[str, ...] = ("@method", "@authority", "@target-uri")


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
    key: bytes | str | ed25519.Ed25519PrivateKey,
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
    random bits, ``components`` to :data:`DEFAULT_SIGNED_COMPONENTS`.  An
    hmac-sha256 ``key`` may be ``str`` (its UTF-8 bytes, as the server reads
    ``env:`` and ``file:`` secrets).  Bad arguments raise ValueError.
    """
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unsupported algorithm {algorithm!r}; use one of {sorted(ALGORITHMS)}")
    if isinstance(key, str) and algorithm == "hmac-sha256":
        key = key.encode("utf-8")
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
