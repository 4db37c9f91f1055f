"""``ChallengeSettings``: a challenge policy's configuration, parsed once from its ini strings.

Every value a
:class:`~pyramid_authsuite.challenge.policy.ChallengeAuthenticationPolicy`
reads is parsed and checked here, when the application starts: a bad value
raises :class:`~pyramid_authsuite.exceptions.SettingError` naming its key,
and what comes out is a frozen object, so nothing is parsed again.

No Pyramid here: a command or a test builds one with
:meth:`ChallengeSettings.parse` from the same keyword arguments as the policy.
"""
from __future__ import annotations

from dataclasses import dataclass

from pyramid_authsuite.challenge import protocol
from pyramid_authsuite.exceptions import SettingError
from pyramid_authsuite.settings import as_duration, as_int, as_list

#: The longest challenge lifetime ``max_challenge_ttl_seconds`` may allow.
MAX_CHALLENGE_TTL_SECONDS = 3600
#: The longest ``key_check_seconds``: a removed key stops working within this.
MAX_KEY_CHECK_SECONDS = 3600


@dataclass(frozen=True)
class ChallengeSettings:
    """The parsed configuration of one challenge policy (the arguments are documented on the policy).

    Durations and counts are whole numbers (seconds for durations);
    ``decoy_kinds`` is a tuple of distinct kinds from
    :data:`~pyramid_authsuite.challenge.protocol.KINDS`, in the order given.
    """

    challenge_ttl_seconds: int
    max_challenge_ttl_seconds: int
    max_challenges_per_key: int
    max_challenges_per_address: int
    challenge_window_seconds: int
    max_failed_answers: int
    max_failed_answers_per_address: int
    lockout_seconds: int
    decoy_kinds: tuple[str, ...]
    decoy_rsa_bits: int
    key_check_seconds: int

    @classmethod
    def parse(
        cls,
        challenge_ttl_seconds: int | str = 30,
        max_challenge_ttl_seconds: int | str = 120,
        max_challenges_per_key: int | str = 60,
        max_challenges_per_address: int | str = 300,
        challenge_window_seconds: int | str = 60,
        max_failed_answers: int | str = 10,
        max_failed_answers_per_address: int | str = 20,
        lockout_seconds: int | str = 300,
        decoy_kinds: str | list[str] = "ed25519",
        decoy_rsa_bits: int | str = 3072,
        key_check_seconds: int | str = 0,
    ) -> ChallengeSettings:
        """Parse and check every setting (ini strings or Python values); ``SettingError`` names a bad one.

        The arguments are those of
        :class:`~pyramid_authsuite.challenge.policy.ChallengeAuthenticationPolicy`
        (without ``realm``), with the same defaults. ``max_challenge_ttl_seconds``
        is read first (``challenge_ttl_seconds`` may not exceed it); the
        others in the order listed, so the first bad one is the one reported.
        """
        max_ttl = as_duration(
            "max_challenge_ttl_seconds", max_challenge_ttl_seconds, minimum=1, maximum=MAX_CHALLENGE_TTL_SECONDS
        )
        ttl = as_duration("challenge_ttl_seconds", challenge_ttl_seconds, minimum=1, maximum=max_ttl)
        per_key = as_int("max_challenges_per_key", max_challenges_per_key, minimum=1)
        per_address = as_int("max_challenges_per_address", max_challenges_per_address, minimum=1)
        window = as_duration("challenge_window_seconds", challenge_window_seconds, minimum=1)
        failed = as_int("max_failed_answers", max_failed_answers, minimum=1)
        failed_per_address = as_int("max_failed_answers_per_address", max_failed_answers_per_address, minimum=1)
        lockout = as_duration("lockout_seconds", lockout_seconds, minimum=1)
        kinds = as_list("decoy_kinds", decoy_kinds)
        if not kinds or len(set(kinds)) != len(kinds) or not set(kinds) <= set(protocol.KINDS):
            raise SettingError("decoy_kinds", f"one or more of {', '.join(protocol.KINDS)}, each once")
        rsa_bits = as_int(
            "decoy_rsa_bits", decoy_rsa_bits, minimum=protocol.MIN_RSA_BITS, maximum=protocol.MAX_RSA_BITS
        )
        if rsa_bits % 256:
            raise SettingError("decoy_rsa_bits", "a multiple of 256 (2048, 3072, 4096, ...)")
        key_check = as_duration("key_check_seconds", key_check_seconds, minimum=0, maximum=MAX_KEY_CHECK_SECONDS)
        return cls(
            challenge_ttl_seconds=ttl,
            max_challenge_ttl_seconds=max_ttl,
            max_challenges_per_key=per_key,
            max_challenges_per_address=per_address,
            challenge_window_seconds=window,
            max_failed_answers=failed,
            max_failed_answers_per_address=failed_per_address,
            lockout_seconds=lockout,
            decoy_kinds=tuple(kinds),
            decoy_rsa_bits=rsa_bits,
            key_check_seconds=key_check,
        )
