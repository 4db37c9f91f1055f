"""``ServiceAuth``: sign ``requests`` calls with a service key (RFC 9421).

::

    import requests
    from pyramid_authsuite.hmac.client import ServiceAuth

    auth = ServiceAuth("billing", secret_bytes)                       # hmac-sha256
    auth = ServiceAuth("reports", ed25519_private_key, algorithm="ed25519")
    requests.post("https://api.example.com/charges", json={...}, auth=auth)

Each request gets ``Content-Digest`` (sha-256) when it has a body, a fresh
``created`` and ``nonce``, and a signature covering ``@method``,
``@authority``, ``@target-uri`` and ``content-digest`` (with a body).
Other RFC 9421 clients work too, e.g. ``requests_http_signature.HTTPSignatureAuth``
with ``covered_component_ids=("@method", "@authority", "@target-uri", "content-digest")``.
"""
from __future__ import annotations

from typing import Any, Sequence

import requests

from pyramid_authsuite.hmac.protocol import sign_request


class ServiceAuth(requests.auth.AuthBase):
    """A ``requests`` auth class for service keys.

    ``keyid``
        The key id the server knows this key by.
    ``key``
        The shared secret (bytes, 32 or more) for ``hmac-sha256``, or an
        ``Ed25519PrivateKey`` for ``ed25519``.
    ``algorithm``
        ``hmac-sha256`` (default) or ``ed25519``.
    ``components``
        Extra components to cover beyond the default ones.
    """

    def __init__(self, keyid: str, key: Any, algorithm: str = "hmac-sha256", components: Sequence[str] = ()):
        self.keyid = keyid
        self._key = key
        self.algorithm = algorithm
        self.extra_components = tuple(components)

    def __repr__(self) -> str:
        return f"ServiceAuth(keyid={self.keyid!r}, algorithm={self.algorithm!r})"

    def __call__(self, prepared: requests.PreparedRequest) -> requests.PreparedRequest:
        body = prepared.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        if not isinstance(body, (bytes, bytearray)):
            raise TypeError("ServiceAuth signs bodies given as bytes or str, not streams: the digest needs the whole body")
        components = ["@method", "@authority", "@target-uri"]
        if body:
            components.append("content-digest")
        components.extend(c for c in self.extra_components if c not in components)
        headers = sign_request(
            prepared.method,
            prepared.url,
            dict(prepared.headers),
            bytes(body),
            keyid=self.keyid,
            key=self._key,
            algorithm=self.algorithm,
            components=components,
        )
        prepared.headers.update(headers)
        return prepared
