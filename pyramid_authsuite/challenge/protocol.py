"""Challenge-response, wire format and cryptography (no Pyramid imports).

The server issues a one-time challenge for a key; the client proves it holds
that key by answering it; the key itself never crosses the network. Three
kinds of key, and what an answer is for each:

``hmac`` (a shared secret of at least 32 bytes)
    ``hex(HMAC-SHA256(secret, message))``, RFC 2104 with SHA-256, 64 hex digits.
``ed25519`` (the server holds the public key)
    ``base64(Ed25519-sign(private_key, message))``, RFC 8032 section 5.1.6
    (PureEdDSA), 88 characters of standard base64 with padding.
``rsa`` (the server holds a public key of 2048 bits or more)
    The challenge arrives encrypted with RSAES-OAEP (RFC 8017 section 7.1,
    SHA-256 and MGF1-SHA-256, empty label), in standard base64. The answer
    is the decrypted challenge, in the base64url form (no padding) the other
    kinds receive it in.

The signed message, in ASCII, fields separated by a line feed (0x0A), no
trailing line feed::

    authsuite-challenge-v1 LF <challenge_id> LF <key_id> LF <challenge>

where ``<challenge>`` is the base64url text of the 32 challenge bytes as
``POST /challenges`` served it. The first line separates these signatures
from anything else the same key might sign; the challenge id and key id bind
the answer to this challenge and this key. None of the fields can hold a line
feed (their character sets exclude it), so the message is unambiguous.

The answer travels in::

    Authorization: Challenge id="<challenge_id>", key_id="<key_id>", response="<answer>"

Challenge ids are self-authenticating: ``base64url(version || expires_at_ms
|| 17 random bytes || HMAC-SHA256(id_key, those)[:16])``, 56 characters. The
server can tell a forged or altered id, and an expired one, without asking
the cache (RFC 2104 section 5 allows truncating the MAC to half its length).

The challenge itself is derived from its id, the key id and the key's kind
(:func:`derive_challenge`, an HMAC under a server key), so the server stores
nothing when it issues one, for a known key id or an unknown one alike: it
recomputes the challenge when the answer arrives, and only records (with an
atomic ``add``) that the id has been answered. To a client it is 32 bytes as
unpredictable as random ones.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import struct
from typing import Any, NamedTuple

from pyramid_authsuite import keys
# Re-exported: the strict, canonical, unpadded base64url challenges and ids use.
from pyramid_authsuite._b64 import b64url_decode, b64url_encode

__all__ = [
    "ALGORITHMS",
    "CHALLENGE_BYTES",
    "DOMAIN",
    "KEY_ID_PATTERN",
    "KINDS",
    "MAX_HEADER_LENGTH",
    "MAX_RSA_BITS",
    "MIN_HMAC_SECRET_BYTES",
    "MIN_RSA_BITS",
    "ChallengeAuthorization",
    "ChallengeError",
    "ChallengeIdError",
    "ChallengeParseError",
    "KeyMaterialError",
    "answer",
    "authorization_header",
    "b64url_decode",
    "b64url_encode",
    "challenge_digest",
    "decoy_kind",
    "decoy_rsa_public_key",
    "derive_challenge",
    "ed25519_response",
    "encrypt_challenge",
    "hmac_response",
    "is_challenge",
    "kind_of_algorithm",
    "kind_of_key",
    "load_private_key",
    "load_public_key",
    "make_challenge_id",
    "new_challenge",
    "normalize_key_material",
    "parse_authorization",
    "read_challenge_id",
    "rsa_response",
    "signing_message",
    "verify_response",
]

#: The first line of every signed message (domain separation).
DOMAIN = "authsuite-challenge-v1"
#: Random bytes in a challenge.
CHALLENGE_BYTES = 32
#: Key kinds and the ``algorithm`` ``POST /challenges`` names for each.
ALGORITHMS = {"hmac": "hmac-sha256", "ed25519": "ed25519", "rsa": "rsa-oaep-sha256"}
KINDS = tuple(ALGORITHMS)
#: An ``Authorization: Challenge`` header longer than this is refused unread.
MAX_HEADER_LENGTH = 1024
MIN_HMAC_SECRET_BYTES = 32
#: NIST SP 800-131A: RSA under 2048 bits is disallowed.
MIN_RSA_BITS = keys.MIN_RSA_BITS
#: Larger keys cost the server a lot per challenge for no practical gain.
MAX_RSA_BITS = keys.MAX_RSA_BITS

#: Key ids: what fits unquoted in logs, cache keys and the header.
KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~:@+-]{0,127}")

_ID_VERSION = 1
_ID_RANDOM_BYTES = 17
_ID_MAC_BYTES = 16
# 1 + 8 + 17 + 16 = 42 bytes, a multiple of 3: exactly 56 base64url
# characters, every one of which decodes canonically.
_ID_BYTES = 1 + 8 + _ID_RANDOM_BYTES + _ID_MAC_BYTES
_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{56}")
_CHALLENGE_TEXT_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_B64_SIGNATURE = re.compile(r"[A-Za-z0-9+/]{86}==")

# The header after "Challenge ": name="value" pairs separated by commas with
# optional blanks. Values are quoted, without quotes, backslashes or
# controls, so no escaping is ever needed. No nested quantifiers over
# overlapping sets: linear time on any input.
_PAIR = r'[a-z_]{1,16}="[\x21\x23-\x5b\x5d-\x7e]*"'
_HEADER_RE = re.compile(rf"[ \t]*{_PAIR}(?:[ \t]*,[ \t]*{_PAIR}){{0,7}}[ \t]*")
_PAIR_RE = re.compile(r'([a-z_]{1,16})="([\x21\x23-\x5b\x5d-\x7e]*)"')
_ATTRIBUTES = ("id", "key_id", "response")
_RESPONSE_PATTERN = re.compile(r"[A-Za-z0-9+/=_-]{1,512}")


class ChallengeError(Exception):
    """Base class of this module's errors. Messages never echo credentials."""


class ChallengeParseError(ChallengeError):
    """An ``Authorization: Challenge`` header that does not parse."""


class ChallengeIdError(ChallengeError):
    """A challenge id that this server did not issue (forged, altered, truncated)."""


class KeyMaterialError(ChallengeError):
    """Key material that is unusable, too weak, or of another kind."""


class ChallengeAuthorization(NamedTuple):
    """A parsed ``Authorization: Challenge`` header."""

    challenge_id: str
    key_id: str
    response: str


# --------------------------------------------------------------------------
# Challenges and their ids
# --------------------------------------------------------------------------


def new_challenge() -> str:
    """32 random bytes from the OS CSPRNG, as base64url text (43 characters)."""
    return b64url_encode(secrets.token_bytes(CHALLENGE_BYTES))


def key_binding(material: bytes | None) -> bytes:
    """What binds a challenge to the key registered under its key id: the
    SHA-256 of the key's material (its PEM or secret), or of nothing for a
    key id that has no key (a decoy), so both paths do the same work."""
    return hashlib.sha256(material or b"").digest()


def derive_challenge(text_key: bytes, challenge_id: str, key_id: str, kind: str, binding: bytes) -> str:
    """The challenge (base64url, 43 characters) of one id, for one key id, kind and key.

    ``HMAC-SHA256(text_key, "authsuite-challenge-v1-text" LF id LF key_id LF
    kind LF binding)``, ``binding`` being :func:`key_binding` of the key's
    material: nobody without ``text_key`` can predict it, and an id issued
    for one key gives another challenge for any other key id, kind or key
    material, so an answer made for another key, or for the key as it was
    registered before it was replaced (an RSA answer, which is the decrypted
    challenge itself, included), is wrong.
    """
    message = f"{DOMAIN}-text\n{challenge_id}\n{key_id}\n{kind}\n".encode("ascii") + binding
    return b64url_encode(hmac.digest(text_key, message, "sha256"))


def make_challenge_id(id_key: bytes, expires_at: float) -> str:
    """A new challenge id that carries its expiry, authenticated with ``id_key``."""
    body = struct.pack(">BQ", _ID_VERSION, int(expires_at * 1000)) + secrets.token_bytes(_ID_RANDOM_BYTES)
    tag = hmac.digest(id_key, body, "sha256")[:_ID_MAC_BYTES]
    return b64url_encode(body + tag)


def read_challenge_id(id_key: bytes, challenge_id: str) -> float:
    """The expiry (Unix seconds) of a challenge id this server issued.

    Raises :class:`ChallengeIdError` when the id is malformed, of another
    version, or its MAC does not verify (constant-time comparison).
    """
    if not isinstance(challenge_id, str) or _ID_PATTERN.fullmatch(challenge_id) is None:
        raise ChallengeIdError("malformed challenge id")
    raw = base64.urlsafe_b64decode(challenge_id)
    body, tag = raw[:-_ID_MAC_BYTES], raw[-_ID_MAC_BYTES:]
    if not hmac.compare_digest(hmac.digest(id_key, body, "sha256")[:_ID_MAC_BYTES], tag):
        raise ChallengeIdError("challenge id not issued here")
    version, expires_ms = struct.unpack(">BQ", body[:9])
    if version != _ID_VERSION:  # authenticated, so only a future release could have made it
        raise ChallengeIdError("unknown challenge id version")
    return expires_ms / 1000


def signing_message(challenge_id: str, key_id: str, challenge: str) -> bytes:
    """The exact bytes HMAC and Ed25519 answers cover (see the module docstring)."""
    for value in (challenge_id, key_id, challenge):
        if not isinstance(value, str) or not value.isascii() or "\n" in value or not value:
            raise ValueError("challenge id, key id and challenge are non-empty ASCII without line feeds")
    return f"{DOMAIN}\n{challenge_id}\n{key_id}\n{challenge}".encode("ascii")


# --------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------


def _oaep() -> Any:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    # RFC 8017 section 7.1 with SHA-256 for both the label hash and MGF1
    # (section B.2.1); the label is empty.
    return padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def _load(kind: str, material: bytes, load: Any) -> Any:
    # The kind and the hmac secret checked here; a PEM by the shared loader,
    # whose refusals become this module's KeyMaterialError (same message).
    if kind not in ALGORITHMS:
        raise KeyMaterialError(f"unknown key kind (use one of {', '.join(KINDS)})")
    if not isinstance(material, (bytes, bytearray)):
        raise KeyMaterialError("key material must be bytes")
    try:
        if kind == "hmac":
            return keys.check_hmac_secret(
                bytes(material), MIN_HMAC_SECRET_BYTES, name="this", hint="register an ed25519 or rsa key as such",
                too_short=f"an hmac secret has at least {MIN_HMAC_SECRET_BYTES} bytes",
            )
        return load(bytes(material))
    except keys.KeyMaterialError as error:
        raise KeyMaterialError(str(error)) from None


def load_public_key(kind: str, material: bytes) -> Any:
    """What the server verifies with: the secret (``hmac``) or a public key object.

    ``kind``
        One of :data:`KINDS`.
    ``material``
        The secret's bytes, or the public key's PEM.

    Raises :class:`KeyMaterialError` for a secret under 32 bytes or holding a
    PEM key, a PEM that is not a public key of ``kind``, or an RSA key
    outside 2048..8192 bits.
    """

    def public(pem: bytes) -> Any:
        return keys.check_rsa_size(keys.load_public_pem(pem, (kind,)), MIN_RSA_BITS, MAX_RSA_BITS)

    return _load(kind, material, public)


def normalize_key_material(kind: str, material: bytes) -> bytes:
    """Check ``material`` for ``kind`` and return what to store: the secret as
    given, or the public key re-encoded as SubjectPublicKeyInfo PEM."""
    key = load_public_key(kind, material)
    return key if kind == "hmac" else keys.public_pem(key)


def load_private_key(kind: str, material: bytes) -> Any:
    """What the client answers with: the secret (``hmac``) or a private key object.

    ``kind``
        One of :data:`KINDS`.
    ``material``
        The secret's bytes, or the unencrypted PEM of the private key.
    """
    return _load(kind, material, lambda pem: keys.load_private_pem(pem, (kind,), label=kind))


def kind_of_key(key: Any) -> str:
    """The kind of a client key: bytes or str (hmac), Ed25519 or RSA private key."""
    if isinstance(key, (bytes, bytearray, str)):
        return "hmac"
    if keys.is_private(key) and keys.kind_of(key) in ("ed25519", "rsa"):
        return keys.kind_of(key)
    raise KeyMaterialError("a key is an hmac secret (bytes), an Ed25519PrivateKey or an RSAPrivateKey")


def kind_of_algorithm(algorithm: str) -> str:
    """The key kind an ``algorithm`` (as ``POST /challenges`` names it) belongs to."""
    for kind, name in ALGORITHMS.items():
        if name == algorithm:
            return kind
    raise ChallengeError("unknown challenge algorithm")


# --------------------------------------------------------------------------
# Answers (client side) and their verification (server side)
# --------------------------------------------------------------------------


def encrypt_challenge(public_key: Any, challenge: str) -> str:
    """RSA-OAEP encryption of the challenge's 32 bytes (RFC 8017 7.1.1), standard base64."""
    return base64.b64encode(public_key.encrypt(b64url_decode(challenge), _oaep())).decode("ascii")


def hmac_response(secret: bytes, challenge_id: str, key_id: str, challenge: str) -> str:
    """The ``hmac`` answer: lowercase hex of HMAC-SHA256 (RFC 2104) over the message."""
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    return hmac.new(bytes(secret), signing_message(challenge_id, key_id, challenge), hashlib.sha256).hexdigest()


def ed25519_response(private_key: Any, challenge_id: str, key_id: str, challenge: str) -> str:
    """The ``ed25519`` answer: standard base64 of the RFC 8032 signature over the message."""
    return base64.b64encode(private_key.sign(signing_message(challenge_id, key_id, challenge))).decode("ascii")


def rsa_response(private_key: Any, encrypted_challenge: str) -> str:
    """The ``rsa`` answer: the challenge decrypted (RFC 8017 7.1.2), as base64url text."""
    try:
        ciphertext = base64.b64decode(encrypted_challenge, validate=True)
        plaintext = private_key.decrypt(ciphertext, _oaep())
    except (ValueError, binascii.Error):
        # A challenge for another key (or a decoy for an unknown key id).
        raise ChallengeError("the challenge does not decrypt with this key") from None
    if len(plaintext) != CHALLENGE_BYTES:
        raise ChallengeError("the decrypted challenge has the wrong length")
    return b64url_encode(plaintext)


def answer(kind: str, key: Any, challenge_id: str, key_id: str, challenge: str) -> str:
    """The answer to a challenge as ``POST /challenges`` returned it (encrypted for ``rsa``)."""
    if kind == "hmac":
        return hmac_response(key, challenge_id, key_id, challenge)
    if kind == "ed25519":
        return ed25519_response(key, challenge_id, key_id, challenge)
    if kind == "rsa":
        return rsa_response(key, challenge)
    raise KeyMaterialError(f"unknown key kind (use one of {', '.join(KINDS)})")


def authorization_header(challenge_id: str, key_id: str, response: str) -> str:
    """The ``Authorization`` value carrying an answer."""
    return f'Challenge id="{challenge_id}", key_id="{key_id}", response="{response}"'


def challenge_digest(challenge: str) -> str:
    """What the server keeps of an ``rsa`` challenge: its SHA-256, so that a
    dump of the cache does not hold answers."""
    return b64url_encode(hashlib.sha256(challenge.encode("ascii")).digest())


def verify_response(
    kind: str, key: Any, challenge_id: str, key_id: str, expected: str, response: str
) -> bool:
    """Check an answer; constant-time where secrets are compared.

    ``expected`` is the challenge text for ``hmac`` and ``ed25519``, and
    :func:`challenge_digest` of it for ``rsa``. An answer in another kind's
    format is simply wrong.
    """
    if kind == "hmac":
        if _HEX64.fullmatch(response) is None:
            return False
        wanted = hmac.digest(key, signing_message(challenge_id, key_id, expected), "sha256")
        return hmac.compare_digest(wanted, bytes.fromhex(response))
    if kind == "ed25519":
        if _B64_SIGNATURE.fullmatch(response) is None:
            return False
        from cryptography.exceptions import InvalidSignature

        try:
            key.verify(base64.b64decode(response), signing_message(challenge_id, key_id, expected))
        except InvalidSignature:
            return False
        return True
    if kind == "rsa":
        if _CHALLENGE_TEXT_PATTERN.fullmatch(response) is None:
            return False
        try:
            b64url_decode(response)
        except ValueError:
            return False
        return hmac.compare_digest(challenge_digest(response), expected)
    return False


# --------------------------------------------------------------------------
# The Authorization header
# --------------------------------------------------------------------------


def is_challenge(header: str | None) -> bool:
    """Whether an Authorization header is for this scheme (``Challenge``, any case)."""
    return (
        isinstance(header, str)
        and header[:9].lower() == "challenge"
        and header[9:10] in ("", " ", "\t")
    )


def parse_authorization(header: str) -> ChallengeAuthorization:
    """Parse ``Challenge id="...", key_id="...", response="..."``.

    Strict and bounded: at most :data:`MAX_HEADER_LENGTH` characters of
    ASCII; the scheme (any case) and exactly one space; the three
    attributes, each exactly once, quoted, non-empty, in any order, no
    others; ``id`` a 56-character challenge id, ``key_id`` per
    :data:`KEY_ID_PATTERN`, ``response`` base64/base64url/hex characters (its
    exact form is checked against the key's kind later). Errors raise
    :class:`ChallengeParseError` with a message that echoes nothing.
    """
    if not isinstance(header, str):
        raise ChallengeParseError("Authorization header is not text")
    if len(header) > MAX_HEADER_LENGTH:
        raise ChallengeParseError("Authorization header too long")
    if not header.isascii():
        # Before any case folding: str.lower() maps some non-ASCII letters
        # onto ASCII ones.
        raise ChallengeParseError("Authorization header contains non-ASCII characters")
    if not is_challenge(header):
        raise ChallengeParseError("not a Challenge Authorization header")
    if header[9:10] != " ":
        # RFC 9110 section 11.4: one SP between the scheme and its parameters.
        raise ChallengeParseError("Challenge header without attributes" if len(header) == 9 else "malformed Challenge header")
    if _HEADER_RE.fullmatch(header, 10) is None:
        raise ChallengeParseError("malformed Challenge header")
    attributes: dict[str, str] = {}
    for name, value in _PAIR_RE.findall(header, 10):
        if name not in _ATTRIBUTES:
            raise ChallengeParseError("unknown Challenge attribute")
        if name in attributes:
            raise ChallengeParseError("duplicate Challenge attribute")
        if not value:
            raise ChallengeParseError("empty Challenge attribute")
        attributes[name] = value
    if len(attributes) != len(_ATTRIBUTES):
        raise ChallengeParseError("missing Challenge attribute (id, key_id, response are required)")
    if _ID_PATTERN.fullmatch(attributes["id"]) is None:
        raise ChallengeParseError("malformed challenge id")
    if KEY_ID_PATTERN.fullmatch(attributes["key_id"]) is None:
        raise ChallengeParseError("malformed key id")
    if _RESPONSE_PATTERN.fullmatch(attributes["response"]) is None:
        raise ChallengeParseError("malformed response")
    return ChallengeAuthorization(attributes["id"], attributes["key_id"], attributes["response"])


# --------------------------------------------------------------------------
# Decoys: what an unknown key id gets, so that key ids cannot be enumerated
# --------------------------------------------------------------------------


def _expand(decoy_key: bytes, key_id: str, label: bytes, length: int) -> bytes:
    """``length`` pseudo-random bytes fixed by (decoy_key, key_id, label): HMAC-SHA256
    in counter mode (the expand step of HKDF, RFC 5869 section 2.3)."""
    output = b""
    block = b""
    counter = 1
    info = label + b"\x00" + key_id.encode("utf-8")
    while len(output) < length:
        block = hmac.digest(decoy_key, block + info + bytes([counter]), "sha256")
        output += block
        counter += 1
    return output[:length]


def decoy_kind(decoy_key: bytes, key_id: str, kinds: tuple[str, ...]) -> str:
    """The kind an unknown key id pretends to be: always the same for one id,
    so asking twice tells nothing."""
    if len(kinds) == 1:
        return kinds[0]
    return kinds[_expand(decoy_key, key_id, b"kind", 1)[0] % len(kinds)]


def decoy_rsa_public_key(decoy_key: bytes, key_id: str, bits: int) -> Any:
    """An RSA "public key" with a pseudo-random odd modulus of exactly ``bits`` bits,
    fixed per key id.

    Nobody holds its private half (the modulus is no product of two known
    primes), but OAEP encryption under it costs what a real one costs and
    gives ciphertexts distributed as a real key's are (uniform below a
    modulus with its top bit set), so an unknown id's encrypted challenge
    looks like a known one's, every time it is asked for.
    """
    from cryptography.hazmat.primitives.asymmetric import rsa

    raw = _expand(decoy_key, key_id, b"rsa-modulus", bits // 8)
    modulus = int.from_bytes(raw, "big") | (1 << (bits - 1)) | 1
    return rsa.RSAPublicNumbers(65537, modulus).public_key()
