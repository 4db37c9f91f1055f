"""Pre-built environs signed with an RFC 9421 service key, one fresh nonce each (signing is not timed)."""
from __future__ import annotations

import io
import itertools
import secrets

from bench.harness import environ_for
from pyramid_authsuite.hmac.protocol import sign_request


class ServiceSigner:
    """``signer(count)`` returns ``count`` environs for ``path``, each signed by ``sign_request``."""

    _counter = itertools.count()
    _run = secrets.token_urlsafe(6)

    def __init__(self, keyid: str, key: bytes, *, path: str = "/protected", method: str = "GET", body: bytes = b"",
                 content_type: str = ""):
        headers = {"Content-Type": content_type} if content_type else {}
        self.template = environ_for(path, headers, method=method)
        if body:
            self.template["CONTENT_LENGTH"] = str(len(body))
        host = self.template["HTTP_HOST"].removesuffix(":80")
        self.url = f"{self.template['wsgi.url_scheme']}://{host}{path}"
        self.keyid, self.key, self.method, self.body, self.headers = keyid, key, method, body, headers

    def __call__(self, count: int) -> list[dict]:
        environs = []
        components = ["@method", "@authority", "@target-uri"] + (["content-digest"] if self.body else [])
        for _ in range(count):
            signed = sign_request(
                self.method, self.url, self.headers, self.body, keyid=self.keyid, key=self.key,
                algorithm="hmac-sha256", nonce=f"{self._run}{next(self._counter)}", components=components,
            )
            environ = dict(self.template)
            for name, value in signed.items():
                environ["HTTP_" + name.upper().replace("-", "_")] = value
            environ["wsgi.input"] = io.BytesIO(self.body)
            environs.append(environ)
        return environs
