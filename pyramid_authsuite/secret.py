"""The server secret, and the per-purpose keys derived from it.

``authsuite.secret`` (``env:NAME`` / ``file:PATH``, at least 32 bytes) in
production; without it, a random secret is generated into the account store
on first use, so every process sharing that store agrees on it (development).
"""
from __future__ import annotations

import hashlib
import hmac
from typing import Any


def server_secret(registry: Any) -> bytes:
    """The configured secret, or the one stored in the account store (fetched once)."""
    secret = getattr(registry, "_authsuite_secret", None)
    if secret is None:
        secret = registry.authsuite_settings.secret or registry.authsuite_accounts.get_or_create_secret("server")
        registry._authsuite_secret = secret
    return secret


def derived_key(registry: Any, purpose: str) -> bytes:
    """A key for one purpose only, so that no two features ever share key material."""
    cache = getattr(registry, "_authsuite_derived_keys", None)
    if cache is None:
        cache = registry._authsuite_derived_keys = {}
    key = cache.get(purpose)
    if key is None:
        key = cache[purpose] = hmac.new(server_secret(registry), purpose.encode("utf-8"), hashlib.sha256).digest()
    return key
