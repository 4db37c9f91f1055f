"""The Hawk 1 protocol, server side: parsing, MACs, bewits, Server-Authorization.

No Pyramid or WebOb imports (stdlib, plus ``cryptography`` for the session
token KDF only), so that it can be tested against independent peers alone.

This module gathers the public names of the modules that implement each part,
so that ``from pyramid_authsuite.hawk import protocol`` is all a caller needs:

* :mod:`~pyramid_authsuite.hawk.errors` -- :class:`HawkError` and its kinds;
* :mod:`~pyramid_authsuite.hawk.header` -- the ``Authorization: Hawk`` header
  (``lib/utils.js`` ``parseAuthorizationHeader``): the general parser and
  its single-pass fast twins side by side;
* :mod:`~pyramid_authsuite.hawk.mac` -- normalized strings (``hawk.1.header``,
  ``hawk.1.response``, ``hawk.1.bewit``), HMACs and the payload hash
  (``lib/crypto.js``);
* :mod:`~pyramid_authsuite.hawk.server` -- request verification and
  ``Server-Authorization`` (``lib/server.js`` ``authenticate``, ``header``);
* :mod:`~pyramid_authsuite.hawk.timestamp` -- the stale-timestamp challenge
  (``ts``/``tsm``, README "Replay Protection");
* :mod:`~pyramid_authsuite.hawk.bewit` -- bewits (README "Single URI
  Authorization"; ``lib/client.js`` ``getBewit``, ``lib/server.js``
  ``authenticateBewit``);
* :mod:`~pyramid_authsuite.hawk.session_token` -- Hawk credentials from a
  Firefox Accounts / Kinto session token (requests-hawk).

References, cited by name in those modules: the Hawk README (hapijs/hawk,
formerly hueniverse/hawk) and its reference implementation.
"""
from __future__ import annotations

from pyramid_authsuite.hawk.bewit import (
    MAX_BEWIT_LENGTH,
    MAX_RESOURCE_LENGTH,
    Bewit,
    make_bewit,
    parse_bewit,
    strip_bewit,
    verify_bewit,
)
from pyramid_authsuite.hawk.errors import (
    HawkAlgorithmError,
    HawkBewitExpired,
    HawkBewitMethodError,
    HawkError,
    HawkMACError,
    HawkParseError,
    HawkPayloadError,
    HawkSchemeError,
    HawkStaleTimestamp,
)
from pyramid_authsuite.hawk.header import MAX_HEADER_LENGTH, HawkAuthorization, is_hawk, parse_authorization
from pyramid_authsuite.hawk.mac import (
    ALGORITHMS,
    DEFAULT_ALLOWED_ALGORITHMS,
    HashAlgorithm,
    calculate_mac,
    normalized_string,
    payload_hash,
    request_fields,
    verify_mac,
)
from pyramid_authsuite.hawk.server import (
    server_authorization,
    server_authorization_fields,
    verify_payload_hash,
    verify_request,
    verify_request_fields,
)
from pyramid_authsuite.hawk.session_token import SESSION_TOKEN_INFO, derive_session_credentials
from pyramid_authsuite.hawk.timestamp import timestamp_challenge

__all__ = [
    "ALGORITHMS",
    "DEFAULT_ALLOWED_ALGORITHMS",
    "MAX_BEWIT_LENGTH",
    "MAX_HEADER_LENGTH",
    "MAX_RESOURCE_LENGTH",
    "Bewit",
    "HashAlgorithm",
    "HawkAlgorithmError",
    "HawkAuthorization",
    "HawkBewitExpired",
    "HawkBewitMethodError",
    "HawkError",
    "HawkMACError",
    "HawkParseError",
    "HawkPayloadError",
    "HawkSchemeError",
    "HawkStaleTimestamp",
    "SESSION_TOKEN_INFO",
    "calculate_mac",
    "derive_session_credentials",
    "is_hawk",
    "make_bewit",
    "normalized_string",
    "parse_authorization",
    "parse_bewit",
    "payload_hash",
    "request_fields",
    "server_authorization",
    "server_authorization_fields",
    "strip_bewit",
    "timestamp_challenge",
    "verify_bewit",
    "verify_mac",
    "verify_payload_hash",
    "verify_request",
    "verify_request_fields",
]
