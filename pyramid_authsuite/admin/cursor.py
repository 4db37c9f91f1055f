"""The paging cursor of ``GET /admin/users``: the last userid of a page, sealed by the server.

The store pages by keyset (``after`` = the last userid read). That userid
is handed out sealed with AES-SIV (RFC 5297: deterministic authenticated
encryption, no nonce to keep), under a key derived from the server secret
for this purpose only, as ``base64url(siv || ciphertext)``:

- a cursor that does not open is refused (400): what a caller sends back is
  what the server made, so nobody starts a listing at a place of their
  choosing by forging one;
- it does not show the userid it holds. For a tenant admin, a page may end
  on an account it is not allowed to see (its tenant's accounts holding
  another role are skipped, but the store read them); a readable cursor
  would name it.
"""
from __future__ import annotations

from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

from pyramid_authsuite._b64 import b64url_decode, b64url_encode
from pyramid_authsuite.accounts import USERID_PATTERN
from pyramid_authsuite.secret import derived_key

#: Purpose of the key that seals cursors.
CURSOR_KEY_PURPOSE = "admin cursor"
_SIV_BYTES = 16
#: Longest cursor text read (16 + 64 bytes encode to 107 characters).
MAX_CURSOR_LENGTH = 120


class InvalidCursor(ValueError):
    """A cursor this server did not make (or made under another secret)."""


def _cipher(registry: Any) -> AESSIV:
    # derived_key gives 32 bytes: AES-SIV with two AES-128 keys.
    return AESSIV(derived_key(registry, CURSOR_KEY_PURPOSE))


def encode_cursor(registry: Any, userid: str) -> str:
    """The cursor that resumes a listing after ``userid``.

    ``registry``
        The application registry (holds the server secret).
    ``userid``
        The last userid the store read for the page just served.
    """
    return b64url_encode(_cipher(registry).encrypt(userid.encode("utf-8"), None))


def decode_cursor(registry: Any, cursor: str) -> str:
    """The userid a cursor of :func:`encode_cursor` holds; :class:`InvalidCursor` otherwise.

    ``registry``
        The application registry (holds the server secret).
    ``cursor``
        The ``after`` query parameter as received.
    """
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise InvalidCursor("too long")
    try:
        data = b64url_decode(cursor)
    except ValueError:
        raise InvalidCursor("not base64url") from None
    if len(data) <= _SIV_BYTES:
        raise InvalidCursor("too short")
    try:
        userid = _cipher(registry).decrypt(data, None).decode("utf-8")
    except (InvalidTag, UnicodeDecodeError):
        raise InvalidCursor("does not open") from None
    if USERID_PATTERN.fullmatch(userid) is None:
        raise InvalidCursor("not a userid")
    return userid
