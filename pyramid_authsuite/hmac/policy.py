"""``HMACAuthenticationPolicy``: service-to-service requests signed per RFC 9421."""
from __future__ import annotations

import re
import time
from typing import Any

from pyramid_authsuite.exceptions import SettingError
from pyramid_authsuite.hmac import protocol
from pyramid_authsuite.identity import Identity
from pyramid_authsuite.keys import KeyMaterialError, check_hmac_secret, load_ed25519_public_key
from pyramid_authsuite.policy import NO_CREDENTIALS, AuthSuitePolicy, Refusal, Verdict
from pyramid_authsuite.settings import as_choice, as_duration, as_list, as_secret

NONCE_PREFIX = "hmac:nonce:"
# keyid[@service]:algorithm:source, where source is env:NAME, file:PATH or a literal.
_KEY_SPEC = re.compile(r"(?P<keyid>[A-Za-z0-9._~-]{1,128})(?:@(?P<service>[A-Za-z0-9._~-]{1,64}))?:(?P<algorithm>[a-z0-9-]+):(?P<source>.+)")
_REFUSAL_STATUSES = ("401", "403", "400")


def parse_keys(value: Any) -> dict[str, protocol.ServiceKey]:
    """Parse the ``keys`` setting into ``{keyid: ServiceKey}``.

    Each entry is ``keyid[@service]:algorithm:source``; the service defaults
    to the keyid. ``algorithm`` is ``hmac-sha256`` (the source holds the
    shared secret, at least 32 bytes, never a PEM key) or ``ed25519`` (the
    source holds the service's public key: PEM, or the base64 of the raw 32
    bytes).
    """
    keys: dict[str, protocol.ServiceKey] = {}
    for entry in as_list("keys", value):
        match = _KEY_SPEC.fullmatch(entry)
        if match is None:
            raise SettingError("keys", f"expected keyid[@service]:algorithm:source, got {entry.split(':', 1)[0]!r}...")
        keyid, algorithm = match["keyid"], match["algorithm"]
        if keyid in keys:
            raise SettingError("keys", f"key id {keyid!r} is configured twice")
        material = as_secret("keys", match["source"])
        try:
            if algorithm == "hmac-sha256":
                key: Any = check_hmac_secret(material, protocol.MIN_HMAC_KEY_LENGTH, name=f"the secret of {keyid!r}")
            elif algorithm == "ed25519":
                key = load_ed25519_public_key(material)
            else:
                raise SettingError("keys", f"{keyid!r}: algorithm must be hmac-sha256 or ed25519, got {algorithm!r}")
        except KeyMaterialError as error:
            # The secret's message names the key already; a public key's does not.
            prefix = "" if error.reason in ("pem_secret", "short_secret") else f"{keyid!r}: "
            raise SettingError("keys", f"{prefix}{error}") from None
        keys[keyid] = protocol.ServiceKey(keyid=keyid, service=match["service"] or keyid, algorithm=algorithm, key=key)
    return keys


class HMACAuthenticationPolicy(AuthSuitePolicy):
    """HTTP Message Signatures (RFC 9421) from services holding a configured key.

    The userid is ``service:<name>``; principals ``service:<name>`` and
    ``scheme:hmac``. Nonces go into the shared cache, so a replay on any
    process sharing it is refused.

    Constructor arguments (``multiauth.policy.<name>.<argument>`` in ini):

    ``keys``
        Space-separated ``keyid[@service]:algorithm:source`` entries, e.g.
        ``billing:hmac-sha256:env:KEY_BILLING billing-2026@billing:hmac-sha256:env:KEY_BILLING_NEW
        reports:ed25519:file:/etc/authsuite/reports.pub``. Several keys may
        name one service (rotation). Required.
    ``realm``
        Named in the ``WWW-Authenticate: Signature realm="..."`` challenge.
    ``max_age_seconds``
        How old a signature's ``created`` may be. Default 300.
    ``future_skew_seconds``
        How far in the future ``created`` may be (clock skew). Default 5.
    ``required_components``
        Components every signature must cover, on top of the minimum
        (``@method``, ``@authority``, ``@target-uri`` or ``@path`` +
        ``@query``, and ``content-digest`` with a body).
    ``refusal_status``
        Status of a refused signature: ``401`` (default), ``403`` or ``400``.
    """

    scheme = "hmac"
    auth_scheme = "Signature"

    def __init__(
        self,
        keys: str | None = None,
        realm: str = "authsuite",
        max_age_seconds: int | str = 300,
        future_skew_seconds: int | str = 5,
        required_components: str | list[str] = (),
        refusal_status: int | str = 401,
    ):
        super().__init__(realm=realm)
        if not keys:
            raise SettingError("keys", "at least one service key is required")
        self.keys = parse_keys(keys)
        self.max_age_seconds = as_duration("max_age_seconds", max_age_seconds, minimum=1)
        self.future_skew_seconds = as_duration("future_skew_seconds", future_skew_seconds, minimum=0)
        self.required_components = tuple(as_list("required_components", required_components))
        self.refusal_status = int(as_choice("refusal_status", str(refusal_status), _REFUSAL_STATUSES))
        # A nonce must be remembered as long as its signature could be accepted.
        self.nonce_ttl_seconds = self.max_age_seconds + self.future_skew_seconds

    @property
    def services(self) -> frozenset[str]:
        """The services that have at least one key."""
        return frozenset(key.service for key in self.keys.values())

    def verify(self, request: Any) -> Verdict:
        environ = request.environ
        if "HTTP_SIGNATURE_INPUT" not in environ and "HTTP_SIGNATURE" not in environ:
            return NO_CREDENTIALS
        try:
            verified = protocol.verify_request(
                request,
                resolve_key=self.keys.get,
                now=time.time(),
                max_age_seconds=self.max_age_seconds,
                future_skew_seconds=self.future_skew_seconds,
                required_components=self.required_components,
            )
        except protocol.SignatureError as error:
            # The code says what failed (the message is fixed text, no values).
            return self._refused(error.code, f"Signature refused ({error.code}): {error.message}.")
        cache = request.registry.authsuite_cache
        if not cache.add(f"{NONCE_PREFIX}{verified.keyid}:{verified.nonce}", 1, self.nonce_ttl_seconds):
            return self._refused("replayed_request", "This signed request was already received (replay).")
        service = f"service:{verified.service}"
        return Verdict(identity=Identity(service, self.scheme, frozenset((service, "scheme:hmac"))))

    def _refused(self, code: str, detail: str) -> Verdict:
        return Verdict(refusal=Refusal(code=code, detail=detail, status=self.refusal_status))

    def forget(self, request: Any) -> list[tuple[str, str]]:
        # RFC 9421 section 5.1: tell the client what to sign.
        accept = 'sig1=("@method" "@authority" "@target-uri");created;nonce;keyid'
        return [("WWW-Authenticate", self.challenge(request)), ("Accept-Signature", accept)]
