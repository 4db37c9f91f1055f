"""``HawkSettings``: each setting's default, parsing from ini strings, every refusal, frozen-ness,
and the policy built over it (its constructor, its ini keys and its attributes unchanged)."""
from __future__ import annotations

import dataclasses
import inspect

import pytest

from pyramid_authsuite.exceptions import SettingError
from pyramid_authsuite.hawk.policy import HawkAuthenticationPolicy
from pyramid_authsuite.hawk.settings import HawkSettings
from tests.apps import make_demo, registry

FIELDS = (
    "algorithms", "timestamp_skew_seconds", "nonce_ttl_seconds", "session_ttl_seconds",
    "session_refresh_seconds", "verify_payload", "sign_responses",
)


def test_defaults():
    settings = HawkSettings.parse()
    assert settings.algorithms == frozenset({"sha256"})
    assert settings.timestamp_skew_seconds == 60
    assert settings.nonce_ttl_seconds == 120  # twice the skew
    assert settings.session_ttl_seconds == 60 * 86400
    assert settings.session_refresh_seconds == 60
    assert settings.verify_payload is True
    assert settings.sign_responses is True


def test_the_nonce_ttl_follows_the_skew_by_default():
    assert HawkSettings.parse(timestamp_skew_seconds="5m").nonce_ttl_seconds == 600


def test_parsed_from_ini_strings():
    settings = HawkSettings.parse(
        algorithms="sha256, sha1",
        timestamp_skew_seconds="2m",
        nonce_ttl_seconds="1h",
        session_ttl_seconds="7d",
        session_refresh_seconds="0",
        verify_payload="off",
        sign_responses="No",
    )
    assert settings == HawkSettings(
        algorithms=frozenset({"sha256", "sha1"}),
        timestamp_skew_seconds=120,
        nonce_ttl_seconds=3600,
        session_ttl_seconds=7 * 86400,
        session_refresh_seconds=0,
        verify_payload=False,
        sign_responses=False,
    )


def test_python_values_pass_through():
    settings = HawkSettings.parse(
        algorithms=["sha1"], timestamp_skew_seconds=30, nonce_ttl_seconds=60, session_ttl_seconds=60,
        session_refresh_seconds=5, verify_payload=True, sign_responses=False,
    )
    assert (settings.algorithms, settings.timestamp_skew_seconds, settings.nonce_ttl_seconds) == (
        frozenset({"sha1"}), 30, 60)
    assert (settings.session_ttl_seconds, settings.session_refresh_seconds) == (60, 5)
    assert (settings.verify_payload, settings.sign_responses) == (True, False)


@pytest.mark.parametrize("kwargs, message", [
    ({"algorithms": "md5"}, "algorithms: choose among sha1, sha256"),
    ({"algorithms": "sha256 md5"}, "algorithms: choose among sha1, sha256"),
    ({"algorithms": ""}, "algorithms: choose among sha1, sha256"),
    ({"algorithms": []}, "algorithms: choose among sha1, sha256"),
    ({"timestamp_skew_seconds": "0"}, "timestamp_skew_seconds: must be at least 1, got 0"),
    ({"timestamp_skew_seconds": "soon"},
     "timestamp_skew_seconds: expected a duration such as 300, 5m, 2h or 7d, got 'soon'"),
    ({"nonce_ttl_seconds": "90"}, "nonce_ttl_seconds: must be at least 120, got 90"),
    ({"timestamp_skew_seconds": "10", "nonce_ttl_seconds": "19"}, "nonce_ttl_seconds: must be at least 20, got 19"),
    ({"nonce_ttl_seconds": "never"},
     "nonce_ttl_seconds: expected a duration such as 300, 5m, 2h or 7d, got 'never'"),
    ({"session_ttl_seconds": "59"}, "session_ttl_seconds: must be at least 60, got 59"),
    ({"session_ttl_seconds": "-1d"},
     "session_ttl_seconds: expected a duration such as 300, 5m, 2h or 7d, got '-1d'"),
    ({"session_refresh_seconds": -1}, "session_refresh_seconds: must be at least 0, got -1"),
    ({"verify_payload": "perhaps"}, "verify_payload: expected a boolean (true/false), got 'perhaps'"),
    ({"sign_responses": "2"}, "sign_responses: expected a boolean (true/false), got '2'"),
])
def test_refusals_name_the_key_and_say_why(kwargs, message):
    with pytest.raises(SettingError) as caught:
        HawkSettings.parse(**kwargs)
    assert str(caught.value) == message
    assert caught.value.key == message.split(":")[0]
    # The policy's constructor refuses exactly the same way.
    with pytest.raises(SettingError) as from_policy:
        HawkAuthenticationPolicy(**kwargs)
    assert str(from_policy.value) == message


def test_the_first_bad_setting_is_the_one_reported():
    with pytest.raises(SettingError) as caught:
        HawkSettings.parse(algorithms="md5", timestamp_skew_seconds="0", verify_payload="perhaps")
    assert caught.value.key == "algorithms"


def test_frozen():
    settings = HawkSettings.parse()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.timestamp_skew_seconds = 3600  # type: ignore[misc]
    assert settings.timestamp_skew_seconds == 60
    assert isinstance(settings.algorithms, frozenset)  # nothing inside to change either


def test_the_policy_keeps_its_settings_and_their_names():
    policy = HawkAuthenticationPolicy(realm="r", timestamp_skew_seconds="30", session_ttl_seconds="1d",
                                      sign_responses="false")
    assert policy.settings == HawkSettings.parse(timestamp_skew_seconds=30, session_ttl_seconds=86400,
                                                 sign_responses=False)
    for name in FIELDS:
        assert getattr(policy, name) == getattr(policy.settings, name)
    assert policy.realm == "r"


def test_the_constructor_takes_what_parse_takes():
    """The package checks ``multiauth.policy.hawk.*`` keys against the constructor's
    signature: it must keep naming every setting, with parse's defaults."""
    constructor = dict(inspect.signature(HawkAuthenticationPolicy).parameters)
    assert constructor.pop("realm").default == "authsuite"
    parse = inspect.signature(HawkSettings.parse).parameters
    assert list(constructor) == list(parse)
    assert [p.default for p in constructor.values()] == [p.default for p in parse.values()]


def test_ini_keys_reach_the_settings(tmp_path):
    app = make_demo({
        "authsuite.accounts_url": f"sqlite:///{tmp_path}/a.sqlite",
        "authsuite.endpoints": "hawk_sessions",
        "multiauth.policies": "hawk basic",
        "multiauth.policy.hawk.use": "pyramid_authsuite.HawkAuthenticationPolicy",
        "multiauth.policy.hawk.timestamp_skew_seconds": "90s",
        "multiauth.policy.hawk.session_ttl_seconds": "2h",
        "multiauth.policy.hawk.verify_payload": "false",
        "multiauth.policy.basic.use": "pyramid_authsuite.BasicAuthenticationPolicy",
    })
    policy = registry(app).authsuite_security_policy.get_policy(HawkAuthenticationPolicy)
    assert policy.settings == HawkSettings.parse(timestamp_skew_seconds=90, session_ttl_seconds=7200,
                                                 verify_payload=False)
    assert (policy.timestamp_skew_seconds, policy.nonce_ttl_seconds, policy.session_ttl_seconds) == (90, 180, 7200)


def test_an_unknown_ini_key_is_still_refused(tmp_path):
    from pyramid.exceptions import ConfigurationError, ConfigurationExecutionError

    with pytest.raises((ConfigurationError, ConfigurationExecutionError)) as caught:
        make_demo({
            "authsuite.accounts_url": f"sqlite:///{tmp_path}/a.sqlite",
            "multiauth.policies": "hawk",
            "multiauth.policy.hawk.use": "pyramid_authsuite.HawkAuthenticationPolicy",
            "multiauth.policy.hawk.timestamp_skew": "90",
        })
    assert "multiauth.policy.hawk.timestamp_skew: unknown setting" in str(caught.value)
