"""Key material every scheme loads, checks and generates, written once.

* PEM public keys (SubjectPublicKeyInfo or PKCS#1), unencrypted PEM private
  keys (PKCS#8 or traditional), and raw Ed25519 public keys given as the
  standard base64 of their 32 bytes (RFC 8032 section 5.1.5);
* an explicit allow-list of key kinds for each load (:data:`KINDS`), RSA
  sizes (NIST SP 800-131A: never under 2048 bits; 8192 at most where a large
  key would cost the server for no gain) and the NIST curves JOSE names
  (:data:`EC_CURVES`, RFC 7518 section 3.4);
* the one HMAC-secret guard, :func:`check_hmac_secret`: a "secret" that is in
  fact a PEM key is refused, because whoever knows that public key could
  then compute the MACs (RFC 8725 section 2.1, key confusion), and so is one
  shorter than the caller's minimum;
* key pairs for ``authsuite gen-keypair`` and their PEM serialisations.

Every refusal is a :class:`KeyMaterialError` (a ``ValueError``) whose
``reason`` says which check failed, so that a scheme can keep its own wording
for a message (a setting name, a command option); messages never hold key
material. This module imports no scheme and no web framework.
"""
from __future__ import annotations

import base64
import binascii
from typing import Any, Collection

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

__all__ = [
    "EC_CURVES",
    "KINDS",
    "MAX_RSA_BITS",
    "MIN_RSA_BITS",
    "KeyMaterialError",
    "check_hmac_secret",
    "check_kind",
    "check_rsa_size",
    "describe",
    "generate_private_key",
    "is_private",
    "kind_of",
    "load_ed25519_public_key",
    "load_pem_key",
    "load_private_pem",
    "load_public_pem",
    "looks_like_pem",
    "private_pem",
    "public_of",
    "public_pem",
    "spki_der",
]

#: NIST SP 800-131A (and RFC 7518 section 3.3): RSA under 2048 bits is disallowed.
MIN_RSA_BITS = 2048
#: Larger keys cost the server a lot per operation for no practical gain.
MAX_RSA_BITS = 8192
#: The curves JOSE names (RFC 7518 section 3.4), by cryptography's curve name.
EC_CURVES = ("secp256r1", "secp384r1", "secp521r1")

# Each kind's public and private classes, and the name messages give it.
_CLASSES: dict[str, tuple[type, type, str]] = {
    "ed25519": (ed25519.Ed25519PublicKey, ed25519.Ed25519PrivateKey, "Ed25519"),
    "ed448": (ed448.Ed448PublicKey, ed448.Ed448PrivateKey, "Ed448"),
    "rsa": (rsa.RSAPublicKey, rsa.RSAPrivateKey, "RSA"),
    "ec": (ec.EllipticCurvePublicKey, ec.EllipticCurvePrivateKey, "EC"),
}
#: The key kinds an allow-list may name.
KINDS = tuple(_CLASSES)
# gen-keypair's RSA size: comfortably above the minimum (NIST: 128-bit security).
_GENERATED_RSA_BITS = 3072


class KeyMaterialError(ValueError):
    """Key material that is unusable, too weak, or of another kind.

    ``message``
        What to tell the operator; never holds the material.
    ``reason``
        Which check failed: ``not_pem``, ``unsupported``, ``encrypted``,
        ``private`` (a private key where a public one belongs), ``kind``,
        ``curve``, ``rsa_too_small``, ``rsa_too_large``, ``pem_secret`` or
        ``short_secret``.
    """

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


# --------------------------------------------------------------------------
# What a key is
# --------------------------------------------------------------------------


def kind_of(key: Any) -> str | None:
    """The kind (one of :data:`KINDS`) of a public or private key object, else ``None``.

    ``key``
        Any object; HMAC secrets (bytes) and unknown types have no kind.
    """
    for kind, (public_class, private_class, _) in _CLASSES.items():
        if isinstance(key, (public_class, private_class)):
            return kind
    return None


def describe(key: Any) -> str:
    """A short name for a key in messages: ``RSA``, ``EC secp256r1``, ``Ed25519``...

    ``key``
        A key object; an unknown one is named by its type.
    """
    kind = kind_of(key)
    if kind is None:
        return type(key).__name__
    if kind == "ec":
        return f"EC {key.curve.name}"
    return _CLASSES[kind][2]


def is_private(key: Any) -> bool:
    """Whether ``key`` is a private key object (of any type cryptography loads).

    ``key``
        Any object; secrets (bytes) and public keys are not private keys.
    """
    # Every cryptography private key, of a supported kind or not (DSA...),
    # serialises its private part; no public key does.
    return not isinstance(key, (bytes, bytearray, str)) and callable(getattr(key, "private_bytes", None))


def public_of(key: Any) -> Any:
    """The public half of a private key object; public keys and secrets as they are."""
    return key.public_key() if is_private(key) else key


def check_kind(key: Any, kinds: Collection[str], *, label: str | None = None) -> Any:
    """Return ``key`` if its kind is in the allow-list ``kinds``, else refuse it.

    ``key``
        A public or private key object.
    ``kinds``
        The allowed :data:`KINDS`.
    ``label``
        How the message names what was expected (default: the kinds' names,
        e.g. ``Ed25519``).
    """
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown key kinds {sorted(unknown)}")
    if kind_of(key) not in kinds:
        expected = label or " or ".join(_CLASSES[kind][2] for kind in kinds)
        raise KeyMaterialError(f"the PEM holds another kind of key than {expected}", "kind")
    if isinstance(key, (ec.EllipticCurvePublicKey, ec.EllipticCurvePrivateKey)) and key.curve.name not in EC_CURVES:
        raise KeyMaterialError(f"unsupported curve {key.curve.name} (use one of {', '.join(EC_CURVES)})", "curve")
    return key


def check_rsa_size(key: Any, minimum: int = MIN_RSA_BITS, maximum: int | None = MAX_RSA_BITS) -> Any:
    """Return ``key``, refusing an RSA key outside ``minimum``..``maximum`` bits.

    ``key``
        Any key object; keys of other kinds pass unchecked.
    ``minimum``
        The fewest bits allowed (default :data:`MIN_RSA_BITS`).
    ``maximum``
        The most bits allowed, ``None`` for no bound (default :data:`MAX_RSA_BITS`).
    """
    if isinstance(key, (rsa.RSAPublicKey, rsa.RSAPrivateKey)):
        if key.key_size < minimum:
            raise KeyMaterialError(f"RSA keys have at least {minimum} bits (this one has {key.key_size})", "rsa_too_small")
        if maximum is not None and key.key_size > maximum:
            raise KeyMaterialError(f"RSA keys have at most {maximum} bits (this one has {key.key_size})", "rsa_too_large")
    return key


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------


def load_public_pem(
    material: bytes,
    kinds: Collection[str] = KINDS,
    *,
    private_hint: str = "register the public key only",
    label: str | None = None,
) -> Any:
    """A public key object from PEM, of one of ``kinds``.

    ``material``
        SubjectPublicKeyInfo or PKCS#1 PEM bytes.
    ``kinds``
        The allowed :data:`KINDS` (default: all).
    ``private_hint``
        Said after "this is a private key: " when ``material`` holds a
        private key, which is never accepted (and so never stored) by mistake.
    ``label``
        How a wrong-kind message names the expected kind (see :func:`check_kind`).

    Sizes are not checked here: see :func:`check_rsa_size`.
    """
    if not isinstance(material, (bytes, bytearray)):
        raise KeyMaterialError("key material must be bytes", "not_pem")
    material = bytes(material)
    if b"PRIVATE KEY" in material:
        raise KeyMaterialError(f"this is a private key: {private_hint}", "private")
    return check_kind(_public_from_pem(material), kinds, label=label)


def _public_from_pem(material: bytes) -> Any:
    try:
        return serialization.load_pem_public_key(material)
    except (ValueError, TypeError, binascii.Error):
        raise KeyMaterialError("not a PEM public key", "not_pem") from None
    except Exception:  # cryptography raises UnsupportedAlgorithm for some inputs
        raise KeyMaterialError("not a supported PEM public key", "unsupported") from None


def load_private_pem(material: bytes, kinds: Collection[str] = KINDS, *, label: str | None = None) -> Any:
    """A private key object from unencrypted PEM (PKCS#8 or traditional), of one of ``kinds``.

    ``material``
        The PEM bytes.
    ``kinds``
        The allowed :data:`KINDS` (default: all).
    ``label``
        How a wrong-kind message names the expected kind (see :func:`check_kind`).
    """
    if not isinstance(material, (bytes, bytearray)):
        raise KeyMaterialError("key material must be bytes", "not_pem")
    try:
        key = serialization.load_pem_private_key(bytes(material), password=None)
    except TypeError:
        raise KeyMaterialError("not an unencrypted PEM private key", "encrypted") from None
    except ValueError:
        raise KeyMaterialError("not an unencrypted PEM private key", "not_pem") from None
    except Exception:  # UnsupportedAlgorithm
        raise KeyMaterialError("not a supported PEM private key", "unsupported") from None
    return check_kind(key, kinds, label=label)


def load_pem_key(material: bytes, kinds: Collection[str] | None = KINDS) -> Any:
    """A private key object (unencrypted PEM) or else a public key object, of one of ``kinds``.

    ``material``
        The PEM bytes, private or public; use :func:`is_private` to tell
        which was given.
    ``kinds``
        The allowed :data:`KINDS` (default: all); ``None`` checks nothing,
        for a caller that names an unsupported key in its own words.
    """
    if not isinstance(material, (bytes, bytearray)):
        raise KeyMaterialError("key material must be bytes", "not_pem")
    material = bytes(material)
    try:
        key = serialization.load_pem_private_key(material, password=None)
    except TypeError:
        raise KeyMaterialError("encrypted private keys are not supported: protect the file instead", "encrypted") from None
    except Exception:  # ValueError, UnsupportedAlgorithm: perhaps a public key
        try:
            key = _public_from_pem(material)
        except KeyMaterialError as error:
            raise KeyMaterialError("not a PEM private or public key", error.reason) from None
    return key if kinds is None else check_kind(key, kinds)


def load_ed25519_public_key(material: bytes, *, private_hint: str = "configure the public key only") -> Any:
    """An Ed25519 public key from PEM, or from the standard base64 of its raw 32 bytes.

    ``material``
        PEM (anything holding ``-----BEGIN``) or base64 text, as bytes.
    ``private_hint``
        See :func:`load_public_pem`.
    """
    if b"-----BEGIN" in material:
        try:
            return load_public_pem(material, ("ed25519",), private_hint=private_hint)
        except KeyMaterialError as error:
            if error.reason not in ("not_pem", "unsupported"):
                raise
    else:
        try:
            return ed25519.Ed25519PublicKey.from_public_bytes(base64.b64decode(material, validate=True))
        except (ValueError, TypeError, binascii.Error):
            pass
    raise KeyMaterialError("not an Ed25519 public key (PEM or base64 of 32 bytes)", "not_pem")


# --------------------------------------------------------------------------
# HMAC secrets
# --------------------------------------------------------------------------


def looks_like_pem(secret: bytes) -> bool:
    """Whether ``secret`` starts (after blanks) like a PEM document."""
    return bytes(secret).lstrip().startswith(b"-----BEGIN")


def check_hmac_secret(
    secret: bytes,
    minimum: int,
    *,
    name: str,
    hint: str = "",
    too_short: str | None = None,
) -> bytes:
    """Return ``secret`` if it can be an HMAC key, else refuse it.

    ``secret``
        The secret's bytes.
    ``minimum``
        The fewest bytes allowed.
    ``name``
        The caller's name for the key in the messages (``"the secret of
        'billing'"``, ``"this"``): never the secret itself.
    ``hint``
        Said after the PEM refusal (``"use private_key / public_key"``).
    ``too_short``
        The caller's own message for a short secret (default: ``"<name> has
        fewer than <minimum> bytes"``).

    A PEM key is refused first: a public key used as an HMAC secret lets
    whoever holds that public key forge MACs (RFC 8725 section 2.1).
    """
    if looks_like_pem(secret):
        raise KeyMaterialError(f"{name} is a PEM key, not an HMAC secret{': ' + hint if hint else ''}", "pem_secret")
    if len(secret) < minimum:
        raise KeyMaterialError(too_short or f"{name} has fewer than {minimum} bytes", "short_secret")
    return secret


# --------------------------------------------------------------------------
# Generating and serialising
# --------------------------------------------------------------------------


def generate_private_key(kind: str) -> Any:
    """A new private key: ``ed25519``, ``rsa`` (3072 bits) or ``ec`` (P-256).

    ``kind``
        One of those three names; anything else is a ``ValueError``.
    """
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=_GENERATED_RSA_BITS)
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"unknown key kind {kind!r}")


def private_pem(key: Any) -> bytes:
    """``key`` (a private key object) as unencrypted PKCS#8 PEM."""
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def public_pem(key: Any) -> bytes:
    """The public half of ``key`` (public or private key object) as SubjectPublicKeyInfo PEM."""
    return public_of(key).public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def spki_der(key: Any) -> bytes:
    """The public half of ``key`` as SubjectPublicKeyInfo DER (to compare two keys)."""
    return public_of(key).public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
