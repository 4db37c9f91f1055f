"""JWT over real processes: the ``authsuite`` CLI, two pserve processes, HTTP with ``requests``.

Redis + PostgreSQL; no JWT key in the ini, so both processes derive the
development key from the server secret they share through PostgreSQL.
"""
from __future__ import annotations

import subprocess

import jwt
import pytest
import requests

from tests.servers import PserveServers, script as _script
from tests.test_end_to_end import PASSWORD


class JWTServers(PserveServers):
    def __init__(self, tmp_path, redis_url: str, postgres_url: str):
        self.ini = tmp_path / "jwt-e2e.ini"
        self.ini.write_text(f"""\
[app:main]
use = egg:pyramid_authsuite#demo
pyramid.includes = pyramid_authsuite
authsuite.cache_url = {redis_url}
authsuite.cache_prefix = jwt-e2e:
authsuite.accounts_url = {postgres_url.replace('%', '%%')}
authsuite.endpoints = tokens jwks
authsuite.password_time_cost = 1
authsuite.password_memory_cost = 8
multiauth.policies = jwt basic
multiauth.policy.jwt.use = pyramid_authsuite.JWTAuthenticationPolicy
multiauth.policy.jwt.issuer = https://e2e.example
multiauth.policy.jwt.typ = at+jwt
multiauth.policy.basic.use = pyramid_authsuite.BasicAuthenticationPolicy

[server:main]
use = egg:waitress#main
listen = 127.0.0.1:%(http_port)s
""")
        super().__init__(self.ini)

    def cli(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run([_script("authsuite"), *args[:1], "--ini", str(self.ini), *args[1:]],
                              input=stdin, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()



@pytest.fixture
def servers(tmp_path, redis_client, redis_url, clean_postgres_url):
    servers = JWTServers(tmp_path, redis_url, clean_postgres_url)
    servers.cli("create-user", "-u", "alice", "--password-stdin", "--role", "admin", "--tenant", "acme", stdin=PASSWORD + "\n")
    yield servers
    servers.stop()


def test_tokens_flow_and_revocation_across_two_processes(servers):
    first, second = servers.start(), servers.start()
    login = requests.post(first + "/tokens", auth=("alice", PASSWORD), timeout=10)
    assert login.status_code == 200 and login.headers["Cache-Control"] == "no-store"
    body = login.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert jwt.get_unverified_header(body["access_token"])["typ"] == "at+jwt"
    bearer = {"Authorization": f"Bearer {body['access_token']}"}

    for base in (first, second):
        whoami = requests.get(base + "/whoami", headers=bearer, timeout=10)
        assert whoami.status_code == 200
        assert whoami.json()["userid"] == "alice" and whoami.json()["claims"]["iss"] == "https://e2e.example"
        assert {"role:admin", "tenant:acme", "scheme:jwt"} <= set(whoami.json()["principals"])
        assert requests.get(base + "/admin", headers=bearer, timeout=10).status_code == 200

    assert requests.delete(first + "/tokens/current", headers=bearer, timeout=10).status_code == 204
    revoked = requests.get(second + "/whoami", headers=bearer, timeout=10)
    assert revoked.status_code == 401
    assert revoked.headers["Content-Type"] == "application/problem+json"
    assert 'error="invalid_token"' in revoked.headers["WWW-Authenticate"]
    assert 'error_description="The access token has been revoked."' in revoked.headers["WWW-Authenticate"]
    assert body["access_token"] not in revoked.text

    anonymous = requests.get(second + "/whoami", timeout=10)
    assert anonymous.status_code == 401 and 'Bearer realm="authsuite"' in anonymous.headers["WWW-Authenticate"]


def test_cli_token_works_on_the_server(servers):
    base = servers.start()
    token = servers.cli("issue-token", "-u", "alice", "--ttl", "300")
    whoami = requests.get(base + "/whoami", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert whoami.status_code == 200 and whoami.json()["claims"]["exp"] - whoami.json()["claims"]["iat"] == 300
    servers.cli("disable-user", "-u", "alice")
    # Every process refuses the token at once: the one that checked the
    # account a moment ago (account_check_seconds is 60 by default) too.
    fresh = servers.start()
    for process in (base, fresh):
        refused = requests.get(process + "/whoami", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert refused.status_code == 401
        assert refused.json()["detail"] == "The access token was issued before the account's credentials were ended."


def test_tokens_from_a_real_server_carry_the_account_claims(servers):
    servers.cli("update-user", "-u", "alice", "--email", "alice@example.com", "--claim", "plan=pro",
                "--claim", "seats=5")
    base = servers.start()
    value = requests.post(base + "/tokens", auth=("alice", PASSWORD), timeout=10).json()["access_token"]
    # PyJWT, through the server's JWKS (the development key: EdDSA).
    keys = jwt.PyJWKClient(base + "/.well-known/jwks.json")
    claims = jwt.decode(value, keys.get_signing_key_from_jwt(value).key, algorithms=["EdDSA"],
                        issuer="https://e2e.example")
    assert claims["email"] == "alice@example.com" and claims["tenant_id"] == "acme" and claims["roles"] == ["admin"]
    assert claims["plan"] == "pro" and claims["seats"] == 5
    whoami = requests.get(base + "/whoami", headers={"Authorization": f"Bearer {value}"}, timeout=10).json()
    assert whoami["claims"]["plan"] == "pro"
    assert set(whoami["principals"]) == {"role:admin", "tenant:acme", "scheme:jwt"}
