"""Building the demo app for tests, on either backend pair."""
from __future__ import annotations

from typing import Any

import webtest

from pyramid_authsuite.basic.protocol import basic_header
from pyramid_authsuite.demo import main as demo_main

# Argon2 at its cheapest: the tests exercise the flow, not the hash cost.
CHEAP_HASHING = {
    "authsuite.password_time_cost": "1",
    "authsuite.password_memory_cost": "8",
}

BASIC_POLICY = {
    "multiauth.policies": "basic",
    "multiauth.policy.basic.use": "pyramid_authsuite.BasicAuthenticationPolicy",
    "multiauth.policy.basic.realm": "authsuite-test",
}


def make_demo(settings: dict[str, Any]) -> webtest.TestApp:
    """The demo WSGI app with these settings, wrapped for WebTest."""
    merged = {**CHEAP_HASHING, **BASIC_POLICY, **settings}
    return webtest.TestApp(demo_main({}, **merged), extra_environ={"REMOTE_ADDR": "127.0.0.1"})


def basic(userid: str, password: str) -> dict[str, str]:
    return {"Authorization": basic_header(userid, password)}


def registry(app: webtest.TestApp):
    return app.app.registry
