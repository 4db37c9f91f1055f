"""``authsuite issue-token``: a token the server configured by the same ini accepts."""
from __future__ import annotations

import jwt
import pytest
from pyramid.paster import get_app
from webtest import TestApp

from pyramid_authsuite.exceptions import SettingError
from pyramid_authsuite.jwt.policy import JWTAuthenticationPolicy
from pyramid_authsuite.scripts.cli import main, open_backends
from tests.jwt.helpers import SECRET, bearer, private_key, write_pems

INI = """\
[app:main]
use = egg:pyramid_authsuite#demo
authsuite.cache_url = memory://
authsuite.accounts_url = sqlite:///%(here)s/cli.sqlite
authsuite.password_time_cost = 1
authsuite.password_memory_cost = 8
multiauth.policies = {policies}
multiauth.policy.basic.use = pyramid_authsuite.BasicAuthenticationPolicy
{policy}
"""


def write_ini(tmp_path, policy: str, policies: str = "jwt basic") -> str:
    path = tmp_path / "cli.ini"
    path.write_text(INI.format(policy=policy, policies=policies))
    return str(path)


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out.strip(), err.strip()


@pytest.fixture
def ini(tmp_path, capsys):
    path = write_ini(tmp_path, f"""\
multiauth.policy.jwt.use = pyramid_authsuite.JWTAuthenticationPolicy
multiauth.policy.jwt.secret = {SECRET}
multiauth.policy.jwt.issuer = https://cli.example
""")
    assert run(capsys, "create-user", "--ini", path, "-u", "alice", "-p", "correct horse battery", "--role", "admin")[0] == 0
    return path


def test_issue_token_prints_a_token_the_server_accepts(ini, capsys):
    code, token, err = run(capsys, "issue-token", "--ini", ini, "-u", "alice", "--ttl", "120")
    assert code == 0 and err == ""
    payload = jwt.decode(token, SECRET, algorithms=["HS256"], issuer="https://cli.example")
    assert payload["sub"] == "alice" and payload["exp"] - payload["iat"] == 120 and payload["roles"] == ["admin"]
    app = TestApp(get_app(ini))
    assert app.get("/admin", headers=bearer(token)).json["userid"] == "alice"


def test_issue_token_default_ttl_is_the_policys(ini, capsys):
    _, token, _ = run(capsys, "issue-token", "--ini", ini, "-u", "alice")
    payload = jwt.decode(token, SECRET, algorithms=["HS256"], issuer="https://cli.example")
    assert payload["exp"] - payload["iat"] == 3600


@pytest.mark.parametrize(
    "argv, message",
    [
        (["-u", "nobody"], "no enabled user 'nobody'"),
        (["-u", "alice", "--ttl", "0"], "--ttl is 60 to 86400 seconds"),
        (["-u", "alice", "--ttl", "59"], "--ttl is 60 to 86400 seconds"),
        (["-u", "alice", "--ttl", "86401"], "--ttl is 60 to 86400 seconds"),
        (["-u", "alice", "--ttl", str(31 * 86400)], "--ttl is 60 to 86400 seconds"),
        (["-u", "alice", "--policy", "other"], "configures no JWT policy named 'other'"),
        (["-u", "bad name"], "invalid user name"),
    ],
)
def test_issue_token_errors(ini, capsys, argv, message):
    code, out, err = run(capsys, "issue-token", "--ini", ini, *argv)
    assert code == 1 and out == "" and message in err


@pytest.mark.parametrize("ttl", [60, 86400])
def test_issue_token_ttl_has_the_bounds_of_access_token_ttl_seconds(ini, capsys, ttl):
    """The CLI and the policy setting accept and refuse the same lifetimes."""
    code, token, err = run(capsys, "issue-token", "--ini", ini, "-u", "alice", "--ttl", str(ttl))
    assert code == 0 and err == ""
    payload = jwt.decode(token, SECRET, algorithms=["HS256"], issuer="https://cli.example")
    assert payload["exp"] - payload["iat"] == ttl
    JWTAuthenticationPolicy(secret=SECRET, access_token_ttl_seconds=str(ttl))
    for outside in (ttl - 1, ttl + 1):
        if 60 <= outside <= 86400:
            continue
        with pytest.raises(SettingError):
            JWTAuthenticationPolicy(secret=SECRET, access_token_ttl_seconds=str(outside))


def test_issue_token_for_a_disabled_account_fails(ini, capsys):
    # Disabled in the store itself: disable-user's exit status on memory:// is its own business.
    backends = open_backends(ini)
    backends.authsuite_accounts.update("alice", disabled=True)
    backends.authsuite_accounts.close()
    code, _, err = run(capsys, "issue-token", "--ini", ini, "-u", "alice")
    assert code == 1 and "no enabled user" in err


def test_issue_token_needs_a_jwt_policy_that_can_sign(tmp_path, capsys):
    no_jwt = write_ini(tmp_path, "", policies="basic")
    code, _, err = run(capsys, "issue-token", "--ini", no_jwt, "-u", "alice")
    assert code == 1 and "configures no JWT policy" in err
    _, public_path = write_pems(tmp_path, "ed", private_key("ed25519"))
    verify_only = write_ini(tmp_path, f"""\
multiauth.policy.jwt.use = pyramid_authsuite.JWTAuthenticationPolicy
multiauth.policy.jwt.public_key = {public_path}
""")
    code, _, err = run(capsys, "issue-token", "--ini", verify_only, "-u", "alice")
    assert code == 1 and "has no signing key" in err
    bad = write_ini(tmp_path, """\
multiauth.policy.jwt.use = pyramid_authsuite.JWTAuthenticationPolicy
multiauth.policy.jwt.secret = short
""")
    code, _, err = run(capsys, "issue-token", "--ini", bad, "-u", "alice")
    assert code == 1 and "multiauth.policy.jwt.secret" in err and "short" not in err.split(":", 3)[-1].replace("secret", "")


def test_issue_token_with_the_development_key(tmp_path, capsys):
    ini = write_ini(tmp_path, "multiauth.policy.jwt.use = pyramid_authsuite.JWTAuthenticationPolicy")
    assert run(capsys, "create-user", "--ini", ini, "-u", "bob", "-p", "correct horse battery")[0] == 0
    code, token, _ = run(capsys, "issue-token", "--ini", ini, "-u", "bob")
    assert code == 0
    TestApp(get_app(ini)).get("/whoami", headers=bearer(token), status=200)
