"""The README's Quickstart, as a new user runs it: ``development.ini`` itself under pserve.

The ini is copied as it is (only the port changes, so that the test can run
beside ``make serve``), users are made with the ``authsuite`` CLI and every
call goes over HTTP with the clients the README names.
"""
from __future__ import annotations

import json
import re
import shutil
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



def quickstart_lines() -> list[str]:
    """The Quickstart's shell lines, after the steps the fixture has already done."""
    readme = (ROOT / "README.rst").read_text()
    block = readme.split("In a checkout (a second terminal for the server)::\n", 1)[1]
    lines = []
    for line in block.splitlines():
        if line and not line.startswith("    "):
            break
        line = line.strip()
        if line and not line.startswith("#") and not line.startswith(("make ", ".venv/bin/authsuite create-user")):
            lines.append(line)
    return lines


def expected_status(line: str) -> str | None:
    match = re.search(r"#\s*(\d{3})\b", line)
    return match.group(1) if match else None


def test_the_quickstart_runs_verbatim(demo, tmp_path):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed (the Quickstart uses it)")
    lines = quickstart_lines()
    assert any(line.startswith("TOKEN=") for line in lines), "the Quickstart must set TOKEN before using it"
    script_text = "\n".join(
        line.replace("http://127.0.0.1:6543", demo)
        .replace("-u alice ", f"-u alice:'{PASSWORD}' ")
        .replace(".venv/bin/authsuite", script("authsuite"))
        for line in lines
    )
    # Every curl reports its status on stderr, in order; the bodies go where the README sends them.
    wrapper = "curl() { command curl -sS --max-time 30 -w '%{stderr}STATUS %{http_code}\\n' \"$@\"; }\n"
    ran = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", wrapper + script_text],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert ran.returncode == 0, ran.stderr
    statuses = re.findall(r"^STATUS (\d{3})$", ran.stderr, re.MULTILINE)
    commands = [line for line in lines if "curl" in line]
    assert len(statuses) == len(commands), ran.stderr
    for command, status in zip(commands, statuses):
        wanted = expected_status(command)
        if wanted is None:
            assert status.startswith("2"), (command, status)
        else:
            assert status == wanted, (command, status, ran.stdout)


def test_the_readme_install_line_brings_the_server_development_ini_uses():
    import configparser

    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    server_extra = setup["options.extras_require"]["server"]
    ini = (ROOT / "development.ini").read_text()
    assert "use = egg:waitress#main" in ini
    assert "waitress" in server_extra
    assert 'pip install "pyramid_authsuite[server]"' in (ROOT / "README.rst").read_text()
