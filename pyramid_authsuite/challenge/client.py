"""``ChallengeAuth``: answer a fresh server challenge for every ``requests`` call.

::

    import requests
    from pyramid_authsuite.challenge.client import ChallengeAuth

    auth = ChallengeAuth("https://api.example.com", "key-3f1c...", ed25519_private_key)
    requests.get("https://api.example.com/whoami", auth=auth)

    # Log in once, then use the Hawk session (one request per call instead of two):
    token = requests.post("https://api.example.com/hawk-sessions", auth=auth).json()["token"]

The key is an hmac secret (``bytes``, or ``str`` for the text
``authsuite add-key --kind hmac`` printed), an ``Ed25519PrivateKey`` or an
``RSAPrivateKey`` (``cryptography``); its kind is taken from its type.
Each request first posts ``{"key_id": ...}`` to ``<base_url>/challenges``,
then sends the answer in ``Authorization: Challenge ...``. A challenge is
good for one answer, so a request that is sent again (a redirect followed
with the same header, a retry by an adapter) is refused by the server.
"""
from __future__ import annotations

from typing import Any

import requests

from pyramid_authsuite.challenge import protocol
from pyramid_authsuite.client import NoAuth, ServerRefusedError


class ChallengeRequestError(ServerRefusedError):
    """``POST /challenges`` failed, or answered with a challenge this key cannot answer.

    ``status`` is the HTTP status (``None`` when the challenge itself was
    wrong, e.g. for another kind of key: usually an unknown key id). When
    the server refused, ``problem``, ``code`` and ``detail`` say why (see
    :class:`pyramid_authsuite.client.ServerRefusedError`).
    """

    def __init__(self, message: str, status: int | None = None, *, response: requests.Response | None = None):
        super().__init__(message, response=response)
        self.status = status


class ChallengeAuth(requests.auth.AuthBase):
    """A ``requests`` auth class for challenge-response keys.

    ``base_url``
        Where the API's ``/challenges`` endpoint is (``https://api.example.com``,
        or with a path prefix).
    ``key_id``
        The key id registered on the account (``authsuite add-key``).
    ``key``
        ``bytes`` / ``str`` (hmac secret), ``Ed25519PrivateKey`` or ``RSAPrivateKey``.
    ``ttl``
        Lifetime to ask for, in seconds (default: the server's).
    ``session``
        The ``requests.Session`` that fetches challenges (TLS settings,
        proxies); a new one by default. Never the session this auth is set
        on: that would ask a challenge for the challenge request.
    ``timeout``
        Seconds for the challenge request. Default 10.
    """

    def __init__(
        self,
        base_url: str,
        key_id: str,
        key: Any,
        ttl: int | None = None,
        session: requests.Session | None = None,
        timeout: float = 10.0,
    ):
        if protocol.KEY_ID_PATTERN.fullmatch(key_id) is None:
            raise ValueError("malformed key id")
        self.kind = protocol.kind_of_key(key)
        if self.kind == "hmac":
            key = key.encode("utf-8") if isinstance(key, str) else bytes(key)
            protocol.load_private_key("hmac", key)  # refuses secrets under 32 bytes
        self.challenges_url = base_url.rstrip("/") + "/challenges"
        self.key_id = key_id
        self._key = key
        self.ttl = ttl
        self._session = session or requests.Session()
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"ChallengeAuth({self.challenges_url!r}, key_id={self.key_id!r}, kind={self.kind!r})"

    def fetch_challenge(self) -> dict[str, Any]:
        """``POST /challenges`` for this key; the JSON answer."""
        body: dict[str, Any] = {"key_id": self.key_id}
        if self.ttl is not None:
            body["ttl"] = self.ttl
        # Without credentials, whatever the session's auth or a .netrc say.
        response = self._session.post(self.challenges_url, json=body, timeout=self.timeout, auth=NoAuth())
        if response.status_code != 201:
            raise ChallengeRequestError(f"POST {self.challenges_url} failed", response.status_code, response=response)
        try:
            issued = response.json()
            fields = (issued["challenge_id"], issued["challenge"], issued["algorithm"])
        except (ValueError, KeyError, TypeError):
            raise ChallengeRequestError(f"POST {self.challenges_url} answered no challenge", response.status_code) from None
        if not all(isinstance(field, str) for field in fields):
            raise ChallengeRequestError(f"POST {self.challenges_url} answered no challenge", response.status_code)
        return issued

    def authorization(self) -> str:
        """A fresh challenge, answered: the ``Authorization`` value for one request."""
        issued = self.fetch_challenge()
        if issued["algorithm"] != protocol.ALGORITHMS[self.kind]:
            # The server issues challenges of a decoy kind for key ids it does
            # not know: this is the usual sign of a wrong key id.
            raise ChallengeRequestError(
                f"the server issued a {issued['algorithm']} challenge for key {self.key_id!r}, which is a "
                f"{self.kind} key here (unknown or mistyped key id?)"
            )
        try:
            response = protocol.answer(self.kind, self._key, issued["challenge_id"], self.key_id, issued["challenge"])
        except (protocol.ChallengeError, ValueError):
            raise ChallengeRequestError(
                f"the challenge for key {self.key_id!r} cannot be answered with this key (unknown or mistyped key id?)"
            ) from None
        return protocol.authorization_header(issued["challenge_id"], self.key_id, response)

    def __call__(self, prepared: requests.PreparedRequest) -> requests.PreparedRequest:
        prepared.headers["Authorization"] = self.authorization()
        return prepared

