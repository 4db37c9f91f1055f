"""A change at one process ends the account's credentials at once at another.

Real processes sharing Redis and PostgreSQL: a ``pserve`` server (process B)
where alice holds a Hawk session and a JWT, both used there a moment before
(so B's verified-token cache is warm and B has checked the account), and the
``authsuite`` CLI (process A), which loads the same application and changes
the account through the store, whose change listener runs in A. B must then
refuse both at once, although ``account_check_seconds = 3600`` would let B
accept the JWT for an hour: the control removes the cutoff A wrote, and B
accepts the token again.
"""
from __future__ import annotations

import subprocess

import pytest
import redis
import requests
from requests_hawk import HawkAuth

from pyramid_authsuite.revocation import cutoff_key
from tests.servers import PserveServers, script

PASSWORD = "correct horse battery"
NEW_PASSWORD = "another horse battery"
PREFIX = "revocation-e2e:"
CUT_OFF = "The access token was issued before the account's credentials were ended."


class Servers(PserveServers):
    def __init__(self, tmp_path, redis_url: str, postgres_url: str):
        ini = tmp_path / "revocation.ini"
        ini.write_text(f"""\
[app:main]
use = egg:pyramid_authsuite#demo
pyramid.includes = pyramid_authsuite
authsuite.cache_url = {redis_url}
authsuite.cache_prefix = {PREFIX}
authsuite.accounts_url = {postgres_url.replace('%', '%%')}
authsuite.endpoints = tokens hawk_sessions
authsuite.password_time_cost = 1
authsuite.password_memory_cost = 8
multiauth.policies = jwt hawk basic
multiauth.policy.jwt.use = pyramid_authsuite.JWTAuthenticationPolicy
multiauth.policy.jwt.secret = a revocation end-to-end secret of more than 32 bytes
multiauth.policy.jwt.account_check_seconds = 3600
multiauth.policy.hawk.use = pyramid_authsuite.HawkAuthenticationPolicy
multiauth.policy.basic.use = pyramid_authsuite.BasicAuthenticationPolicy

[server:main]
use = egg:waitress#main
listen = 127.0.0.1:%(http_port)s
""")
        super().__init__(ini)

    def cli(self, command: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([script("authsuite"), command, "--ini", str(self.ini), *args],
                              input=stdin, capture_output=True, text=True, timeout=120)


@pytest.fixture
def servers(tmp_path, redis_client, redis_url, clean_postgres_url):
    servers = Servers(tmp_path, redis_url, clean_postgres_url)
    created = servers.cli("create-user", "-u", "alice", "--password-stdin", "--role", "admin", "--tenant", "acme",
                          stdin=PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    yield servers
    servers.stop()


# Each change, made by the CLI (process A) through the store.
CHANGES = {
    "disable-user": ("disable-user", "-u", "alice"),
    "delete-user": ("delete-user", "-u", "alice"),
    "set-password": ("set-password", "-u", "alice", "--password-stdin"),
    "update-user --remove-role": ("update-user", "-u", "alice", "--remove-role", "admin"),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_change_at_process_a_refuses_hawk_and_jwt_at_process_b_at_once(servers, redis_client, change):
    b = servers.start()
    token = requests.post(b + "/tokens", auth=("alice", PASSWORD), timeout=10).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    hawk = requests.Session()
    hawk.auth = HawkAuth(hawk_session=requests.post(b + "/hawk-sessions", auth=("alice", PASSWORD), timeout=10)
                         .json()["token"], always_hash_content=False)
    for _ in range(2):  # B verifies the token once and caches it; B checks the account now, not for an hour
        assert requests.get(b + "/whoami", headers=bearer, timeout=10).status_code == 200
    assert hawk.get(b + "/whoami", timeout=10).status_code == 200

    done = servers.cli(*CHANGES[change], stdin=NEW_PASSWORD + "\n")
    assert done.returncode == 0, done.stderr

    refused = requests.get(b + "/whoami", headers=bearer, timeout=10)
    assert refused.status_code == 401 and refused.json()["detail"] == CUT_OFF
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
    refused_hawk = hawk.get(b + "/whoami", timeout=10)
    assert refused_hawk.status_code == 401 and refused_hawk.json()["type"].endswith(":invalid_credentials")

    # The control: without the cutoff process A wrote, process B would accept
    # the token for account_check_seconds (an hour), whatever A changed.
    assert redis_client.delete(PREFIX + cutoff_key("alice")) == 1
    assert requests.get(b + "/whoami", headers=bearer, timeout=10).status_code == 200


def test_disabling_at_process_a_refuses_the_token_at_two_other_processes(servers):
    b, c = servers.start(), servers.start()
    token = requests.post(b + "/tokens", auth=("alice", PASSWORD), timeout=10).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    for base in (b, c):
        assert requests.get(base + "/whoami", headers=bearer, timeout=10).status_code == 200
    servers.cli("disable-user", "-u", "alice")
    for base in (b, c):
        refused = requests.get(base + "/whoami", headers=bearer, timeout=10)
        assert refused.status_code == 401 and refused.json()["detail"] == CUT_OFF
    # Disabled: no new token either.
    assert requests.post(c + "/tokens", auth=("alice", PASSWORD), timeout=10).status_code in (401, 403)
