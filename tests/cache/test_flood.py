"""The audit's flood, through the demo app: anonymous traffic must not make the cache forget.

A Hawk session and a captured HMAC-signed request are accepted once; then
failed Basic logins from many addresses (behind a trusted proxy) fill the
cache. Afterwards the captured request is still a replay and the Hawk
session still works or fails closed with 503: never accepted, never logged
out. Runs on the memory cache (small ``cache_max_entries``) and on a private
Redis server with a small ``maxmemory`` under ``noeviction``.
"""
from __future__ import annotations

import json

import mohawk
import pytest
import redis
import requests

from pyramid_authsuite.hawk import protocol as hawk_protocol
from pyramid_authsuite.hmac.client import ServiceAuth
from tests.apps import basic, make_demo, registry

HOST = "api.example.com"
BASE = f"http://{HOST}"
PASSWORD = "correct horse battery"
BILLING = b"billing-secret-0123456789-abcdefghijklmnop"
# Several times what either cache holds (a cache that forgets never fills:
# it evicts). The flood stops a little after the first 503.
MAX_FLOOD = 1000
AFTER_FULL = 20


def settings(cache_url: str) -> dict:
    return {
        "authsuite.cache_url": cache_url,
        "authsuite.cache_max_entries": "100",  # the smallest allowed
        "authsuite.trusted_proxies": "1",
        "authsuite.endpoints": "hawk_sessions",
        "multiauth.policies": "hawk hmac basic",
        "multiauth.policy.hawk.use": "pyramid_authsuite.HawkAuthenticationPolicy",
        "multiauth.policy.hmac.use": "pyramid_authsuite.HMACAuthenticationPolicy",
        "multiauth.policy.hmac.keys": "billing:hmac-sha256:env:TEST_FLOOD_KEY_BILLING",
        "multiauth.policy.basic.use": "pyramid_authsuite.BasicAuthenticationPolicy",
    }


@pytest.fixture(params=["memory", "redis-noeviction"])
def app(request, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_FLOOD_KEY_BILLING", BILLING.decode())
    if request.param == "memory":
        cache_url = "memory://"
    else:
        server = request.getfixturevalue("throwaway_redis")
        cache_url = server.url
    app = make_demo({**settings(cache_url), "authsuite.accounts_url": f"sqlite:///{tmp_path}/a.sqlite"})
    app.extra_environ = {**app.extra_environ, "HTTP_HOST": HOST}
    registry(app).authsuite_accounts.create("alice", PASSWORD)
    admin = None if request.param == "memory" else redis.Redis.from_url(cache_url)

    def limit() -> None:
        """Leave room for a few hundred more failure counters, no more
        (``cache_max_entries`` already does that on memory)."""
        if admin is not None:
            admin.config_set("maxmemory", admin.info("memory")["used_memory"] + 96 * 1024)

    app.limit_cache = limit
    yield app
    if admin is not None:
        admin.close()
    registry(app).authsuite_accounts.close()
    registry(app).authsuite_cache.close()


def hawk_header(token: str, path: str) -> dict:
    hawk_id, key = hawk_protocol.derive_session_credentials(token)
    credentials = {"id": hawk_id, "key": key.decode(), "algorithm": "sha256"}
    sender = mohawk.Sender(credentials, BASE + path, "GET", content=b"", content_type="")
    return {"Authorization": sender.request_header}


def hmac_signed(path: str) -> dict:
    """The headers ServiceAuth signs a GET with: the request an attacker captures."""
    prepared = requests.Request("GET", BASE + path).prepare()
    prepared = ServiceAuth("billing", BILLING)(prepared)
    return {name: value for name, value in prepared.headers.items() if name.lower() != "content-length"}


def problem_code(response) -> str:
    assert response.content_type == "application/problem+json"
    return json.loads(response.body)["type"].rsplit(":", 1)[1]


def flood(app) -> int:
    """Failed Basic logins from distinct addresses, until a little after the
    cache refuses one (503) or :data:`MAX_FLOOD`; returns how many got 503.

    Every response is a refusal.
    """
    unavailable = 0
    for number in range(MAX_FLOOD):
        address = f"10.{number >> 16 & 255}.{number >> 8 & 255}.{number & 255}"
        response = app.get(
            "/whoami",
            headers={**basic(f"nobody{number}", "wrong"), "X-Forwarded-For": address},
            expect_errors=True,
        )
        assert response.status_int in (401, 429, 503), response.status
        if response.status_int == 503:
            assert response.headers["Retry-After"]
            unavailable += 1
            if unavailable > AFTER_FULL:
                break
    return unavailable


def test_a_flood_of_anonymous_traffic_never_makes_the_cache_forget(app):
    token = app.post("/hawk-sessions", headers=basic("alice", PASSWORD), status=201).json["token"]
    hawk_used = hawk_header(token, "/whoami")
    assert app.get("/whoami", headers=hawk_used, status=200).json["userid"] == "alice"
    captured = hmac_signed("/whoami")
    assert app.get("/whoami", headers=captured, status=200).json["userid"] == "service:billing"
    assert problem_code(app.get("/whoami", headers=captured, status=401)) == "replayed_request"

    app.limit_cache()
    refused_for_room = flood(app)

    # The captured requests are still replays: refused, never accepted.
    for replayed in (captured, hawk_used):
        response = app.get("/whoami", headers=replayed, expect_errors=True)
        assert response.status_int in (401, 503), response.status
        if response.status_int == 401:
            assert problem_code(response) == "replayed_request"
    # The Hawk session is not logged out: a fresh request works, or fails
    # closed (the cache cannot record its nonce) with 503 + Retry-After.
    response = app.get("/whoami", headers=hawk_header(token, "/whoami"), expect_errors=True)
    assert response.status_int in (200, 503), (response.status, response.body)
    if response.status_int == 200:
        assert response.json["userid"] == "alice"
    else:
        assert problem_code(response) == "unavailable" and response.headers["Retry-After"]
    # And the flood did fill the cache: a full cache refuses, it does not forget.
    assert refused_for_room > 0, "the flood never filled the cache (does it evict?)"
