"""The admin API's test app and helpers, shared by the server-side admin tests.

The demo app with ``authsuite.endpoints = admin``, Basic and HTTP Message
Signatures (a service key ``ops`` granted admin through ``service:ops``),
on whichever backend pair the ``backends`` fixture gives.
"""
from __future__ import annotations

import json
from typing import Any

import requests
import webtest

from pyramid_authsuite.hmac.client import ServiceAuth
from tests.apps import basic, make_demo, registry

HOST = "admin.example.com"
BASE = f"http://{HOST}"
PASSWORD = "correct horse battery"
OPS_SECRET = b"admin-api-ops-service-secret-0123456789ab"
OTHER_SECRET = b"admin-api-other-service-secret-0123456789"
MERGE_PATCH = "application/merge-patch+json"

ADMIN_SETTINGS = {
    "authsuite.endpoints": "admin",
    "authsuite.admin_principals": "role:admin service:ops",
    "authsuite.tenant_admin_roles": "member support",
    "multiauth.policies": "basic hmac",
    "multiauth.policy.basic.use": "pyramid_authsuite.BasicAuthenticationPolicy",
    "multiauth.policy.hmac.use": "pyramid_authsuite.HMACAuthenticationPolicy",
    "multiauth.policy.hmac.keys": (
        f"ops:hmac-sha256:{OPS_SECRET.decode()} other:hmac-sha256:{OTHER_SECRET.decode()}"
    ),
}


def admin_app(backends: dict[str, str], **extra: str) -> webtest.TestApp:
    """The demo app serving the admin API on these backends."""
    app = make_demo({**backends, **ADMIN_SETTINGS, **extra})
    app.extra_environ = {**app.extra_environ, "HTTP_HOST": HOST}
    return app


def close(app: webtest.TestApp) -> None:
    registry(app).authsuite_accounts.close()
    registry(app).authsuite_cache.close()


def store(app: webtest.TestApp) -> Any:
    return registry(app).authsuite_accounts


def seed(app: webtest.TestApp) -> None:
    """root (full admin), two tenant admins, and accounts in two tenants."""
    accounts = store(app)
    accounts.create("root", PASSWORD, roles=("admin",))
    accounts.create("ta-acme", PASSWORD, roles=("tenant-admin",), tenant="acme")
    accounts.create("ta-globex", PASSWORD, roles=("tenant-admin",), tenant="globex")
    accounts.create("ta-none", PASSWORD, roles=("tenant-admin",))
    accounts.create("plain", PASSWORD, roles=("member",), tenant="acme")
    accounts.create("alice", PASSWORD, roles=("member",), tenant="acme", email="alice@acme.example")
    accounts.create("amy", PASSWORD, roles=("support",), tenant="acme")
    accounts.create("boss", PASSWORD, roles=("admin",), tenant="acme")
    accounts.create("gina", PASSWORD, roles=("member",), tenant="globex")
    accounts.create("nomad", PASSWORD, roles=("member",))


ROOT = basic("root", PASSWORD)
TA_ACME = basic("ta-acme", PASSWORD)
TA_GLOBEX = basic("ta-globex", PASSWORD)


def code_of(response: Any) -> str:
    """The problem's code (the ``type`` after the tag prefix), checking it is problem+json."""
    assert response.content_type == "application/problem+json", response.body[:200]
    body = json.loads(response.body)
    assert body["status"] == response.status_int
    return body["type"].rsplit(":", 1)[1]


def signed(app: webtest.TestApp, auth: Any, method: str, path: str, body: Any = None,
           content_type: str = "application/json", headers: dict[str, str] | None = None,
           status: int | None = None) -> Any:
    """Sign a request with a ``requests`` auth (``ServiceAuth``), then send exactly it through WebTest."""
    data = b"" if body is None else json.dumps(body).encode()
    request_headers = dict(headers or {})
    if data:
        request_headers["Content-Type"] = content_type
    prepared = requests.Request(method, BASE + path, data=data or None, headers=request_headers).prepare()
    prepared = auth(prepared)
    sent = {name: value for name, value in prepared.headers.items() if name.lower() != "content-length"}
    sent["Host"] = HOST
    return app.request(path, method=method, body=prepared.body or b"", headers=sent, status=status,
                       expect_errors=True)


def ops() -> ServiceAuth:
    return ServiceAuth("ops", OPS_SECRET)


def call(app: webtest.TestApp, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
         content_type: str | None = None) -> Any:
    """A Basic-or-whatever request with a JSON body (``content_type`` overrides the media type)."""
    request_headers = dict(headers or {})
    raw = b""
    if body is not None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        if content_type is None:
            content_type = "application/json" if method != "PATCH" else MERGE_PATCH
        request_headers["Content-Type"] = content_type
    return app.request(path, method=method, body=raw, headers=request_headers, expect_errors=True)
