"""The keys a JWT policy signs and verifies with, parsed once from ini strings.

Three ways to configure local keys (one per policy), plus a remote key set:

``secret``
    One HMAC secret (``env:NAME``, ``file:PATH`` or literal), for HS256,
    HS384 or HS512; at least as long as the hash (RFC 7518 section 3.2), so
    never under 32 bytes.
``private_key`` / ``public_key``
    One asymmetric key from PEM files (``PATH``, ``file:PATH`` or
    ``env:NAME`` holding the PEM text): RSA (RS256..PS512), EC P-256/384/521
    (ES256/384/512) or Ed25519/Ed448 (EdDSA). With only ``public_key`` the
    policy verifies and cannot issue. Its ``kid`` is its RFC 7638
    thumbprint.
``keys``
    Several keys for rotation, one entry per line, ``KID:ALG:SOURCE``: the
    source is a secret for HS*, a PEM private key (signs and verifies) or a
    PEM public key (verifies only) otherwise. ``signing_kid`` names the key
    that signs (default: the first that can).

and ``jwks_url``: the keys of an external issuer, fetched with PyJWT's
``PyJWKClient`` (:class:`RemoteKeySet`). With none of them, a development key
(:func:`development_key`) is derived from the server secret.

Each key is bound to its algorithms here, at start-up (RFC 8725 section
3.1): an HMAC algorithm is never bound to an asymmetric key, so the
"public key as HMAC secret" attack has no key to work with.
"""
from __future__ import annotations

import ipaddress
import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, NamedTuple
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ed25519

from pyramid_authsuite import keys as key_material
from pyramid_authsuite.exceptions import BackendUnavailable, SettingError
from pyramid_authsuite.jwt import protocol
from pyramid_authsuite.jwt.protocol import (
    HMAC_ALGORITHMS,
    HMAC_MIN_KEY_BYTES,
    OKP_ALGORITHMS,
    RSA_ALGORITHMS,
    SUPPORTED_ALGORITHMS,
    TokenError,
    VerificationKey,
)
from pyramid_authsuite.settings import as_list, as_secret

logger = logging.getLogger(__name__)

# A kid we configure: safe in a header, a log line and a JSON document.
KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
MIN_RSA_BITS = key_material.MIN_RSA_BITS  # RFC 7518 section 3.3
# RFC 7518 section 3.4: one algorithm per curve.
_EC_CURVES = dict(zip(key_material.EC_CURVES, ("ES256", "ES384", "ES512")))

# The development key (no key configured): Ed25519, whose private key is a
# 32-byte seed (RFC 8032 section 5.1.5) derived from the server secret under
# its own purpose, so every process sharing the account store signs alike
# and GET /.well-known/jwks.json publishes it. EdDSA, because PyJWT's
# PyJWKClient reads OKP keys out of the box.
DEVELOPMENT_ALGORITHM = "EdDSA"
DEVELOPMENT_KEY_PURPOSE = "jwt development ed25519 seed"


class JWKSUnavailable(BackendUnavailable):
    """The issuer's JWKS could not be fetched and no usable copy is held: fail closed (503)."""


def algorithms_for_key(key: Any) -> tuple[str, ...]:
    """The algorithms a key object (or HMAC secret bytes) can be used with."""
    if isinstance(key, bytes):
        return HMAC_ALGORITHMS
    kind = key_material.kind_of(key)
    if kind == "rsa":
        return RSA_ALGORITHMS
    if kind == "ec":
        alg = _EC_CURVES.get(key.curve.name)
        return (alg,) if alg else ()
    if kind in ("ed25519", "ed448"):
        return OKP_ALGORITHMS
    return ()


#: The public half of a private key object; public keys and secrets as they are.
public_of = key_material.public_of


def public_jwk(public_key: Any) -> dict[str, Any]:
    """The public JWK members of a key (RFC 7517 / RFC 7518 section 6 / RFC 8037 section 2)."""
    algorithm = protocol.ALGORITHMS[algorithms_for_key(public_key)[0]]
    jwk = algorithm.to_jwk(public_key, as_dict=True)
    keep = {"RSA": ("kty", "n", "e"), "EC": ("kty", "crv", "x", "y"), "OKP": ("kty", "crv", "x")}[jwk["kty"]]
    return {name: jwk[name] for name in keep}


def check_algorithm_names(setting: str, names: Iterable[str]) -> tuple[str, ...]:
    """Every name supported, ``none`` refused by name (RFC 8725 section 3.1)."""
    result = []
    for name in names:
        if name.lower() == "none":
            raise SettingError(setting, "the none algorithm is never accepted (RFC 8725 section 3.1)")
        if name not in SUPPORTED_ALGORITHMS:
            raise SettingError(setting, f"unknown algorithm {name!r} (supported: {' '.join(SUPPORTED_ALGORITHMS)})")
        if name not in result:
            result.append(name)
    return tuple(result)


def _check_secret(setting: str, secret: bytes, algorithms: Iterable[str]) -> None:
    for alg in algorithms:
        needed = HMAC_MIN_KEY_BYTES[alg]
        try:
            key_material.check_hmac_secret(
                secret, needed, name="this", hint="use private_key / public_key",
                too_short=f"an {alg} secret must be at least {needed} bytes (RFC 7518 section 3.2)",
            )
        except key_material.KeyMaterialError as error:
            raise SettingError(setting, str(error)) from None


def _check_asymmetric(setting: str, key: Any, algorithms: Iterable[str]) -> None:
    fits = algorithms_for_key(key)
    if not fits:
        raise SettingError(setting, f"unsupported key type {key_material.describe(key)}")
    try:
        key_material.check_rsa_size(key, MIN_RSA_BITS, maximum=None)
    except key_material.KeyMaterialError:
        raise SettingError(setting, f"an RSA key must have at least {MIN_RSA_BITS} bits (RFC 7518 section 3.3)") from None
    for alg in algorithms:
        if alg in HMAC_ALGORITHMS:
            raise SettingError(
                "algorithms", f"{alg} is never accepted with an asymmetric key (RFC 8725 section 2.1: key confusion)"
            )
        if alg not in fits:
            raise SettingError("algorithms", f"{alg} does not fit the {key_material.describe(key)} key of {setting}")


def read_pem(setting: str, source: str) -> bytes:
    """PEM text from ``env:NAME``, ``file:PATH`` or a bare path."""
    source = source.strip()
    if source.startswith(("env:", "file:")):
        return as_secret(setting, source)
    if not source:
        raise SettingError(setting, "a PEM file path (or file:PATH / env:NAME) is required")
    return as_secret(setting, "file:" + source)


def load_pem_key(setting: str, pem: bytes) -> Any:
    """An unencrypted PEM private key (PKCS#8 or traditional) or a public key (SubjectPublicKeyInfo).

    ``setting``
        The setting named in a refusal.
    ``pem``
        The PEM bytes. Any key type loads here; :func:`_check_asymmetric`
        then names an unsupported one.
    """
    try:
        return key_material.load_pem_key(pem, kinds=None)
    except key_material.KeyMaterialError as error:
        raise SettingError(setting, str(error)) from None


@dataclass(frozen=True)
class LocalKey:
    """A configured key.

    ``kid``
        Its key id (``None`` for a lone ``secret``, whose tokens carry none).
    ``algorithms``
        The algorithms it is bound to; the first is the one it signs with.
    ``verify_key``
        The secret's bytes, or the public key object.
    ``signing_key``
        The secret's bytes or the private key object; ``None`` when only the
        public key is configured.
    """

    kid: str | None
    algorithms: tuple[str, ...]
    verify_key: Any
    signing_key: Any | None = None

    @property
    def symmetric(self) -> bool:
        return isinstance(self.verify_key, bytes)

    def verification(self) -> VerificationKey:
        return VerificationKey(self.kid, frozenset(self.algorithms), self.verify_key)

    def jwk(self) -> dict[str, Any] | None:
        """The public JWK to publish, with ``kid``, ``alg`` and ``use``; never for a secret."""
        if self.symmetric:
            return None
        jwk = public_jwk(self.verify_key)
        jwk.update({"kid": self.kid, "alg": self.algorithms[0], "use": "sig"})
        return jwk


def secret_key(secret: bytes, algorithms: tuple[str, ...]) -> LocalKey:
    """A lone HMAC secret (``secret``)."""
    algorithms = algorithms or ("HS256",)
    for alg in algorithms:
        if alg not in HMAC_ALGORITHMS:
            raise SettingError("algorithms", f"{alg} needs private_key or public_key; a secret is for HS256, HS384, HS512")
    _check_secret("secret", secret, algorithms)
    return LocalKey(None, algorithms, secret, secret)


def asymmetric_key(private_source: str | None, public_source: str | None, algorithms: tuple[str, ...]) -> LocalKey:
    """A lone key pair (``private_key`` and/or ``public_key``); its kid is its RFC 7638 thumbprint."""
    private = None
    if private_source:
        private = load_pem_key("private_key", read_pem("private_key", private_source))
        if public_of(private) is private:
            raise SettingError("private_key", "this is a public key: put it in public_key")
    public = public_of(private) if private is not None else None
    if public_source:
        configured = load_pem_key("public_key", read_pem("public_key", public_source))
        if public_of(configured) is not configured:
            raise SettingError("public_key", "this is a private key: put it in private_key")
        if public is not None and key_material.spki_der(public) != key_material.spki_der(configured):
            raise SettingError("public_key", "does not match private_key")
        public = configured
    setting = "private_key" if private is not None else "public_key"
    algorithms = algorithms or algorithms_for_key(public)[:1]
    _check_asymmetric(setting, public, algorithms)
    kid = protocol.jwk_thumbprint(public_jwk(public))
    return LocalKey(kid, algorithms, public, private)


def parse_keys(value: Iterable[str], allowed: tuple[str, ...]) -> list[LocalKey]:
    """The ``keys`` setting: ``KID:ALG:SOURCE`` entries (see the module docstring)."""
    keys: list[LocalKey] = []
    seen: set[str] = set()
    for entry in value:
        kid, sep1, rest = entry.partition(":")
        alg, sep2, source = rest.partition(":")
        if not (sep1 and sep2 and source):
            raise SettingError("keys", "each entry is KID:ALG:SOURCE (e.g. 2026-07:EdDSA:file:/etc/jwt/2026-07.pem)")
        if KEY_ID_PATTERN.fullmatch(kid) is None:
            raise SettingError("keys", "a key id is 1 to 64 letters, digits, '.', '_' or '-'")
        if kid in seen:
            raise SettingError("keys", f"key id {kid!r} is listed twice")
        seen.add(kid)
        (alg,) = check_algorithm_names("keys", [alg])
        if allowed and alg not in allowed:
            raise SettingError("keys", f"key {kid!r} uses {alg}, which is not in algorithms")
        if alg in HMAC_ALGORITHMS:
            secret = as_secret("keys", source)
            _check_secret("keys", secret, (alg,))
            keys.append(LocalKey(kid, (alg,), secret, secret))
            continue
        loaded = load_pem_key("keys", read_pem("keys", source))
        public = public_of(loaded)
        _check_asymmetric("keys", public, (alg,))
        keys.append(LocalKey(kid, (alg,), public, loaded if public is not loaded else None))
    if not keys:
        raise SettingError("keys", "no key listed")
    return keys


class KeyRing:
    """Local keys by ``kid``, the one that signs, and the one for tokens without a ``kid``.

    ``keys``
        The :class:`LocalKey` list, in configuration order.
    ``signing_kid``
        The kid of the signing key; default the first key that can sign.

    A token without ``kid`` is verified with the signing key only (or the
    lone key): never by trying every key in turn.
    """

    def __init__(self, keys: list[LocalKey], signing_kid: str | None = None):
        self.keys = tuple(keys)
        verifications = {id(key): key.verification() for key in keys}
        self.by_kid = {key.kid: verifications[id(key)] for key in keys if key.kid is not None}
        if signing_kid is not None:
            named = [key for key in keys if key.kid == signing_kid]
            if not named:
                raise SettingError("signing_kid", f"no key {signing_kid!r} in keys")
            if named[0].signing_key is None:
                raise SettingError("signing_kid", f"key {signing_kid!r} has no private key to sign with")
            self.signing: LocalKey | None = named[0]
        else:
            self.signing = next((key for key in keys if key.signing_key is not None), None)
        lone = keys[0] if len(keys) == 1 else None
        default = self.signing or lone
        self.default = verifications[id(default)] if default is not None else None
        self.algorithms = frozenset(alg for key in keys for alg in key.algorithms)

    def find(self, kid: str | None) -> VerificationKey:
        if kid is None:
            if self.default is None:
                raise TokenError(protocol.UNKNOWN_KEY, protocol.NO_KEY)
            return self.default
        # A plain dict lookup: a kid is never a path, a query or a URL.
        key = self.by_kid.get(kid)
        if key is None:
            raise TokenError(protocol.UNKNOWN_KEY, protocol.NO_KEY)
        return key

    def public_jwks(self) -> list[dict[str, Any]]:
        """The public keys as JWKs (never a secret)."""
        return [jwk for jwk in (key.jwk() for key in self.keys) if jwk is not None]


def is_given(value: Any) -> bool:
    """Whether a setting was given: not ``None`` and not blank."""
    return value is not None and not (isinstance(value, str) and not value.strip())


def parse_algorithms(algorithms: Any, algorithm: Any) -> tuple[str, ...]:
    """The ``algorithms`` (or ``algorithm``) allow-list; empty when neither is set."""
    if is_given(algorithms) and is_given(algorithm):
        raise SettingError("algorithm", "set algorithms or algorithm, not both")
    if is_given(algorithm):
        return check_algorithm_names("algorithm", as_list("algorithm", algorithm))
    if is_given(algorithms):
        names = check_algorithm_names("algorithms", as_list("algorithms", algorithms))
        if not names:
            raise SettingError("algorithms", "list at least one algorithm")
        return names
    return ()


class KeyConfiguration(NamedTuple):
    """What :func:`configure_keys` settled.

    ``keyring``
        The local keys; ``None`` for a JWKS or for the development key
        (derived later, from the registry).
    ``algorithms``
        The allow-list.
    ``jwks_url``
        The external issuer's JWKS, when that is the way.
    """

    keyring: KeyRing | None
    algorithms: tuple[str, ...]
    jwks_url: str | None


def configure_keys(
    secret: Any,
    private_key: Any,
    public_key: Any,
    keys: Any,
    signing_kid: Any,
    jwks_url: Any,
    allowed: tuple[str, ...],
) -> KeyConfiguration:
    """One of the ways of the module docstring, from a policy's settings (``allowed``: :func:`parse_algorithms`)."""
    ways = [name for name, value in (("secret", secret), ("keys", keys), ("jwks_url", jwks_url)) if is_given(value)]
    if is_given(private_key) or is_given(public_key):
        ways.append("private_key/public_key")
    if len(ways) > 1:
        raise SettingError(ways[1].split("/")[0], f"configure one of secret, private_key/public_key, keys or jwks_url, not {' and '.join(ways)}")
    if is_given(signing_kid) and not is_given(keys):
        raise SettingError("signing_kid", "only meaningful with keys")
    if is_given(secret):
        raw = secret if isinstance(secret, bytes) else as_secret("secret", secret)
        ring = KeyRing([secret_key(raw, allowed)])
    elif is_given(private_key) or is_given(public_key):
        pair = asymmetric_key(
            str(private_key) if is_given(private_key) else None, str(public_key) if is_given(public_key) else None, allowed
        )
        ring = KeyRing([pair])
    elif is_given(keys):
        ring = KeyRing(parse_keys(as_list("keys", keys), allowed), str(signing_kid).strip() if is_given(signing_kid) else None)
    elif is_given(jwks_url):
        url = check_jwks_url(str(jwks_url))
        algorithms = allowed or ("RS256",)
        hmac = [alg for alg in algorithms if alg in HMAC_ALGORITHMS]
        if hmac:
            raise SettingError("algorithms", f"{hmac[0]} is never accepted from a JWKS (published keys are public keys)")
        return KeyConfiguration(None, algorithms, url)
    else:
        if allowed and allowed != (DEVELOPMENT_ALGORITHM,):
            raise SettingError(
                "algorithms", f"without secret, keys or a key pair, the development key is {DEVELOPMENT_ALGORITHM} only"
            )
        return KeyConfiguration(None, (DEVELOPMENT_ALGORITHM,), None)
    return KeyConfiguration(ring, tuple(a for a in SUPPORTED_ALGORITHMS if a in ring.algorithms), None)


def development_key(registry: Any) -> LocalKey:
    """The development signing key: Ed25519 from a seed derived from the server secret.

    Deterministic, so nothing new is stored: every process sharing the
    account store (or ``authsuite.secret``) derives the same key, across
    restarts. Its ``kid`` is its RFC 7638 thumbprint.
    """
    from pyramid_authsuite.secret import derived_key

    private = ed25519.Ed25519PrivateKey.from_private_bytes(derived_key(registry, DEVELOPMENT_KEY_PURPOSE))
    public = private.public_key()
    return LocalKey(protocol.jwk_thumbprint(public_jwk(public)), (DEVELOPMENT_ALGORITHM,), public, private)


def check_jwks_url(url: str) -> str:
    """``https://`` (or ``http://`` to a loopback address, for tests and sidecars)."""
    parts = urlsplit(url.strip())
    if parts.scheme == "https" and parts.hostname:
        return url.strip()
    if parts.scheme == "http" and parts.hostname:
        host = parts.hostname
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if loopback:
            return url.strip()
        raise SettingError("jwks_url", "must be https:// (http:// is allowed to loopback addresses only)")
    raise SettingError("jwks_url", "expected an https:// URL")


class RemoteKeySet:
    """An external issuer's JWKS, fetched with PyJWT's ``PyJWKClient`` and cached here.

    ``url``
        The JWKS URL (``check_jwks_url``).
    ``algorithms``
        The allow-list; a JWK's own ``alg`` must be in it, and a JWK without
        one is bound to the listed algorithms its key type fits. Symmetric
        (``oct``) JWKs, JWKs holding private parts, keys for encryption and
        RSA keys under 2048 bits are skipped.
    ``cache_seconds``
        How long a fetched set is used before it is fetched again.
    ``refetch_seconds``
        A token naming an unknown ``kid`` triggers a refetch at most once per
        this interval (so random kids cannot make us hammer the issuer);
        after a failed fetch, no fetch is tried for this long either.
    ``timeout_seconds``
        The HTTP timeout of a fetch.
    ``max_stale_seconds``
        While the issuer cannot be reached, the last set fetched stays in use
        this long after it was fetched; after that, requests fail closed (503).
    ``clock``
        Monotonic seconds; tests pass a fake one.
    """

    def __init__(
        self,
        url: str,
        algorithms: tuple[str, ...],
        *,
        cache_seconds: float = 300,
        refetch_seconds: float = 30,
        timeout_seconds: float = 5,
        max_stale_seconds: float = 86400,
        clock: Callable[[], float] = time.monotonic,
    ):
        from jwt import PyJWKClient

        self.url = url
        self.algorithms = algorithms
        self.cache_seconds = cache_seconds
        self.refetch_seconds = refetch_seconds
        self.max_stale_seconds = max_stale_seconds
        self.clock = clock
        # PyJWKClient fetches (http(s) only, no redirects, with a timeout) and
        # parses; the caching policy above is ours, so its own cache is off.
        self._client = PyJWKClient(url, cache_jwk_set=False, timeout=timeout_seconds)
        self._lock = threading.Lock()
        self._keys: dict[str, VerificationKey] | None = None
        self._fetched_at: float | None = None
        self._forced_at: float | None = None
        self._failed_at: float | None = None
        self.fetches = 0

    def find(self, kid: str | None) -> VerificationKey:
        if kid is None:
            # An issuer publishing a JWKS names its keys; guessing is not verifying.
            raise TokenError(protocol.UNKNOWN_KEY, protocol.NO_KEY)
        now = self.clock()
        keys = self._keys
        if keys is None or now - self._fetched_at >= self.cache_seconds:
            keys = self._refresh(forced=False)
        key = keys.get(kid)
        if key is None:
            key = self._refresh(forced=True, kid=kid).get(kid)
        if key is None:
            raise TokenError(protocol.UNKNOWN_KEY, protocol.NO_KEY)
        return key

    def keys(self) -> dict[str, VerificationKey]:
        """The current keys by kid (fetching them if none are held)."""
        return self._keys if self._keys is not None else self._refresh(forced=False)

    def _refresh(self, *, forced: bool, kid: str | None = None) -> dict[str, VerificationKey]:
        with self._lock:
            now = self.clock()
            keys = self._keys
            # Another thread may have fetched while this one waited.
            if keys is not None:
                if forced and kid in keys:
                    return keys
                if not forced and now - self._fetched_at < self.cache_seconds:
                    return keys
            backing_off = self._failed_at is not None and now - self._failed_at < self.refetch_seconds
            rate_limited = forced and self._forced_at is not None and now - self._forced_at < self.refetch_seconds
            if backing_off or rate_limited:
                return self._usable(keys, now)
            if forced:
                self._forced_at = now
            try:
                self.fetches += 1
                fetched = self._fetch()
            except Exception as error:  # network, HTTP, JSON: all mean "no fresh set"
                self._failed_at = now
                logger.warning("JWKS fetch from %s failed: %s", self.url, error.__class__.__name__)
                return self._usable(keys, now)
            self._failed_at = None
            self._keys, self._fetched_at = fetched, now
            return fetched

    def _usable(self, keys: dict[str, VerificationKey] | None, now: float) -> dict[str, VerificationKey]:
        if keys is None or now - self._fetched_at > self.max_stale_seconds:
            self._keys = None
            raise JWKSUnavailable("the issuer's JWKS cannot be fetched")
        return keys

    def _fetch(self) -> dict[str, VerificationKey]:
        from jwt import PyJWK

        data = self._client.fetch_data()
        entries = data.get("keys") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise ValueError("not a JWK Set")
        keys: dict[str, VerificationKey] = {}
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            kid, use, alg = entry.get("kid"), entry.get("use"), entry.get("alg")
            if not isinstance(kid, str) or not kid or len(kid) > protocol.MAX_KID_LENGTH or kid in keys:
                continue
            if entry.get("kty") == "oct" or "d" in entry or use not in (None, "sig"):
                logger.warning("JWKS key %r skipped (secret, private or not for signatures)", kid[:64])
                continue
            try:
                public = public_of(PyJWK(entry).key)
            except Exception:  # unsupported kty/crv, bad members
                continue
            fits = algorithms_for_key(public)
            try:
                key_material.check_rsa_size(public, MIN_RSA_BITS, maximum=None)
            except key_material.KeyMaterialError:
                continue
            bound = [a for a in (fits if alg is None else (alg,)) if a in fits and a in self.algorithms]
            if bound:
                keys[kid] = VerificationKey(kid, frozenset(bound), public)
        return keys
