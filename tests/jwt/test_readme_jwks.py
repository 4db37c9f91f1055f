"""The README's PyJWKClient snippet, run verbatim against ``development.ini`` under pserve.

The ini is copied as it is (only the port changes); it configures no JWT key,
so the server signs with its development key: Ed25519, derived from the
server secret generated into the SQLite file, published at
``/.well-known/jwks.json``. The snippet runs in a separate Python process,
as a client elsewhere would run it, with only PyJWT and requests.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import jwt
import pytest
import requests

from tests.servers import PserveServers, script

ROOT = Path(__file__).resolve().parent.parent.parent
PASSWORD = "correct horse battery staple"
README_API = "http://127.0.0.1:6543"
# The README paragraph that introduces the snippet.
SNIPPET_INTRO = "verified elsewhere through its JWKS"


def readme_snippet() -> str:
    """The literal block after the paragraph naming ``SNIPPET_INTRO``, dedented."""
    readme = (ROOT / "README.rst").read_text()
    assert SNIPPET_INTRO in readme, "the README's JWKS snippet is gone"
    after = readme.split(SNIPPET_INTRO, 1)[1].split("::\n\n", 1)[1]
    lines = []
    for line in after.splitlines():
        if line and not line.startswith("    "):
            break
        lines.append(line)
    return textwrap.dedent("\n".join(lines)).strip() + "\n"


@pytest.fixture
def development_ini(tmp_path):
    ini = tmp_path / "development.ini"
    text = (ROOT / "development.ini").read_text()
    assert f"listen = {README_API.split('//')[1]}" in text
    assert "multiauth.policy.jwt.secret" not in text and "multiauth.policy.jwt.keys" not in text
    ini.write_text(text.replace("listen = 127.0.0.1:6543", "listen = 127.0.0.1:%(http_port)s"))
    created = subprocess.run(
        [script("authsuite"), "create-user", "--ini", str(ini), "-u", "alice", "--role", "admin", "--password-stdin"],
        input=PASSWORD + "\n", capture_output=True, text=True, timeout=120,
    )
    assert created.returncode == 0, created.stderr
    return ini


def run_snippet(api: str) -> subprocess.CompletedProcess:
    snippet = readme_snippet()
    assert README_API in snippet and "PyJWKClient" in snippet
    # The snippet's one free name is the password it logs in with.
    program = f"password = {PASSWORD!r}\n" + snippet.replace(README_API, api)
    return subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)


def test_the_readme_pyjwkclient_snippet_verifies_a_token_of_the_demo(development_ini):
    servers = PserveServers(development_ini)
    try:
        api = servers.start()
        keys = requests.get(f"{api}/.well-known/jwks.json", timeout=30).json()["keys"]
        assert len(keys) == 1 and keys[0]["kty"] == "OKP" and keys[0]["alg"] == "EdDSA"
        done = run_snippet(api)
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == ["alice", "['admin']"]

        # Every process on the store signs with the same key, and so does a restarted one.
        token = requests.post(f"{api}/tokens", auth=("alice", PASSWORD), timeout=30).json()["access_token"]
        second = servers.start()
        assert requests.get(f"{second}/.well-known/jwks.json", timeout=30).json()["keys"] == keys
        assert requests.get(f"{second}/whoami", headers={"Authorization": f"Bearer {token}"}, timeout=30).status_code == 200
        servers.stop()
        servers.processes.clear()
        restarted = servers.start()
        assert requests.get(f"{restarted}/.well-known/jwks.json", timeout=30).json()["keys"] == keys
        assert requests.get(f"{restarted}/whoami", headers={"Authorization": f"Bearer {token}"}, timeout=30).status_code == 200
        assert jwt.get_unverified_header(token)["kid"] == keys[0]["kid"]
    finally:
        servers.stop()
