"""``BasicAuthenticationPolicy``: userid and password checked against the account store."""
from __future__ import annotations

from typing import Any

from pyramid_authsuite.accounts import USERID_PATTERN
from pyramid_authsuite.basic.protocol import BasicParseError, is_basic, parse_basic
from pyramid_authsuite.identity import Identity, account_principals
from pyramid_authsuite.policy import NO_CREDENTIALS, AuthSuitePolicy, Refusal, Verdict, client_address, rate_limited
from pyramid_authsuite.settings import as_duration, as_int


class BasicAuthenticationPolicy(AuthSuitePolicy):
    """HTTP Basic (RFC 7617) against the account store, with failed-login limits.

    Basic is meant for logging in (to obtain a Hawk session or a token): each
    check runs Argon2id, which is slow on purpose.

    Constructor arguments (``multiauth.policy.<name>.<argument>`` in ini):

    ``realm``
        Named in ``WWW-Authenticate: Basic realm="...", charset="UTF-8"``.
        Default ``authsuite``.
    ``max_failed_attempts``
        Failed logins allowed per userid within ``lockout_seconds``; past it
        the userid gets 429 until the window ends, even with the right
        password. Default 5.
    ``max_failed_attempts_per_address``
        The same, per client address (``REMOTE_ADDR``, or per
        ``authsuite.trusted_proxies``). Default 20.
    ``lockout_seconds``
        The window (a duration: ``300``, ``5m``). Default 300.
    """

    scheme = "basic"
    auth_scheme = "Basic"

    def __init__(
        self,
        realm: str = "authsuite",
        max_failed_attempts: int | str = 5,
        max_failed_attempts_per_address: int | str = 20,
        lockout_seconds: int | str = 300,
    ):
        super().__init__(realm=realm)
        self.max_failed_attempts = as_int("max_failed_attempts", max_failed_attempts, minimum=1)
        self.max_failed_attempts_per_address = as_int(
            "max_failed_attempts_per_address", max_failed_attempts_per_address, minimum=1
        )
        self.lockout_seconds = as_duration("lockout_seconds", lockout_seconds, minimum=1)

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

        registry = request.registry
        cache = registry.authsuite_cache
        address = client_address(request, registry.authsuite_settings.trusted_proxies)
        # Keys never hold the password; the userid is only used once it is
        # known to be well formed, so it cannot smuggle separators into a key.
        user_key = f"basic:failed:user:{userid}" if USERID_PATTERN.fullmatch(userid) else None
        address_key = f"basic:failed:addr:{address}"

        if self._locked_out(cache, user_key, address_key):
            return Verdict(refusal=rate_limited("Too many failed login attempts; try again later.", self.lockout_seconds))

        account = registry.authsuite_accounts.authenticate(userid, password) if user_key else None
        if account is None:
            if user_key:
                cache.incr(user_key, self.lockout_seconds)
            cache.incr(address_key, self.lockout_seconds)
            return Verdict(refusal=Refusal(code="invalid_credentials", detail="Invalid userid or password."))

        # A successful login clears the per-user count, not the per-address
        # one: an address guessing many userids stays limited.
        cache.delete(user_key)
        return Verdict(identity=Identity(account.userid, self.scheme, account_principals(account, self.scheme)))

    def _locked_out(self, cache: Any, user_key: str | None, address_key: str) -> bool:
        if user_key is not None and (cache.get(user_key) or 0) >= self.max_failed_attempts:
            return True
        return (cache.get(address_key) or 0) >= self.max_failed_attempts_per_address
