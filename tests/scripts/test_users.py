"""``authsuite get-user``, ``update-user``, ``list-users`` and ``migrate``, run as the installed console script.

Every command runs as a real process against a real database (SQLite and
PostgreSQL) configured by an ini file, as an operator would run it; the
accounts are set up through the same store the server uses.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest
import webtest
from pyramid.paster import get_app

from tests.accounts.fixtures.make_v1_fixture import ACCOUNTS
from tests.accounts.test_migrations import V2_LINE, v1_url  # noqa: F401 (v1_url is a fixture)
from tests.apps import basic

PASSWORD = "correct horse battery"
ENDED = "ended its Hawk sessions, remembered Basic logins and JWTs issued before now"

INI = """\
[app:main]
use = egg:pyramid_authsuite#demo
pyramid.includes = pyramid_authsuite
authsuite.cache_url = {cache_url}
authsuite.cache_prefix = cli-users-test:
authsuite.accounts_url = {accounts_url}
authsuite.password_time_cost = 1
authsuite.password_memory_cost = 8
multiauth.policies = basic
multiauth.policy.basic.use = pyramid_authsuite.BasicAuthenticationPolicy
"""


def _ini_value(value: str) -> str:
    # The ini file interpolates "%(name)s": a URL's own "%3D" must be doubled.
    return value.replace("%", "%%")


def write_ini(path, cache_url: str, accounts_url: str) -> str:
    path.write_text(INI.format(cache_url=_ini_value(cache_url), accounts_url=_ini_value(accounts_url)))
    return str(path)


@pytest.fixture(params=["sqlite", "postgresql"])
def ini(request, tmp_path, redis_client, redis_url):
    """An ini on each database, with a shared (Redis) cache so account changes can end sessions."""
    if request.param == "sqlite":
        accounts_url = f"sqlite:///{tmp_path}/accounts.sqlite"
    else:
        accounts_url = request.getfixturevalue("clean_postgres_url")
    return write_ini(tmp_path / "app.ini", redis_url, accounts_url)


def store_of(ini: str):
    """The account store the server configured by ``ini`` uses (set-up and checks)."""
    return get_app(ini).registry.authsuite_accounts


def authsuite_executable() -> str:
    executable = shutil.which("authsuite", path=os.path.dirname(sys.executable))
    if executable is None:
        pytest.fail("the authsuite console script is not installed next to this Python (pip install -e .)")
    return executable


def authsuite(*argv: str, stdin: str | None = None) -> tuple[int, str, str]:
    """Run the console script; (exit code, stdout, stderr)."""
    result = subprocess.run([authsuite_executable(), *argv], input=stdin, capture_output=True, text=True,
                            timeout=120)
    return result.returncode, result.stdout, result.stderr


def one_line_error(code: int, out: str, err: str) -> str:
    """The message of a failed command: exit 1, nothing on stdout, one line on stderr."""
    assert (code, out) == (1, ""), (code, out, err)
    assert err.endswith("\n") and err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("authsuite: error: ")
    return err[len("authsuite: error: "):-1]


# -- get-user -----------------------------------------------------------------------


def test_get_user_shows_every_field_labelled_and_as_json(ini):
    store = store_of(ini)
    store.create("alice", PASSWORD, roles=["admin", "ops"], tenant="acme", email="alice@example.org",
                 display_name="Alice Liddell", custom_claims={"plan": "pro", "seats": 5})
    code, out, err = authsuite("get-user", "--ini", ini, "-u", "alice")
    assert (code, err) == (0, "")
    fields = dict(line.split(":", 1) for line in out.splitlines())
    fields = {label: value.strip() for label, value in fields.items()}
    assert list(fields) == ["userid", "email", "display name", "roles", "tenant", "disabled", "password",
                            "custom claims", "version", "created at", "updated at", "last login at"]
    assert fields["userid"] == "alice"
    assert fields["email"] == "alice@example.org"
    assert fields["display name"] == "Alice Liddell"
    assert fields["roles"] == "admin, ops"
    assert fields["tenant"] == "acme"
    assert fields["disabled"] == "no"
    assert fields["password"] == "set"
    assert json.loads(fields["custom claims"]) == {"plan": "pro", "seats": 5}
    assert fields["version"] == "1"
    assert fields["last login at"] == "never"
    assert fields["created at"].endswith("Z")
    assert "argon2" not in out and PASSWORD not in out

    code, out, err = authsuite("get-user", "--ini", ini, "-u", "alice", "--json")
    assert (code, err) == (0, "")
    document = json.loads(out)
    assert set(document) == {"userid", "email", "display_name", "roles", "tenant", "disabled", "custom_claims",
                             "version", "has_password", "created_at", "updated_at", "last_login_at"}
    assert document["roles"] == ["admin", "ops"] and document["custom_claims"] == {"plan": "pro", "seats": 5}
    assert document["has_password"] is True and document["last_login_at"] is None
    assert document["created_at"].endswith("Z") and "argon2" not in out


def test_get_user_of_an_account_without_password_and_with_nothing_set(ini):
    store_of(ini).create("svc", None)
    code, out, _ = authsuite("get-user", "--ini", ini, "-u", "svc")
    assert code == 0
    lines = out.splitlines()
    assert "password:      none (cannot log in with a password)" in lines
    assert "email:         -" in lines and "roles:         -" in lines and "custom claims: -" in lines


def test_get_user_unknown_and_invalid(ini):
    assert one_line_error(*authsuite("get-user", "--ini", ini, "-u", "nobody")) == "no user 'nobody'"
    assert one_line_error(*authsuite("get-user", "--ini", ini, "-u", "a b")).startswith("invalid user name 'a b'")


# -- update-user ------------------------------------------------------------------------


def test_update_user_changes_fields_prints_them_and_bumps_the_version(ini):
    store = store_of(ini)
    store.create("alice", PASSWORD, roles=["user"], tenant="acme", custom_claims={"old": 1})
    code, out, err = authsuite(
        "update-user", "--ini", ini, "-u", "alice", "--email", "alice@example.org", "--display-name", "Alice",
        "--role", "admin", "--role", "ops", "--remove-role", "user", "--tenant", "globex",
        "--claim", "plan=pro", "--claim", "seats=5", "--claim", 'tags=["a", "b"]', "--claim", 'zip="01234"',
        "--remove-claim", "old",
    )
    assert (code, err) == (0, ""), err
    # The roles and tenant changed: the sessions holding the old ones are ended.
    assert out.splitlines()[0] == f"updated user 'alice': version 1 -> 2; {ENDED}"
    assert "  email: - -> alice@example.org" in out.splitlines()
    assert "  display_name: - -> Alice" in out.splitlines()
    assert "  roles: user -> admin, ops" in out.splitlines()
    assert "  tenant: acme -> globex" in out.splitlines()
    account = store.get("alice")
    assert account.version == 2
    assert (account.email, account.display_name, set(account.roles), account.tenant) == (
        "alice@example.org", "Alice", {"admin", "ops"}, "globex")
    # JSON when it parses, else the text itself.
    assert account.custom_claims == {"plan": "pro", "seats": 5, "tags": ["a", "b"], "zip": "01234"}

    code, out, err = authsuite("update-user", "--ini", ini, "-u", "alice", "--clear-email", "--clear-tenant",
                               "--clear-display-name", "--remove-claim", "plan")
    assert (code, err) == (0, ""), err
    assert out.splitlines()[0] == f"updated user 'alice': version 2 -> 3; {ENDED}"
    assert "  email: alice@example.org -> -" in out.splitlines()
    assert "  tenant: globex -> -" in out.splitlines()
    account = store.get("alice")
    assert (account.email, account.display_name, account.tenant) == (None, None, None)
    assert account.custom_claims == {"seats": 5, "tags": ["a", "b"], "zip": "01234"}
    # The account still logs in with its password.
    app = webtest.TestApp(get_app(ini))
    assert app.get("/whoami", headers=basic("alice", PASSWORD)).json["userid"] == "alice"


def test_update_user_that_changes_nothing_writes_nothing(ini):
    store = store_of(ini)
    store.create("alice", PASSWORD, roles=["admin"], email="alice@example.org")
    code, out, err = authsuite("update-user", "--ini", ini, "-u", "alice", "--role", "admin",
                               "--email", "alice@example.org", "--remove-claim", "absent")
    assert (code, out, err) == (0, "nothing to change for user 'alice' (version 1)\n", "")
    assert store.get("alice").version == 1


def test_update_user_refuses_a_stale_if_version_and_changes_nothing(ini):
    store = store_of(ini)
    store.create("alice", PASSWORD)
    store.update("alice", {"display_name": "Changed elsewhere"})
    message = one_line_error(*authsuite("update-user", "--ini", ini, "-u", "alice", "--display-name", "Mine",
                                        "--if-version", "1"))
    assert message == "user 'alice' is at version 2, not 1 (--if-version): nothing changed"
    assert store.get("alice").display_name == "Changed elsewhere"
    code, out, _ = authsuite("update-user", "--ini", ini, "-u", "alice", "--display-name", "Mine", "--if-version", "2")
    assert code == 0 and out.startswith("updated user 'alice': version 2 -> 3")


def test_update_user_on_a_memory_cache_changes_roles_but_says_sessions_were_not_ended(tmp_path):
    ini = write_ini(tmp_path / "memory.ini", "memory://", f"sqlite:///{tmp_path}/accounts.sqlite")
    store_of(ini).create("alice", PASSWORD)
    message = one_line_error(*authsuite("update-user", "--ini", ini, "-u", "alice", "--role", "admin"))
    assert message == (
        "updated user 'alice': version 1 -> 2, but the Hawk sessions of 'alice' were not ended: authsuite.cache_url "
        "is memory://, so they live inside the server process, out of this command's reach; restart the server to "
        "end them (or use a redis:// cache)")
    assert store_of(ini).get("alice").roles == ("admin",)
    # A change that grants nothing new to sessions needs no session ending.
    code, out, err = authsuite("update-user", "--ini", ini, "-u", "alice", "--display-name", "Alice")
    assert (code, err) == (0, "")


@pytest.mark.parametrize("argv, message", [
    (["--email", "not an email"], "invalid email: "),
    (["--claim", "sub=alice"], "invalid custom_claims: "),
    (["--claim", "big=" + "x" * 5000], "invalid custom_claims: "),
])
def test_update_user_values_the_store_refuses(ini, argv, message):
    store = store_of(ini)
    store.create("alice", PASSWORD)
    error = one_line_error(*authsuite("update-user", "--ini", ini, "-u", "alice", *argv))
    assert error.startswith(message) and error.endswith(": nothing changed")
    assert store.get("alice").version == 1
    assert "x" * 100 not in error  # the refused value is not echoed


def test_update_user_email_taken_and_unknown_user(ini):
    store = store_of(ini)
    store.create("alice", PASSWORD, email="alice@example.org")
    store.create("bob", PASSWORD)
    assert one_line_error(*authsuite("update-user", "--ini", ini, "-u", "bob", "--email", "ALICE@example.org")) == (
        "another account has this email address: nothing changed")
    assert one_line_error(*authsuite("update-user", "--ini", ini, "-u", "nobody", "--display-name", "x")) == (
        "no user 'nobody'")


def test_update_user_reports_a_change_made_between_its_read_and_its_write(tmp_path, clean_postgres_url, redis_url):
    # PostgreSQL only: the test holds the account's row locked, lets the
    # command read the account and block on its write, then changes the row
    # and commits. The command must report the conflict, not overwrite it.
    import sqlalchemy

    from pyramid_authsuite.accounts.engine import normalize_database_url

    name = f"authsuite-cli-{uuid.uuid4().hex[:12]}"
    separator = "&" if "?" in clean_postgres_url else "?"
    ini = write_ini(tmp_path / "app.ini", redis_url, f"{clean_postgres_url}{separator}application_name={name}")
    with open(ini, "a") as ini_file:
        # The command's write waits on the lock; its deadline must outlast the test's steps.
        ini_file.write("authsuite.accounts_timeout_seconds = 60\n")
    store_of(ini).create("alice", PASSWORD)
    engine = sqlalchemy.create_engine(normalize_database_url(clean_postgres_url))
    try:
        # pg_stat_activity is read once per transaction: the watching is done
        # from a connection of its own, outside the locking transaction.
        with engine.connect() as connection, engine.connect() as watcher:
            transaction = connection.begin()
            connection.exec_driver_sql("SELECT 1 FROM authsuite_accounts WHERE userid = 'alice' FOR UPDATE")
            command = subprocess.Popen([authsuite_executable(), "update-user", "--ini", ini, "-u", "alice",
                                        "--display-name", "From the CLI"],
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                deadline = time.monotonic() + 60  # a hang guard, not a timing assertion
                while True:
                    waiting = watcher.exec_driver_sql(
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name = %(name)s"
                        " AND wait_event_type = 'Lock'", {"name": name}).scalar_one()
                    watcher.rollback()
                    if waiting:
                        break
                    assert command.poll() is None, command.communicate()
                    assert time.monotonic() < deadline, "the command never blocked on the locked row"
                    time.sleep(0.05)
                connection.exec_driver_sql("UPDATE authsuite_accounts SET display_name = 'Meanwhile',"
                                           " version = version + 1 WHERE userid = 'alice'")
                transaction.commit()
                out, err = command.communicate(timeout=60)
            finally:
                if command.poll() is None:
                    command.kill()
                    command.wait()
    finally:
        engine.dispose()
    message = one_line_error(command.returncode, out, err)
    assert message == ("user 'alice' was changed by someone else meanwhile (version 2 now, 1 when read): "
                       "nothing changed; look at it (get-user) and run the command again")
    account = store_of(ini).get("alice")
    assert (account.display_name, account.version) == ("Meanwhile", 2)


# -- list-users -------------------------------------------------------------------------


def _make_accounts(store, count: int) -> list[str]:
    userids = [f"user{number:03d}" for number in range(count)]
    for number, userid in enumerate(userids):
        store.create(userid, None, roles=["staff"] if number % 3 == 0 else [],
                     tenant="acme" if number % 2 == 0 else None,
                     email=f"{userid}@example.org" if number % 4 == 0 else None)
    return userids


def test_list_users_labelled_columns(ini):
    store = store_of(ini)
    assert authsuite("list-users", "--ini", ini) == (0, "no users\n", "")
    store.create("bob", PASSWORD, email="bob@example.org", tenant="acme", roles=["admin", "ops"])
    store.create("alice", None, display_name="Alice")
    store.update("alice", disabled=True)
    code, out, err = authsuite("list-users", "--ini", ini)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["USERID", "EMAIL", "DISPLAY_NAME", "TENANT", "ROLES", "DISABLED", "VERSION",
                                "LAST_LOGIN"]
    assert lines[1].split() == ["alice", "-", "Alice", "-", "-", "yes", "2", "never"]
    assert lines[2].split() == ["bob", "bob@example.org", "-", "acme", "admin,ops", "no", "1", "never"]
    # The columns line up: every cell starts where its label starts.
    for label in ("EMAIL", "TENANT", "DISABLED", "LAST_LOGIN"):
        column = lines[0].index(label)
        assert all(line[column - 2:column] == "  " and line[column] != " " for line in lines[1:]), out
    assert len(lines) == 3  # no "more users" line on the last page


def test_list_users_pages_with_after_until_the_end(ini):
    userids = _make_accounts(store_of(ini), 7)
    code, out, err = authsuite("list-users", "--ini", ini, "--limit", "3")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert [line.split()[0] for line in lines[1:4]] == userids[:3]
    assert lines[4] == ""
    assert lines[5] == f"more users follow; the next page: authsuite list-users --ini {ini} --limit 3 --after user002"
    seen = [line.split()[0] for line in lines[1:4]]
    command = lines[5].split("the next page: authsuite ", 1)[1].split()
    while True:
        code, out, err = authsuite(*command)
        assert (code, err) == (0, "")
        lines = out.splitlines()
        assert lines[0].startswith("USERID")
        rows = [line for line in lines[1:] if line and not line.startswith("more users follow")]
        seen += [row.split()[0] for row in rows]
        if not lines[-1].startswith("more users follow"):
            break
        command = lines[-1].split("the next page: authsuite ", 1)[1].split()
    assert seen == userids  # each exactly once, in order


def test_list_users_json_walk_with_filters(ini):
    userids = _make_accounts(store_of(ini), 12)
    for filters, expected in (
        ([], userids),
        (["--tenant", "acme"], userids[0::2]),
        (["--role", "staff"], userids[0::3]),
        (["--tenant", "acme", "--role", "staff"], userids[0::6]),
        (["--query", "USER00"], userids[:10]),  # a prefix, any case
        (["--query", "user008@"], ["user008"]),  # the email's prefix
    ):
        seen, after, pages = [], None, 0
        while True:
            argv = ["list-users", "--ini", ini, "--limit", "4", "--json", *filters]
            code, out, err = authsuite(*argv, *(["--after", after] if after else []))
            assert (code, err) == (0, ""), err
            document = json.loads(out)  # one document per page
            assert set(document) == {"users", "next"}
            assert len(document["users"]) <= 4
            seen += [user["userid"] for user in document["users"]]
            pages += 1
            after = document["next"]
            if after is None:
                break
        assert seen == expected, filters
        assert pages >= -(-len(expected) // 4)
    code, out, _ = authsuite("list-users", "--ini", ini, "--json", "--limit", "1")
    user = json.loads(out)["users"][0]
    assert user["userid"] == "user000" and user["roles"] == ["staff"] and user["tenant"] == "acme"
    assert user["has_password"] is False and "password_hash" not in user


def test_list_users_no_more_after_the_last(ini):
    store_of(ini).create("alice", PASSWORD)
    assert authsuite("list-users", "--ini", ini, "--after", "alice") == (0, "no more users\n", "")
    assert authsuite("list-users", "--ini", ini, "--after", "alice", "--json") == (
        0, '{"users": [], "next": null}\n', "")


# -- bad usage: exit 2 before anything is opened ----------------------------------------------


@pytest.mark.parametrize("argv, message", [
    (["list-users", "--limit", "0"], "argument --limit: 0 is out of range: give 1 to 1000"),
    (["list-users", "--limit", "10000"], "argument --limit: 10000 is out of range: give 1 to 1000"),
    (["list-users", "--limit", "many"], "argument --limit: not a whole number: 'many'"),
    (["list-users", "--after", "not a cursor"], "argument --after: not a cursor list-users printed"),
    (["list-users", "--tenant", "a b"], "argument --tenant: 'a b' is not a role or tenant name"),
    (["list-users", "--role", ""], "argument --role: '' is not a role or tenant name"),
    (["list-users", "--query", "x" * 101], "argument -q/--query: a query is 1 to 100 characters"),
    (["get-user"], "the following arguments are required: -u/--username"),
    (["update-user", "-u", "alice"], "nothing to change: give --email"),
    (["update-user", "-u", "alice", "--role", "ops", "--remove-role", "ops"],
     "role 'ops' is both added (--role) and removed (--remove-role)"),
    (["update-user", "-u", "alice", "--claim", "plan=pro", "--remove-claim", "plan"],
     "claim 'plan' is both set (--claim) and removed (--remove-claim)"),
    (["update-user", "-u", "alice", "--claim", "plan=pro", "--claim", "plan=free"], "claim 'plan' is given twice"),
    (["update-user", "-u", "alice", "--claim", "plan"], "argument --claim: expected KEY=VALUE, got 'plan'"),
    (["update-user", "-u", "alice", "--claim", "=x"], "argument --claim: expected KEY=VALUE, got '=x'"),
    (["update-user", "-u", "alice", "--email", "a@example.org", "--clear-email"],
     "argument --clear-email: not allowed with argument --email"),
    (["update-user", "-u", "alice", "--tenant", "acme", "--clear-tenant"],
     "argument --clear-tenant: not allowed with argument --tenant"),
    (["update-user", "-u", "alice", "--role", "a,b"], "argument --role: 'a,b' is not a role or tenant name"),
    (["update-user", "-u", "alice", "--display-name", "x", "--if-version", "0"],
     "argument --if-version: a version is 1 or more"),
    (["migrate", "-u", "alice"], "unrecognized arguments: -u alice"),
])
def test_usage_errors_exit_2_naming_the_argument(tmp_path, argv, message):
    ini = write_ini(tmp_path / "app.ini", "memory://", f"sqlite:///{tmp_path}/accounts.sqlite")
    code, out, err = authsuite(argv[0], "--ini", ini, *argv[1:])
    assert (code, out) == (2, "")
    assert err.splitlines()[0].startswith("usage: authsuite ")
    assert message in err.splitlines()[-1]
    assert "Traceback" not in err
    assert not (tmp_path / "accounts.sqlite").exists()  # nothing was opened


# -- migrate ------------------------------------------------------------------------------


def test_migrate_an_up_to_date_database(ini):
    store_of(ini).create("alice", PASSWORD)  # the store migrates on first use
    code, out, err = authsuite("migrate", "--ini", ini)
    assert (code, err) == (0, "")
    assert out.startswith("already at version ") and out.endswith(": nothing to migrate\n")
    version = int(out.split()[3].rstrip(":"))
    assert version >= 2


def test_migrate_refuses_a_database_newer_than_the_code(ini):
    store = store_of(ini)
    store.create("alice", PASSWORD)
    version = store.schema_version()
    with store.engine.begin() as connection:
        connection.exec_driver_sql(f"UPDATE authsuite_schema SET version = {version + 7}")
    message = one_line_error(*authsuite("migrate", "--ini", ini))
    assert str(version + 7) in message and str(version) in message


def test_migrate_a_version_1_database_then_every_account_logs_in(v1_url, tmp_path, redis_url, redis_client):  # noqa: F811
    # v1_url: a database made by the version 1 code (tests/accounts/fixtures), on SQLite and PostgreSQL.
    ini = write_ini(tmp_path / "v1.ini", redis_url, v1_url)
    code, out, err = authsuite("migrate", "--ini", ini)
    assert (code, err) == (0, "")
    assert out.splitlines() == [f"applied: {V2_LINE}", "now at version 2"]
    assert authsuite("migrate", "--ini", ini) == (0, "already at version 2: nothing to migrate\n", "")
    code, out, err = authsuite("list-users", "--ini", ini, "--json")
    assert (code, err) == (0, "")
    users = {user["userid"]: user for user in json.loads(out)["users"]}
    assert sorted(users) == sorted(ACCOUNTS)
    app = webtest.TestApp(get_app(ini))
    for userid, (password, fields, disabled) in ACCOUNTS.items():
        assert sorted(users[userid]["roles"]) == sorted(fields["roles"])
        assert (users[userid]["tenant"], users[userid]["disabled"]) == (fields.get("tenant"), disabled)
        assert users[userid]["version"] == 1 and users[userid]["has_password"] is (password is not None)
        if password is not None:
            app.get("/whoami", headers=basic(userid, password), status=401 if disabled else 200)
