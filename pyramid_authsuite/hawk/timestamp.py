"""The stale-timestamp challenge: ``ts`` and ``tsm`` (README "Replay Protection").

A server that refuses a request's timestamp sends its own time and an HMAC
of it (``lib/crypto.js`` ``calculateTsMac``), so that a client holding the
key can trust that time and correct its clock offset. No Pyramid or WebOb
imports.
"""
from __future__ import annotations

from typing import Collection

from pyramid_authsuite.hawk.header import _VALUE_RE
from pyramid_authsuite.hawk.mac import DEFAULT_ALLOWED_ALGORITHMS, calculate_mac

__all__ = ["timestamp_challenge"]


def _ts_mac(key: bytes | str, algorithm: str, now: int, allowed: Collection[str]) -> str:
    # lib/crypto.js calculateTsMac: HMAC of "hawk.1.ts\n<ts>\n".
    return calculate_mac(key, algorithm, f"hawk.1.ts\n{now}\n".encode("ascii"), allowed_algorithms=allowed)


def _challenge(now: int, tsm: str, realm: str | None) -> str:
    if realm:
        if _VALUE_RE.fullmatch(realm) is None:
            # It goes into a response header: refuse quotes, CR/LF, etc.
            raise ValueError("realm contains characters not allowed in a Hawk attribute")
        return f'Hawk realm="{realm}", ts="{now}", tsm="{tsm}", error="Stale timestamp"'
    return f'Hawk ts="{now}", tsm="{tsm}", error="Stale timestamp"'


def timestamp_challenge(
    key: bytes | str,
    algorithm: str,
    now: int,
    realm: str | None = None,
    *,
    allowed_algorithms: Collection[str] = DEFAULT_ALLOWED_ALGORITHMS,
) -> str:
    """The ``WWW-Authenticate`` value answering a stale timestamp.

    ``Hawk ts="<now>", tsm="<mac>", error="Stale timestamp"`` where ``tsm`` is
    the base64 HMAC of ``hawk.1.ts\\n<now>\\n`` (``lib/crypto.js``
    ``calculateTsMac``), so the client can trust the server time and compute
    its clock offset (README "Replay Protection"). ``realm``, if given, comes
    first.
    """
    now = int(now)
    return _challenge(now, _ts_mac(key, algorithm, now, allowed_algorithms), realm)
