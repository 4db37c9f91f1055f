"""``BasicAuth``: HTTP Basic credentials for ``httpx`` clients, as UTF-8 (RFC 7617).

::

    import httpx
    from pyramid_authsuite.basic.client import BasicAuth

    auth = BasicAuth("zoë", "pässword")
    httpx.get("https://api.example.com/whoami", auth=auth)
    async with httpx.AsyncClient(auth=auth) as client:
        await client.get("https://api.example.com/whoami")

One :meth:`BasicAuth.auth_flow` serves ``httpx.Client`` and
``httpx.AsyncClient`` alike. The header is the one
:func:`pyramid_authsuite.client.basic_authorization` makes for ``requests``'
:class:`~pyramid_authsuite.client.UTF8BasicAuth` (the ``charset="UTF-8"`` our
server announces).
"""
from __future__ import annotations

from typing import Generator

import httpx

from pyramid_authsuite.client import basic_authorization

__all__ = ["BasicAuth"]


class BasicAuth(httpx.Auth):
    """``auth=BasicAuth(userid, password)``: RFC 7617 Basic credentials encoded as UTF-8.

    ``userid``
        The user-id (no ``:``: ``ValueError`` here, before any request, as it
        could not be told from the password).
    ``password``
        The password. Neither is kept as text: only the header, and
        ``repr()`` shows neither.
    """

    def __init__(self, userid: str, password: str):
        self._header = basic_authorization(userid, password)

    def __repr__(self) -> str:
        return "BasicAuth(...)"  # never the credentials

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the ``Authorization`` header and send (httpx drives this for sync and async clients)."""
        request.headers["Authorization"] = self._header
        yield request
