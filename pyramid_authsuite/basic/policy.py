"""``BasicAuthenticationPolicy``: userid and password checked against the account store."""
from __future__ import annotations

from typing import Any

from pyramid_authsuite.accounts import USERID_PATTERN
from pyramid_authsuite.basic import verified
from pyramid_authsuite.basic.protocol import BasicParseError, is_basic, parse_basic
from pyramid_authsuite.identity import Identity, account_principals
from pyramid_authsuite.policy import NO_CREDENTIALS, AuthSuitePolicy, Refusal, Verdict
from pyramid_authsuite.ratelimit import FailureCounter
from pyramid_authsuite.secret import derived_key
from pyramid_authsuite.settings import as_duration, as_int

INVALID = Verdict(refusal=Refusal(code="invalid_credentials", detail="Invalid userid or password."))


class BasicAuthenticationPolicy(AuthSuitePolicy):
    """HTTP Basic (RFC 7617) against the account store, with failed-login limits.

    Each check runs Argon2id, which is slow on purpose: Basic is meant for
    logging in (to obtain a Hawk session or a token), or, with
    ``credentials_cache_seconds``, for every request.

    Constructor arguments (``multiauth.policy.<name>.<argument>`` in ini):

    ``realm``
        Named in ``WWW-Authenticate: Basic realm="...", charset="UTF-8"``.
        Default ``authsuite``.
    ``max_failed_attempts``
        Failed logins allowed per userid within ``lockout_seconds``; past it
        the userid gets 429 until the window ends, even with the right
        password, except from an address (IPv6: its /64) that logged in to
        that userid within ``authsuite.known_address_seconds``, which keeps
        its own count (:mod:`pyramid_authsuite.ratelimit`). Default 5.
    ``max_failed_attempts_per_address``
        The same, per client address (``REMOTE_ADDR``, or per
        ``authsuite.trusted_proxies``; IPv6 by ``authsuite.ipv6_prefix_length``),
        counting the failures of every scheme. Default 20.
    ``lockout_seconds``
        The window (a duration: ``300``, ``5m``). Default 300.
    ``credentials_cache_seconds``
        How long a userid and password that verified are remembered (in
        ``authsuite.cache_url``, under an HMAC of both, never the password),
        so that repeating them costs a cache read instead of Argon2id. 0 (the
        default) turns it off; at most 300. A password change, disable or
        delete through the ``authsuite`` commands forgets them at once
        (:func:`pyramid_authsuite.basic.verified.forget_verified_logins`).
    """

    scheme = "basic"
    auth_scheme = "Basic"

    def __init__(
        self,
        realm: str = "authsuite",
        max_failed_attempts: int | str = 5,
        max_failed_attempts_per_address: int | str = 20,
        lockout_seconds: int | str = 300,
        credentials_cache_seconds: int | str = 0,
    ):
        super().__init__(realm=realm)
        self.failures = FailureCounter(
            "user",
            as_int("max_failed_attempts", max_failed_attempts, minimum=1),
            as_int("max_failed_attempts_per_address", max_failed_attempts_per_address, minimum=1),
            as_duration("lockout_seconds", lockout_seconds, minimum=1),
            "Too many failed login attempts; try again later.",
        )
        self.credentials_cache_seconds = as_duration(
            "credentials_cache_seconds", credentials_cache_seconds, minimum=0, maximum=verified.MAX_SECONDS
        )

    # The failure limits live on the counter; these names are the settings'.
    max_failed_attempts = FailureCounter.limit("max_failures")
    max_failed_attempts_per_address = FailureCounter.limit("max_failures_per_address")
    lockout_seconds = FailureCounter.limit("window_seconds")

    def challenge(self, request: Any) -> str:
        # RFC 7617 section 2.1: announce that credentials are UTF-8.
        return f'Basic realm="{self.realm}", charset="UTF-8"'

    def verify(self, request: Any) -> Verdict:
        header = request.environ.get("HTTP_AUTHORIZATION")
        if not is_basic(header):
            return NO_CREDENTIALS
        try:
            userid, password = parse_basic(header)
        except BasicParseError as error:
            return Verdict(refusal=Refusal(code="malformed_credentials", detail=f"Malformed Basic credentials: {error}."))

        # The userid is only used (in cache keys) once it is known to be well
        # formed, so it cannot smuggle separators into a key.
        subject = userid if USERID_PATTERN.fullmatch(userid) else None
        failures = self.failures
        # Checked before the credentials cache too: a locked-out guesser must
        # not learn from a cached right password either.
        if failures.locked(request, subject):
            return Verdict(refusal=failures.refusal())
        if subject is None:
            failures.record_failure(request, None)
            return INVALID

        registry = request.registry
        cache = registry.authsuite_cache
        ref = epoch = None
        if self.credentials_cache_seconds:
            ref = verified.login_ref(derived_key(registry, verified.REF_KEY_PURPOSE), userid, password)
            remembered = verified.look_up(cache, ref, userid)
            if remembered is not None:
                # A right password, verified moments ago: nothing to count.
                return self._identity(remembered)
            epoch = verified.login_epoch(cache, userid)

        account = registry.authsuite_accounts.authenticate(userid, password)
        if account is None:
            failures.record_failure(request, subject)
            return INVALID
        failures.reset(request, subject)
        if ref is not None:
            verified.remember(cache, ref, account, self.credentials_cache_seconds, epoch)
        return self._identity(account)

    def _identity(self, account: Any) -> Verdict:
        return Verdict(identity=Identity(account.userid, self.scheme, account_principals(account, self.scheme)))
