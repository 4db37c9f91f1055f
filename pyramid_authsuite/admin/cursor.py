"""The paging cursor of ``GET /admin/users``: the last userid of a page, tagged by the server.

The store pages by keyset (``after`` = the last userid seen). Handing that
userid back as it is would let a caller start a listing anywhere it likes
and read it back verbatim; the cursor is instead ``base64url(tag || userid)``
where ``tag`` is the first 16 bytes of HMAC-SHA256 over the userid, under a
key derived from the server secret for this purpose only. A cursor that does
not verify is refused (400), so what a caller sends back is what the server
made. It is not encrypted: the userid it holds is one the caller has already
been shown.
"""
from __future__ import annotations

import hashlib
import hmac
from typing import Any

from pyramid_authsuite._b64 import b64url_decode, b64url_encode
from pyramid_authsuite.accounts import USERID_PATTERN
from pyramid_authsuite.secret import derived_key

#: Purpose of the key that tags cursors.
CURSOR_KEY_PURPOSE = "admin cursor"
_TAG_BYTES = 16
#: Longest cursor text read (16 + 64 bytes encode to 107 characters).
MAX_CURSOR_LENGTH = 120


class InvalidCursor(ValueError):
    """A cursor this server did not make (or made under another secret)."""


def _tag(registry: Any, userid: bytes) -> bytes:
    return hmac.new(derived_key(registry, CURSOR_KEY_PURPOSE), userid, hashlib.sha256).digest()[:_TAG_BYTES]


def encode_cursor(registry: Any, userid: str) -> str:
    """The cursor that resumes a listing after ``userid``.

    ``registry``
        The application registry (holds the server secret).
    ``userid``
        The last userid of the page just served.
    """
    raw = userid.encode("utf-8")
    return b64url_encode(_tag(registry, raw) + raw)


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
    tag, raw = data[:_TAG_BYTES], data[_TAG_BYTES:]
    if len(tag) != _TAG_BYTES or not hmac.compare_digest(tag, _tag(registry, raw)):
        raise InvalidCursor("does not verify")
    try:
        userid = raw.decode("utf-8")
    except UnicodeDecodeError:  # only a forged tag could carry it here
        raise InvalidCursor("not a userid") from None
    if USERID_PATTERN.fullmatch(userid) is None:
        raise InvalidCursor("not a userid")
    return userid
