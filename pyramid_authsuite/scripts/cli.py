"""The ``authsuite`` console script: account chores against the server's own ini file.

Every command reads ``--ini`` (``path`` or ``path#section``, default section
``main``) and loads the application from it exactly as ``pserve`` does, so an
account created here can log in at once, and an ini file the server refuses is
refused here too. Exit codes: 0 success, 1 the command failed or did not do
all it was asked (one line on stderr saying why), 2 bad usage.
"""
from __future__ import annotations

import argparse
import getpass
import sys
import time
from typing import Any, Callable, Sequence

from pyramid_authsuite.accounts import (
    AccountExists,
    AccountNotFound,
    AccountStore,
    InvalidUserid,
    validate_userid,
)
from pyramid_authsuite.exceptions import BackendUnavailable

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024


class CommandError(Exception):
    """A failure to report in one line, with exit code 1."""


def load_ini_settings(ini: str) -> dict[str, Any]:
    """The app settings of ``ini`` (``path`` or ``path#section``), as pserve would see them."""
    import os

    from pyramid.paster import get_appsettings

    path = ini.split("#", 1)[0]
    if not os.path.isfile(path):
        raise CommandError(f"ini file not found: {path}")
    try:
        return dict(get_appsettings(ini))
    except Exception as error:  # plaster/paste raise many kinds; report one line
        raise CommandError(f"cannot read {ini}: {error.__class__.__name__}: {error}") from None


def _one_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else error.__class__.__name__


def open_backends(ini: str) -> Any:
    """The registry of the application ``ini`` configures, built as ``pserve`` builds it.

    The whole application is loaded (its factory, every include, every
    ``multiauth.policy.*`` setting), so a command refuses exactly the ini
    files the server refuses, in one line naming the setting. The registry
    carries ``authsuite_settings``, ``authsuite_cache`` and
    ``authsuite_accounts``, as it does in the server.
    """
    from pyramid.config import global_registries
    from pyramid.exceptions import ConfigurationError, ConfigurationExecutionError
    from pyramid.paster import get_app

    load_ini_settings(ini)  # a missing or unreadable file, in its own words
    try:
        app = get_app(ini)
    except ConfigurationExecutionError as error:
        # An error in a deferred configuration action: Pyramid wraps it with
        # the action's location over several lines; the cause is what counts.
        raise CommandError(f"bad configuration in {ini}: {_one_line(error.evalue)}") from None
    except ConfigurationError as error:
        raise CommandError(f"bad configuration in {ini}: {_one_line(error)}") from None
    except BackendUnavailable:
        raise
    except Exception as error:  # an app factory may raise anything; pserve would fail on it too
        raise CommandError(
            f"cannot load the application of {ini}: {error.__class__.__name__}: {_one_line(error)}"
        ) from None
    registry = getattr(app, "registry", None) or global_registries.last
    if getattr(registry, "authsuite_accounts", None) is None:
        raise CommandError(f"the application of {ini} does not include pyramid_authsuite")
    return registry


def open_store(ini: str) -> AccountStore:
    """The account store the server configured by ``ini`` uses."""
    return open_backends(ini).authsuite_accounts


class SessionsNotEnded(CommandError):
    """The account change (if any) was made, but sessions this command cannot reach are still live."""


def end_sessions(backends: Any, userid: str, done: str = "") -> str:
    """End an account's credentials, or say that ``done`` already did; a sentence saying what happened.

    ``backends``
        The registry :func:`open_backends` returned.
    ``userid``
        The account.
    ``done``
        What the command already changed through the account store, e.g.
        ``"password changed for 'alice'"``: a new password, disabling,
        deletion, new roles or tenant. The store's change listener (see
        ``includeme``) has then already run
        :func:`pyramid_authsuite.revocation.end_credentials`. Empty when
        nothing was changed (revoke-sessions): this function runs it.

    ``end_credentials`` ends, on every process sharing the cache, the
    account's Hawk sessions and remembered Basic logins, and refuses its JWTs
    issued before now. This is the one place every command that must log an
    account out goes through (set-password, disable-user, delete-user,
    revoke-sessions, update-user of roles or tenant).

    With ``authsuite.cache_url = memory://`` all that lives inside the server
    process, out of this command's reach: the account change stands (a new
    password or a disabled flag refuses the next login that is checked
    against the store), but :class:`SessionsNotEnded` is raised, so the
    command exits 1 instead of claiming a logout that did not happen: the
    server's Hawk sessions, the Basic logins it remembers
    (``credentials_cache_seconds``) and its verified JWTs live on until it
    restarts (or, for the last two, until they are checked again).
    """
    from pyramid_authsuite.revocation import end_credentials

    if backends.authsuite_settings.cache_url.lower().startswith("memory://"):
        what = f"{done}, but the" if done else "the"
        raise SessionsNotEnded(
            f"{what} Hawk sessions of {userid!r} were not ended: authsuite.cache_url is memory://, so they live "
            "inside the server process, out of this command's reach; restart the server to end them "
            "(or use a redis:// cache)"
        )
    if done:
        # The change listener ended them already (and counted nothing for us).
        return f"{done}; ended its Hawk sessions, remembered Basic logins and JWTs issued before now"
    ended = end_credentials(backends, userid)
    sessions = f"{ended} Hawk session{'s' if ended != 1 else ''}"
    return f"ended {sessions} of {userid!r}, its remembered Basic logins and its JWTs issued before now"


def read_password(args: argparse.Namespace, stdin: Any = None) -> str:
    """The password from ``-p``, ``--password-stdin``, or two prompts on a terminal."""
    stdin = stdin or sys.stdin
    if args.password is not None:
        password = args.password
    elif args.password_stdin:
        password = stdin.readline().rstrip("\r\n")
    elif stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Password (again): ") != password:
            raise CommandError("the two passwords differ")
    else:
        raise CommandError("no password: use -p PASSWORD, --password-stdin, or run on a terminal to be prompted")
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise CommandError(f"a password has {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters")
    return password


def _userid(args: argparse.Namespace) -> str:
    try:
        return validate_userid(args.username)
    except InvalidUserid as error:
        raise CommandError(f"invalid user name {args.username!r}: {error}") from None


def cmd_create_user(args: argparse.Namespace) -> str:
    userid = _userid(args)
    password = read_password(args)
    store = open_store(args.ini)
    try:
        store.create(
            userid, password, roles=args.role, tenant=args.tenant, email=args.email, display_name=args.display_name
        )
    except AccountExists:
        raise CommandError(f"user {userid!r} already exists") from None
    return f"created user {userid!r}"


def cmd_set_password(args: argparse.Namespace) -> str:
    userid = _userid(args)
    password = read_password(args)
    backends = open_backends(args.ini)
    _require(backends.authsuite_accounts.set_password, userid, password)
    # A new password ends the sessions the old one opened.
    return end_sessions(backends, userid, f"password changed for {userid!r}")


def _set_disabled(args: argparse.Namespace, disabled: bool) -> str:
    userid = _userid(args)
    backends = open_backends(args.ini)
    _require(backends.authsuite_accounts.update, userid, disabled=disabled)
    if not disabled:
        return f"enabled user {userid!r}"
    return end_sessions(backends, userid, f"disabled user {userid!r}")


def cmd_delete_user(args: argparse.Namespace) -> str:
    userid = _userid(args)
    backends = open_backends(args.ini)
    if not backends.authsuite_accounts.delete(userid):
        raise CommandError(f"no user {userid!r}")
    return end_sessions(backends, userid, f"deleted user {userid!r}")


def cmd_revoke_sessions(args: argparse.Namespace) -> str:
    userid = _userid(args)
    return end_sessions(open_backends(args.ini), userid)


def cmd_bewit(args: argparse.Namespace) -> str:
    """A signed URL for ``--url``, valid ``--ttl`` seconds, on a session of its own."""
    from urllib.parse import urlsplit

    from pyramid_authsuite.hawk.protocol import derive_session_credentials, make_bewit
    from pyramid_authsuite.hawk.sessions import sessions_for

    userid = _userid(args)
    backends = open_backends(args.ini)
    if backends.authsuite_settings.cache_url.lower().startswith("memory://"):
        raise CommandError("bewits need a shared cache: with memory:// the session would live only in this command")
    if not 1 <= args.ttl <= 30 * 86400:
        raise CommandError("--ttl is 1 second to 30 days")
    url = urlsplit(args.url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise CommandError(f"not an http(s) URL: {args.url}")
    if "bewit=" in url.query:
        raise CommandError("the URL already has a bewit")
    account = backends.authsuite_accounts.get(userid)
    if account is None or account.disabled:
        raise CommandError(f"no enabled user {userid!r}")
    # The bewit's session lives as long as the bewit (plus a minute of clock skew).
    token = sessions_for(backends).create(account, args.ttl + 60)
    hawk_id, key = derive_session_credentials(token)
    resource = url.path or "/"
    if url.query:
        resource += "?" + url.query
    port = url.port or (443 if url.scheme == "https" else 80)
    host = url.hostname if ":" not in url.hostname else f"[{url.hostname}]"
    bewit = make_bewit(hawk_id, key, "sha256", resource=resource, host=host, port=port, expiry=int(time.time()) + args.ttl)
    separator = "&" if url.query else "?"
    return f"{args.url}{separator}bewit={bewit}"


def _require(method: Callable[..., Any], userid: str, *args: Any, **kwargs: Any) -> Any:
    try:
        return method(userid, *args, **kwargs)
    except AccountNotFound:
        raise CommandError(f"no user {userid!r}") from None


class CommandAdder:
    """Adds subcommands to the ``authsuite`` parser; scheme modules receive one in ``register``.

    ``add(name, handler, help_text, ini=True, user=True)`` returns the
    subparser for more options. A handler takes the parsed arguments and
    returns what to print, or raises :class:`CommandError`.
    """

    def __init__(self, subparsers: Any):
        self._subparsers = subparsers

    def add(
        self,
        name: str,
        handler: Callable[[argparse.Namespace], str],
        help_text: str,
        *,
        ini: bool = True,
        user: bool = True,
    ) -> argparse.ArgumentParser:
        sub = self._subparsers.add_parser(name, help=help_text, description=help_text)
        if ini:
            sub.add_argument("--ini", required=True, help="the server's ini file (path or path#section)")
        if user:
            sub.add_argument("-u", "--username", required=True, help="the userid")
        sub.set_defaults(handler=handler)
        return sub


# Modules that add their commands: each has ``register(commands: CommandAdder)``.
SCHEME_COMMAND_MODULES = ("pyramid_authsuite.scripts.users", "pyramid_authsuite.scripts.keys",
                          "pyramid_authsuite.hmac.commands", "pyramid_authsuite.jwt.commands",
                          "pyramid_authsuite.challenge.commands")


def password_options(sub: argparse.ArgumentParser) -> None:
    group = sub.add_mutually_exclusive_group()
    group.add_argument("-p", "--password", help="the password (visible in the process list: prefer the others)")
    group.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(prog="authsuite", description="pyramid_authsuite account and key chores.")
    commands = CommandAdder(parser.add_subparsers(dest="command", metavar="COMMAND", required=True))

    create = commands.add("create-user", cmd_create_user, "Create an account.")
    password_options(create)
    create.add_argument("--role", action="append", default=[], help="a role (repeatable); grants role:<R>")
    create.add_argument("--tenant", help="the tenant; grants tenant:<T>")
    create.add_argument("--email")
    create.add_argument("--display-name")
    password_options(commands.add("set-password", cmd_set_password, "Change an account's password."))
    commands.add("disable-user", lambda args: _set_disabled(args, True), "Disable an account and end its Hawk sessions.")
    commands.add("enable-user", lambda args: _set_disabled(args, False), "Enable a disabled account.")
    commands.add("delete-user", cmd_delete_user, "Delete an account and its keys (and end its Hawk sessions).")
    commands.add("revoke-sessions", cmd_revoke_sessions, "End every Hawk session of an account.")
    bewit = commands.add("bewit", cmd_bewit, "Print a signed URL (Hawk bewit) for GET/HEAD, valid --ttl seconds.")
    bewit.add_argument("--url", required=True, help="the full URL, e.g. https://api.example.com/report?id=3")
    bewit.add_argument("--ttl", type=int, default=300, help="seconds the URL stays valid (default 300)")
    for module_name in SCHEME_COMMAND_MODULES:
        importlib.import_module(module_name).register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``authsuite`` console script."""
    args = build_parser().parse_args(argv)
    try:
        output = args.handler(args)
    except CommandError as error:
        print(f"authsuite: error: {error}", file=sys.stderr)
        return 1
    except BackendUnavailable as error:
        print(f"authsuite: error: the account store is unavailable ({error})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("authsuite: interrupted", file=sys.stderr)
        return 1
    print(output)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
