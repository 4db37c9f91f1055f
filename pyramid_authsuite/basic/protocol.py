"""Parsing of ``Authorization: Basic`` (RFC 7617). No Pyramid imports."""
from __future__ import annotations

import binascii
from base64 import b64decode

from pyramid_authsuite._b64 import basic_credentials

# An Authorization header longer than this is refused before any decoding.
MAX_HEADER_LENGTH = 4096
MAX_PASSWORD_LENGTH = 1024


class BasicParseError(ValueError):
    """The header is not a well-formed Basic credential. The message never echoes it."""


def is_basic(header: str | None) -> bool:
    """Whether the header names the Basic scheme (RFC 7235: case-insensitive token)."""
    return header is not None and header[:6].split(" ", 1)[0].lower() == "basic"


def parse_basic(header: str) -> tuple[str, str]:
    """Return ``(userid, password)`` from a Basic header.

    RFC 7617 section 2: ``Basic`` SP base64(user-id ":" password); the
    charset is UTF-8 (section 2.1, as our challenge announces). The user-id
    cannot contain a colon; the password can.
    """
    if len(header) > MAX_HEADER_LENGTH:
        raise BasicParseError("Authorization header too long")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        raise BasicParseError("not a Basic credential")
    encoded = encoded.strip(" ")
    if not encoded:
        raise BasicParseError("empty Basic credential")
    try:
        decoded = b64decode(encoded.encode("ascii"), validate=True).decode("utf-8")
    except (UnicodeError, binascii.Error):
        raise BasicParseError("Basic credential is not base64-encoded UTF-8") from None
    userid, colon, password = decoded.partition(":")
    if not colon:
        raise BasicParseError("Basic credential has no ':' between user-id and password")
    if not userid or not password:
        raise BasicParseError("Basic credential has an empty user-id or password")
    if len(password) > MAX_PASSWORD_LENGTH or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in decoded):
        raise BasicParseError("Basic credential contains control characters or is too long")
    return userid, password


def basic_header(userid: str, password: str) -> str:
    """The header a client sends (tests and the CLI use it)."""
    return basic_credentials(userid, password)
