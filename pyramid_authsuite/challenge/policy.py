"""``ChallengeAuthenticationPolicy``: one-time server challenges answered with a key.

Issuing (``POST /challenges``, :meth:`ChallengeAuthenticationPolicy.issue`)
and verifying (``Authorization: Challenge ...``) share this class, so they
share its settings, its clock and the cache records described here.

Issuing stores nothing: the challenge id carries its expiry under a MAC, and
the challenge is derived from the id, the key id and the key's kind
(:func:`~pyramid_authsuite.challenge.protocol.derive_challenge`), so the
answer is checked against a recomputed challenge. A known key id and an
unknown one (which gets a decoy of a fixed kind) take the same steps: one
account-store lookup, the same HMACs, the same encryption for ``rsa``, and
no cache write but the two issuing counters. Nobody can fill the cache by
asking for challenges.

``challenge:used:<challenge_id>``
    Recorded with an atomic ``add`` by the first answer that gets past the
    rate limits, right or wrong, and kept until the challenge would have
    expired: that makes a challenge single-use on every process sharing the
    cache, and a later answer is told ``replayed_challenge``. A replay is not
    a guess: it counts as no failure, so replaying a captured answer locks
    nobody out.
``challenge:issued:{key,addr}:<...>``
    Fixed-window counters (``incr``) for the issuing limits.
``failed:key:<key_id>``, ``failed:addr:<address>``, ...
    Failed answers: :class:`pyramid_authsuite.ratelimit.FailureCounter`,
    shared with the other schemes.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

from pyramid_authsuite.challenge import protocol
from pyramid_authsuite.challenge.settings import ChallengeSettings
from pyramid_authsuite.identity import Identity, account_principals
from pyramid_authsuite.policy import (
    NO_CREDENTIALS,
    AuthSuitePolicy,
    Refusal,
    Verdict,
    rate_limited,
    refused,
    takes_settings_of,
)
from pyramid_authsuite.ratelimit import FailureCounter, request_address
from pyramid_authsuite.secret import derived_key

logger = logging.getLogger(__name__)

USED_PREFIX = "challenge:used:"
ISSUED_KEY_PREFIX = "challenge:issued:key:"
ISSUED_ADDRESS_PREFIX = "challenge:issued:addr:"
# What a refused answer counts against: nothing (a replay, a locked-out
# caller), the client address only (an id anyone could make up), or the key id
# and the address (an answer that was checked).
COUNTS_NOTHING, COUNTS_FOR_ADDRESS, COUNTS_FOR_KEY = 0, 1, 2

#: Where a key id's failed answers are counted (:class:`~pyramid_authsuite.ratelimit.FailureCounter`).
FAILED_KEY_PREFIX = "failed:key:"
#: The key id that authenticated the request, for views that want it.
KEY_ID_ENVIRON_KEY = "authsuite.challenge.key_id"

# Purposes of the keys derived from the server secret (never shared with other features).
ID_KEY_PURPOSE = "authsuite challenge-id v1"
DECOY_KEY_PURPOSE = "authsuite challenge-decoy v1"
TEXT_KEY_PURPOSE = "authsuite challenge-text v1"

_MEMO_LIMIT = 10_000
# The answered-record outlives its id's expiry by this much (the id, not the
# cache, decides expiry; the record must not vanish before it).
_RECORD_GRACE_SECONDS = 1


@dataclass(frozen=True)
class IssuedChallenge:
    """What ``POST /challenges`` answers.

    ``challenge`` is the base64url challenge for ``hmac`` and ``ed25519``
    keys, and its RSA-OAEP encryption in standard base64 for ``rsa`` keys.
    """

    challenge_id: str
    challenge: str
    algorithm: str
    expires_in: int

    def as_json(self) -> dict[str, Any]:
        return {
            "challenge_id": self.challenge_id,
            "challenge": self.challenge,
            "algorithm": self.algorithm,
            "expires_in": self.expires_in,
        }


class ChallengeAuthenticationPolicy(AuthSuitePolicy):
    """Challenge-response against keys registered on accounts.

    A client asks ``POST /challenges`` for a challenge for its key id, and
    answers it in ``Authorization: Challenge id="...", key_id="...",
    response="..."`` (see :mod:`pyramid_authsuite.challenge.protocol` for the
    exact format). Each challenge is good for one answer, right or wrong.

    Principals: the account's ``role:<r>`` and ``tenant:<t>``,
    ``scheme:challenge`` and ``key:<key_id>``.

    Constructor arguments (``multiauth.policy.<name>.<argument>`` in ini):

    ``realm``
        Named in ``WWW-Authenticate: Challenge realm="..."``. Default ``authsuite``.
    ``challenge_ttl_seconds``
        Lifetime of a challenge when the request names none. Default 30.
    ``max_challenge_ttl_seconds``
        Longer requested lifetimes are cut to this. Default 120.
    ``max_challenges_per_key`` / ``max_challenges_per_address``
        Challenges issued per key id / per client address within
        ``challenge_window_seconds``; past it, 429. Defaults 60 and 300.
    ``challenge_window_seconds``
        Their window (a duration). Default 60.
    ``max_failed_answers`` / ``max_failed_answers_per_address``
        Wrong answers per key id / per client address within
        ``lockout_seconds``; past it, 429 even for a right answer until the
        window ends, except from an address (IPv6: its /64) that answered
        for that key id within ``authsuite.known_address_seconds``, which
        keeps its own count. Replayed answers count as nothing. The address
        count is shared with Basic's. Defaults 10 and 20.
    ``lockout_seconds``
        Their window. Default 300.
    ``decoy_kinds``
        The kinds an unknown key id pretends to be (one chosen per id, always
        the same one). Set it to the kinds your clients use, so that an
        unknown id's challenge looks like a known one's. Default ``ed25519``.
    ``decoy_rsa_bits``
        Size of the encrypted challenge an unknown id pretending to be
        ``rsa`` gets (the size of your clients' RSA keys). Default 3072.
    ``key_check_seconds``
        How long each process may reuse a key, and its account, as it looked
        them up in the account store. 0 (the default) looks them up for every
        challenge and every answer, so a removed key or a disabled account
        stops working at once; more saves those queries (the bulk of this
        scheme's cost on SQL) at the price of that delay.

    The arguments are parsed and checked once, by
    :meth:`ChallengeSettings.parse
    <pyramid_authsuite.challenge.settings.ChallengeSettings.parse>`; the
    frozen result is :attr:`settings`, and each value is also an attribute
    of the policy, of the same name, which is what issuing and verifying
    read (assigning one changes the policy, not :attr:`settings`).

    The attribute :attr:`clock` (``time.time`` by default) is what both
    issuing and verifying read the time from; tests replace it.
    """

    scheme = "challenge"
    auth_scheme = "Challenge"

    @takes_settings_of(ChallengeSettings.parse)
    def __init__(self, realm: str = "authsuite", **settings: Any):
        super().__init__(realm=realm)
        #: The parsed settings (frozen); each value is also a plain attribute below.
        self.settings = settings = ChallengeSettings.parse(**settings)
        # Copied onto the instance: instance attributes are the fastest reads
        # on the request path, and tests tighten a limit by assigning one.
        self.challenge_ttl_seconds = settings.challenge_ttl_seconds
        self.max_challenge_ttl_seconds = settings.max_challenge_ttl_seconds
        self.max_challenges_per_key = settings.max_challenges_per_key
        self.max_challenges_per_address = settings.max_challenges_per_address
        self.challenge_window_seconds = settings.challenge_window_seconds
        self.failures = FailureCounter(
            "key",
            settings.max_failed_answers,
            settings.max_failed_answers_per_address,
            settings.lockout_seconds,
            "Too many failed answers; try again later.",
        )
        self.decoy_kinds = settings.decoy_kinds
        self.decoy_rsa_bits = settings.decoy_rsa_bits
        self.key_check_seconds = settings.key_check_seconds
        self.clock: Callable[[], float] = time.time
        # key id -> (good until, AccountKey or None); userid -> (good until, Account or None).
        self._key_lookups: dict[str, tuple[float, Any]] = {}
        self._account_lookups: dict[str, tuple[float, Any]] = {}
        self._lookup_clock: Callable[[], float] = time.monotonic
        # Parsed keys, by (kind, material), and decoy RSA keys, by (decoy key,
        # key id): parsing a PEM costs more than the rest of a request. Bounded.
        self._keys: dict[tuple[str, bytes], Any] = {}
        self._decoys: dict[tuple[bytes, str], Any] = {}
        self._dummy_ed25519: Any = None

    # The failure limits live on the counter; these names are the settings'.
    max_failed_answers = FailureCounter.limit("max_failures")
    max_failed_answers_per_address = FailureCounter.limit("max_failures_per_address")
    lockout_seconds = FailureCounter.limit("window_seconds")

    # -- issuing ----------------------------------------------------------------

    def issue(self, request: Any, key_id: str, ttl: int | None = None) -> IssuedChallenge | Refusal:
        """A new challenge for ``key_id``, or the rate-limit refusal (429).

        ``ttl`` (seconds, at least 1) defaults to ``challenge_ttl_seconds``
        and is cut to ``max_challenge_ttl_seconds``. An unknown key id gets a
        challenge too, of a decoy kind (see ``decoy_kinds``) that no answer
        can satisfy: the response does not tell which ids exist.
        """
        if protocol.KEY_ID_PATTERN.fullmatch(key_id) is None:
            raise ValueError("malformed key id")
        if ttl is None:
            ttl = self.challenge_ttl_seconds
        if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 1:
            raise ValueError("ttl is a whole number of seconds, at least 1")
        ttl = min(ttl, self.max_challenge_ttl_seconds)
        registry = request.registry
        cache = registry.authsuite_cache
        address = request_address(request)
        # Counted before the lookup, for known and unknown ids alike (the
        # limit must not tell them apart either).
        window = self.challenge_window_seconds
        per_key = cache.incr(ISSUED_KEY_PREFIX + key_id, window)
        per_address = cache.incr(ISSUED_ADDRESS_PREFIX + address, window)
        if per_key > self.max_challenges_per_key or per_address > self.max_challenges_per_address:
            return rate_limited("Too many challenges requested; try again later.", window)

        kind, public_key, binding = self._key_for_issuing(registry, key_id)
        challenge_id = protocol.make_challenge_id(derived_key(registry, ID_KEY_PURPOSE), self.clock() + ttl)
        challenge = protocol.derive_challenge(
            derived_key(registry, TEXT_KEY_PURPOSE), challenge_id, key_id, kind, binding
        )
        served = protocol.encrypt_challenge(public_key, challenge) if kind == "rsa" else challenge
        # Nothing is stored: the answer is checked against the challenge
        # recomputed from the id (see the module docstring).
        return IssuedChallenge(challenge_id, served, protocol.ALGORITHMS[kind], ttl)

    def _key_for_issuing(self, registry: Any, key_id: str) -> tuple[str, Any, bytes]:
        """The kind to issue for, the RSA public key to encrypt with (or None),
        and the challenge's binding to the key (:func:`protocol.key_binding`).

        Known and unknown key ids take the same steps: the decoy kind is
        worked out for both, and both keys are found in a per-process memo
        once seen.
        """
        key = self._get_key(registry, key_id)
        decoy_key = derived_key(registry, DECOY_KEY_PURPOSE)
        decoy = protocol.decoy_kind(decoy_key, key_id, self.decoy_kinds)
        if key is not None:
            try:
                public_key = self._load(key.kind, key.material) if key.kind == "rsa" else None
                return key.kind, public_key, protocol.key_binding(key.material)
            except protocol.KeyMaterialError:
                # Stored by something other than add-key; treat it as unknown
                # (so it still looks like any other key) and say so in the log.
                logger.warning("challenge key %r has unusable material; answering with a decoy", key_id)
        binding = protocol.key_binding(None)
        if decoy != "rsa":
            return decoy, None, binding
        memo = (decoy_key, key_id)
        public_key = self._decoys.get(memo)
        if public_key is None:
            public_key = protocol.decoy_rsa_public_key(decoy_key, key_id, self.decoy_rsa_bits)
            if len(self._decoys) >= _MEMO_LIMIT:
                self._decoys.clear()
            self._decoys[memo] = public_key
        return decoy, public_key, binding

    def _get_key(self, registry: Any, key_id: str) -> Any:
        if not self.key_check_seconds:
            return registry.authsuite_accounts.get_key(key_id)
        return self._remembered(self._key_lookups, key_id, registry.authsuite_accounts.get_key)

    def _get_account(self, registry: Any, userid: str) -> Any:
        if not self.key_check_seconds:
            return registry.authsuite_accounts.get(userid)
        return self._remembered(self._account_lookups, userid, registry.authsuite_accounts.get)

    def _remembered(self, memo: dict[str, tuple[float, Any]], name: str, look_up: Callable[[str], Any]) -> Any:
        now = self._lookup_clock()
        entry = memo.get(name)
        if entry is not None and entry[0] > now:
            return entry[1]
        found = look_up(name)
        if len(memo) >= _MEMO_LIMIT:
            memo.clear()
        memo[name] = (now + self.key_check_seconds, found)
        return found

    def _load(self, kind: str, material: bytes) -> Any:
        memo = (kind, material)
        key = self._keys.get(memo)
        if key is None:
            key = protocol.load_public_key(kind, material)
            if len(self._keys) >= _MEMO_LIMIT:
                self._keys.clear()
            self._keys[memo] = key
        return key

    # -- verifying --------------------------------------------------------------

    def verify(self, request: Any) -> Verdict:
        header = request.environ.get("HTTP_AUTHORIZATION")
        if not protocol.is_challenge(header):
            return NO_CREDENTIALS
        try:
            auth = protocol.parse_authorization(header)
        except protocol.ChallengeParseError as error:
            self.failures.record_failure(request, None)
            return refused("malformed_credentials", f"Malformed Challenge header: {error}.")
        verdict, counted = self._check_answer(request, auth)
        if counted == COUNTS_FOR_KEY:
            if verdict.identity is not None:
                self.failures.reset(request, auth.key_id)
            elif verdict.refusal is not None and verdict.refusal.status == 401:
                self.failures.record_failure(request, auth.key_id)
        elif counted == COUNTS_FOR_ADDRESS:
            self.failures.record_failure(request, None)
        return verdict

    def _check_answer(self, request: Any, auth: protocol.ChallengeAuthorization) -> tuple[Verdict, int]:
        """The verdict on a parsed answer, and what it counts against (``COUNTS_*``)."""
        registry = request.registry
        # Forged, altered and expired ids are told from the id alone, without
        # touching the cache (so they cannot fill it with records either).
        try:
            expires_at = protocol.read_challenge_id(derived_key(registry, ID_KEY_PURPOSE), auth.challenge_id)
        except protocol.ChallengeIdError:
            # Anyone can make up an id naming someone's key id: not a guess at
            # that key, so it counts against the address alone (else it would
            # be a way to lock the key's owner out).
            return refused(
                "unknown_challenge", "This challenge was not issued here (unknown or altered id)."
            ), COUNTS_FOR_ADDRESS
        now = self.clock()
        if now >= expires_at:
            return refused("expired_challenge", "This challenge has expired; ask for a new one."), COUNTS_FOR_ADDRESS
        if self.failures.locked(request, auth.key_id):
            # Refused without spending the challenge: a locked-out caller learns nothing.
            return Verdict(refusal=self.failures.refusal()), COUNTS_NOTHING
        # The one atomic step that makes a challenge single-use everywhere:
        # of all the answers to one id, one records it first, and only that
        # one is checked.
        first_answer = registry.authsuite_cache.add(
            USED_PREFIX + auth.challenge_id, b"1", max(1.0, expires_at - now) + _RECORD_GRACE_SECONDS
        )
        if not first_answer:
            # Not a guess (the answer is not even looked at): counts as nothing.
            return refused("replayed_challenge", "This challenge was already answered."), COUNTS_NOTHING
        return self._check_response(request, auth), COUNTS_FOR_KEY

    def _check_response(self, request: Any, auth: protocol.ChallengeAuthorization) -> Verdict:
        registry = request.registry
        key = self._get_key(registry, auth.key_id)
        usable = None
        if key is not None:
            kind = key.kind
            binding = protocol.key_binding(key.material)
            try:
                usable = self._load(kind, key.material)
            except protocol.KeyMaterialError:
                logger.warning("challenge key %r has unusable material; answer refused", auth.key_id)
        else:
            kind = protocol.decoy_kind(derived_key(registry, DECOY_KEY_PURPOSE), auth.key_id, self.decoy_kinds)
            binding = protocol.key_binding(None)
        challenge = protocol.derive_challenge(
            derived_key(registry, TEXT_KEY_PURPOSE), auth.challenge_id, auth.key_id, kind, binding
        )
        expected = protocol.challenge_digest(challenge) if kind == "rsa" else challenge
        if usable is None:
            # Unknown (the challenge was a decoy) or unusable: spend what a
            # real check costs, and answer as for a wrong answer, so that key
            # ids cannot be probed here either.
            self._dummy_verify(kind, auth, expected)
            return refused("invalid_response", "The answer to the challenge is wrong.")
        if not protocol.verify_response(kind, usable, auth.challenge_id, auth.key_id, expected, auth.response):
            return refused("invalid_response", "The answer to the challenge is wrong.")
        # Only after the answer proved the key: its owner may learn this.
        account = self._get_account(registry, key.userid)
        if account is None or account.disabled:
            return refused("invalid_key", "This key cannot be used: its account is disabled.")
        request.environ[KEY_ID_ENVIRON_KEY] = auth.key_id
        principals = account_principals(account, self.scheme) | {f"key:{auth.key_id}"}
        return Verdict(identity=Identity(account.userid, self.scheme, principals))

    def _dummy_verify(self, kind: str, auth: protocol.ChallengeAuthorization, expected: str) -> None:
        if kind == "ed25519":
            if self._dummy_ed25519 is None:
                from cryptography.hazmat.primitives.asymmetric import ed25519

                self._dummy_ed25519 = ed25519.Ed25519PrivateKey.generate().public_key()
            dummy: Any = self._dummy_ed25519
        else:
            dummy = bytes(protocol.MIN_HMAC_SECRET_BYTES)
        protocol.verify_response(kind, dummy, auth.challenge_id, auth.key_id, expected, auth.response)
