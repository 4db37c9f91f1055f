"""The README's Quickstart, as a new user runs it: ``development.ini`` itself under pserve.

The ini is copied as it is (only the port changes, so that the test can run
beside ``make serve``), users are made with the ``authsuite`` CLI and every
call goes over HTTP with the clients the README names.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import requests
from requests_hawk import HawkAuth
from requests_http_signature import HTTPSignatureAuth, algorithms

from tests.servers import PserveServers, script

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery staple"
# The demo's development-only key, as development.ini and the README give it.
BILLING_SECRET = b"development-only-billing-secret-0123456789"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("quickstart")
    ini = folder / "development.ini"
    text = (ROOT / "development.ini").read_text()
    assert "listen = 127.0.0.1:6543" in text
    ini.write_text(text.replace("listen = 127.0.0.1:6543", "listen = 127.0.0.1:%(http_port)s"))
    created = subprocess.run(
        [script("authsuite"), "create-user", "--ini", str(ini), "-u", "alice", "--role", "admin", "--password-stdin"],
        input=PASSWORD + "\n", capture_output=True, text=True, timeout=120,
    )
    assert created.returncode == 0, created.stderr
    servers = PserveServers(ini)
    try:
        yield servers.start()
    finally:
        servers.stop()


def problem_code(response: requests.Response) -> str:
    assert response.headers["Content-Type"].startswith("application/problem+json")
    return response.json()["type"].rsplit(":", 1)[-1]


def test_post_whoami_echoes_a_body_signed_with_a_hawk_payload_hash(demo):
    token = requests.post(f"{demo}/hawk-sessions", auth=("alice", PASSWORD), timeout=30).json()["token"]
    body = {"note": "signed body", "n": [1, 2, 3]}
    response = requests.post(f"{demo}/whoami", json=body, auth=HawkAuth(hawk_session=token), timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["userid"] == "alice"
    assert response.json()["scheme"] == "hawk"
    assert response.json()["received"] == body
    # The same header on a changed body: the payload hash no longer matches.
    prepared = requests.Request("POST", f"{demo}/whoami", json=body, auth=HawkAuth(hawk_session=token)).prepare()
    prepared.body = json.dumps({"note": "changed"}).encode()
    prepared.headers["Content-Length"] = str(len(prepared.body))
    tampered = requests.Session().send(prepared, timeout=30)
    assert tampered.status_code == 401
    assert "application/problem+json" in tampered.headers["Content-Type"]


def test_post_whoami_echoes_a_body_covered_by_content_digest(demo):
    auth = HTTPSignatureAuth(
        signature_algorithm=algorithms.HMAC_SHA256,
        key=BILLING_SECRET,
        key_id="billing",
        covered_component_ids=("@method", "@authority", "@target-uri", "content-digest"),
        use_nonce=True,
    )
    body = {"invoice": 42}
    response = requests.post(f"{demo}/whoami", json=body, auth=auth, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["userid"] == "service:billing"
    assert response.json()["received"] == body


def test_post_whoami_refuses_what_is_not_json_with_a_problem(demo):
    auth = ("alice", PASSWORD)
    not_json = requests.post(
        f"{demo}/whoami", data=b"{not json", headers={"Content-Type": "application/json"}, auth=auth, timeout=30
    )
    assert not_json.status_code == 400
    assert problem_code(not_json) == "invalid_body"
    wrong_type = requests.post(f"{demo}/whoami", data=b"a=1", auth=auth, timeout=30)
    assert wrong_type.status_code == 400
    assert problem_code(wrong_type) == "invalid_body"
    too_big = requests.post(f"{demo}/whoami", json={"x": "a" * 70_000}, auth=auth, timeout=30)
    assert too_big.status_code == 400
    anonymous = requests.post(f"{demo}/whoami", json={}, timeout=30)
    assert anonymous.status_code == 401
    assert problem_code(anonymous) == "authentication_required"

