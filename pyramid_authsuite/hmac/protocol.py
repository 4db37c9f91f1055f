"""HTTP Message Signatures (RFC 9421) for service keys: parse, sign, verify.

The public names of the modules below, in one place, so that
``from pyramid_authsuite.hmac.protocol import verify_request`` keeps
working.  No Pyramid imports anywhere in them: :func:`verify_request` takes
a WebOb ``Request`` or a :class:`RequestView`, so the code can be tested
against the RFCs' own examples and independent peers
(``requests-http-signature``) alone.

==================================  ===========================================================
module                              what it implements
==================================  ===========================================================
:mod:`~.errors`                     one :class:`SignatureError` subclass per error code
:mod:`~.model`                      keys, component identifiers, parsed and verified signatures
:mod:`~.components`                 RFC 9421 section 2: component values, the general view and
                                    the environ fast view
:mod:`~.structured`                 RFC 9421 sections 4.1-4.2 with RFC 8941: the general
                                    (``http_sf``) and fast parsers of the signature headers
:mod:`~.base`                       RFC 9421 section 2.5: the signature base
:mod:`~.digest`                     RFC 9530 section 2: ``Content-Digest``
:mod:`~.verify`                     RFC 9421 section 3.2 and the verifier's policy
:mod:`~.sign`                       RFC 9421 section 3.1
==================================  ===========================================================

What comes from the ``http-message-signatures`` library and what is ours:
the library resolves covered component values (RFC 9421 section 2),
implements the two algorithms we allow (section 3.3.3 ``hmac-sha256``,
section 3.3.6 ``ed25519``) and signs; ours is the verifier's policy, which
section 3.2.1 leaves to the application (bounded parsing, the choice among
labels, the algorithm taken from the key, required components and
parameters, the clock window, the RFC 9530 check), and the assembly of the
signature base, so that it uses the parameters exactly as received and
fails with our error codes.
"""
from __future__ import annotations

# Component and the MAX_*/MIN_* limits are importable from here too, as
# they were before the split, though not in __all__.
from pyramid_authsuite.hmac.base import MAX_STRUCTURED_FIELD_LENGTH, signature_base
from pyramid_authsuite.hmac.components import request_view
from pyramid_authsuite.hmac.digest import content_digest, verify_content_digest
from pyramid_authsuite.hmac.errors import (
    AlgorithmMismatch,
    BadSignature,
    DigestMismatch,
    ExpiredSignature,
    FutureSignature,
    InvalidNonce,
    MalformedDigest,
    MalformedRequest,
    MissingComponent,
    MissingNonce,
    MissingParameter,
    MissingSignature,
    SignatureError,
    SignatureParseError,
    UnknownKey,
)
from pyramid_authsuite.hmac.model import (
    ALGORITHMS,
    MAX_NONCE_LENGTH,
    MIN_HMAC_KEY_LENGTH,
    Component,
    ParsedSignature,
    RequestView,
    ServiceKey,
    VerifiedSignature,
)
from pyramid_authsuite.hmac.sign import DEFAULT_SIGNED_COMPONENTS, sign_request
from pyramid_authsuite.hmac.structured import MAX_COMPONENTS, MAX_KEYID_LENGTH, parse_signature_headers
from pyramid_authsuite.hmac.verify import DEFAULT_REQUIRED, MINIMUM_REQUIRED, verify_request

__all__ = [
    "ALGORITHMS",
    "DEFAULT_REQUIRED",
    "DEFAULT_SIGNED_COMPONENTS",
    "MAX_NONCE_LENGTH",
    "MINIMUM_REQUIRED",
    "AlgorithmMismatch",
    "BadSignature",
    "DigestMismatch",
    "ExpiredSignature",
    "FutureSignature",
    "InvalidNonce",
    "MalformedDigest",
    "MalformedRequest",
    "MissingComponent",
    "MissingNonce",
    "MissingParameter",
    "MissingSignature",
    "ParsedSignature",
    "RequestView",
    "ServiceKey",
    "SignatureError",
    "SignatureParseError",
    "UnknownKey",
    "VerifiedSignature",
    "content_digest",
    "parse_signature_headers",
    "request_view",
    "sign_request",
    "signature_base",
    "verify_content_digest",
    "verify_request",
]
