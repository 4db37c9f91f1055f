"""Hawk credentials from a session token (Firefox Accounts, Kinto, requests-hawk).

No Pyramid or WebOb imports; ``cryptography`` is imported by
:func:`derive_session_credentials` only.
"""
from __future__ import annotations

import re

__all__ = ["SESSION_TOKEN_INFO", "derive_session_credentials"]

#: HKDF ``info`` of Firefox Accounts / Kinto session tokens (requests-hawk).
SESSION_TOKEN_INFO = b"identity.mozilla.com/picl/v1/sessionToken"
_HEX64_RE = re.compile(r"[0-9a-fA-F]{64}")


def derive_session_credentials(token_hex: str) -> tuple[str, bytes]:
    """``(hawk_id, key)`` from a 32-byte session token given in hex.

    As requests-hawk's ``HawkAuth(hawk_session=...)`` does: HKDF-SHA256
    (RFC 5869) with an empty salt and info :data:`SESSION_TOKEN_INFO`,
    64 bytes out; the Hawk id is the hex of the first 32 bytes and the key
    is the hex of the last 32 -- requests-hawk hands mohawk that hex *as
    bytes*, so the HMAC key is the 64 ASCII characters, returned as bytes.
    A token that is not exactly 64 hex digits raises ``ValueError``.
    """
    if not isinstance(token_hex, str) or _HEX64_RE.fullmatch(token_hex) is None:
        raise ValueError("session token must be 64 hexadecimal characters")
    # Imported here: only this function needs cryptography.
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    material = HKDF(algorithm=hashes.SHA256(), length=64, salt=b"", info=SESSION_TOKEN_INFO).derive(
        bytes.fromhex(token_hex)
    )
    return material[:32].hex(), material[32:].hex().encode("ascii")
