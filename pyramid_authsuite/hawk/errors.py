"""The Hawk errors: one base class, one subclass per refusal a server answers differently.

No Pyramid or WebOb imports (see :mod:`pyramid_authsuite.hawk.protocol`).
"""
from __future__ import annotations

__all__ = [
    "HawkAlgorithmError",
    "HawkBewitExpired",
    "HawkBewitMethodError",
    "HawkError",
    "HawkMACError",
    "HawkParseError",
    "HawkPayloadError",
    "HawkSchemeError",
    "HawkStaleTimestamp",
]


class HawkError(Exception):
    """Any Hawk failure. Messages are short and never echo a MAC or a key."""


class HawkParseError(HawkError, ValueError):
    """The header, bewit or resource is not well-formed (a client error)."""


class HawkSchemeError(HawkParseError):
    """The Authorization header does not use the Hawk scheme at all."""


class HawkAlgorithmError(HawkError):
    """The credentials' algorithm is unknown or not in ``allowed_algorithms``."""


class HawkMACError(HawkError):
    """The request (or bewit) MAC does not match: wrong key or tampered request."""


class HawkPayloadError(HawkError):
    """The payload hash is missing where a body was sent, or does not match."""


class HawkStaleTimestamp(HawkError):
    """The MAC was right but ``ts`` is outside the allowed skew.

    Carries what the ``401`` challenge needs (README "Replay Protection";
    ``lib/server.js`` answers ``Stale timestamp`` with ``ts`` and ``tsm``):
    ``now`` (the server time sent back), ``tsm`` (its MAC), ``challenge``
    (the whole ``WWW-Authenticate`` value) and ``ts`` (the client's).
    """

    def __init__(self, message: str, *, ts: int, now: int, tsm: str, challenge: str):
        super().__init__(message)
        self.ts = ts
        self.now = now
        self.tsm = tsm
        self.challenge = challenge


class HawkBewitExpired(HawkError):
    """The bewit's expiry time has passed (``Access expired``)."""


class HawkBewitMethodError(HawkError):
    """Bewits only authorize GET and HEAD (``Invalid method``)."""
