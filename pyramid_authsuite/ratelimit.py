"""Failed-attempt limits, shared by every scheme that checks a guessable secret.

One :class:`FailureCounter` per policy (Basic counts per userid, challenge-
response per key id), all of them writing to the same cache records:

``failed:<kind>:<subject>``
    Failures for one userid (``kind`` ``user``) or key id (``key``), from any
    address, in a fixed window (``incr``). Past the limit the subject is
    locked: 429, even for the right secret, so a guesser learns nothing.
``failed:addr:<address>``
    Failures from one client address, whatever the subject and the scheme
    (one counter that Basic and challenge-response both add to; each policy
    applies its own limit to it). IPv6 addresses are counted by their
    ``authsuite.ipv6_prefix_length`` prefix (/64 by default: one host usually
    holds a whole /64), and IPv4-mapped IPv6 addresses as the IPv4 address.
``known:<h>`` and ``failed:known:<h>``
    An address (prefix) that logged in to that subject within
    ``authsuite.known_address_seconds``, and its own failure count. ``<h>`` is
    an HMAC of (kind, subject, address) under a key derived from the server
    secret: the cache holds no list of a user's addresses, and an entry is
    only ever written after a right secret, so nobody can grow it by guessing.

Why the last two: a subject's general counter can be filled by anyone who
knows a userid or key id. When it is locked, an address its owner logged in
from recently is judged by its own counter instead, with the same limit, so
the owner keeps logging in while the attacker stays locked. Failures from a
known address count on both counters; the general one is only read past its
limit, so the usual, unlocked request reads two counters.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import threading
import time
from typing import Any

from pyramid_authsuite.exceptions import CacheFull
from pyramid_authsuite.policy import Refusal, client_address, rate_limited
from pyramid_authsuite.secret import derived_key

__all__ = ["FailureCounter", "ADDRESS_PREFIX", "normalize_address", "request_address"]

logger = logging.getLogger(__name__)

ADDRESS_PREFIX = "failed:addr:"
KNOWN_PREFIX = "known:"
KNOWN_FAILED_PREFIX = "failed:known:"
#: Purpose of the key that hashes (subject, address) pairs.
KNOWN_KEY_PURPOSE = "authsuite known-address v1"

_ADDRESS_ENVIRON_KEY = "authsuite.ratelimit.address"
_MEMO_LIMIT = 10_000
# Longest unparseable address text kept as it is in a cache key.
_MAX_RAW_ADDRESS = 64


def normalize_address(address: str, ipv6_prefix_length: int = 64) -> str:
    """The form an address is counted under.

    ``address``
        As :func:`~pyramid_authsuite.policy.client_address` gives it
        (``REMOTE_ADDR`` or an ``X-Forwarded-For`` entry).
    ``ipv6_prefix_length``
        IPv6 addresses become their network of this length
        (``2001:db8:1:2::/64``): a host, or an attacker, usually holds a
        whole /64 and could otherwise use a new address for each try.

    IPv4-mapped IPv6 addresses (``::ffff:192.0.2.1``, what a dual-stack
    socket reports for IPv4 clients) become the IPv4 address, brackets and
    zone ids are dropped. Anything that is not an IP address (a Unix socket
    path, garbage from a proxy) is kept if short and safe, hashed otherwise,
    so that it can never bring separators or unbounded length into a key.
    """
    text = address.strip()
    if text.startswith("[") and "]" in text:
        text = text[1:text.index("]")]
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        if len(text) <= _MAX_RAW_ADDRESS and text.isascii() and text.isprintable() and " " not in text:
            return "raw:" + text
        return "raw:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, ipv6_prefix_length), strict=False))
    return str(ip)


def request_address(request: Any) -> str:
    """The request's client address, normalized (:func:`normalize_address`), memoized per request."""
    environ = request.environ
    address = environ.get(_ADDRESS_ENVIRON_KEY)
    if address is None:
        settings = request.registry.authsuite_settings
        address = normalize_address(client_address(request, settings.trusted_proxies), settings.ipv6_prefix_length)
        environ[_ADDRESS_ENVIRON_KEY] = address
    return address


class _Judgement:
    """What :meth:`FailureCounter.locked` learned about one (request, subject)."""

    __slots__ = ("count", "known")

    def __init__(self, count: int | None = None, known: str | None = None):
        self.count = count  # the general counter as read, or None if unread
        self.known = known  # the address's hash when it was judged as a known address


class FailureCounter:
    """Failed attempts per subject (a userid, a key id) and per client address.

    Constructor arguments:

    ``kind``
        The subject's kind, in the cache key: ``user`` or ``key``.
    ``max_failures``
        Failures allowed per subject within ``window_seconds``; past it the
        subject is locked (except, each with its own count, at the addresses
        it logged in from within ``authsuite.known_address_seconds``).
    ``max_failures_per_address``
        Failures allowed per client address (all subjects, all schemes).
    ``window_seconds``
        The fixed window of both counts, and the ``Retry-After`` of the 429.
    ``detail``
        The sentence of the 429 refusal.

    Shared state (the cache, the settings, the server secret) is found on
    ``request.registry``; what one request learned is kept in its environ,
    so :meth:`record_failure` and :meth:`reset` do not read it twice.
    """

    def __init__(
        self,
        kind: str,
        max_failures: int,
        max_failures_per_address: int,
        window_seconds: int,
        detail: str = "Too many failed attempts; try again later.",
    ):
        self.kind = kind
        self.max_failures = max_failures
        self.max_failures_per_address = max_failures_per_address
        self.window_seconds = window_seconds
        self.detail = detail
        self.subject_prefix = f"failed:{kind}:"
        self._environ_key = f"authsuite.ratelimit.{id(self)}"
        # Known-address records this process wrote recently (hash -> when),
        # so a busy account does not rewrite its record on every login.
        self._remembered: dict[str, float] = {}
        self._lock = threading.Lock()

    @staticmethod
    def limit(name: str) -> property:
        """A property of a policy reading and setting this counter's ``name`` (policies
        keep their settings' names, ``max_failed_attempts``, for callers and tests)."""

        def get(policy: Any) -> int:
            return getattr(policy.failures, name)

        def set_(policy: Any, value: int) -> None:
            setattr(policy.failures, name, value)

        return property(get, set_)

    # -- keys ------------------------------------------------------------------

    def subject_key(self, subject: str) -> str:
        """The cache key of ``subject``'s general failure count."""
        return self.subject_prefix + subject

    def _known_hash(self, request: Any, subject: str) -> str:
        key = derived_key(request.registry, KNOWN_KEY_PURPOSE)
        message = f"{self.kind}\x00{subject}\x00{request_address(request)}".encode("utf-8")
        return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]

    def _judgement(self, request: Any, subject: str | None) -> _Judgement:
        judgements = request.environ.setdefault(self._environ_key, {})
        judgement = judgements.get(subject)
        if judgement is None:
            judgement = judgements[subject] = _Judgement()
        return judgement

    # -- the three operations ----------------------------------------------------

    def locked(self, request: Any, subject: str | None, subject_failures: int | None = None) -> bool:
        """Whether this request's subject or address is past its limit.

        ``subject``
            The userid or key id, or None when the request names none usable
            (then only the address is judged).
        ``subject_failures``
            The subject's general count when the caller has already read it
            (in a round trip it needed anyway); read here otherwise.
        """
        registry = request.registry
        cache = registry.authsuite_cache
        if (cache.get(ADDRESS_PREFIX + request_address(request)) or 0) >= self.max_failures_per_address:
            return True
        if subject is None:
            return False
        judgement = self._judgement(request, subject)
        count = subject_failures if subject_failures is not None else cache.get(self.subject_key(subject))
        judgement.count = count = count or 0
        if count < self.max_failures:
            return False
        if not registry.authsuite_settings.known_address_seconds:
            return True
        known = self._known_hash(request, subject)
        if cache.get(KNOWN_PREFIX + known) is None:
            return True
        # Locked for everyone else: this address, where the owner logged in
        # recently, keeps its own limit.
        judgement.known = known
        return (cache.get(KNOWN_FAILED_PREFIX + known) or 0) >= self.max_failures

    def record_failure(self, request: Any, subject: str | None) -> None:
        """Count one failed attempt against the address, and the subject if any."""
        registry = request.registry
        cache = registry.authsuite_cache
        window = self.window_seconds
        cache.incr(ADDRESS_PREFIX + request_address(request), window)
        if subject is None:
            return
        cache.incr(self.subject_key(subject), window)
        known = self._judgement(request, subject).known
        if known is None and registry.authsuite_settings.known_address_seconds:
            candidate = self._known_hash(request, subject)
            if cache.get(KNOWN_PREFIX + candidate) is not None:
                known = candidate
        if known is not None:
            cache.incr(KNOWN_FAILED_PREFIX + known, window)

    def reset(self, request: Any, subject: str) -> None:
        """After a success: clear the subject's count and remember the address.

        The general count is cleared only if this request was judged by it:
        an owner logging in at a known address while the subject is locked
        does not give whoever locked it a fresh set of guesses. The address's
        count is never cleared (an address trying many subjects stays
        limited).
        """
        registry = request.registry
        cache = registry.authsuite_cache
        judgement = self._judgement(request, subject)
        seconds = registry.authsuite_settings.known_address_seconds
        known = judgement.known
        if known is not None:
            cache.delete(KNOWN_FAILED_PREFIX + known)
        elif judgement.count is None or judgement.count > 0:
            cache.delete(self.subject_key(subject))
            if seconds:
                # Failures from here counted on both; clear this one too.
                cache.delete(KNOWN_FAILED_PREFIX + self._known_hash(request, subject))
        if seconds:
            self._remember_address(request, subject, seconds)

    def refusal(self) -> Refusal:
        """The 429 refusal (``Retry-After`` = the window)."""
        return rate_limited(self.detail, self.window_seconds)

    # -- known addresses ---------------------------------------------------------

    def _remember_address(self, request: Any, subject: str, seconds: int) -> None:
        known = self._known_hash(request, subject)
        now = time.monotonic()
        written = self._remembered.get(known)
        # Rewritten at most once a thirtieth of its lifetime per process: the
        # record then always has most of its lifetime left.
        if written is not None and now - written < seconds / 30:
            return
        try:
            request.registry.authsuite_cache.set(KNOWN_PREFIX + known, b"1", seconds)
        except CacheFull:
            # The login itself succeeded; only the exemption is not recorded.
            logger.warning("cache full: a known address for a %s was not recorded", self.kind)
            return
        with self._lock:
            if len(self._remembered) >= _MEMO_LIMIT:
                self._remembered.clear()
            self._remembered[known] = now
