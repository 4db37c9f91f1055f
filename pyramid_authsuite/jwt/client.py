"""``BearerAuth``: send an access token (RFC 6750) with ``httpx`` clients.

::

    import httpx
    from pyramid_authsuite.basic.client import BasicAuth
    from pyramid_authsuite.jwt.client import BearerAuth

    token = httpx.post(base + "/tokens", auth=BasicAuth("alice", password)).json()["access_token"]
    with httpx.Client(base_url=base, auth=BearerAuth(token)) as client:
        client.get("/whoami")

One :meth:`BearerAuth.auth_flow` serves ``httpx.Client`` and
``httpx.AsyncClient`` alike.
"""
from __future__ import annotations

import re
from typing import Generator

import httpx

__all__ = ["BearerAuth"]

# RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
_B64TOKEN = re.compile(r"[A-Za-z0-9._~+/-]+=*")


class BearerAuth(httpx.Auth):
    """``auth=BearerAuth(token)``: ``Authorization: Bearer <token>`` on every request.

    ``token``
        The access token (``POST /tokens`` answers it as ``access_token``).
        Checked against RFC 6750's ``b64token`` syntax here (``ValueError``,
        naming no part of it), so a token with a line break can never split
        a header. ``repr()`` never shows it.
    """

    def __init__(self, token: str):
        if not isinstance(token, str) or not _B64TOKEN.fullmatch(token):
            raise ValueError("a bearer token is 1 or more characters of [A-Za-z0-9._~+/-] then '='s (RFC 6750)")
        self._header = f"Bearer {token}"

    def __repr__(self) -> str:
        return "BearerAuth(...)"  # never the token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the ``Authorization`` header and send (httpx drives this for sync and async clients)."""
        request.headers["Authorization"] = self._header
        yield request
