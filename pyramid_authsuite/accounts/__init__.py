"""The account store: one contract, SQLAlchemy Core behind it.

``authsuite.accounts_url`` picks the database: ``sqlite:///path/authsuite.sqlite``
(the default, one file beside the ini) or ``postgresql://user@host/dbname`` for
production. Both run the same code (:mod:`pyramid_authsuite.accounts.sql`) and
the same contract tests.

An account has a userid, an Argon2id password hash, roles (a table of their
own, so they can be filtered), an optional tenant, email (unique, case
insensitively) and display name, custom claims (a JSON object carried into the
tokens the account obtains), a disabled flag, a version that every change
increments, creation, update and last-login times, and any number of
registered keys (for challenge-response). Passwords are hashed by
:mod:`pyramid_authsuite.accounts.passwords`; the store never returns a hash
to callers outside this package.

A database that cannot be reached, or does not answer within the store's
deadline, raises :class:`AccountStoreUnavailable`. A database whose driver is
not installed raises :class:`MissingDatabaseDriver` when the store is made.
"""
from __future__ import annotations

import abc
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Mapping

from pyramid.exceptions import ConfigurationError

from pyramid_authsuite.exceptions import AccountStoreUnavailable

__all__ = [
    "Account",
    "AccountKey",
    "AccountStore",
    "AccountStoreUnavailable",
    "AccountExists",
    "AccountNotFound",
    "EmailTaken",
    "VersionConflict",
    "InvalidAccountField",
    "KeyExists",
    "InvalidUserid",
    "MissingDatabaseDriver",
    "KEY_KINDS",
    "UPDATABLE_FIELDS",
    "MAX_CUSTOM_CLAIMS_BYTES",
    "MAX_PAGE_SIZE",
    "RESERVED_CLAIMS",
    "USERID_PATTERN",
    "NAME_PATTERN",
    "validate_userid",
]

# Letters, digits and ". _ @ + -", starting with a letter or digit, 1 to 64
# characters: safe in URLs, cache keys, log lines and the Basic header (no ":").
USERID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")

KEY_KINDS = ("hmac", "ed25519", "rsa")

# Role and tenant names become principals (``role:<name>``, ``tenant:<name>``)
# and JWT claim values: the same safe alphabet as userids, plus ":".
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+-]{0,63}")

#: The fields ``AccountStore.update`` changes (``None`` clears a field).
UPDATABLE_FIELDS = ("email", "display_name", "roles", "tenant", "disabled", "custom_claims")

#: Custom claims, as compact UTF-8 JSON, may take at most this many bytes.
MAX_CUSTOM_CLAIMS_BYTES = 4096

#: The largest page ``AccountStore.list`` returns.
MAX_PAGE_SIZE = 1000

#: Claim names custom claims may not use: RFC 7519 section 4.1's registered
#: claims, the ones RFC 9068 (access tokens), RFC 8176 (``amr``), RFC 8693
#: and OpenID Connect give a meaning, and the ones this package's tokens
#: carry by default (``roles``, ``tenant_id``, ``email``) and the claims the JWT
#: policy maps to principals by default (``role``, ``tenant``).
RESERVED_CLAIMS = frozenset(
    (
        "iss", "sub", "aud", "exp", "nbf", "iat", "jti",  # RFC 7519 4.1
        "scope", "client_id", "auth_time", "acr", "amr", "azp", "nonce", "cnf", "act", "may_act",
        "typ", "sid", "at_hash", "c_hash", "email_verified", "name", "groups", "entitlements",
        "roles", "role", "tenant_id", "tenant", "email",
    )
)


class AccountExists(Exception):
    """``create`` was called for a userid that is already taken."""


class AccountNotFound(Exception):
    """The userid names no account."""


class EmailTaken(Exception):
    """Another account has this email address (compared case-insensitively)."""


class VersionConflict(Exception):
    """``update`` was given an ``expected_version`` that is no longer the account's.

    ``current`` is the account's version now.
    """

    def __init__(self, userid: str, expected: int, current: int):
        super().__init__(f"account {userid!r} is at version {current}, not {expected}")
        self.userid = userid
        self.expected = expected
        self.current = current


class InvalidAccountField(ValueError):
    """A value the store refuses: ``field`` names it, the message says why (no value is echoed)."""

    def __init__(self, field_name: str, reason: str):
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name
        self.reason = reason


class KeyExists(Exception):
    """``add_key`` was called with a key id that is already registered."""


class InvalidUserid(InvalidAccountField):
    """A userid does not match :data:`USERID_PATTERN`."""

    def __init__(self, reason: str):
        super().__init__("userid", reason)


class MissingDatabaseDriver(ConfigurationError, SystemExit):
    """The driver the accounts URL needs is not installed (psycopg, for PostgreSQL).

    A :class:`~pyramid.exceptions.ConfigurationError` for code that handles
    configuration errors (the ``authsuite`` CLI prints it on one line). It is
    also a ``SystemExit`` whose ``code`` is the message, so that when nothing
    catches it (``pserve`` loading the app) Python prints that one line and
    exits with status 1, instead of a traceback ending in
    ``ModuleNotFoundError``: nothing can be retried until the operator
    installs the extra the message names.
    """

    def __init__(self, message: str):
        super().__init__(message)
        # What the interpreter prints for an uncaught SystemExit.
        self.code = message


def validate_userid(userid: str) -> str:
    """Return ``userid`` if it is well formed, else raise :class:`InvalidUserid`."""
    if not isinstance(userid, str) or USERID_PATTERN.fullmatch(userid) is None:
        raise InvalidUserid(
            "a userid is 1 to 64 letters, digits or . _ @ + -, starting with a letter or digit"
        )
    return userid


@dataclass(frozen=True)
class Account:
    """One account as callers see it (never with its password hash).

    ``roles`` are sorted by code point. ``custom_claims`` is a plain dict
    (not part of the hash; treat it as read-only). ``version`` starts at 1 and every change made through the
    store increments it (a login does not: ``last_login_at`` is bookkeeping).
    ``has_password`` tells whether the account can log in with a password.
    """

    userid: str
    roles: tuple[str, ...] = ()
    tenant: str | None = None
    email: str | None = None
    display_name: str | None = None
    disabled: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None
    custom_claims: dict[str, Any] = field(default_factory=dict, hash=False)
    version: int = 1
    last_login_at: datetime | None = None
    has_password: bool = False


@dataclass(frozen=True)
class AccountKey:
    """A key registered on an account.

    ``material`` is the shared secret for ``hmac`` keys and the PEM-encoded
    public key for ``ed25519`` and ``rsa`` keys. It is excluded from ``repr``
    so a key never ends up in a log line by accident.
    """

    key_id: str
    userid: str
    kind: str
    material: bytes = field(repr=False)
    created_at: datetime | None = None


class AccountStore(abc.ABC):
    """The contract every account store implements.

    Every method may raise :class:`AccountStoreUnavailable`.

    A store calls its change listeners (:meth:`on_change`) after every change
    that must end what was granted on the account's old state: a new
    password, new roles or tenant, disabling, deletion.
    """

    _change_listeners: tuple[Callable[[str], None], ...] = ()

    def on_change(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(userid)`` after each such change, in this process.

        ``includeme`` registers the one that makes every process sharing the
        cache forget the account's remembered Basic logins; application code
        may add its own. A listener's exception propagates to the caller (the
        change itself is made): an outage must not pass for a logout.
        """
        self._change_listeners = (*self._change_listeners, listener)

    def _changed(self, userid: str) -> None:
        for listener in self._change_listeners:
            listener(userid)

    @abc.abstractmethod
    def create(
        self,
        userid: str,
        password: str | None,
        *,
        roles: tuple[str, ...] | list[str] = (),
        tenant: str | None = None,
        email: str | None = None,
        display_name: str | None = None,
        custom_claims: Mapping[str, Any] | None = None,
    ) -> Account:
        """Create an account (version 1). ``password=None`` makes an account that cannot
        log in with a password until one is set (keys only).

        Raises :class:`InvalidUserid` / :class:`InvalidAccountField` (naming the
        field), :class:`AccountExists`, :class:`EmailTaken`."""

    @abc.abstractmethod
    def get(self, userid: str) -> Account | None:
        """Return the account, or ``None``."""

    @abc.abstractmethod
    def update(
        self,
        userid: str,
        changes: Mapping[str, Any] | None = None,
        *,
        expected_version: int | None = None,
        **fields: Any,
    ) -> Account:
        """Change fields of :data:`UPDATABLE_FIELDS`; returns the account as it now is.

        ``changes``
            Field -> new value; ``None`` clears the field (``roles`` and
            ``custom_claims`` become empty, ``disabled`` is refused).
        ``expected_version``
            When given, the change is made only if the account is still at
            that version (checked and written atomically), else
            :class:`VersionConflict`.
        ``fields``
            The keyword form kept from version 1: a ``None`` value leaves the
            field as it is.

        Increments ``version`` and bumps ``updated_at`` when a value
        differs from the stored one; an update that changes nothing writes
        nothing (same version: an idempotent request keeps its ETag) but is
        still checked against ``expected_version``. Roles are stored without
        order and returned sorted by code point. A field named in both forms
        and an unknown keyword raise ``TypeError``. Raises
        :class:`AccountNotFound`, :class:`InvalidAccountField` (also for an
        unknown field in ``changes``), :class:`EmailTaken`,
        :class:`VersionConflict`."""

    @abc.abstractmethod
    def set_password(self, userid: str, password: str | None) -> None:
        """Replace the password hash (``None`` removes password login); increments ``version``.
        Raises :class:`AccountNotFound`."""

    @abc.abstractmethod
    def delete(self, userid: str) -> bool:
        """Delete the account, its roles and its keys; ``True`` if it existed."""

    @abc.abstractmethod
    def list(
        self,
        limit: int = 100,
        after: str | None = None,
        *,
        tenant: str | None = None,
        role: str | None = None,
        query: str | None = None,
    ) -> tuple[list[Account], str | None]:
        """One page of accounts in userid order (by code point), and the cursor of the next.

        ``limit``
            1 to :data:`MAX_PAGE_SIZE` accounts.
        ``after``
            The cursor a previous page returned (the last userid it held), or
            ``None`` for the first page. Keyset paging: an account present
            from the first page to the last is seen exactly once, whatever is
            created or deleted meanwhile.
        ``tenant``, ``role``
            Only accounts of that tenant, holding that role.
        ``query``
            Only accounts whose userid, email or display name starts with it
            (case-insensitively).

        The cursor is ``None`` on the last page. A bad ``limit`` raises
        ``ValueError``; a filter or cursor that is not a string of 1 to 254
        characters without NUL raises :class:`InvalidAccountField` naming it
        (``"after"``, ``"tenant"``, ``"role"``, ``"query"``)."""

    @abc.abstractmethod
    def count(self, *, tenant: str | None = None, role: str | None = None, query: str | None = None) -> int:
        """How many accounts :meth:`list` would walk through with these filters."""

    @abc.abstractmethod
    def authenticate(self, userid: str, password: str) -> Account | None:
        """Check a password. Returns the account, or ``None`` for an unknown userid,
        a wrong password, an account without a password, or a disabled account.

        Takes as long for an unknown userid as for a wrong password (a dummy
        hash is verified), and rehashes the stored hash after a successful
        check when the hashing parameters have changed. A successful check
        records ``last_login_at`` (written at most once a minute per account;
        it changes neither ``version`` nor ``updated_at``).
        """

    @abc.abstractmethod
    def add_key(self, userid: str, key_id: str, kind: str, material: bytes) -> AccountKey:
        """Register a key on an account. ``kind`` is one of :data:`KEY_KINDS`.
        Raises :class:`AccountNotFound`, :class:`KeyExists`, ``ValueError`` for a bad kind."""

    @abc.abstractmethod
    def get_key(self, key_id: str) -> AccountKey | None:
        """Return the key with that id, or ``None``."""

    @abc.abstractmethod
    def list_keys(self, userid: str) -> list[AccountKey]:
        """The account's keys, ordered by key id."""

    @abc.abstractmethod
    def remove_key(self, key_id: str) -> bool:
        """Remove a key; ``True`` if it existed."""

    @abc.abstractmethod
    def schema_version(self) -> int:
        """The schema version of the database (0 when it has no tables yet)."""

    @abc.abstractmethod
    def migrate(self) -> list[str]:
        """Bring the database to the schema version this code knows; one line per step applied
        (none when it was up to date). Also run on first use. A database newer than the code
        raises ``SchemaVersionError`` (an :class:`AccountStoreUnavailable`)."""

    @abc.abstractmethod
    def get_or_create_secret(self, name: str, length: int = 32) -> bytes:
        """A random server secret stored under ``name``, created on first use.

        Every process sharing the store gets the same value, even when they
        race to create it. Used where no secret is configured (development).
        """

    def close(self) -> None:
        """Release connections; the default does nothing."""
