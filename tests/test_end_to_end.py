"""The README's flow over real processes: ``authsuite create-user``, ``pserve``, HTTP with ``requests``.

Runs on Redis + PostgreSQL (the production pair), with the demo app served by
pserve/waitress on a free 127.0.0.1 port.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import requests

from tests.conftest import free_port

PASSWORD = "correct horse battery"


def _script(name: str) -> str:
    path = os.path.join(os.path.dirname(sys.executable), name)
    if not os.path.exists(path):
        pytest.skip(f"{name} is not installed next to this Python (pip install -e .)")
    return path


@pytest.fixture
def served_demo(tmp_path, redis_client, redis_url, clean_postgres_url):
    port = free_port()
    ini = tmp_path / "e2e.ini"
    ini.write_text(f"""\
[app:main]
use = egg:pyramid_authsuite#demo
pyramid.includes = pyramid_authsuite
authsuite.cache_url = {redis_url}
authsuite.accounts_url = {clean_postgres_url.replace('%', '%%')}
multiauth.policies = basic
multiauth.policy.basic.use = pyramid_authsuite.BasicAuthenticationPolicy
multiauth.policy.basic.max_failed_attempts = 3

[server:main]
use = egg:waitress#main
listen = 127.0.0.1:{port}
""")
    created = subprocess.run(
        [_script("authsuite"), "create-user", "--ini", str(ini), "-u", "alice", "--password-stdin", "--role", "admin"],
        input=PASSWORD + "\n", capture_output=True, text=True, timeout=60,
    )
    assert created.returncode == 0, created.stderr
    server = subprocess.Popen([_script("pserve"), str(ini)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(base + "/", timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise AssertionError("pserve did not start: " + server.stdout.read().decode(errors="replace"))
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_readme_flow_on_redis_and_postgresql(served_demo):
    base = served_demo
    whoami = requests.get(base + "/whoami", auth=("alice", PASSWORD), timeout=10)
    assert whoami.status_code == 200
    assert whoami.json()["userid"] == "alice" and "role:admin" in whoami.json()["principals"]
    assert requests.get(base + "/admin", auth=("alice", PASSWORD), timeout=10).status_code == 200

    anonymous = requests.get(base + "/whoami", timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == 'Basic realm="authsuite", charset="UTF-8"'
    assert anonymous.headers["Content-Type"] == "application/problem+json"
    assert anonymous.json()["status"] == 401

    garbage = requests.get(base + "/whoami", headers={"Authorization": "Basic %%%"}, timeout=10)
    assert garbage.status_code == 401 and garbage.json()["type"].endswith(":malformed_credentials")

    for _ in range(3):
        assert requests.get(base + "/whoami", auth=("alice", "wrong password"), timeout=10).status_code == 401
    locked = requests.get(base + "/whoami", auth=("alice", PASSWORD), timeout=10)
    assert locked.status_code == 429
    assert locked.headers["Retry-After"] == "300"
