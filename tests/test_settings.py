import inspect

import pytest

from pyramid_authsuite import BasicAuthenticationPolicy
from pyramid_authsuite.exceptions import SettingError
from pyramid_authsuite.settings import (
    AuthSuiteSettings,
    as_bool,
    as_duration,
    as_int,
    as_list,
    as_secret,
    parse_settings,
)


@pytest.mark.parametrize("text, expected", [("true", True), ("Yes", True), ("on", True), ("1", True),
                                            ("false", False), ("NO", False), ("off", False), ("0", False)])
def test_as_bool(text, expected):
    assert as_bool("k", text) is expected


@pytest.mark.parametrize("text", ["", "maybe", "2", "tru"])
def test_as_bool_rejects(text):
    with pytest.raises(SettingError, match="^k: "):
        as_bool("k", text)


def test_as_int_bounds_and_errors():
    assert as_int("k", " 42 ") == 42
    with pytest.raises(SettingError, match="k: must be at least 5"):
        as_int("k", "4", minimum=5)
    with pytest.raises(SettingError, match="k: must be at most 10"):
        as_int("k", "11", maximum=10)
    for bad in ("4.5", "x", "", True):
        with pytest.raises(SettingError):
            as_int("k", bad)


@pytest.mark.parametrize("text, seconds", [("90", 90), ("90s", 90), ("5m", 300), ("2h", 7200), ("7d", 604800),
                                           ("8w", 4838400), (" 3 m ", 180), (60, 60)])
def test_as_duration(text, seconds):
    assert as_duration("k", text) == seconds


@pytest.mark.parametrize("text", ["", "5 minutes", "-5", "1.5h", "5y", "m"])
def test_as_duration_rejects(text):
    with pytest.raises(SettingError, match="k: expected a duration"):
        as_duration("k", text)


def test_as_list():
    assert as_list("k", "a b,c\n d ,, e") == ["a", "b", "c", "d", "e"]
    assert as_list("k", "") == []
    assert as_list("k", None) == []


def test_as_secret_literal_env_file(tmp_path):
    assert as_secret("k", "plain") == b"plain"
    assert as_secret("k", "env:MY_SECRET", environ={"MY_SECRET": "s3cret"}) == b"s3cret"
    secret_file = tmp_path / "secret"
    secret_file.write_bytes(b"from-file\n")
    assert as_secret("k", f"file:{secret_file}") == b"from-file"


def test_as_secret_errors_name_the_source_not_the_secret(tmp_path):
    with pytest.raises(SettingError, match="k: environment variable 'NOPE' is not set"):
        as_secret("k", "env:NOPE", environ={})
    with pytest.raises(SettingError, match="cannot read secret file"):
        as_secret("k", f"file:{tmp_path / 'missing'}")
    empty = tmp_path / "empty"
    empty.write_bytes(b"\n")
    with pytest.raises(SettingError, match="is empty"):
        as_secret("k", f"file:{empty}")
    with pytest.raises(SettingError, match="a secret is required"):
        as_secret("k", "")


def test_parse_settings_defaults():
    assert parse_settings({}) == AuthSuiteSettings()


def test_parse_settings_values():
    parsed = parse_settings({
        "authsuite.cache_url": "redis://127.0.0.1:6379/15",
        "authsuite.cache_prefix": "app1:",
        "authsuite.accounts_url": "postgresql://postgres@127.0.0.1/test",
        "authsuite.retry_after_seconds": "1m",
        "authsuite.password_time_cost": "3",
        "authsuite.trusted_proxies": "1",
        "unrelated.key": "ignored",
    })
    assert parsed.cache_url == "redis://127.0.0.1:6379/15"
    assert parsed.cache_prefix == "app1:"
    assert parsed.retry_after_seconds == 60
    assert parsed.password_time_cost == 3
    assert parsed.trusted_proxies == 1


@pytest.mark.parametrize("key, value, message", [
    ("authsuite.cache_url", "localhost", "expected memory://, redis://"),
    ("authsuite.cache_url", "memcached://x", "expected memory://, redis://"),
    ("authsuite.accounts_url", "mysql://x", "sqlite:/// or postgresql://"),
    ("authsuite.retry_after_seconds", "soon", "expected a duration"),
    ("authsuite.password_time_cost", "0", "at least 1"),
    ("authsuite.endpoints", "tokenz", "unknown endpoint 'tokenz'"),
    ("authsuite.login_schemes", "basic digest", "unknown scheme 'digest'"),
    ("authsuite.secret", "too-short", "at least 32 bytes"),
    ("authsuite.secret", "env:AUTHSUITE_SURELY_UNSET_VARIABLE", "is not set"),
    ("authsuite.cache_urll", "memory://", "unknown setting"),
])
def test_parse_settings_errors_name_the_key(key, value, message):
    with pytest.raises(SettingError) as caught:
        parse_settings({key: value})
    assert caught.value.key == key
    assert message in str(caught.value)


def test_secret_endpoints_login_schemes_cors(monkeypatch):
    monkeypatch.setenv("AUTHSUITE_TEST_SECRET", "x" * 40)
    parsed = parse_settings({
        "authsuite.secret": "env:AUTHSUITE_TEST_SECRET",
        "authsuite.endpoints": "hawk_sessions",
        "authsuite.login_schemes": "basic",
        "authsuite.cors_origins": "https://app.example.com https://admin.example.com",
    })
    assert parsed.secret == b"x" * 40
    assert parsed.endpoints == ("hawk_sessions",)
    assert parsed.login_schemes == ("basic",)
    assert parsed.cors_origins == ("https://app.example.com", "https://admin.example.com")
    assert parse_settings({}).secret is None


# -- policy settings (multiauth.policy.<name>.<key>) at application start --------------

POLICY_INI = """\
[app:main]
use = egg:pyramid_authsuite#demo
pyramid.includes = pyramid_authsuite
authsuite.accounts_url = sqlite:///%(here)s/accounts.sqlite
multiauth.policies = basic
multiauth.policy.basic.use = pyramid_authsuite.BasicAuthenticationPolicy
{line}

[server:main]
use = egg:waitress#main
listen = 127.0.0.1:0
"""

BAD_POLICY_LINES = [
    # (The list of keys the policy takes grows with it: the test reads it from there.)
    ("multiauth.policy.basic.relm = api",
     "multiauth.policy.basic.relm: unknown setting (multiauth.policy.basic: BasicAuthenticationPolicy takes "
     + ", ".join(inspect.signature(BasicAuthenticationPolicy).parameters) + ")"),
    ("multiauth.policy.basic.lockout_seconds = forever",
     "multiauth.policy.basic.lockout_seconds: expected a duration such as 300, 5m, 2h or 7d, got 'forever'"),
]


@pytest.mark.parametrize("line, message", BAD_POLICY_LINES)
def test_app_creation_names_a_bad_policy_setting_in_one_line(tmp_path, line, message):
    from pyramid.exceptions import ConfigurationError
    from pyramid.paster import get_app

    ini = tmp_path / "app.ini"
    ini.write_text(POLICY_INI.format(line=line))
    with pytest.raises(ConfigurationError) as caught:
        get_app(str(ini))
    # Raised by includeme itself, not wrapped by Pyramid's deferred-action
    # machinery (ConfigurationExecutionError spreads over several lines).
    assert type(caught.value) is ConfigurationError
    assert str(caught.value) == message


@pytest.mark.parametrize("line, message", BAD_POLICY_LINES)
def test_pserve_names_a_bad_policy_setting(tmp_path, line, message):
    import os
    import subprocess
    import sys

    pserve = os.path.join(os.path.dirname(sys.executable), "pserve")
    if not os.path.exists(pserve):
        pytest.skip("pserve is not installed next to this Python")
    ini = tmp_path / "app.ini"
    ini.write_text(POLICY_INI.format(line=line))
    # A good ini would serve until the guard; a refused one exits at once.
    result = subprocess.run([pserve, str(ini)], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == f"pyramid.exceptions.ConfigurationError: {message}"
    assert "unexpected keyword argument" not in result.stderr


def test_an_endpoint_without_its_policy_is_one_line_at_app_creation(tmp_path):
    from pyramid.exceptions import ConfigurationError
    from pyramid.paster import get_app

    ini = tmp_path / "app.ini"
    ini.write_text(POLICY_INI.format(line="authsuite.endpoints = hawk_sessions"))
    with pytest.raises(ConfigurationError) as caught:
        get_app(str(ini))
    assert type(caught.value) is ConfigurationError
    assert str(caught.value) == (
        "authsuite.endpoints: hawk_sessions needs a pyramid_authsuite.HawkAuthenticationPolicy in multiauth.policies")
