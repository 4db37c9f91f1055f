"""``authsuite get-user``, ``update-user``, ``list-users`` and ``migrate``: accounts, read and changed.

Like every command, these load the application of ``--ini`` as ``pserve``
does and work on its account store (see :mod:`pyramid_authsuite.scripts.cli`).
``--json`` output uses the user representation of the HTTP admin API
(``GET /admin/users``), so a script can switch between the two.
"""
from __future__ import annotations

import argparse
import json
import shlex
from datetime import datetime
from typing import Any

from pyramid_authsuite.accounts import (
    MAX_PAGE_SIZE,
    NAME_PATTERN,
    USERID_PATTERN,
    Account,
    AccountNotFound,
    EmailTaken,
    InvalidAccountField,
    VersionConflict,
)
# The admin API's representation: --json output is what GET /admin/users says.
from pyramid_authsuite.admin.audit import utc_text
from pyramid_authsuite.admin.representation import user_json

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "claim_argument",
    "cmd_get_user",
    "cmd_list_users",
    "cmd_migrate",
    "cmd_update_user",
    "register",
]

#: Accounts ``list-users`` prints when ``--limit`` is not given.
DEFAULT_PAGE_SIZE = 100

#: The longest ``--query`` (a prefix), as the admin API's ``q``.
MAX_QUERY_LENGTH = 100

#: The longest ``--claim`` argument, ``KEY=VALUE``: the store refuses more than
#: 4 KiB of claims anyway; this only keeps the parse bounded.
MAX_CLAIM_ARGUMENT_LENGTH = 8192


# -- representation -----------------------------------------------------------


def _timestamp(value: datetime | None) -> str | None:
    return None if value is None else utc_text(value)


def _claims_text(claims: dict[str, Any]) -> str:
    return json.dumps(claims, ensure_ascii=False, sort_keys=True, separators=(", ", ": ")) if claims else "-"


def _field_text(name: str, value: Any) -> str:
    """One field for people: ``-`` for nothing, roles comma separated, claims as JSON."""
    if name == "custom_claims":
        return _claims_text(value)
    if name == "roles":
        return ", ".join(value) or "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "-" if value is None else str(value)


# -- argument types (a bad value is a usage error: exit 2) ----------------------


def _userid_cursor(text: str) -> str:
    # A cursor is the userid of the last account of the previous page.
    if USERID_PATTERN.fullmatch(text) is None:
        raise argparse.ArgumentTypeError("not a cursor list-users printed (the userid it ended with)")
    return text


def _name(text: str) -> str:
    if NAME_PATTERN.fullmatch(text) is None:
        raise argparse.ArgumentTypeError(
            f"{text[:70]!r} is not a role or tenant name (1 to 64 letters, digits or . _ : @ + -)"
        )
    return text


def _page_size(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text[:20]!r}") from None
    if not 1 <= number <= MAX_PAGE_SIZE:
        raise argparse.ArgumentTypeError(f"{number} is out of range: give 1 to {MAX_PAGE_SIZE}")
    return number


def _query(text: str) -> str:
    if not 1 <= len(text) <= MAX_QUERY_LENGTH or "\x00" in text:
        raise argparse.ArgumentTypeError(f"a query is 1 to {MAX_QUERY_LENGTH} characters")
    return text


def _version(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text[:20]!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError("a version is 1 or more")
    return number


def _reject_constant(name: str) -> Any:
    # NaN and Infinity parse in Python but are not JSON: no token could carry them.
    raise ValueError(name)


def claim_argument(text: str) -> tuple[str, Any]:
    """``--claim KEY=VALUE`` -> ``(KEY, value)``.

    ``text``
        The argument. VALUE is read as JSON when it is JSON (``seats=5`` gives
        the number 5, ``beta=true`` true, ``tags=["a","b"]`` a list,
        ``zip='"01234"'`` the string ``"01234"``), else kept as a string
        (``plan=pro`` gives ``"pro"``). The store checks the key (not a
        registered JWT claim) and the size.
    """
    if len(text) > MAX_CLAIM_ARGUMENT_LENGTH:
        raise argparse.ArgumentTypeError(f"longer than {MAX_CLAIM_ARGUMENT_LENGTH} characters")
    key, separator, raw = text.partition("=")
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text[:40]!r}")
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except ValueError:
        value = raw
    return key, value


# -- get-user ------------------------------------------------------------------

_LABELS = (
    ("userid", "userid"),
    ("email", "email"),
    ("display_name", "display name"),
    ("roles", "roles"),
    ("tenant", "tenant"),
    ("disabled", "disabled"),
    ("has_password", "password"),
    ("custom_claims", "custom claims"),
    ("version", "version"),
    ("created_at", "created at"),
    ("updated_at", "updated at"),
    ("last_login_at", "last login at"),
)


def cmd_get_user(args: argparse.Namespace) -> str:
    """Every field of one account, labelled (or the admin API's JSON with ``--json``)."""
    from pyramid_authsuite.scripts.cli import CommandError, _userid, open_store

    userid = _userid(args)
    account = open_store(args.ini).get(userid)
    if account is None:
        raise CommandError(f"no user {userid!r}")
    document = user_json(account)
    if args.json:
        return json.dumps(document, ensure_ascii=False, indent=2)
    shown = dict(document)
    shown["has_password"] = "set" if account.has_password else "none (cannot log in with a password)"
    shown["last_login_at"] = document["last_login_at"] or "never"
    width = max(len(label) for _, label in _LABELS) + 1
    return "\n".join(f"{(label + ':').ljust(width)} {_field_text(name, shown[name])}" for name, label in _LABELS)


# -- update-user ---------------------------------------------------------------


def _requested_changes(args: argparse.Namespace, account: Account) -> dict[str, Any]:
    """The fields whose value the arguments change, with their new values (``None`` clears)."""
    wanted: dict[str, Any] = {}
    if args.clear_email:
        wanted["email"] = None
    elif args.email is not None:
        wanted["email"] = args.email
    if args.clear_display_name:
        wanted["display_name"] = None
    elif args.display_name is not None:
        wanted["display_name"] = args.display_name
    if args.clear_tenant:
        wanted["tenant"] = None
    elif args.tenant is not None:
        wanted["tenant"] = args.tenant
    if args.role or args.remove_role:
        removed = set(args.remove_role)
        kept = [role for role in account.roles if role not in removed]
        wanted["roles"] = tuple(kept + [role for role in dict.fromkeys(args.role) if role not in kept])
    if args.claim or args.remove_claim:
        claims = dict(account.custom_claims)
        for key in args.remove_claim:
            claims.pop(key, None)
        claims.update(args.claim)
        wanted["custom_claims"] = claims
    current = {"roles": tuple(account.roles), "custom_claims": dict(account.custom_claims)}
    return {
        name: value
        for name, value in wanted.items()
        if value != current.get(name, getattr(account, name))
    }


def _usage_problems(args: argparse.Namespace) -> str | None:
    """Contradictory or missing options (a usage error), or ``None``."""
    asked = (
        args.email is not None or args.clear_email or args.display_name is not None or args.clear_display_name
        or args.tenant is not None or args.clear_tenant or args.role or args.remove_role
        or args.claim or args.remove_claim
    )
    if not asked:
        return ("nothing to change: give --email, --display-name, --role, --remove-role, --tenant, --claim, "
                "--remove-claim or a --clear-* option")
    both = sorted(set(args.role) & set(args.remove_role))
    if both:
        return f"role {both[0]!r} is both added (--role) and removed (--remove-role)"
    keys = [key for key, _ in args.claim]
    both = sorted(set(keys) & set(args.remove_claim))
    if both:
        return f"claim {both[0]!r} is both set (--claim) and removed (--remove-claim)"
    twice = sorted({key for key in keys if keys.count(key) > 1})
    if twice:
        return f"claim {twice[0]!r} is given twice"
    return None


def cmd_update_user(args: argparse.Namespace) -> str:
    """Change fields of an account, only if nobody changed it since it was read (``expected_version``)."""
    from pyramid_authsuite.scripts.cli import CommandError, _userid, end_sessions, open_backends

    problem = _usage_problems(args)
    if problem:
        args.usage_error(problem)  # exits 2
    userid = _userid(args)
    backends = open_backends(args.ini)
    store = backends.authsuite_accounts
    account = store.get(userid)
    if account is None:
        raise CommandError(f"no user {userid!r}")
    if args.if_version is not None and args.if_version != account.version:
        raise CommandError(
            f"user {userid!r} is at version {account.version}, not {args.if_version} (--if-version): nothing changed"
        )
    changes = _requested_changes(args, account)
    if not changes:
        return f"nothing to change for user {userid!r} (version {account.version})"
    try:
        # The version read above: a change made by anyone between that read
        # and this write is reported, never silently overwritten.
        updated = store.update(userid, changes, expected_version=account.version)
    except AccountNotFound:
        raise CommandError(f"no user {userid!r} (deleted meanwhile)") from None
    except VersionConflict as conflict:
        raise CommandError(
            f"user {userid!r} was changed by someone else meanwhile (version {conflict.current} now, "
            f"{conflict.expected} when read): nothing changed; look at it (get-user) and run the command again"
        ) from None
    except EmailTaken:
        raise CommandError("another account has this email address: nothing changed") from None
    except InvalidAccountField as error:
        raise CommandError(f"invalid {error.field}: {error.reason}: nothing changed") from None
    summary = f"updated user {userid!r}: version {account.version} -> {updated.version}"
    if "roles" in changes or "tenant" in changes:
        # Hawk sessions carry the roles and tenant they were opened with: the
        # old grants must not outlive the change. On memory:// this raises
        # (exit 1, one line): the change stands, the sessions could not be ended.
        summary = end_sessions(backends, userid, summary)
    lines = [summary]
    for name in ("email", "display_name", "roles", "tenant", "custom_claims"):
        if name in changes:
            before, after = getattr(account, name), getattr(updated, name)
            lines.append(f"  {name}: {_field_text(name, before)} -> {_field_text(name, after)}")
    return "\n".join(lines)


# -- list-users ----------------------------------------------------------------

_COLUMNS = ("USERID", "EMAIL", "DISPLAY_NAME", "TENANT", "ROLES", "DISABLED", "VERSION", "LAST_LOGIN")


def _row(account: Account) -> tuple[str, ...]:
    return (
        account.userid,
        account.email or "-",
        account.display_name or "-",
        account.tenant or "-",
        ",".join(account.roles) or "-",
        "yes" if account.disabled else "no",
        str(account.version),
        _timestamp(account.last_login_at) or "never",
    )


def _table(rows: list[tuple[str, ...]]) -> str:
    # Aligned for people (the last column is not padded); scripts read --json.
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1] for row in rows
    )


def _continue_command(args: argparse.Namespace, cursor: str) -> str:
    argv = ["authsuite", "list-users", "--ini", args.ini]
    for option, value in (("--tenant", args.tenant), ("--role", args.role), ("--query", args.query)):
        if value is not None:
            argv += [option, value]
    argv += ["--limit", str(args.limit), "--after", cursor]
    if args.json:
        argv.append("--json")
    return " ".join(shlex.quote(part) for part in argv)


def cmd_list_users(args: argparse.Namespace) -> str:
    """One page of accounts (keyset paging through the store), and how to get the next."""
    from pyramid_authsuite.scripts.cli import CommandError, open_store

    store = open_store(args.ini)
    try:
        accounts, cursor = store.list(args.limit, args.after, tenant=args.tenant, role=args.role, query=args.query)
    except InvalidAccountField as error:
        raise CommandError(f"invalid {error.field}: {error.reason}") from None
    if args.json:
        # One document, shaped as GET /admin/users answers: "next" is the
        # --after of the following page, null on the last one.
        return json.dumps({"users": [user_json(account) for account in accounts], "next": cursor},
                          ensure_ascii=False)
    if not accounts:
        return "no users" if args.after is None else "no more users"
    text = _table([_COLUMNS] + [_row(account) for account in accounts])
    if cursor is not None:
        text += f"\n\nmore users follow; the next page: {_continue_command(args, cursor)}"
    return text


# -- migrate -------------------------------------------------------------------


def cmd_migrate(args: argparse.Namespace) -> str:
    """Apply the schema migrations the database lacks; one line per step."""
    from pyramid_authsuite.accounts.sql import SchemaVersionError
    from pyramid_authsuite.scripts.cli import CommandError, open_store

    store = open_store(args.ini)
    try:
        steps = store.migrate()
        version = store.schema_version()
    except SchemaVersionError as error:
        # A database a newer release migrated: this code must not touch it.
        raise CommandError(f"{error}") from None
    if not steps:
        return f"already at version {version}: nothing to migrate"
    return "\n".join([f"applied: {step}" for step in steps] + [f"now at version {version}"])


# -- registration --------------------------------------------------------------


def register(commands: Any) -> None:
    get_user = commands.add("get-user", cmd_get_user, "Show every field of an account (never its password hash).")
    get_user.add_argument("--json", action="store_true", help="print the admin API's JSON representation")

    update = commands.add(
        "update-user", cmd_update_user,
        "Change an account's email, display name, roles, tenant or custom claims; prints what changed. "
        "Refuses (exit 1) when the account changed between reading and writing it.",
    )
    email = update.add_mutually_exclusive_group()
    email.add_argument("--email", help="set the email address (unique, case-insensitively)")
    email.add_argument("--clear-email", action="store_true", help="remove the email address")
    display = update.add_mutually_exclusive_group()
    display.add_argument("--display-name", help="set the display name")
    display.add_argument("--clear-display-name", action="store_true", help="remove the display name")
    update.add_argument("--role", action="append", default=[], type=_name, metavar="ROLE",
                        help="add a role (repeatable); grants role:<ROLE>")
    update.add_argument("--remove-role", action="append", default=[], type=_name, metavar="ROLE",
                        help="remove a role (repeatable)")
    tenant = update.add_mutually_exclusive_group()
    tenant.add_argument("--tenant", type=_name, help="move the account to this tenant")
    tenant.add_argument("--clear-tenant", action="store_true", help="take the account out of its tenant")
    update.add_argument("--claim", action="append", default=[], type=claim_argument, metavar="KEY=VALUE",
                        help="set a custom claim (repeatable); VALUE is read as JSON when it is JSON "
                             "(seats=5 is the number 5), else as a string (plan=pro is \"pro\")")
    update.add_argument("--remove-claim", action="append", default=[], metavar="KEY",
                        help="remove a custom claim (repeatable)")
    update.add_argument("--if-version", type=_version, metavar="N",
                        help="change the account only if it is still at version N (as get-user showed it)")
    update.set_defaults(usage_error=update.error)

    list_users = commands.add(
        "list-users", cmd_list_users,
        "List accounts, one page at a time, in userid order; prints how to get the next page.", user=False,
    )
    list_users.add_argument("--tenant", type=_name, help="only accounts of this tenant")
    list_users.add_argument("--role", type=_name, help="only accounts holding this role")
    list_users.add_argument("-q", "--query", type=_query,
                            help="only accounts whose userid, email or display name starts with this (any case)")
    list_users.add_argument("--limit", type=_page_size, default=DEFAULT_PAGE_SIZE,
                            help=f"accounts per page, 1 to {MAX_PAGE_SIZE} (default {DEFAULT_PAGE_SIZE})")
    list_users.add_argument("--after", type=_userid_cursor, metavar="CURSOR",
                            help="start after this cursor (printed by the previous page)")
    list_users.add_argument("--json", action="store_true",
                            help='print one JSON document: {"users": [...], "next": CURSOR or null}')

    commands.add("migrate", cmd_migrate, "Bring the account database to this release's schema version.", user=False)
