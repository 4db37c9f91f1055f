"""``authsuite add-key / list-keys / remove-key / answer-challenge`` against the ini the server reads."""
from __future__ import annotations

import io
import json
import os
import sys

import pytest
import webtest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from pyramid.paster import get_app

from pyramid_authsuite.scripts import cli
from tests.challenge.helpers import answered, header, private_pem, problem_code, public_pem

INI = """\
[app:main]
use = egg:pyramid_authsuite#demo
pyramid.includes = pyramid_authsuite
authsuite.cache_url = memory://
authsuite.accounts_url = sqlite:///%(here)s/accounts.sqlite
authsuite.password_time_cost = 1
authsuite.password_memory_cost = 8
authsuite.endpoints = challenges
multiauth.policies = challenge basic
multiauth.policy.challenge.use = pyramid_authsuite.ChallengeAuthenticationPolicy
multiauth.policy.basic.use = pyramid_authsuite.BasicAuthenticationPolicy
"""


@pytest.fixture
def ini(tmp_path, capsys):
    path = tmp_path / "app.ini"
    path.write_text(INI)
    assert cli.main(["create-user", "--ini", str(path), "-u", "alice", "-p", "correct horse battery"]) == 0
    capsys.readouterr()
    return str(path)


@pytest.fixture
def app(ini):
    return webtest.TestApp(get_app(ini), extra_environ={"REMOTE_ADDR": "127.0.0.1"})


def run(capsys, *argv, stdin_text=None, monkeypatch=None):
    if stdin_text is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin_text))
    code = cli.main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out.strip(), err.strip()


def write(tmp_path, name, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def answer_with_cli(capsys, app, key_id, key_source, monkeypatch, *extra):
    issued = app.post_json("/challenges", {"key_id": key_id}, status=201).json
    code, out, err = run(capsys, "answer-challenge", "--key-id", key_id, "--key", key_source, *extra,
                         stdin_text=json.dumps(issued), monkeypatch=monkeypatch)
    assert code == 0, err
    return {"Authorization": out}


# -- add-key ----------------------------------------------------------------------


def test_add_hmac_key_prints_a_generated_secret_once(ini, app, capsys, monkeypatch):
    code, out, err = run(capsys, "add-key", "--ini", ini, "-u", "alice", "--kind", "hmac", "--key-id", "alice-phone")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "added hmac key 'alice-phone' to 'alice'"
    secret = lines[1].removeprefix("secret: ")
    assert len(secret) == 64 and int(secret, 16) >= 0
    monkeypatch.setenv("ALICE_SECRET", secret)
    headers = answer_with_cli(capsys, app, "alice-phone", "env:ALICE_SECRET", monkeypatch)
    body = app.get("/whoami", headers=headers).json
    assert body["userid"] == "alice" and "key:alice-phone" in body["principals"]
    # The listing never shows it again.
    code, out, err = run(capsys, "list-keys", "--ini", ini, "-u", "alice")
    assert code == 0 and secret not in out and "alice-phone\thmac\t-\t" in out


def test_add_hmac_key_with_a_given_secret(ini, app, capsys, monkeypatch, tmp_path):
    secret = b"a-shared-secret-of-exactly-32-b!"
    assert len(secret) == 32
    monkeypatch.setenv("GIVEN", secret.decode())
    code, out, err = run(capsys, "add-key", "--ini", ini, "-u", "alice", "--kind", "hmac", "--key-id", "given", "--secret", "env:GIVEN")
    assert code == 0, err
    assert out == "added hmac key 'given' to 'alice'"  # a given secret is not printed back
    assert app.get("/whoami", headers=answered(app, "hmac", secret, "given")).json["userid"] == "alice"
    path = write(tmp_path, "secret.txt", secret + b"\n")
    code, out, err = run(capsys, "add-key", "--ini", ini, "-u", "alice", "--kind", "hmac", "--key-id", "given2", "--secret", f"file:{path}")
    assert code == 0, err
    assert app.get("/whoami", headers=answered(app, "hmac", secret, "given2")).json["userid"] == "alice"


def test_hmac_secrets_under_32_bytes_are_refused(ini, capsys, monkeypatch):
    monkeypatch.setenv("SHORT", "x" * 31)
    code, out, err = run(capsys, "add-key", "--ini", ini, "-u", "alice", "--kind", "hmac", "--secret", "env:SHORT")
    assert code == 1 and "at least 32 bytes" in err and "x" * 31 not in err
    code, out, err = run(capsys, "add-key", "--ini", ini, "-u", "alice", "--kind", "hmac", "--secret", "y" * 40)
    assert code == 1 and "env:NAME or file:PATH" in err and "y" * 40 not in err
    code, out, err = run(capsys, "list-keys", "--ini", ini, "-u", "alice")
    assert out == "no keys for 'alice'"


@pytest.mark.parametrize("kind", ["ed25519", "rsa"])
def test_add_public_key_from_cryptography(ini, app, capsys, monkeypatch, tmp_path, kind):
    key = ed25519.Ed25519PrivateKey.generate() if kind == "ed25519" else rsa.generate_private_key(65537, 2048)
    pub = write(tmp_path, "client.pub.pem", public_pem(key))
    code, out, err = run(capsys, "add-key", "--ini", ini, "-u", "alice", "--kind", kind, "--public-key-file", pub, "--key-id", "dev-1")
    assert code == 0, err
    assert out.splitlines()[0] == f"added {kind} key 'dev-1' to 'alice'"
    assert out.splitlines()[1].startswith("fingerprint: SHA256:")
    assert app.get("/whoami", headers=answered(app, kind, key, "dev-1")).json["userid"] == "alice"
    monkeypatch.setenv("CLIENT_KEY", private_pem(key).decode())
    headers = answer_with_cli(capsys, app, "dev-1", "env:CLIENT_KEY", monkeypatch)
    assert app.get("/whoami", headers=headers).json["userid"] == "alice"


def test_rsa_keys_under_2048_bits_are_refused(ini, capsys, tmp_path):
    small = rsa.generate_private_key(65537, 1024)
    pub = write(tmp_path, "small.pub.pem", public_pem(small))
    code, out, err = run(capsys, "add-key", "--ini", ini, "-u", "alice", "--kind", "rsa", "--public-key-file", pub)
    assert code == 1 and "at least 2048 bits" in err


@pytest.mark.parametrize("case", ["private key", "other kind", "garbage", "missing file", "no file", "secret for rsa",
                                  "file for hmac", "bad key id", "unknown user", "taken id"])
def test_add_key_refusals(ini, capsys, tmp_path, case, monkeypatch):
    ed = ed25519.Ed25519PrivateKey.generate()
    good = write(tmp_path, "good.pub.pem", public_pem(ed))
    assert run(capsys, "add-key", "--ini", ini, "-u", "alice", "--kind", "ed25519", "--public-key-file", good, "--key-id", "taken")[0] == 0
    monkeypatch.setenv("LONG", "z" * 40)
    argv = {
        "private key": ["--kind", "ed25519", "--public-key-file", write(tmp_path, "p.pem", private_pem(ed))],
        "other kind": ["--kind", "rsa", "--public-key-file", good],
        "garbage": ["--kind", "ed25519", "--public-key-file", write(tmp_path, "g.pem", b"hello")],
        "missing file": ["--kind", "ed25519", "--public-key-file", str(tmp_path / "nope.pem")],
        "no file": ["--kind", "rsa"],
        "secret for rsa": ["--kind", "rsa", "--secret", "env:LONG"],
        "file for hmac": ["--kind", "hmac", "--public-key-file", good],
        "bad key id": ["--kind", "ed25519", "--public-key-file", good, "--key-id", "has space"],
        "unknown user": ["--kind", "ed25519", "--public-key-file", good, "-u", "nobody"],
        "taken id": ["--kind", "ed25519", "--public-key-file", good, "--key-id", "taken"],
    }[case]
    user = [] if "-u" in argv else ["-u", "alice"]
    code, out, err = run(capsys, "add-key", "--ini", ini, *user, *argv)
    assert code == 1 and err.startswith("authsuite: error: "), (code, err)
    assert "PRIVATE" not in err


def test_default_key_ids_are_random(ini, capsys):
    ids = set()
    for _ in range(2):
        code, out, err = run(capsys, "add-key", "--ini", ini, "-u", "alice", "--kind", "hmac")
        ids.add(out.splitlines()[0].split("'")[1])
    assert len(ids) == 2 and all(key_id.startswith("key-") and len(key_id) == 20 for key_id in ids)


# -- list-keys, remove-key ------------------------------------------------------------


def test_list_and_remove_keys(ini, app, capsys, tmp_path):
    ed = ed25519.Ed25519PrivateKey.generate()
    pub = write(tmp_path, "k.pub.pem", public_pem(ed))
    run(capsys, "add-key", "--ini", ini, "-u", "alice", "--kind", "ed25519", "--public-key-file", pub, "--key-id", "b-key")
    run(capsys, "add-key", "--ini", ini, "-u", "alice", "--kind", "hmac", "--key-id", "a-key")
    code, out, err = run(capsys, "list-keys", "--ini", ini, "-u", "alice", "--json")
    rows = json.loads(out)
    assert [(row["key_id"], row["kind"]) for row in rows] == [("a-key", "hmac"), ("b-key", "ed25519")]
    assert rows[0]["fingerprint"] == "-" and rows[1]["fingerprint"].startswith("SHA256:")
    issued = app.post_json("/challenges", {"key_id": "b-key"}).json
    assert run(capsys, "remove-key", "--ini", ini, "--key-id", "b-key") == (0, "removed key 'b-key'", "")
    from tests.challenge.helpers import independent_answer

    response = app.get("/whoami", headers=header(issued["challenge_id"], "b-key", independent_answer(
        "ed25519", ed, issued["challenge_id"], "b-key", issued["challenge"])), status=401)
    assert problem_code(response) == "invalid_response"
    assert run(capsys, "remove-key", "--ini", ini, "--key-id", "b-key")[:2] == (1, "")
    assert run(capsys, "list-keys", "--ini", ini, "-u", "nobody")[0] == 1


# -- answer-challenge -------------------------------------------------------------------


def test_answer_challenge_from_a_file_or_fields(ini, app, capsys, tmp_path, monkeypatch):
    key = rsa.generate_private_key(65537, 2048)
    run(capsys, "add-key", "--ini", ini, "-u", "alice", "--kind", "rsa", "--public-key-file",
        write(tmp_path, "r.pub.pem", public_pem(key)), "--key-id", "r1")
    key_file = write(tmp_path, "r.pem", private_pem(key))
    issued = app.post_json("/challenges", {"key_id": "r1"}).json
    code, out, err = run(capsys, "answer-challenge", "--key-id", "r1", "--key", f"file:{key_file}",
                         "--challenge-json", write(tmp_path, "c.json", json.dumps(issued).encode()))
    assert code == 0, err
    assert app.get("/whoami", headers={"Authorization": out}).json["userid"] == "alice"
    issued = app.post_json("/challenges", {"key_id": "r1"}).json
    code, out, err = run(capsys, "answer-challenge", "--key-id", "r1", "--key", f"file:{key_file}", "--kind", "rsa",
                         "--challenge-id", issued["challenge_id"], "--challenge", issued["challenge"])
    assert code == 0, err
    assert app.get("/whoami", headers={"Authorization": out}).json["userid"] == "alice"


def test_answer_challenge_with_gen_keypair_keys(ini, app, capsys, tmp_path, monkeypatch):
    for kind in ("ed25519", "rsa"):
        assert run(capsys, "gen-keypair", "--kind", kind, "--out", tmp_path, "--name", kind)[0] == 0
        code, out, err = run(capsys, "add-key", "--ini", ini, "-u", "alice", "--kind", kind,
                             "--public-key-file", tmp_path / f"{kind}.pub.pem", "--key-id", f"gen-{kind}")
        assert code == 0, err
        headers = answer_with_cli(capsys, app, f"gen-{kind}", f"file:{tmp_path / f'{kind}.pem'}", monkeypatch)
        assert app.get("/whoami", headers=headers).json["userid"] == "alice"


@pytest.mark.parametrize("case", ["kind mismatch", "bad json", "one field", "wrong key", "unknown algorithm", "literal key",
                                  "no kind"])
def test_answer_challenge_refusals(ini, app, capsys, tmp_path, monkeypatch, case):
    ed = ed25519.Ed25519PrivateKey.generate()
    other = rsa.generate_private_key(65537, 2048)
    monkeypatch.setenv("ED", private_pem(ed).decode())
    monkeypatch.setenv("OTHER", private_pem(other).decode())
    issued = {"challenge_id": "A" * 56, "challenge": "B" * 43, "algorithm": "ed25519", "expires_in": 30}
    rsa_issued = {**issued, "algorithm": "rsa-oaep-sha256", "challenge": "AAAA"}
    argv, stdin = {
        "kind mismatch": (["--key", "env:ED", "--kind", "hmac"], json.dumps(issued)),
        "bad json": (["--key", "env:ED"], "{not json"),
        "one field": (["--key", "env:ED", "--challenge-id", "A" * 56], ""),
        "wrong key": (["--key", "env:OTHER"], json.dumps(rsa_issued)),
        "unknown algorithm": (["--key", "env:ED"], json.dumps({**issued, "algorithm": "md5"})),
        "literal key": (["--key", "secret-on-the-command-line"], json.dumps(issued)),
        "no kind": (["--key", "env:ED", "--challenge-id", "A" * 56, "--challenge", "B" * 43], ""),
    }[case]
    code, out, err = run(capsys, "answer-challenge", "--key-id", "k1", *argv, stdin_text=stdin, monkeypatch=monkeypatch)
    assert code == 1 and err.startswith("authsuite: error: "), (code, out, err)
    assert "secret-on-the-command-line" not in err and "PRIVATE" not in err


# -- the README's openssl recipes (no authsuite on the client) ----------------------------


def test_openssl_recipes_from_the_readme(ini, app, capsys, tmp_path):
    import shutil
    import subprocess

    if shutil.which("openssl") is None or shutil.which("bash") is None:
        pytest.skip("openssl or bash is not installed")
    code, out, err = run(capsys, "add-key", "--ini", ini, "-u", "alice", "--kind", "hmac", "--key-id", "shell-hmac")
    secret = out.splitlines()[1].removeprefix("secret: ")
    ed = ed25519.Ed25519PrivateKey.generate()
    run(capsys, "add-key", "--ini", ini, "-u", "alice", "--kind", "ed25519", "--key-id", "shell-ed",
        "--public-key-file", write(tmp_path, "ed.pub.pem", public_pem(ed)))
    pem = write(tmp_path, "ed.pem", private_pem(ed))
    rsa_key = rsa.generate_private_key(65537, 2048)
    run(capsys, "add-key", "--ini", ini, "-u", "alice", "--kind", "rsa", "--key-id", "shell-rsa",
        "--public-key-file", write(tmp_path, "rsa.pub.pem", public_pem(rsa_key)))
    write(tmp_path, "rsa.pem", private_pem(rsa_key))
    recipes = {
        "shell-rsa": """printf '%s' "$challenge" | base64 -d \\
            | openssl pkeyutl -decrypt -inkey rsa.pem -pkeyopt rsa_padding_mode:oaep \\
                -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 \\
            | base64 -w0 | tr '+/' '-_' | tr -d '='""",
        "shell-hmac": """printf 'authsuite-challenge-v1\\n%s\\n%s\\n%s' "$id" "$key_id" "$challenge" \\
            | openssl dgst -sha256 -hmac "$secret" -r | cut -d' ' -f1""",
        "shell-ed": """printf 'authsuite-challenge-v1\\n%s\\n%s\\n%s' "$id" "$key_id" "$challenge" > message.bin
            openssl pkeyutl -sign -rawin -inkey "$pem" -in message.bin | base64 -w0""",
    }
    for key_id, recipe in recipes.items():
        issued = app.post_json("/challenges", {"key_id": key_id}).json
        env = {"PATH": os.environ["PATH"], "id": issued["challenge_id"], "key_id": key_id,
               "challenge": issued["challenge"], "secret": secret, "pem": pem}
        done = subprocess.run(["bash", "-c", recipe], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        body = app.get("/whoami", headers=header(issued["challenge_id"], key_id, done.stdout.strip())).json
        assert body["userid"] == "alice" and f"key:{key_id}" in body["principals"]
