"""The account store: one contract, SQLAlchemy Core behind it.

``authsuite.accounts_url`` picks the database: ``sqlite:///path/authsuite.sqlite``
(the default, one file beside the ini) or ``postgresql://user@host/dbname`` for
production. Both run the same code (:mod:`pyramid_authsuite.accounts.sql`) and
the same contract tests.

An account has a userid, an Argon2id password hash, roles, an optional tenant,
email and display name, a disabled flag, creation and update times, and any
number of registered keys (for challenge-response). Passwords are hashed by
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
from typing import Callable

from pyramid.exceptions import ConfigurationError

from pyramid_authsuite.exceptions import AccountStoreUnavailable

__all__ = [
    "Account",
    "AccountKey",
    "AccountStore",
    "AccountStoreUnavailable",
    "AccountExists",
    "AccountNotFound",
    "KeyExists",
    "InvalidUserid",
    "MissingDatabaseDriver",
    "KEY_KINDS",
    "USERID_PATTERN",
    "validate_userid",
]

# Letters, digits and ". _ @ + -", starting with a letter or digit, 1 to 64
# characters: safe in URLs, cache keys, log lines and the Basic header (no ":").
USERID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")

KEY_KINDS = ("hmac", "ed25519", "rsa")


class AccountExists(Exception):
    """``create`` was called for a userid that is already taken."""


class AccountNotFound(Exception):
    """The userid names no account."""


class KeyExists(Exception):
    """``add_key`` was called with a key id that is already registered."""


class InvalidUserid(ValueError):
    """A userid does not match :data:`USERID_PATTERN`."""


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
    """One account as callers see it (never with its password hash)."""

    userid: str
    roles: tuple[str, ...] = ()
    tenant: str | None = None
    email: str | None = None
    display_name: str | None = None
    disabled: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None


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
    ) -> Account:
        """Create an account. ``password=None`` makes an account that cannot log in
        with a password (keys only). Raises :class:`InvalidUserid`, :class:`AccountExists`."""

    @abc.abstractmethod
    def get(self, userid: str) -> Account | None:
        """Return the account, or ``None``."""

    @abc.abstractmethod
    def update(
        self,
        userid: str,
        *,
        roles: tuple[str, ...] | list[str] | None = None,
        tenant: str | None = None,
        email: str | None = None,
        display_name: str | None = None,
        disabled: bool | None = None,
    ) -> Account:
        """Change the given fields (``None`` leaves a field as it is); bumps ``updated_at``.
        Raises :class:`AccountNotFound`."""

    @abc.abstractmethod
    def set_password(self, userid: str, password: str | None) -> None:
        """Replace the password hash (``None`` removes password login).
        Raises :class:`AccountNotFound`."""

    @abc.abstractmethod
    def delete(self, userid: str) -> bool:
        """Delete the account and its keys; ``True`` if it existed."""

    @abc.abstractmethod
    def list(self) -> list[Account]:
        """Every account, ordered by userid."""

    @abc.abstractmethod
    def authenticate(self, userid: str, password: str) -> Account | None:
        """Check a password. Returns the account, or ``None`` for an unknown userid,
        a wrong password, an account without a password, or a disabled account.

        Takes as long for an unknown userid as for a wrong password (a dummy
        hash is verified), and rehashes the stored hash after a successful
        check when the hashing parameters have changed.
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
    def get_or_create_secret(self, name: str, length: int = 32) -> bytes:
        """A random server secret stored under ``name``, created on first use.

        Every process sharing the store gets the same value, even when they
        race to create it. Used where no secret is configured (development).
        """

    def close(self) -> None:
        """Release connections; the default does nothing."""
