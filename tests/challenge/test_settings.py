"""``ChallengeSettings``: each setting's default, parsing from ini strings, every refusal,
frozen-ness, and the policy built over it (its constructor, its ini keys and its attributes,
the failure limits on its counter, unchanged)."""
from __future__ import annotations

import dataclasses
import inspect

import pytest

from pyramid_authsuite.challenge.policy import ChallengeAuthenticationPolicy
from pyramid_authsuite.challenge.settings import ChallengeSettings
from pyramid_authsuite.exceptions import SettingError
from tests.apps import make_demo
from tests.challenge.helpers import SETTINGS, challenge_policy

FIELDS = tuple(field.name for field in dataclasses.fields(ChallengeSettings))
DURATION = "expected a duration such as 300, 5m, 2h or 7d, got"


def test_defaults():
    assert ChallengeSettings.parse() == ChallengeSettings(
        challenge_ttl_seconds=30,
        max_challenge_ttl_seconds=120,
        max_challenges_per_key=60,
        max_challenges_per_address=300,
        challenge_window_seconds=60,
        max_failed_answers=10,
        max_failed_answers_per_address=20,
        lockout_seconds=300,
        decoy_kinds=("ed25519",),
        decoy_rsa_bits=3072,
        key_check_seconds=0,
    )


def test_parsed_from_ini_strings():
    settings = ChallengeSettings.parse(
        challenge_ttl_seconds="1m",
        max_challenge_ttl_seconds="1h",
        max_challenges_per_key="5",
        max_challenges_per_address=" 7 ",
        challenge_window_seconds="2m",
        max_failed_answers="3",
        max_failed_answers_per_address="4",
        lockout_seconds="15m",
        decoy_kinds="rsa, hmac\ned25519",
        decoy_rsa_bits="2048",
        key_check_seconds="30s",
    )
    assert settings == ChallengeSettings(
        challenge_ttl_seconds=60,
        max_challenge_ttl_seconds=3600,
        max_challenges_per_key=5,
        max_challenges_per_address=7,
        challenge_window_seconds=120,
        max_failed_answers=3,
        max_failed_answers_per_address=4,
        lockout_seconds=900,
        decoy_kinds=("rsa", "hmac", "ed25519"),  # in the order given
        decoy_rsa_bits=2048,
        key_check_seconds=30,
    )


def test_python_values_pass_through():
    settings = ChallengeSettings.parse(challenge_ttl_seconds=5, decoy_kinds=["hmac"], decoy_rsa_bits=4096,
                                       key_check_seconds=3600)
    assert (settings.challenge_ttl_seconds, settings.decoy_kinds) == (5, ("hmac",))
    assert (settings.decoy_rsa_bits, settings.key_check_seconds) == (4096, 3600)


@pytest.mark.parametrize("kwargs, message", [
    ({"max_challenge_ttl_seconds": "0"}, "max_challenge_ttl_seconds: must be at least 1, got 0"),
    ({"max_challenge_ttl_seconds": "2h"}, "max_challenge_ttl_seconds: must be at most 3600, got 7200"),
    ({"challenge_ttl_seconds": "0"}, "challenge_ttl_seconds: must be at least 1, got 0"),
    ({"challenge_ttl_seconds": "200"}, "challenge_ttl_seconds: must be at most 120, got 200"),
    ({"challenge_ttl_seconds": "20", "max_challenge_ttl_seconds": "10"},
     "challenge_ttl_seconds: must be at most 10, got 20"),
    ({"challenge_ttl_seconds": "later"}, f"challenge_ttl_seconds: {DURATION} 'later'"),
    ({"max_challenges_per_key": "0"}, "max_challenges_per_key: must be at least 1, got 0"),
    ({"max_challenges_per_key": "many"}, "max_challenges_per_key: expected a whole number, got 'many'"),
    ({"max_challenges_per_address": True}, "max_challenges_per_address: expected a whole number, got True"),
    ({"challenge_window_seconds": "0"}, "challenge_window_seconds: must be at least 1, got 0"),
    ({"max_failed_answers": "0"}, "max_failed_answers: must be at least 1, got 0"),
    ({"max_failed_answers_per_address": "1.5"},
     "max_failed_answers_per_address: expected a whole number, got '1.5'"),
    ({"lockout_seconds": "soon"}, f"lockout_seconds: {DURATION} 'soon'"),
    ({"decoy_kinds": "dsa"}, "decoy_kinds: one or more of hmac, ed25519, rsa, each once"),
    ({"decoy_kinds": "rsa rsa"}, "decoy_kinds: one or more of hmac, ed25519, rsa, each once"),
    ({"decoy_kinds": ""}, "decoy_kinds: one or more of hmac, ed25519, rsa, each once"),
    ({"decoy_rsa_bits": "1024"}, "decoy_rsa_bits: must be at least 2048, got 1024"),
    ({"decoy_rsa_bits": "16384"}, "decoy_rsa_bits: must be at most 8192, got 16384"),
    ({"decoy_rsa_bits": "3000"}, "decoy_rsa_bits: a multiple of 256 (2048, 3072, 4096, ...)"),
    ({"key_check_seconds": "-1"}, f"key_check_seconds: {DURATION} '-1'"),
    ({"key_check_seconds": "2h"}, "key_check_seconds: must be at most 3600, got 7200"),
])
def test_refusals_name_the_key_and_say_why(kwargs, message):
    with pytest.raises(SettingError) as caught:
        ChallengeSettings.parse(**kwargs)
    assert str(caught.value) == message
    assert caught.value.key == message.split(":")[0]
    # The policy's constructor refuses exactly the same way.
    with pytest.raises(SettingError) as from_policy:
        ChallengeAuthenticationPolicy(**kwargs)
    assert str(from_policy.value) == message


def test_the_first_bad_setting_is_the_one_reported():
    # max_challenge_ttl_seconds is read first: challenge_ttl_seconds is bounded by it.
    with pytest.raises(SettingError) as caught:
        ChallengeSettings.parse(challenge_ttl_seconds="0", max_challenge_ttl_seconds="0", decoy_kinds="dsa")
    assert caught.value.key == "max_challenge_ttl_seconds"
    with pytest.raises(SettingError) as caught:
        ChallengeSettings.parse(max_failed_answers="0", decoy_kinds="dsa", key_check_seconds="2h")
    assert caught.value.key == "max_failed_answers"


def test_frozen():
    settings = ChallengeSettings.parse()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.max_failed_answers = 1_000_000  # type: ignore[misc]
    assert settings.max_failed_answers == 10
    assert isinstance(settings.decoy_kinds, tuple)  # nothing inside to change either


def test_the_policy_keeps_its_settings_and_their_names():
    policy = ChallengeAuthenticationPolicy(realm="r", max_failed_answers="3", lockout_seconds="1m",
                                           decoy_kinds="hmac rsa")
    assert policy.settings == ChallengeSettings.parse(max_failed_answers=3, lockout_seconds=60,
                                                      decoy_kinds=["hmac", "rsa"])
    for name in FIELDS:
        assert getattr(policy, name) == getattr(policy.settings, name)
    # The failure limits are the shared counter's (pyramid_authsuite.ratelimit).
    assert (policy.failures.max_failures, policy.failures.max_failures_per_address,
            policy.failures.window_seconds) == (3, 20, 60)
    assert policy.realm == "r"


def test_tightening_a_limit_on_the_policy_leaves_the_settings_alone():
    policy = ChallengeAuthenticationPolicy()
    policy.max_failed_answers = 2
    policy.max_challenges_per_key = 1
    assert policy.failures.max_failures == 2
    assert (policy.settings.max_failed_answers, policy.settings.max_challenges_per_key) == (10, 60)


def test_the_constructor_takes_what_parse_takes():
    """The package checks ``multiauth.policy.challenge.*`` keys against the constructor's
    signature: it must keep naming every setting, with parse's defaults."""
    constructor = dict(inspect.signature(ChallengeAuthenticationPolicy).parameters)
    assert constructor.pop("realm").default == "authsuite"
    parse = inspect.signature(ChallengeSettings.parse).parameters
    assert list(constructor) == list(parse)
    assert [p.default for p in constructor.values()] == [p.default for p in parse.values()]


def test_ini_keys_reach_the_settings(tmp_path):
    app = make_demo({
        "authsuite.accounts_url": f"sqlite:///{tmp_path}/a.sqlite",
        **SETTINGS,
        "multiauth.policy.challenge.max_failed_answers": "4",
        "multiauth.policy.challenge.lockout_seconds": "10m",
        "multiauth.policy.challenge.decoy_kinds": "hmac",
    })
    policy = challenge_policy(app)
    assert policy.settings == ChallengeSettings.parse(max_failed_answers=4, lockout_seconds=600, decoy_kinds="hmac")
    assert (policy.max_failed_answers, policy.lockout_seconds, policy.decoy_kinds) == (4, 600, ("hmac",))


def test_a_bad_ini_value_names_its_key(tmp_path):
    from pyramid.exceptions import ConfigurationError, ConfigurationExecutionError

    with pytest.raises((ConfigurationError, ConfigurationExecutionError)) as caught:
        make_demo({
            "authsuite.accounts_url": f"sqlite:///{tmp_path}/a.sqlite",
            **SETTINGS,
            "multiauth.policy.challenge.decoy_rsa_bits": "3000",
        })
    assert "multiauth.policy.challenge.decoy_rsa_bits: a multiple of 256 (2048, 3072, 4096, ...)" in str(caught.value)
