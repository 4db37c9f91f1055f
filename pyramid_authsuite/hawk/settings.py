"""``HawkSettings``: a Hawk policy's configuration, parsed once from its ini strings.

Every value a :class:`~pyramid_authsuite.hawk.policy.HawkAuthenticationPolicy`
reads is parsed and checked here, when the application starts: a bad value
raises :class:`~pyramid_authsuite.exceptions.SettingError` naming its key,
and what comes out is a frozen object, so nothing is parsed again.

No Pyramid here: a command or a test builds one with
:meth:`HawkSettings.parse` from the same keyword arguments as the policy.
"""
from __future__ import annotations

from dataclasses import dataclass

from pyramid_authsuite.exceptions import SettingError
from pyramid_authsuite.hawk import protocol
from pyramid_authsuite.settings import as_bool, as_duration, as_list

#: The shortest session lifetime accepted (``session_ttl_seconds``).
MIN_SESSION_TTL_SECONDS = 60


@dataclass(frozen=True)
class HawkSettings:
    """The parsed configuration of one Hawk policy (the arguments are documented on the policy).

    ``algorithms``
        The MAC algorithms accepted, a frozenset of ``sha256`` and/or ``sha1``.
    ``timestamp_skew_seconds``, ``nonce_ttl_seconds``, ``session_ttl_seconds``, ``session_refresh_seconds``
        Whole seconds.
    ``verify_payload``, ``sign_responses``
        Booleans.
    """

    algorithms: frozenset[str]
    timestamp_skew_seconds: int
    nonce_ttl_seconds: int
    session_ttl_seconds: int
    session_refresh_seconds: int
    verify_payload: bool
    sign_responses: bool

    @classmethod
    def parse(
        cls,
        algorithms: str | list[str] = "sha256",
        timestamp_skew_seconds: int | str = 60,
        nonce_ttl_seconds: int | str | None = None,
        session_ttl_seconds: int | str = "60d",
        session_refresh_seconds: int | str = 60,
        verify_payload: bool | str = True,
        sign_responses: bool | str = True,
    ) -> HawkSettings:
        """Parse and check every setting (ini strings or Python values); ``SettingError`` names a bad one.

        The arguments are those of
        :class:`~pyramid_authsuite.hawk.policy.HawkAuthenticationPolicy`
        (without ``realm``), with the same defaults. They are checked in the
        order listed, so the first bad one is the one reported.

        ``nonce_ttl_seconds`` ``None`` (the default) means twice the skew;
        a given value must be at least that, so that a request cannot be
        replayed while its timestamp is still acceptable.
        """
        allowed = frozenset(as_list("algorithms", algorithms))
        if not allowed or not allowed <= set(protocol.ALGORITHMS):
            raise SettingError("algorithms", f"choose among {', '.join(sorted(protocol.ALGORITHMS))}")
        skew = as_duration("timestamp_skew_seconds", timestamp_skew_seconds, minimum=1)
        if nonce_ttl_seconds is None:
            nonce_ttl = 2 * skew
        else:
            nonce_ttl = as_duration("nonce_ttl_seconds", nonce_ttl_seconds, minimum=2 * skew)
        return cls(
            algorithms=allowed,
            timestamp_skew_seconds=skew,
            nonce_ttl_seconds=nonce_ttl,
            session_ttl_seconds=as_duration(
                "session_ttl_seconds", session_ttl_seconds, minimum=MIN_SESSION_TTL_SECONDS
            ),
            session_refresh_seconds=as_duration("session_refresh_seconds", session_refresh_seconds, minimum=0),
            verify_payload=as_bool("verify_payload", verify_payload),
            sign_responses=as_bool("sign_responses", sign_responses),
        )
