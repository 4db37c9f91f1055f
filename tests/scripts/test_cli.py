"""The ``authsuite`` console script, against the same ini file the server reads."""
from __future__ import annotations

import io
import json
import os
import pty
import shutil
import subprocess
import sys
import time

import pytest
import webtest
from pyramid.paster import get_app

from pyramid_authsuite.scripts import cli
from tests.apps import basic

PASSWORD = "correct horse battery"

INI = """\
[app:main]
use = egg:pyramid_authsuite#demo
pyramid.includes = pyramid_authsuite
authsuite.cache_url = memory://
authsuite.accounts_url = sqlite:///%(here)s/accounts.sqlite
authsuite.password_time_cost = 1
authsuite.password_memory_cost = 8
multiauth.policies = basic
multiauth.policy.basic.use = pyramid_authsuite.BasicAuthenticationPolicy
"""


@pytest.fixture
def ini(tmp_path):
    path = tmp_path / "app.ini"
    path.write_text(INI)
    return str(path)


def run(capsys, *argv, stdin_text=None, monkeypatch=None):
    if stdin_text is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin_text))
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out.strip(), err.strip()


def test_created_user_logs_in_to_the_server_reading_the_same_ini(ini, capsys):
    code, out, err = run(capsys, "create-user", "--ini", ini, "-u", "alice", "-p", PASSWORD,
                         "--role", "admin", "--role", "ops", "--tenant", "acme", "--email", "a@example.com")
    assert (code, out, err) == (0, "created user 'alice'", "")
    app = webtest.TestApp(get_app(ini))
    body = app.get("/whoami", headers=basic("alice", PASSWORD)).json
    assert body["userid"] == "alice"
    assert {"role:admin", "role:ops", "tenant:acme"} <= set(body["principals"])
    app.get("/admin", headers=basic("alice", PASSWORD), status=200)


def test_password_from_stdin(ini, capsys, monkeypatch):
    code, _, _ = run(capsys, "create-user", "--ini", ini, "-u", "bob", "--password-stdin",
                     stdin_text=PASSWORD + "\n", monkeypatch=monkeypatch)
    assert code == 0
    app = webtest.TestApp(get_app(ini))
    app.get("/whoami", headers=basic("bob", PASSWORD), status=200)


MEMORY_REASON = ("Hawk sessions of 'alice' were not ended: authsuite.cache_url is memory://, so they live inside the "
                 "server process, out of this command's reach; restart the server to end them (or use a redis:// cache)")


def test_set_password_disable_enable_delete(ini, capsys):
    # On memory:// the account changes are made (they refuse the next login
    # at once), but each command exits 1: it could not end the sessions.
    run(capsys, "create-user", "--ini", ini, "-u", "alice", "-p", PASSWORD)
    app = webtest.TestApp(get_app(ini))
    assert run(capsys, "set-password", "--ini", ini, "-u", "alice", "-p", "another password") == (
        1, "", f"authsuite: error: password changed for 'alice', but the {MEMORY_REASON}")
    app.get("/whoami", headers=basic("alice", PASSWORD), status=401)
    app.get("/whoami", headers=basic("alice", "another password"), status=200)
    assert run(capsys, "disable-user", "--ini", ini, "-u", "alice") == (
        1, "", f"authsuite: error: disabled user 'alice', but the {MEMORY_REASON}")
    app.get("/whoami", headers=basic("alice", "another password"), status=401)
    assert run(capsys, "enable-user", "--ini", ini, "-u", "alice") == (0, "enabled user 'alice'", "")
    app.get("/whoami", headers=basic("alice", "another password"), status=200)
    assert run(capsys, "delete-user", "--ini", ini, "-u", "alice") == (
        1, "", f"authsuite: error: deleted user 'alice', but the {MEMORY_REASON}")
    app.get("/whoami", headers=basic("alice", "another password"), status=401)


def test_list_users_text_and_json(ini, capsys):
    assert run(capsys, "list-users", "--ini", ini)[1] == "no users"
    run(capsys, "create-user", "--ini", ini, "-u", "bob", "-p", PASSWORD)
    run(capsys, "create-user", "--ini", ini, "-u", "alice", "-p", PASSWORD, "--role", "admin")
    run(capsys, "disable-user", "--ini", ini, "-u", "bob")
    code, out, _ = run(capsys, "list-users", "--ini", ini)
    assert code == 0
    # Every column has a label, and the columns line up (tests/scripts/test_users.py has the rest).
    assert out.splitlines() == [
        "USERID  EMAIL  DISPLAY_NAME  TENANT  ROLES  DISABLED  VERSION  LAST_LOGIN",
        "alice   -      -             -       admin  no        1        never",
        "bob     -      -             -       -      yes       2        never",
    ]
    listed = json.loads(run(capsys, "list-users", "--ini", ini, "--json")[1])
    assert listed["next"] is None
    assert [(user["userid"], user["roles"], user["disabled"]) for user in listed["users"]] == [
        ("alice", ["admin"], False), ("bob", [], True)]
    assert PASSWORD not in out and "argon2" not in json.dumps(listed)


@pytest.mark.parametrize("argv, message", [
    (["create-user", "-u", "a:b", "-p", PASSWORD], "invalid user name 'a:b'"),
    (["create-user", "-u", "", "-p", PASSWORD], "invalid user name ''"),
    (["create-user", "-u", "x" * 65, "-p", PASSWORD], "invalid user name"),
    (["create-user", "-u", "carol", "-p", "short"], "a password has 8 to 1024 characters"),
    (["set-password", "-u", "nobody", "-p", PASSWORD], "no user 'nobody'"),
    (["disable-user", "-u", "nobody"], "no user 'nobody'"),
    (["enable-user", "-u", "nobody"], "no user 'nobody'"),
    (["delete-user", "-u", "nobody"], "no user 'nobody'"),
])
def test_failures_are_one_line_and_exit_1(ini, capsys, argv, message):
    code, out, err = run(capsys, argv[0], "--ini", ini, *argv[1:])
    assert code == 1
    assert out == ""
    assert err == f"authsuite: error: {message}" or err.startswith(f"authsuite: error: {message}")
    assert "\n" not in err


def test_duplicate_user(ini, capsys):
    run(capsys, "create-user", "--ini", ini, "-u", "alice", "-p", PASSWORD)
    assert run(capsys, "create-user", "--ini", ini, "-u", "alice", "-p", PASSWORD)[1:] == (
        "", "authsuite: error: user 'alice' already exists")


def test_missing_ini_and_bad_settings(tmp_path, capsys):
    code, _, err = run(capsys, "list-users", "--ini", str(tmp_path / "nope.ini"))
    assert code == 1 and err == f"authsuite: error: ini file not found: {tmp_path / 'nope.ini'}"
    bad = tmp_path / "bad.ini"
    bad.write_text(INI.replace("memory://", "gopher://x"))
    code, _, err = run(capsys, "list-users", "--ini", str(bad))
    assert code == 1 and "authsuite.cache_url" in err and "\n" not in err


def test_no_password_without_terminal(ini, capsys, monkeypatch):
    code, _, err = run(capsys, "create-user", "--ini", ini, "-u", "carol", stdin_text="", monkeypatch=monkeypatch)
    assert code == 1 and "no password" in err


def test_usage_errors_exit_2(ini, capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(["create-user", "--ini", ini])  # no -u
    assert caught.value.code == 2
    with pytest.raises(SystemExit) as caught:
        cli.main(["create-user", "--ini", ini, "-u", "x", "-p", PASSWORD, "--password-stdin"])
    assert caught.value.code == 2


def _authsuite_executable() -> str:
    executable = shutil.which("authsuite", path=os.path.dirname(sys.executable))
    if executable is None:
        pytest.skip("the authsuite console script is not installed next to this Python (pip install -e .)")
    return executable


def test_console_script_prompts_twice_on_a_terminal(ini):
    executable = _authsuite_executable()
    pid, master = pty.fork()
    if pid == 0:  # the child: a real terminal on stdin, as a person would have
        os.execv(executable, [executable, "create-user", "--ini", ini, "-u", "dave"])
    output = b""
    for answer in (PASSWORD, PASSWORD):
        output += _read_until(master, b": ")
        os.write(master, answer.encode() + b"\n")
    output += _read_until(master, b"created user")
    _, status = os.waitpid(pid, 0)
    os.close(master)
    assert os.waitstatus_to_exitcode(status) == 0
    assert b"Password (again): " in output
    assert PASSWORD.encode() not in output  # never echoed
    app = webtest.TestApp(get_app(ini))
    app.get("/whoami", headers=basic("dave", PASSWORD), status=200)


def test_console_script_mismatched_prompts(ini):
    executable = _authsuite_executable()
    pid, master = pty.fork()
    if pid == 0:
        os.execv(executable, [executable, "create-user", "--ini", ini, "-u", "erin"])
    for answer in (PASSWORD, PASSWORD + "!"):
        _read_until(master, b": ")
        os.write(master, answer.encode() + b"\n")
    output = _read_until(master, b"differ")
    _, status = os.waitpid(pid, 0)
    os.close(master)
    assert os.waitstatus_to_exitcode(status) == 1
    assert b"authsuite: error: the two passwords differ" in output


def test_console_script_runs_as_a_process(ini):
    executable = _authsuite_executable()
    result = subprocess.run([executable, "create-user", "--ini", ini, "-u", "frank", "--password-stdin"],
                            input=PASSWORD + "\n", capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout.strip()) == (0, "created user 'frank'")


def _read_until(fd: int, marker: bytes, timeout: float = 30.0) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while marker not in data:
        if time.monotonic() > deadline:
            raise AssertionError(f"never saw {marker!r}; got {data!r}")
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    return data


HAWK_INI = INI.replace("multiauth.policies = basic", "multiauth.policies = hawk basic") + (
    "authsuite.endpoints = hawk_sessions\n"
    "multiauth.policy.hawk.use = pyramid_authsuite.HawkAuthenticationPolicy\n"
)


@pytest.fixture
def redis_ini(tmp_path, redis_client, redis_url):
    path = tmp_path / "hawk.ini"
    path.write_text(HAWK_INI.replace("memory://", redis_url))
    return str(path)


def _hawk_login(app) -> dict:
    import mohawk

    from pyramid_authsuite.hawk.protocol import derive_session_credentials

    token = app.post("/hawk-sessions", headers=basic("alice", PASSWORD), status=201).json["token"]
    hawk_id, key = derive_session_credentials(token)

    def sign(path):
        sender = mohawk.Sender({"id": hawk_id, "key": key.decode(), "algorithm": "sha256"},
                               "http://localhost:80" + path, "GET", content=b"", content_type="")
        return {"Authorization": sender.request_header}

    return sign


ENDED = "ended its Hawk sessions, remembered Basic logins and JWTs issued before now"


@pytest.mark.parametrize("command, message", [
    (["revoke-sessions"], "ended 2 Hawk sessions of 'alice', its remembered Basic logins and its JWTs issued before now"),
    (["disable-user"], f"disabled user 'alice'; {ENDED}"),
    (["delete-user"], f"deleted user 'alice'; {ENDED}"),
    (["set-password", "-p", "a new password"], f"password changed for 'alice'; {ENDED}"),
])
def test_account_changes_end_hawk_sessions_on_a_shared_cache(redis_ini, capsys, command, message):
    run(capsys, "create-user", "--ini", redis_ini, "-u", "alice", "-p", PASSWORD)
    app = webtest.TestApp(get_app(redis_ini), extra_environ={"HTTP_HOST": "localhost:80"})
    signers = [_hawk_login(app), _hawk_login(app)]
    for sign in signers:
        app.get("/whoami", headers=sign("/whoami"), status=200)
    code, out, err = run(capsys, command[0], "--ini", redis_ini, "-u", "alice", *command[1:])
    assert (code, out, err) == (0, message, "")
    for sign in signers:
        app.get("/whoami", headers=sign("/whoami"), status=401)


@pytest.mark.parametrize("command, still_valid", [
    (["disable-user"], None),
    (["delete-user"], None),
    (["set-password", "-p", "a new password"], "a new password"),
])
def test_account_changes_forget_remembered_basic_logins_on_a_shared_cache(redis_ini, capsys, command, still_valid):
    path = redis_ini
    with open(path, "a") as ini_file:
        ini_file.write("multiauth.policy.basic.credentials_cache_seconds = 300\n")
    run(capsys, "create-user", "--ini", path, "-u", "alice", "-p", PASSWORD)
    app = webtest.TestApp(get_app(path), extra_environ={"HTTP_HOST": "localhost:80"})
    app.get("/whoami", headers=basic("alice", PASSWORD), status=200)  # verified, then remembered
    app.get("/whoami", headers=basic("alice", PASSWORD), status=200)  # from the cache
    code, _, err = run(capsys, command[0], "--ini", path, "-u", "alice", *command[1:])
    assert (code, err) == (0, "")
    app.get("/whoami", headers=basic("alice", PASSWORD), status=401)
    if still_valid:
        app.get("/whoami", headers=basic("alice", still_valid), status=200)


def test_revoke_sessions_on_a_memory_cache_fails_with_the_reason(ini, capsys):
    run(capsys, "create-user", "--ini", ini, "-u", "alice", "-p", PASSWORD)
    assert run(capsys, "revoke-sessions", "--ini", ini, "-u", "alice") == (
        1, "", f"authsuite: error: the {MEMORY_REASON}")


def test_bewit_command_mints_a_working_signed_url(redis_ini, capsys):
    run(capsys, "create-user", "--ini", redis_ini, "-u", "alice", "-p", PASSWORD, "--role", "admin")
    code, url, err = run(capsys, "bewit", "--ini", redis_ini, "-u", "alice", "--url", "http://localhost/whoami?x=1",
                         "--ttl", "120")
    assert code == 0, err
    assert url.startswith("http://localhost/whoami?x=1&bewit=")
    app = webtest.TestApp(get_app(redis_ini), extra_environ={"HTTP_HOST": "localhost:80"})
    assert app.get(url[len("http://localhost"):]).json["userid"] == "alice"
    app.get(url[len("http://localhost"):].replace("x=1", "x=2"), status=401)


@pytest.mark.parametrize("argv, message", [
    (["--url", "ftp://x/y"], "not an http(s) URL"),
    (["--url", "http://localhost/a?bewit=x"], "already has a bewit"),
    (["--url", "http://localhost/a", "--ttl", "0"], "--ttl is 1 second to 30 days"),
])
def test_bewit_command_errors(redis_ini, capsys, argv, message):
    run(capsys, "create-user", "--ini", redis_ini, "-u", "alice", "-p", PASSWORD)
    code, _, err = run(capsys, "bewit", "--ini", redis_ini, "-u", "alice", *argv)
    assert code == 1 and message in err


def test_bewit_needs_a_shared_cache(ini, capsys):
    run(capsys, "create-user", "--ini", ini, "-u", "alice", "-p", PASSWORD)
    code, _, err = run(capsys, "bewit", "--ini", ini, "-u", "alice", "--url", "http://localhost/whoami")
    assert code == 1 and "shared cache" in err


def test_gen_secret(capsys):
    code, out, _ = run(capsys, "gen-secret")
    assert code == 0 and len(out) == 64 and int(out, 16) >= 0
    assert run(capsys, "gen-secret")[1] != out
    assert len(run(capsys, "gen-secret", "--bytes", "48")[1]) == 96
    assert len(run(capsys, "gen-secret", "--bytes", "128")[1]) == 256


@pytest.mark.parametrize("value, message", [
    ("16", "argument --bytes: 16 is out of range: give 32 to 128"),
    ("129", "argument --bytes: 129 is out of range: give 32 to 128"),
    ("many", "argument --bytes: not a whole number: 'many'"),
])
def test_gen_secret_states_the_range(capsys, value, message):
    with pytest.raises(SystemExit) as caught:
        cli.main(["gen-secret", "--bytes", value])
    err = capsys.readouterr().err
    assert caught.value.code == 2
    assert err.splitlines()[-1] == f"authsuite gen-secret: error: {message}"
    assert "33" not in err  # the allowed values are not listed one by one


@pytest.mark.parametrize("kind", ["ed25519", "rsa", "ec"])
def test_gen_keypair_writes_usable_pem_files(tmp_path, capsys, kind):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    key_type = {"ed25519": ed25519.Ed25519PrivateKey, "rsa": rsa.RSAPrivateKey, "ec": ec.EllipticCurvePrivateKey}[kind]
    code, out, _ = run(capsys, "gen-keypair", "--kind", kind, "--out", str(tmp_path / "keys"))
    assert code == 0
    private_path = tmp_path / "keys" / f"authsuite-{kind}.pem"
    public_path = tmp_path / "keys" / f"authsuite-{kind}.pub.pem"
    assert str(private_path) in out and str(public_path) in out
    assert (private_path.stat().st_mode & 0o777) == 0o600
    private = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
    assert isinstance(private, key_type)
    public = serialization.load_pem_public_key(public_path.read_bytes())
    assert public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) == \
        private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if kind == "rsa":
        assert private.key_size >= 2048
    code, _, err = run(capsys, "gen-keypair", "--kind", kind, "--out", str(tmp_path / "keys"))
    assert code == 1 and "not overwriting" in err


# -- the CLI refuses what pserve refuses ---------------------------------------------

REFUSED_BY_PSERVE = [
    # (a line to add to INI, the setting the one-line error names)
    ("multiauth.policy.basic.relm = api", "multiauth.policy.basic.relm: unknown setting"),
    ("multiauth.policy.basic.lockout_seconds = forever", "multiauth.policy.basic.lockout_seconds: expected a duration"),
    ("multiauth.policy.basic.max_failed_attempts = 0", "multiauth.policy.basic.max_failed_attempts: must be at least 1"),
    ("multiauth.policy.basic.use = pyramid_authsuite.NoSuchPolicy", "multiauth.policy.basic.use: cannot import"),
    ("authsuite.endpoints = tokens", "authsuite.endpoints: tokens needs a pyramid_authsuite.JWTAuthenticationPolicy"),
    ("authsuite.cache_urll = memory://", "authsuite.cache_urll: unknown setting"),
]


@pytest.mark.parametrize("line, message", REFUSED_BY_PSERVE, ids=[m.split(":")[0] for _, m in REFUSED_BY_PSERVE])
@pytest.mark.parametrize("command", [["create-user", "-u", "alice", "--password-stdin"], ["list-users"],
                                     ["revoke-sessions", "-u", "alice"]])
def test_console_script_refuses_an_ini_pserve_refuses(tmp_path, line, message, command):
    ini = tmp_path / "refused.ini"
    key = line.split(" = ")[0]
    good = [kept for kept in INI.splitlines() if not kept.startswith(key + " ")]
    ini.write_text("\n".join(good + [line]) + "\n")
    result = subprocess.run([_authsuite_executable(), command[0], "--ini", str(ini), *command[1:]],
                            input=PASSWORD + "\n", capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"authsuite: error: bad configuration in {ini}: {message}")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    # Nothing was written: the account store was never opened for a user.
    assert not (tmp_path / "accounts.sqlite").exists() or "alice" not in (tmp_path / "accounts.sqlite").read_bytes().decode("latin-1")


def test_console_script_memory_cache_exits_1_with_the_reason(ini):
    executable = _authsuite_executable()
    subprocess.run([executable, "create-user", "--ini", ini, "-u", "alice", "-p", PASSWORD], check=True,
                   capture_output=True, timeout=60)
    for argv, done in ((["revoke-sessions"], "the"),
                       (["set-password", "-p", "a new password"], "password changed for 'alice', but the"),
                       (["disable-user"], "disabled user 'alice', but the")):
        result = subprocess.run([executable, argv[0], "--ini", ini, "-u", "alice", *argv[1:]],
                                capture_output=True, text=True, timeout=60)
        assert (result.returncode, result.stdout, result.stderr) == (1, "", f"authsuite: error: {done} {MEMORY_REASON}\n")
    # The account changes that still mean something were made.
    app = webtest.TestApp(get_app(ini))
    app.get("/whoami", headers=basic("alice", "a new password"), status=401)  # disabled
    assert run_json_users(ini) == [("alice", True)]


def run_json_users(ini: str) -> list:
    result = subprocess.run([_authsuite_executable(), "list-users", "--ini", ini, "--json"],
                            capture_output=True, text=True, timeout=60, check=True)
    return [(user["userid"], user["disabled"]) for user in json.loads(result.stdout)["users"]]


DEFERRED_FAILURE = """\
from pyramid.exceptions import ConfigurationError


def includeme(config):
    def check():
        raise ConfigurationError("example.setting: refused at commit time")

    config.action("example-check", check)
"""


def test_console_script_reports_an_error_of_a_deferred_action_in_one_line(tmp_path):
    # Another include's check that runs when the configuration is committed:
    # Pyramid wraps its error in a multi-line ConfigurationExecutionError; pserve
    # fails on it, and the CLI names its cause in one line.
    (tmp_path / "deferred_check.py").write_text(DEFERRED_FAILURE)
    ini = tmp_path / "deferred.ini"
    ini.write_text(INI.replace("pyramid.includes = pyramid_authsuite",
                               "pyramid.includes = pyramid_authsuite deferred_check"))
    result = subprocess.run([_authsuite_executable(), "list-users", "--ini", str(ini)], capture_output=True, text=True,
                            timeout=60, env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"authsuite: error: bad configuration in {ini}: example.setting: refused at commit time\n"
