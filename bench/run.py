"""Run the benchmarks: ``python -m bench.run [--quick] [--only WORD ...]``.

Prints µs per request for a no-auth baseline and for each variant, and the
cost each adds over the baseline, all measured in this one process; then how
our Hawk's added cost compares with its peers' (pyramid_hawkauth, and a
policy verifying with mohawk the way kinto-hawk does) and with the goals.

Variants that need Redis or PostgreSQL are skipped with a note when those are
not reachable (``AUTHSUITE_BENCH_REDIS_URL``, default DB 12 of the local
Redis; ``AUTHSUITE_TEST_POSTGRES_URL``), and so are peers that are not
installed (``pip install -e .[bench]``).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any, Callable

from bench import harness
from bench.apps import authsuite_app, noauth_app

# The benchmarks' own Redis DB: the test suites use 15 and 13 and flush them.
REDIS_URL = os.environ.get("AUTHSUITE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
POSTGRES_URL = os.environ.get("AUTHSUITE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
PASSWORD = "correct horse battery"
# Everything the benchmarks put in a shared cache is under this prefix, and
# expires: sessions after SESSION_TTL seconds (and are revoked at the end),
# nonces after twice the timestamp skew.
CACHE_PREFIX = "authsuite-bench:"
SESSION_TTL = 900

# Argon2 is slow on purpose and Basic is for logging in: per-request figures
# use the cheapest parameters so they show the rest of the path; the real
# hashing cost is measured separately below.
CHEAP_HASHING = {"authsuite.password_time_cost": "1", "authsuite.password_memory_cost": "8"}
BASIC = {
    "multiauth.policies": "basic",
    "multiauth.policy.basic.use": "pyramid_authsuite.BasicAuthenticationPolicy",
}
BASIC_CREDENTIALS_CACHE = {"multiauth.policy.basic.credentials_cache_seconds": "300"}
HAWK = {
    "multiauth.policies": "hawk",
    "multiauth.policy.hawk.use": "pyramid_authsuite.HawkAuthenticationPolicy",
    "multiauth.policy.hawk.session_ttl_seconds": str(SESSION_TTL),
}
JSON_BODY = b'{"title": "a benchmark record", "tags": ["one", "two", "three"], "count": 42, "done": false}'

# The goals for our Hawk policy (µs added over no auth, and the
# largest ratio of our added cost to pyramid_hawkauth's).
GOAL_MEMORY_US = 70.0
GOAL_REDIS_US = 150.0
GOAL_RATIO = 0.5
GOAL_HMAC_MEMORY_US = 100.0
HMAC_SECRET = b"bench-billing-secret-0123456789abcdefghij"


class Skip(Exception):
    """A variant that cannot run here; the message says why."""


@dataclass
class Built:
    """A variant ready to time: the app, and either fixed or fresh environs."""

    app: Callable
    environs: list[dict] | None = None
    fresh_environs: Callable[[int], list[dict]] | None = None
    cleanup: Callable[[], None] | None = None


@dataclass
class Variant:
    name: str
    build: Callable[[], Built]
    needs: tuple[str, ...] = ()
    note: str = ""
    key: str = ""  # for the ratio lines


@dataclass
class Context:
    workdir: str
    reachable: dict[str, str | None] = field(default_factory=dict)  # service -> None or why not

    @property
    def sqlite_url(self) -> str:
        return f"sqlite:///{self.workdir}/bench.sqlite"


# -- our variants ---------------------------------------------------------------


def basic_variant(cache_url: str, accounts_url: str, policy_settings: dict[str, str] | None = None) -> Built:
    from pyramid_authsuite.basic.protocol import basic_header

    app = authsuite_app(
        {
            **CHEAP_HASHING,
            **BASIC,
            **(policy_settings or {}),
            "authsuite.cache_url": cache_url,
            "authsuite.cache_prefix": CACHE_PREFIX,
            "authsuite.accounts_url": accounts_url,
        }
    )
    store = app.registry.authsuite_accounts
    if store.get("bench") is None:
        store.create("bench", PASSWORD)
    return Built(app, environs=[harness.environ_for("/protected", {"Authorization": basic_header("bench", PASSWORD)})])


def hawk_variant(cache_url: str, accounts_url: str, policy_settings: dict[str, str] | None = None, **request: Any) -> Built:
    """Our Hawk policy; a session created as ``POST /hawk-sessions`` would, and requests signed with it."""
    from bench.hawk_peers import HawkSigner
    from pyramid_authsuite.hawk.protocol import derive_session_credentials
    from pyramid_authsuite.hawk.sessions import sessions_for

    app = authsuite_app(
        {
            **CHEAP_HASHING,
            **HAWK,
            **(policy_settings or {}),
            "authsuite.cache_url": cache_url,
            "authsuite.cache_prefix": CACHE_PREFIX,
            "authsuite.accounts_url": accounts_url,
        }
    )
    store = app.registry.authsuite_accounts
    account = store.get("bench") or store.create("bench", PASSWORD)
    sessions = sessions_for(app.registry)
    token = sessions.create(account, SESSION_TTL)
    hawk_id, key = derive_session_credentials(token)

    def cleanup() -> None:
        session = sessions.lookup(hawk_id)
        if session is not None:
            sessions.revoke(session)

    return Built(app, fresh_environs=HawkSigner(hawk_id, key, **request), cleanup=cleanup)


def hmac_variant(cache_url: str, accounts_url: str, **request: Any) -> Built:
    """Our HTTP Message Signatures policy; requests signed with an hmac-sha256 service key."""
    from bench.hmac_signer import ServiceSigner

    app = authsuite_app(
        {
            "multiauth.policies": "hmac",
            "multiauth.policy.hmac.use": "pyramid_authsuite.HMACAuthenticationPolicy",
            "multiauth.policy.hmac.keys": "billing:hmac-sha256:" + HMAC_SECRET.decode(),
            "authsuite.cache_url": cache_url,
            "authsuite.cache_prefix": CACHE_PREFIX,
            "authsuite.accounts_url": accounts_url,
        }
    )
    return Built(app, fresh_environs=ServiceSigner("billing", HMAC_SECRET, **request))


# -- peers ------------------------------------------------------------------------


def redis_floor_variant(workdir: str) -> Built:
    """The cheapest request that asks Redis one thing: a JWT already in the
    verified-token cache, whose revocation is then looked up (one GET).

    What any policy pays to consult a shared cache on every request, with
    next to nothing of its own: the floor under "hawk (Redis cache)".
    """
    from bench.jwt_peers import SECRET, _environs_with_token, _jwt_app

    app = _jwt_app(workdir, cache_url=REDIS_URL, secret=SECRET)
    return Built(app, environs=_environs_with_token(app))


def pyramid_hawkauth_variant(nonce_cache_url: str | None = None) -> Built:
    import secrets
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import pyramid_hawkauth  # noqa: F401
    except ImportError as error:
        raise Skip(f"pyramid_hawkauth is not installed ({error}); pip install -e '.[bench]'") from None
    from pyramid.interfaces import IAuthenticationPolicy

    from bench.apps import pyramid_hawkauth_app
    from bench.hawk_peers import HawkSigner

    app = pyramid_hawkauth_app(secrets.token_hex(32), nonce_cache_url)
    policy = app.registry.queryUtility(IAuthenticationPolicy)
    # Its documented way of issuing credentials: a tokenlib token as the Hawk
    # id, and the key derived from it under the master secret.
    hawk_id, key = policy.encode_hawk_id(None, "bench")
    return Built(app, fresh_environs=HawkSigner(hawk_id, key))


def mohawk_variant(**request: Any) -> Built:
    try:
        import mohawk  # noqa: F401
    except ImportError as error:
        raise Skip(f"mohawk is not installed ({error}); pip install -e '.[bench]'") from None
    import secrets

    from bench.apps import mohawk_app
    from bench.hawk_peers import HawkSigner, MohawkAuthenticationPolicy

    hawk_id, key = secrets.token_hex(32), secrets.token_hex(32)
    policy = MohawkAuthenticationPolicy({hawk_id: {"id": hawk_id, "key": key, "algorithm": "sha256", "userid": "bench"}})
    return Built(mohawk_app(policy), fresh_environs=HawkSigner(hawk_id, key, **request))


def argon2_cost(quick: bool) -> harness.Result:
    from pyramid_authsuite.accounts.passwords import PasswordHasher

    hasher = PasswordHasher()  # the shipped defaults: m=19 MiB, t=2, p=1
    stored = hasher.hash(PASSWORD)
    number, repeats = (3, 3) if quick else (20, 5)
    per_call = harness.measure_callable(lambda: hasher.verify(stored, PASSWORD), number=number, repeats=repeats)
    return harness.Result("argon2id verify, default parameters", per_call, note="per Basic login; not in the rows above")


def variants(context: Context) -> list[Variant]:
    sqlite = context.sqlite_url
    post = {"method": "POST", "body": JSON_BODY, "content_type": "application/json"}
    return [
        Variant("basic (memory cache, SQLite)", lambda: basic_variant("memory://", sqlite)),
        Variant("basic (Redis cache, PostgreSQL)", lambda: basic_variant(REDIS_URL, POSTGRES_URL), ("redis", "postgresql")),
        # Basic on every request: the verified-credentials cache turns the
        # Argon2id check into a cache read (one check per 300 s per password).
        Variant("basic, credentials cache (memory, SQLite)",
                lambda: basic_variant("memory://", sqlite, BASIC_CREDENTIALS_CACHE),
                note="no Argon2id on a hit"),
        Variant("basic, credentials cache (Redis, PostgreSQL)",
                lambda: basic_variant(REDIS_URL, POSTGRES_URL, BASIC_CREDENTIALS_CACHE), ("redis", "postgresql"),
                note="no Argon2id on a hit"),
        Variant("hawk (memory cache)", lambda: hawk_variant("memory://", sqlite), key="memory"),
        Variant("hawk (Redis cache)", lambda: hawk_variant(REDIS_URL, sqlite), ("redis",), key="redis"),
        Variant(
            "hawk (memory cache, sign_responses off)",
            lambda: hawk_variant("memory://", sqlite, {"multiauth.policy.hawk.sign_responses": "false"}),
            note="no Server-Authorization, like the peers",
            key="memory-unsigned",
        ),
        Variant(
            "hawk floor: cached JWT + one Redis GET",
            lambda: redis_floor_variant(context.workdir),
            ("redis",),
            note="any per-request Redis check",
            key="redis-floor",
        ),
        Variant("pyramid_hawkauth", pyramid_hawkauth_variant, note="tokenlib ids, in-memory nonces", key="pyramid_hawkauth"),
        Variant(
            "pyramid_hawkauth, Redis nonce cache",
            lambda: pyramid_hawkauth_variant(REDIS_URL),
            ("redis",),
            note="like for like with hawk (Redis cache)",
            key="pyramid_hawkauth-redis",
        ),
        Variant("mohawk policy (kinto-hawk way)", mohawk_variant, note="dict credentials and nonces", key="mohawk"),
        Variant("hawk POST JSON (memory cache)", lambda: hawk_variant("memory://", sqlite, **post), note="payload hash checked"),
        Variant("mohawk policy POST JSON", lambda: mohawk_variant(**post), note="payload hash checked"),
        Variant("hmac (memory cache)", lambda: hmac_variant("memory://", sqlite), key="hmac-memory"),
        Variant("hmac (Redis cache)", lambda: hmac_variant(REDIS_URL, sqlite), ("redis",), key="hmac-redis"),
        Variant("hmac POST JSON (memory cache)", lambda: hmac_variant("memory://", sqlite, **post),
                note="Content-Digest checked"),
    ]


# -- running -------------------------------------------------------------------------


def check_service(service: str) -> str | None:
    """``None`` if the service answers, else why not."""
    try:
        if service == "redis":
            import redis

            client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
            client.ping()
            client.close()
        elif service == "postgresql":
            import sqlalchemy

            from pyramid_authsuite.accounts.sql import normalize_database_url

            engine = sqlalchemy.create_engine(normalize_database_url(POSTGRES_URL), connect_args={"connect_timeout": 2})
            with engine.connect():
                pass
            engine.dispose()
        else:
            return f"unknown service {service}"
    except Exception as error:
        return f"{service} not reachable ({error.__class__.__name__})"
    return None


def redis_round_trip_us(count: int = 5000, repeats: int = 5) -> float:
    """µs per PING on one held connection to the benchmark Redis, in a tight loop.

    The floor any Redis-backed nonce check pays per request (two system
    calls and the server's turn), measured in this process so that it can be
    set beside the peers that keep their nonces in process memory.
    """
    import socket
    import time

    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    connection = client.connection_pool.make_connection()
    try:
        connection.connect()
        sock = connection._sock
        ping = b"*1\r\n$4\r\nPING\r\n"
        timings = []
        for _ in range(repeats):
            started = time.perf_counter()
            for _ in range(count):
                sock.sendall(ping)
                if not sock.recv(64).endswith(b"\r\n"):
                    raise RuntimeError("unexpected PING reply")
            timings.append((time.perf_counter() - started) / count * 1e6)
        return statistics.median(timings)
    except (OSError, redis.RedisError, socket.timeout) as error:
        raise Skip(f"redis not reachable ({error.__class__.__name__})") from None
    finally:
        connection.disconnect()
        client.close()


def ratio_lines(added: dict[str, float], skipped: dict[str, str]) -> list[str]:
    """Our Hawk's added cost against the peers', and against the goals."""
    labels = {
        "memory": "hawk (memory)",
        "redis": "hawk (redis)",
        "pyramid_hawkauth": "pyramid_hawkauth",
        "mohawk": "mohawk policy",
    }
    lines = []
    for ours in ("memory", "redis"):
        for peer in ("pyramid_hawkauth", "mohawk"):
            text = f"{labels[ours]} added / {labels[peer]} added = "
            missing = [k for k in (ours, peer) if k not in added]
            if missing:
                lines.append(text + "n/a (" + ", ".join(f"{labels[k]} {skipped.get(k, 'not run')}" for k in missing) + ")")
            elif added[peer] <= 0:
                lines.append(text + f"n/a ({labels[peer]} added {added[peer]:.1f} us)")
            else:
                ratio = added[ours] / added[peer]
                goal = f"  (goal <= {GOAL_RATIO}: {'met' if ratio <= GOAL_RATIO else 'NOT met'})" if peer == "pyramid_hawkauth" else ""
                lines.append(text + f"{ratio:.2f}{goal}")
    if "memory-unsigned" in added and added.get("pyramid_hawkauth", 0) > 0:
        ratio = added["memory-unsigned"] / added["pyramid_hawkauth"]
        lines.append(f"hawk (memory, sign_responses off) added / pyramid_hawkauth added = {ratio:.2f}  (like for like: no peer signs responses)")
    labels["hmac-memory"] = "hmac (memory)"
    if "redis" in added and added.get("pyramid_hawkauth-redis", 0) > 0:
        ratio = added["redis"] / added["pyramid_hawkauth-redis"]
        lines.append(
            f"hawk (redis) added / pyramid_hawkauth with a Redis nonce cache added = {ratio:.2f}"
            "  (like for like: both refuse a replay on every process)"
        )
    if "redis-floor" in added and added.get("pyramid_hawkauth", 0) > 0:
        ratio = added["redis-floor"] / added["pyramid_hawkauth"]
        lines.append(
            f"floor (cached JWT + one Redis GET) added / pyramid_hawkauth added = {ratio:.2f}"
            "  (next to no policy work, plus one Redis GET per request)"
        )
    if "redis-rtt" in added and "redis" in added and "memory" in added and added.get("pyramid_hawkauth", 0) > 0:
        rtt, peer = added["redis-rtt"], added["pyramid_hawkauth"]
        lines.append(
            f"one Redis round trip (PING, tight loop) = {rtt:.1f} us = {rtt / peer:.2f}x pyramid_hawkauth's whole added cost; "
            f"hawk (redis) - hawk (memory) = {added['redis'] - added['memory']:.1f} us"
        )
    for ours, limit in (("memory", GOAL_MEMORY_US), ("redis", GOAL_REDIS_US), ("hmac-memory", GOAL_HMAC_MEMORY_US)):
        if ours in added:
            verdict = "met" if added[ours] <= limit else "NOT met"
            lines.append(f"goal: {labels[ours]} adds {added[ours]:.1f} us <= {limit:.0f} us: {verdict}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests (a smoke run, not for figures)")
    parser.add_argument("--only", nargs="*", help="run only variants whose name contains one of these words")
    args = parser.parse_args(argv)
    number, repeats = (200, 3) if args.quick else (3000, 7)

    def selected(name: str) -> bool:
        return not args.only or any(word in name for word in args.only)

    with tempfile.TemporaryDirectory(prefix="authsuite-bench-") as workdir:
        context = Context(workdir)
        baseline_app = noauth_app()
        baseline_environs = [harness.environ_for("/protected")]
        baseline_timings = harness.measure_timings(baseline_app, baseline_environs, number=number, repeats=repeats)

        results: list[harness.Result] = []
        skipped: dict[str, str] = {}  # key or name -> why
        skip_lines: list[str] = []
        added: dict[str, float] = {}
        measured: list[tuple[Variant, float]] = []
        for variant in variants(context):
            if not selected(variant.name):
                continue
            reason = None
            for service in variant.needs:
                if service not in context.reachable:
                    context.reachable[service] = check_service(service)
                reason = reason or context.reachable[service]
            built = None
            if reason is None:
                try:
                    built = variant.build()
                except Skip as skip:
                    reason = str(skip)
            if built is None:
                skip_lines.append(f"skipped: {variant.name}: {reason}")
                if variant.key:
                    skipped[variant.key] = f"skipped: {reason}"
                continue
            try:
                per_request = harness.measure(
                    built.app,
                    built.environs,
                    fresh_environs=built.fresh_environs,
                    number=number,
                    repeats=repeats,
                )
            finally:
                if built.cleanup is not None:
                    built.cleanup()
            measured.append((variant, per_request))

        # The baseline again, after the variants: a machine that got slower or
        # faster meanwhile shows here, and both halves count.
        baseline_after = harness.measure_timings(baseline_app, baseline_environs, number=number, repeats=repeats)
        baseline = statistics.median(baseline_timings + baseline_after)
        for variant, per_request in measured:
            results.append(harness.Result(variant.name, per_request, per_request - baseline, variant.note))
            if variant.key:
                added[variant.key] = per_request - baseline
        if "redis" in added:
            try:
                added["redis-rtt"] = redis_round_trip_us(count=500 if args.quick else 5000)
            except Skip as skip:
                skip_lines.append(f"skipped: Redis round trip: {skip}")
        if selected("argon2id verify, default parameters"):
            results.append(argon2_cost(args.quick))

        print(harness.report(results, baseline))
        before, after = statistics.median(baseline_timings), statistics.median(baseline_after)
        if abs(after - before) > 0.1 * min(before, after):
            print(f"note: the baseline moved from {before:.1f} to {after:.1f} us during the run (a noisy machine)")
        for line in skip_lines:
            print(line)
        if any(key in added or key in skipped for key in ("memory", "redis")):
            print()
            for line in ratio_lines(added, skipped):
                print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
