"""Fixtures the Hawk tests share: the demo app served by pserve/waitress on a free 127.0.0.1 port."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import requests

from pyramid_authsuite.hawk.client import login
from tests.conftest import free_port

PASSWORD = "correct horse battery"


def _script(name: str) -> str:
    path = os.path.join(os.path.dirname(sys.executable), name)
    if not os.path.exists(path):
        pytest.skip(f"{name} is not installed next to this Python (pip install -e .)")
    return path


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """The demo app with Hawk sessions and Basic, served by pserve; yields its base URL."""
    directory = tmp_path_factory.mktemp("hawk_client")
    port = free_port()
    ini = directory / "client.ini"
    ini.write_text(f"""\
[app:main]
use = egg:pyramid_authsuite#demo
pyramid.includes = pyramid_authsuite
authsuite.cache_url = memory://
authsuite.accounts_url = sqlite:///{directory / 'accounts.sqlite'}
authsuite.endpoints = hawk_sessions
authsuite.password_time_cost = 1
authsuite.password_memory_cost = 8
multiauth.policies = hawk basic
multiauth.policy.hawk.use = pyramid_authsuite.HawkAuthenticationPolicy
multiauth.policy.basic.use = pyramid_authsuite.BasicAuthenticationPolicy

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
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(url + "/", timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise AssertionError("pserve did not start: " + server.stdout.read().decode(errors="replace"))
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def token(base):
    return login(base, "alice", PASSWORD)
