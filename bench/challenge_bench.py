"""Challenge-response benchmark: ``python -m bench.challenge_bench [--quick] [--only WORD ...]``.

Times, through the WSGI app, in one process, beside a no-auth baseline
measured in the same run (:mod:`bench.harness`, :mod:`bench.apps`):

- challenge creation: ``POST /challenges`` per key kind, and for an unknown
  key id (a decoy, which must cost what a real one does);
- answer verification: ``GET /protected`` carrying an answer, per kind. The
  challenges are created and answered outside the timed loop (each
  environ is sent once: a challenge is single-use), so the rows show the
  server's cost only.

A client pays both (two requests per authenticated call); logging in once
for a Hawk session or a token is the way to pay it once. The account
store's two lookups per answer (key, account) are most of the cost: the
``memory+memo`` rows run with ``key_check_seconds = 60``, and the cost of
each lookup is printed on its own.

Accounts in SQLite (a temporary file); the cache in memory, and in Redis
when ``AUTHSUITE_BENCH_REDIS_URL`` (default DB 12 of the local Redis) answers.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from dataclasses import dataclass
from typing import Any, Callable

from bench import harness
from bench.apps import authsuite_app, noauth_app

REDIS_URL = os.environ.get("AUTHSUITE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
# Everything this benchmark leaves in a shared cache is under this prefix and expires.
CACHE_PREFIX = "authsuite-challenge-bench:"
CHEAP_HASHING = {"authsuite.password_time_cost": "1", "authsuite.password_memory_cost": "8"}
CHALLENGE = {
    "authsuite.endpoints": "challenges",
    "multiauth.policies": "challenge",
    "multiauth.policy.challenge.use": "pyramid_authsuite.ChallengeAuthenticationPolicy",
    # The rate limits would stop a benchmark at once: out of the way.
    "multiauth.policy.challenge.max_challenges_per_key": "1000000000",
    "multiauth.policy.challenge.max_challenges_per_address": "1000000000",
    # Long enough for the challenges built before a timed run to outlive it.
    "multiauth.policy.challenge.max_challenge_ttl_seconds": "600",
    "multiauth.policy.challenge.challenge_ttl_seconds": "600",
    "multiauth.policy.challenge.decoy_kinds": "ed25519",
}
KINDS = ("hmac", "ed25519", "rsa")
MEMO_LABEL = "memory+memo"
# RSA 2048 for the client: its decryptions run outside the timed loop but
# dominate the benchmark's wall time; the server's cost does not depend on it.
CLIENT_RSA_BITS = 2048


class Skip(Exception):
    """A variant that cannot run here; the message says why."""


@dataclass
class Variant:
    name: str
    app: Callable
    fresh_environs: Callable[[int], list[dict]]
    expect_status: str
    note: str = ""


def _client_keys() -> dict[str, Any]:
    import secrets

    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    return {
        "hmac": secrets.token_hex(32).encode("ascii"),
        "ed25519": ed25519.Ed25519PrivateKey.generate(),
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=CLIENT_RSA_BITS),
    }


def build_app(cache_url: str, accounts_url: str, keys: dict[str, Any], policy: dict[str, str] | None = None) -> Callable:
    """The bench app with an account holding one key of each kind (``bench-<kind>``)."""
    from cryptography.hazmat.primitives import serialization

    app = authsuite_app({
        **CHEAP_HASHING,
        **CHALLENGE,
        **{f"multiauth.policy.challenge.{name}": value for name, value in (policy or {}).items()},
        "authsuite.cache_url": cache_url,
        "authsuite.cache_prefix": CACHE_PREFIX,
        "authsuite.accounts_url": accounts_url,
    })
    store = app.registry.authsuite_accounts
    if store.get("bench") is None:
        store.create("bench", None)
    for kind, key in keys.items():
        if store.get_key(f"bench-{kind}") is not None:
            continue
        material = key if kind == "hmac" else key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        store.add_key("bench", f"bench-{kind}", kind, material)
    return app


def challenge_environ(key_id: str) -> dict:
    from webob import Request

    body = json.dumps({"key_id": key_id}).encode()
    request = Request.blank("/challenges", method="POST", body=body, content_type="application/json",
                            remote_addr="127.0.0.1")
    return dict(request.environ)


def creations(key_id: str) -> Callable[[int], list[dict]]:
    """POST /challenges environs (each has its own body stream, hence fresh ones)."""
    return lambda count: [challenge_environ(key_id) for _ in range(count)]


def fetch_challenge(app: Callable, key_id: str) -> dict[str, Any]:
    """A challenge, through the app, outside any timed loop."""
    chunks: list[bytes] = []
    status: list[str] = []
    body = app(challenge_environ(key_id), lambda s, h, e=None: status.append(s))
    chunks.extend(body)
    if hasattr(body, "close"):
        body.close()
    if not status[0].startswith("201"):
        raise RuntimeError(f"POST /challenges answered {status[0]}")
    return json.loads(b"".join(chunks))


def answers(app: Callable, kind: str, key: Any) -> Callable[[int], list[dict]]:
    """Environs of GET /protected, each answering a challenge of its own."""
    from pyramid_authsuite.challenge import protocol

    key_id = f"bench-{kind}"

    def build(count: int) -> list[dict]:
        environs = []
        for _ in range(count):
            issued = fetch_challenge(app, key_id)
            response = protocol.answer(kind, key, issued["challenge_id"], key_id, issued["challenge"])
            value = protocol.authorization_header(issued["challenge_id"], key_id, response)
            environs.append(harness.environ_for("/protected", {"Authorization": value}))
        return environs

    return build


def redis_reachable() -> str | None:
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
        client.ping()
        client.close()
    except Exception as error:  # any failure: the Redis rows are skipped, with the reason
        return f"Redis at {REDIS_URL} not reachable ({error.__class__.__name__})"
    return None


def variants(workdir: str, keys: dict[str, Any], only: list[str] | None) -> tuple[list[Variant], list[str]]:
    skipped: list[str] = []
    result: list[Variant] = []

    def wanted(label: str) -> bool:
        return not only or any(word in label or word in "create answer" or word in KINDS for word in only)

    backends: list[tuple[str, str, dict[str, str]]] = [
        ("memory", "memory://", {}),
        # The same with each process reusing key and account lookups for 60 s
        # (the account store's queries are most of the cost above).
        (MEMO_LABEL, "memory://", {"key_check_seconds": "60"}),  # "memory+memo" rows
    ]
    if wanted("Redis"):
        why_not = redis_reachable()
        if why_not is None:
            backends.append(("Redis", REDIS_URL, {}))
        else:
            skipped.append(f"skipped: Redis rows: {why_not}")
    for label, cache_url, policy in backends:
        if not wanted(label):
            continue
        app = build_app(cache_url, f"sqlite:///{workdir}/bench-{label.split(',')[0].lower()}.sqlite", keys, policy)
        for kind in KINDS:
            result.append(Variant(f"create, {kind} key ({label})", app, creations(f"bench-{kind}"), "201",
                                  "rsa: one RSA-OAEP encryption" if kind == "rsa" else ""))
        result.append(Variant(f"create, unknown id ({label})", app, creations("bench-unknown"), "201",
                              "decoy: ed25519"))
        for kind in KINDS:
            result.append(Variant(f"answer, {kind} ({label})", app, answers(app, kind, keys[kind]), "200"))
    if only:
        result = [variant for variant in result if any(word in variant.name for word in only)]
    return result, skipped


def store_costs(workdir: str, keys: dict[str, Any]) -> None:
    """What the account store's lookups cost on their own (each answer makes two, each challenge one)."""
    store = build_app("memory://", f"sqlite:///{workdir}/bench-memory.sqlite", keys).registry.authsuite_accounts
    get_key = harness.measure_callable(lambda: store.get_key("bench-ed25519"), number=200)
    get_account = harness.measure_callable(lambda: store.get("bench"), number=200)
    print(f"account store (SQLite): get_key {get_key:.1f} us, get (account) {get_account:.1f} us")


def known_vs_unknown(workdir: str, keys: dict[str, Any], rounds: int, number: int) -> str:
    """``POST /challenges`` for a known ed25519 key id and an unknown one (an
    ed25519 decoy), timed in alternating rounds on one app (memory cache,
    lookups memoized so the account store's noise stays out), so that a
    machine changing speed affects both alike: the timing signal the audit
    measured (~16 us, 5 %, before issuing did the same work on both paths)."""
    app = build_app("memory://", f"sqlite:///{workdir}/bench-interleaved.sqlite", keys, {"key_check_seconds": "3600"})
    known_times, unknown_times = [], []
    for round_number in range(rounds):
        # Each goes first in every other round, so neither gains from its place.
        order = [("bench-ed25519", known_times), ("bench-unknown", unknown_times)]
        for key_id, times in order if round_number % 2 == 0 else order[::-1]:
            times += harness.measure_timings(app, fresh_environs=creations(key_id), number=number,
                                             repeats=1, expect_status="201")
    known, unknown = statistics.median(known_times), statistics.median(unknown_times)
    differences = [u - k for k, u in zip(known_times, unknown_times)]
    difference = statistics.median(differences)
    return (f"create, known vs unknown ed25519 key id (memory, memoized, {rounds} alternating rounds): "
            f"known {known:.1f} us, unknown {unknown:.1f} us, median difference {difference:+.1f} us "
            f"({100 * difference / known:+.1f} %)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests (a smoke run, not for figures)")
    parser.add_argument("--only", nargs="*", help="run only variants whose name contains one of these words")
    args = parser.parse_args(argv)
    number, repeats = (100, 3) if args.quick else (1000, 7)

    with tempfile.TemporaryDirectory(prefix="authsuite-challenge-bench-") as workdir:
        keys = _client_keys()
        baseline_app = noauth_app()
        baseline_environs = [harness.environ_for("/protected")]
        before = harness.measure_timings(baseline_app, baseline_environs, number=number * 3, repeats=repeats)
        chosen, skip_lines = variants(workdir, keys, args.only)
        measured = []
        for variant in chosen:
            per_request = harness.measure(variant.app, fresh_environs=variant.fresh_environs, number=number,
                                          repeats=repeats, expect_status=variant.expect_status)
            measured.append((variant, per_request))
        # The baseline again after the variants, so a machine that changed speed meanwhile shows in both halves.
        after = harness.measure_timings(baseline_app, baseline_environs, number=number * 3, repeats=repeats)
        baseline = statistics.median(before + after)
        results = [harness.Result(variant.name, value, value - baseline, variant.note) for variant, value in measured]
        print(harness.report(results, baseline))
        print(f"({MEMO_LABEL}: memory cache, key_check_seconds = 60; the others look the key and account up each time)")
        for line in skip_lines:
            print(line)
        by_name = {variant.name: value for variant, value in measured}
        store_costs(workdir, keys)
        print(known_vs_unknown(workdir, keys, rounds=5 if args.quick else 21, number=number))
        for label in ("memory", MEMO_LABEL, "Redis"):
            for kind in KINDS:
                create = by_name.get(f"create, {kind} key ({label})")
                verify = by_name.get(f"answer, {kind} ({label})")
                if create is not None and verify is not None:
                    print(f"one authenticated call, {kind} ({label}): {create + verify - 2 * baseline:.1f} us added "
                          f"(two requests: create + answer)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
