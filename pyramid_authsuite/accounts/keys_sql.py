"""The key methods of :class:`~pyramid_authsuite.accounts.sql.SQLAccountStore`.

Registered keys (for challenge-response and signed requests) live in their
own table; these methods are mixed into the store, whose transactions,
deadline and table definitions they use.
"""
from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from pyramid_authsuite.accounts import KEY_KINDS, USERID_PATTERN, AccountKey, AccountNotFound, KeyExists
from pyramid_authsuite.accounts.rows import key_from_row
from pyramid_authsuite.accounts.tables import MAX_KEY_ID_LENGTH

__all__ = ["KeyMethods"]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _is_userid(userid: object) -> bool:
    return isinstance(userid, str) and USERID_PATTERN.fullmatch(userid) is not None


def _is_key_id(key_id: object) -> bool:
    return isinstance(key_id, str) and 0 < len(key_id) <= MAX_KEY_ID_LENGTH and "\x00" not in key_id


class KeyMethods:
    """``add_key``, ``get_key``, ``list_keys`` and ``remove_key`` on the store's tables."""

    def add_key(self, userid: str, key_id: str, kind: str, material: bytes) -> AccountKey:
        if kind not in KEY_KINDS:
            raise ValueError(f"key kind must be one of {', '.join(KEY_KINDS)}, got {kind!r}")
        if not _is_key_id(key_id):
            raise ValueError(f"a key id is 1 to {MAX_KEY_ID_LENGTH} characters, without NUL")
        if not isinstance(material, (bytes, bytearray, memoryview)):
            raise TypeError("key material must be bytes")
        material = bytes(material)
        if not material:
            raise ValueError("key material must not be empty")
        if not _is_userid(userid):
            raise AccountNotFound(userid)
        now = _now()
        try:
            with self._transaction() as connection:
                exists = connection.execute(
                    sa.select(self._accounts.c.userid).where(self._accounts.c.userid == userid)
                ).one_or_none()
                if exists is None:
                    raise AccountNotFound(userid)
                connection.execute(
                    sa.insert(self._keys).values(
                        key_id=key_id, userid=userid, kind=kind, material=material, created_at=now
                    )
                )
        except sa_exc.IntegrityError:
            # Either the key id is taken or the account went away after our
            # check (foreign key). Ask again, outside the failed transaction.
            if self.get_key(key_id) is not None:
                raise KeyExists(f"key {key_id!r} already exists") from None
            raise AccountNotFound(userid) from None
        return AccountKey(key_id=key_id, userid=userid, kind=kind, material=material, created_at=now)

    def get_key(self, key_id: str) -> AccountKey | None:
        if not _is_key_id(key_id):
            return None
        with self._transaction() as connection:
            row = connection.execute(sa.select(self._keys).where(self._keys.c.key_id == key_id)).one_or_none()
        return None if row is None else key_from_row(row)

    def list_keys(self, userid: str) -> list[AccountKey]:
        if not _is_userid(userid):
            return []
        with self._transaction() as connection:
            rows = connection.execute(sa.select(self._keys).where(self._keys.c.userid == userid)).all()
        # By code point, for the same reason as list().
        return sorted((key_from_row(row) for row in rows), key=lambda key: key.key_id)

    def remove_key(self, key_id: str) -> bool:
        if not _is_key_id(key_id):
            return False
        with self._transaction() as connection:
            result = connection.execute(sa.delete(self._keys).where(self._keys.c.key_id == key_id))
        return result.rowcount > 0

