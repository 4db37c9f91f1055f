"""Sign requests with a service key (RFC 9421): ``ServiceAuth`` for ``requests``,
``SignatureAuth`` for ``httpx`` (sync and async).

::

    import requests
    from pyramid_authsuite.hmac.client import ServiceAuth

    auth = ServiceAuth("billing", secret_bytes)                       # hmac-sha256
    auth = ServiceAuth("reports", ed25519_private_key, algorithm="ed25519")
    requests.post("https://api.example.com/charges", json={...}, auth=auth)

    import httpx
    from pyramid_authsuite.hmac.client import SignatureAuth

    auth = SignatureAuth("billing", secret_bytes)                     # same arguments
    httpx.post("https://api.example.com/charges", json={...}, auth=auth)
    async with httpx.AsyncClient(auth=auth) as client:
        await client.post("https://api.example.com/charges", json={...})

Each request gets ``Content-Digest`` (sha-256) when it has a body, a fresh
``created`` and ``nonce``, and a signature covering ``@method``,
``@authority``, ``@target-uri`` and ``content-digest`` (with a body).
Other RFC 9421 clients work too, e.g. ``requests_http_signature.HTTPSignatureAuth``
with ``covered_component_ids=("@method", "@authority", "@target-uri", "content-digest")``.
"""
from __future__ import annotations

from typing import Any, Generator, Sequence

import httpx
import requests

from pyramid_authsuite.client import request_body
from pyramid_authsuite.hmac.protocol import ALGORITHMS, MIN_HMAC_KEY_LENGTH, sign_request


def signing_key(key: Any, algorithm: str) -> Any:
    """``key`` as :func:`sign_request` takes it for ``algorithm``; ``ValueError`` or
    ``TypeError`` (never naming the key's value) when it cannot sign with it."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unsupported algorithm {algorithm!r}; use one of {sorted(ALGORITHMS)}")
    if algorithm != "hmac-sha256":
        from cryptography.hazmat.primitives.asymmetric import ed25519

        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise TypeError(f"an {algorithm} key is an Ed25519PrivateKey, not {type(key).__name__}")
        return key
    if isinstance(key, str):
        key = key.encode("utf-8")
    elif isinstance(key, (bytearray, memoryview)):
        key = bytes(key)
    elif not isinstance(key, bytes):
        raise TypeError(f"an hmac-sha256 key is bytes or str, not {type(key).__name__}")
    if len(key) < MIN_HMAC_KEY_LENGTH:
        raise ValueError(f"an hmac-sha256 key has at least {MIN_HMAC_KEY_LENGTH} bytes (got {len(key)})")
    return key


class _ServiceKeySigner:
    """What both auth classes share: the key, checked once, and the signing of one request.

    ``keyid``, ``key``, ``algorithm``, ``components``: as :class:`ServiceAuth` takes them.
    """

    def __init__(self, keyid: str, key: Any, algorithm: str = "hmac-sha256", components: Sequence[str] = ()):
        self.keyid = keyid
        self._key = signing_key(key, algorithm)
        self.algorithm = algorithm
        self.extra_components = tuple(components)

    def __repr__(self) -> str:
        # The key id and algorithm only: never the key.
        return f"{type(self).__name__}(keyid={self.keyid!r}, algorithm={self.algorithm!r})"

    def _signature_headers(self, method: str, url: str, headers: dict[str, str], body: bytes) -> dict[str, str]:
        """The headers to add (``Signature-Input``, ``Signature``, ``Content-Digest`` with a body)."""
        components = ["@method", "@authority", "@target-uri"]
        if body:
            components.append("content-digest")
        components.extend(c for c in self.extra_components if c not in components)
        return sign_request(
            method,
            url,
            headers,
            body,
            keyid=self.keyid,
            key=self._key,
            algorithm=self.algorithm,
            components=components,
        )


class ServiceAuth(_ServiceKeySigner, requests.auth.AuthBase):
    """A ``requests`` auth class for service keys.

    ``keyid``
        The key id the server knows this key by.
    ``key``
        The shared secret for ``hmac-sha256``: ``bytes``, or ``str`` used as
        its UTF-8 bytes (the text ``authsuite gen-secret`` printed, as the
        server reads it from ``env:`` or ``file:``), at least 32 bytes. For
        ``ed25519``, an ``Ed25519PrivateKey``. Checked here, so a wrong key
        fails when the auth is built, not at the first request.
    ``algorithm``
        ``hmac-sha256`` (default) or ``ed25519``.
    ``components``
        Extra components to cover beyond the default ones.
    """

    def __call__(self, prepared: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request_body(prepared, "ServiceAuth", "the Content-Digest")
        prepared.headers.update(self._signature_headers(prepared.method, prepared.url, dict(prepared.headers), body))
        return prepared


class SignatureAuth(_ServiceKeySigner, httpx.Auth):
    """An ``httpx`` auth class for service keys: ``ServiceAuth``'s signature, for
    ``httpx.Client`` and ``httpx.AsyncClient`` from one :meth:`auth_flow`.

    Arguments as :class:`ServiceAuth`. httpx reads the whole body before the
    flow runs (``requires_request_body``), so a streamed body is signed as
    the bytes it sends; ``Content-Digest`` covers them.
    """

    requires_request_body = True

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Sign ``request`` (its body already read) and send it."""
        # str(request.url) is the URL as httpx puts it on the wire: percent-encoded, with the port.
        request.headers.update(
            self._signature_headers(request.method, str(request.url), dict(request.headers), request.content)
        )
        yield request
