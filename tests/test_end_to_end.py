"""The README's flows over real processes: ``authsuite`` CLI, ``pserve``, HTTP with ``requests``.

Runs on Redis + PostgreSQL (the production pair), with the demo app served by
pserve/waitress on free 127.0.0.1 ports.
"""
from __future__ import annotations

import os
import subprocess
import threading

import pytest
import requests
from requests_hawk import HawkAuth

from tests.servers import PserveServers, script as _script

PASSWORD = "correct horse battery"
HMAC_SECRET = b"end-to-end-billing-secret-0123456789abcdef"


class Servers(PserveServers):
    """Writes one ini (Redis + PostgreSQL), creates users with the CLI, starts pserve processes."""

    def __init__(self, tmp_path, redis_url: str, postgres_url: str):
        self.ini = tmp_path / "e2e.ini"
        self.ini.write_text(f"""\
[app:main]
use = egg:pyramid_authsuite#demo
pyramid.includes = pyramid_authsuite
authsuite.cache_url = {redis_url}
authsuite.accounts_url = {postgres_url.replace('%', '%%')}
authsuite.endpoints = hawk_sessions
multiauth.policies = hawk hmac basic
multiauth.policy.hawk.use = pyramid_authsuite.HawkAuthenticationPolicy
multiauth.policy.hmac.use = pyramid_authsuite.HMACAuthenticationPolicy
multiauth.policy.hmac.keys = billing:hmac-sha256:{HMAC_SECRET.decode()}
demo.internal_services = billing
multiauth.policy.basic.use = pyramid_authsuite.BasicAuthenticationPolicy
multiauth.policy.basic.max_failed_attempts = 3

[server:main]
use = egg:waitress#main
listen = 127.0.0.1:%(http_port)s
""")
        super().__init__(self.ini)

    def create_user(self, userid: str, *extra: str) -> None:
        created = subprocess.run(
            [_script("authsuite"), "create-user", "--ini", str(self.ini), "-u", userid, "--password-stdin", *extra],
            input=PASSWORD + "\n", capture_output=True, text=True, timeout=60,
        )
        assert created.returncode == 0, created.stderr



@pytest.fixture
def servers(tmp_path, redis_client, redis_url, clean_postgres_url):
    servers = Servers(tmp_path, redis_url, clean_postgres_url)
    servers.create_user("alice", "--role", "admin")
    yield servers
    servers.stop()


def test_basic_flow_on_redis_and_postgresql(servers):
    base = servers.start()
    whoami = requests.get(base + "/whoami", auth=("alice", PASSWORD), timeout=10)
    assert whoami.status_code == 200
    assert whoami.json()["userid"] == "alice" and "role:admin" in whoami.json()["principals"]
    assert requests.get(base + "/admin", auth=("alice", PASSWORD), timeout=10).status_code == 200

    anonymous = requests.get(base + "/whoami", timeout=10)
    assert anonymous.status_code == 401
    assert 'Basic realm="authsuite", charset="UTF-8"' in anonymous.headers["WWW-Authenticate"]
    assert anonymous.headers["Content-Type"] == "application/problem+json"
    assert anonymous.json()["status"] == 401

    garbage = requests.get(base + "/whoami", headers={"Authorization": "Basic %%%"}, timeout=10)
    assert garbage.status_code == 401 and garbage.json()["type"].endswith(":malformed_credentials")

    for _ in range(3):
        assert requests.get(base + "/whoami", auth=("alice", "wrong password"), timeout=10).status_code == 401
    locked = requests.get(base + "/whoami", auth=("alice", PASSWORD), timeout=10)
    assert locked.status_code == 429
    assert locked.headers["Retry-After"] == "300"


def test_hawk_flow_with_requests_hawk(servers):
    """The kinto-hawk flow: log in with Basic, then requests-hawk with the session token."""
    base = servers.start()
    login = requests.post(base + "/hawk-sessions", auth=("alice", PASSWORD), timeout=10)
    assert login.status_code == 201
    token = login.headers["Hawk-Session-Token"]

    session = requests.Session()
    session.auth = HawkAuth(hawk_session=token, always_hash_content=False)
    whoami = session.get(base + "/whoami", timeout=10)
    assert whoami.status_code == 200
    assert whoami.json()["userid"] == "alice" and whoami.json()["scheme"] == "hawk"
    assert whoami.headers["Server-Authorization"].startswith('Hawk mac="')
    assert session.get(base + "/admin", timeout=10).status_code == 200

    # The same signed request sent again is a replay.
    replay = requests.get(base + "/whoami", headers={"Authorization": whoami.request.headers["Authorization"]}, timeout=10)
    assert replay.status_code == 401
    assert replay.json()["type"].endswith(":replayed_request")

    assert session.delete(base + "/hawk-sessions", timeout=10).status_code == 204
    refused = session.get(base + "/whoami", timeout=10)
    assert refused.status_code == 401 and refused.json()["type"].endswith(":invalid_credentials")


def test_replay_across_two_processes_sharing_redis(servers):
    """The same header sent at once to two server processes: exactly one 200."""
    first, second = servers.start(), servers.start()
    token = requests.post(first + "/hawk-sessions", auth=("alice", PASSWORD), timeout=10).json()["token"]
    port_first, port_second = first.rsplit(":", 1)[1], second.rsplit(":", 1)[1]
    for attempt in range(5):
        # Both processes must see the same Host, so send one signed header to both.
        prepared = requests.Request("GET", first + f"/whoami?attempt={attempt}").prepare()
        prepared = HawkAuth(hawk_session=token, always_hash_content=False)(prepared)
        header = prepared.headers["Authorization"]
        barrier = threading.Barrier(2)
        statuses = []

        def send(base):
            barrier.wait()
            response = requests.get(base + f"/whoami?attempt={attempt}",
                                    headers={"Authorization": header, "Host": f"127.0.0.1:{port_first}"}, timeout=10)
            statuses.append(response.status_code)

        threads = [threading.Thread(target=send, args=(base,)) for base in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(statuses) == [200, 401], (attempt, statuses, port_second)


def test_service_auth_over_http(servers):
    from pyramid_authsuite.hmac.client import ServiceAuth

    base = servers.start()
    auth = ServiceAuth("billing", HMAC_SECRET)
    ping = requests.get(base + "/internal/ping", auth=auth, timeout=10)
    assert ping.status_code == 200 and ping.json() == {"pong": True, "service": "service:billing"}
    wrong = requests.get(base + "/internal/ping", auth=ServiceAuth("billing", b"x" * 40), timeout=10)
    assert wrong.status_code == 401 and wrong.json()["type"].endswith(":invalid_signature")
    # The user alice (Basic) is authenticated but is no service.
    assert requests.get(base + "/internal/ping", auth=("alice", PASSWORD), timeout=10).status_code == 403


def test_signed_request_replayed_at_two_processes_sharing_redis(servers):
    from pyramid_authsuite.hmac.protocol import sign_request

    first, second = servers.start(), servers.start()
    port = first.rsplit(":", 1)[1]
    for attempt in range(5):
        url = first + f"/whoami?attempt={attempt}"
        headers = sign_request("GET", url, {}, b"", keyid="billing", key=HMAC_SECRET, algorithm="hmac-sha256",
                               components=["@method", "@authority", "@target-uri"])
        barrier = threading.Barrier(2)
        statuses = []

        def send(base):
            barrier.wait()
            response = requests.get(base + f"/whoami?attempt={attempt}",
                                    headers={**headers, "Host": f"127.0.0.1:{port}"}, timeout=10)
            statuses.append(response.status_code)

        threads = [threading.Thread(target=send, args=(base,)) for base in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(statuses) == [200, 401], (attempt, statuses)


def test_authsuite_sign_headers_work_with_a_real_request(servers, monkeypatch):
    import shlex

    base = servers.start()
    env = {**os.environ, "BILLING_KEY": HMAC_SECRET.decode()}
    printed = subprocess.run([_script("authsuite"), "sign", "--keyid", "billing", "--key", "env:BILLING_KEY",
                              "GET", base + "/internal/ping"], capture_output=True, text=True, env=env, timeout=60)
    assert printed.returncode == 0, printed.stderr
    headers = {}
    words = shlex.split(printed.stdout)
    for flag, header in zip(words[::2], words[1::2]):
        assert flag == "-H"
        name, value = header.split(": ", 1)
        headers[name] = value
    assert set(headers) == {"Signature-Input", "Signature"}
    assert requests.get(base + "/internal/ping", headers=headers, timeout=10).json()["service"] == "service:billing"
