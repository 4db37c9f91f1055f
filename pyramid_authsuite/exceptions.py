"""Exceptions shared by the backends, the policies and the security policy."""


class BackendUnavailable(Exception):
    """A backend (the cache or the account store) could not be reached.

    Requests that needed it fail closed: the security policy turns this into
    ``503 Service Unavailable`` with ``Retry-After``, never into "authenticated".
    The message never contains credentials.
    """


class CacheUnavailable(BackendUnavailable):
    """The replay/session cache could not be reached or did not answer in time."""


class CacheFull(CacheUnavailable):
    """The cache has no room for a new entry without forgetting unexpired state.

    Security state (nonces, consumed challenges, revocations, sessions, failure
    counters) is never evicted before its TTL: a full cache refuses the write,
    and the request that needed it fails closed like any other outage.
    """


class AccountStoreUnavailable(BackendUnavailable):
    """The account store (SQL database) could not be reached."""


class SettingError(ValueError):
    """A setting has a bad or missing value.

    ``key`` names the setting (``authsuite.cache_url``, or a policy's own
    keyword such as ``max_failed_attempts``), so that the configuration error
    shown to the operator says which line of the ini file to fix.
    """

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message
