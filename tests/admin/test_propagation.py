"""Admin changes take effect at once on every process sharing the cache.

Two pserve processes on Redis + PostgreSQL: an admin disables an account (or
ends its sessions) through process A; that account's Hawk session and JWT are
refused by process B on the very next request.
"""
from __future__ import annotations

import pytest
import requests
from requests_hawk import HawkAuth

from tests.admin.common import PASSWORD, admin_app, close, seed
from tests.admin.test_concurrency import write_ini
from tests.servers import PserveServers

PROPAGATION_SETTINGS = {
    "authsuite.endpoints": "admin hawk_sessions tokens",
    "multiauth.policies": "hawk jwt basic",
    "multiauth.policy.hawk.use": "pyramid_authsuite.HawkAuthenticationPolicy",
    "multiauth.policy.jwt.use": "pyramid_authsuite.JWTAuthenticationPolicy",
    "multiauth.policy.jwt.issuer": "https://admin-e2e.example",
    "multiauth.policy.basic.use": "pyramid_authsuite.BasicAuthenticationPolicy",
}


@pytest.fixture
def servers(tmp_path, redis_client, redis_url, clean_postgres_url):
    pytest.importorskip("pyramid_authsuite.revocation")
    backends = {"authsuite.cache_url": redis_url, "authsuite.accounts_url": clean_postgres_url}
    seeded = admin_app(backends)
    seed(seeded)
    close(seeded)
    servers = PserveServers(write_ini(tmp_path / "propagation.ini", backends, **PROPAGATION_SETTINGS))
    yield servers
    servers.stop()


def credentials(base: str, userid: str) -> tuple[HawkAuth, dict[str, str]]:
    """A Hawk session and a bearer token of ``userid``, obtained from ``base``."""
    session = requests.post(base + "/hawk-sessions", auth=(userid, PASSWORD), timeout=60)
    assert session.status_code == 201, session.text
    token = requests.post(base + "/tokens", auth=(userid, PASSWORD), timeout=60)
    assert token.status_code == 200, token.text
    return (HawkAuth(hawk_session=session.json()["token"], always_hash_content=False),
            {"Authorization": "Bearer " + token.json()["access_token"]})


def whoami(base: str, hawk: HawkAuth, bearer: dict[str, str]) -> tuple[int, int]:
    return (requests.get(base + "/whoami", auth=hawk, timeout=60).status_code,
            requests.get(base + "/whoami", headers=bearer, timeout=60).status_code)


def test_disable_at_a_refuses_hawk_and_jwt_at_b_at_once(servers):
    first, second = servers.start(), servers.start()
    hawk, bearer = credentials(second, "alice")
    assert whoami(second, hawk, bearer) == (200, 200)
    disabled = requests.post(first + "/admin/users/alice/disable", auth=("root", PASSWORD), timeout=60)
    assert disabled.status_code == 200 and disabled.json()["disabled"] is True
    assert whoami(second, hawk, bearer) == (401, 401)
    assert whoami(first, hawk, bearer) == (401, 401)
    assert requests.get(second + "/whoami", auth=("alice", PASSWORD), timeout=60).status_code == 401


def test_ending_sessions_at_a_refuses_them_at_b_and_basic_still_works(servers):
    first, second = servers.start(), servers.start()
    hawk, bearer = credentials(second, "amy")
    assert whoami(second, hawk, bearer) == (200, 200)
    ended = requests.delete(first + "/admin/users/amy/sessions", auth=("root", PASSWORD), timeout=60)
    assert ended.status_code == 200 and ended.json() == {"hawk_sessions_ended": 1}
    assert whoami(second, hawk, bearer) == (401, 401)
    assert requests.get(second + "/whoami", auth=("amy", PASSWORD), timeout=60).status_code == 200
