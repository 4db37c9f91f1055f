"""Hawk peers for the benchmarks, and signed requests for every Hawk variant.

- :class:`MohawkAuthenticationPolicy`: a small legacy ``IAuthenticationPolicy``
  that verifies each request with ``mohawk.Receiver``, the way kinto-hawk
  does (credentials looked up by Hawk id, a ``seen_nonce`` callback), with a
  dict for each. Written for the benchmark; not kinto-hawk's code.
- :class:`RedisNonceCache`: a nonce cache in Redis for pyramid_hawkauth, set
  through its documented ``hawkauth.nonce_cache`` setting, so that it can be
  measured like for like with our Hawk on Redis (a replay refused on every
  process). Written for the benchmark, on redis-py's client as anyone
  plugging one in would write it.
- :class:`HawkSigner`: pre-builds WSGI environs, each signed by
  ``mohawk.Sender`` (an implementation independent of ours) with a nonce
  never used before in this process, so that replay protection accepts every
  one of them. Signing happens before a timed run, never inside it.
"""
from __future__ import annotations

import io
import itertools
import secrets
import time
from typing import Any

from pyramid.authorization import Authenticated, Everyone
from pyramid.interfaces import IAuthenticationPolicy
from zope.interface import implementer

class RedisNonceCache:
    """hawkauthlib's ``NonceCache`` interface (``check_nonce(timestamp, nonce)``) on Redis.

    ``url``
        The Redis URL. ``window``: the accepted timestamp skew in seconds
        (hawkauthlib's default, 60); a nonce is remembered for as long.
    ``prefix``
        Key prefix (the benchmark's, so its keys are easy to find; all expire).

    Same rules as hawkauthlib's in-memory cache: a timestamp outside the
    window is stale, and a nonce is fresh once (``SET NX PX``).
    """

    def __init__(self, url: str, window: int | str = 60, prefix: str = "authsuite-bench:pyramid_hawkauth:"):
        import redis

        self.window = int(window)
        self.prefix = prefix
        self._client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)

    def check_nonce(self, timestamp: float, nonce: str) -> bool:
        now = time.time()
        if not now - self.window < timestamp < now + self.window:
            return False
        return bool(self._client.set(f"{self.prefix}{nonce}", b"1", px=self.window * 1000, nx=True))

    def close(self) -> None:
        self._client.close()


_MEMO_KEY = "bench.mohawk.userid"
_NO_USER = object()


@implementer(IAuthenticationPolicy)
class MohawkAuthenticationPolicy:
    """Hawk verified by ``mohawk.Receiver``; credentials and nonces in dicts.

    ``credentials``
        Hawk id -> ``{"id", "key", "algorithm", "userid"}`` (mohawk's
        credentials dict, plus the userid).
    ``skew_seconds``
        mohawk's ``timestamp_skew_in_seconds``; nonces are remembered for
        twice that.

    The verdict is memoized in the environ: Pyramid's legacy security policy
    asks ``authenticated_userid`` and then ``effective_principals``, and a
    second verification would see its own nonce as a replay.
    """

    def __init__(self, credentials: dict[str, dict[str, Any]], skew_seconds: int = 60, max_nonces: int = 100_000):
        self.credentials = credentials
        self.skew_seconds = skew_seconds
        self.max_nonces = max_nonces
        # (hawk id, nonce, ts) -> when it may be forgotten
        self.nonces: dict[tuple[str, str, str], float] = {}

    def _lookup(self, hawk_id: str) -> dict[str, Any]:
        return self.credentials[hawk_id]  # KeyError is the LookupError mohawk expects

    def _seen_nonce(self, sender_id: str, nonce: str, ts: str) -> bool:
        key = (sender_id, nonce, ts)
        now = time.time()
        seen = self.nonces.get(key)
        if seen is not None and seen > now:
            return True
        if len(self.nonces) >= self.max_nonces:
            self.nonces = {k: until for k, until in self.nonces.items() if until > now}
            if len(self.nonces) >= self.max_nonces:
                self.nonces.clear()
        self.nonces[key] = now + 2 * self.skew_seconds
        return False

    def _verify(self, request: Any) -> str | None:
        import mohawk
        from mohawk.exc import HawkFail

        header = request.environ.get("HTTP_AUTHORIZATION")
        if not header or not header.startswith("Hawk "):
            return None
        try:
            receiver = mohawk.Receiver(
                self._lookup,
                header,
                request.url,
                request.method,
                content=request.body,
                content_type=request.environ.get("CONTENT_TYPE", ""),
                seen_nonce=self._seen_nonce,
                timestamp_skew_in_seconds=self.skew_seconds,
            )
        except HawkFail:
            return None
        return self.credentials[receiver.parsed_header["id"]]["userid"]

    def authenticated_userid(self, request: Any) -> str | None:
        environ = request.environ
        userid = environ.get(_MEMO_KEY)
        if userid is None:
            userid = self._verify(request)
            environ[_MEMO_KEY] = _NO_USER if userid is None else userid
        return None if userid is _NO_USER else userid

    def unauthenticated_userid(self, request: Any) -> str | None:
        return self.authenticated_userid(request)

    def effective_principals(self, request: Any) -> list[str]:
        userid = self.authenticated_userid(request)
        if userid is None:
            return [Everyone]
        return [Everyone, Authenticated, userid]

    def remember(self, request: Any, userid: str, **kw: Any) -> list:
        return []

    def forget(self, request: Any) -> list:
        return [("WWW-Authenticate", "Hawk")]


class HawkSigner:
    """Builds environs for one path, each Hawk-signed with fresh nonce, by ``mohawk.Sender``.

    ``hawk_id`` and ``key`` are the client's credentials (``key`` as the HMAC
    key bytes or ASCII text). ``method``, ``body`` and ``content_type``
    describe the request; the header always carries the payload ``hash`` (as
    requests-hawk sends it), of the empty body for a GET.
    """

    # One counter for the process: no two environs it signs share a nonce,
    # whatever their credentials (pyramid_hawkauth's nonce cache ignores the id).
    _counter = itertools.count()
    _run = secrets.token_urlsafe(6)

    def __init__(
        self,
        hawk_id: str,
        key: bytes | str,
        *,
        path: str = "/protected",
        method: str = "GET",
        body: bytes = b"",
        content_type: str = "",
    ):
        from bench.harness import environ_for

        self.credentials = {"id": hawk_id, "key": key, "algorithm": "sha256"}
        self.method = method
        self.body = body
        self.content_type = content_type
        headers = {"Content-Type": content_type} if content_type else {}
        self.template = environ_for(path, headers, method=method)
        if body:
            self.template["CONTENT_LENGTH"] = str(len(body))
        host = self.template["HTTP_HOST"]
        if host.endswith(":80"):
            host = host[:-3]
        self.url = f"{self.template['wsgi.url_scheme']}://{host}{path}"

    def header(self, timestamp: int | None = None) -> str:
        import mohawk

        nonce = f"{self._run}{next(self._counter)}"
        sender = mohawk.Sender(
            self.credentials,
            self.url,
            self.method,
            content=self.body,
            content_type=self.content_type,
            nonce=nonce,
            _timestamp=timestamp,
        )
        return sender.request_header

    def __call__(self, count: int) -> list[dict]:
        """``count`` environs, each with its own nonce (and its own body stream)."""
        timestamp = int(time.time())
        environs = []
        for _ in range(count):
            environ = dict(self.template)
            environ["HTTP_AUTHORIZATION"] = self.header(timestamp)
            environ["wsgi.input"] = io.BytesIO(self.body)
            environs.append(environ)
        return environs
