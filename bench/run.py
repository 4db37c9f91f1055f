"""Run the benchmarks: ``python -m bench.run [--quick] [--only NAME ...]``.

Prints µs per request for a no-auth baseline and for each variant, and the
cost each adds over the baseline, all measured in this one process. Variants
that need Redis or PostgreSQL are skipped with a note when those are not
reachable (AUTHSUITE_TEST_REDIS_URL / AUTHSUITE_TEST_POSTGRES_URL).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile

from bench import harness
from bench.apps import authsuite_app, noauth_app

REDIS_URL = os.environ.get("AUTHSUITE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
POSTGRES_URL = os.environ.get("AUTHSUITE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
PASSWORD = "correct horse battery"

# Argon2 is slow on purpose and Basic is for logging in: per-request figures
# use the cheapest parameters so they show the rest of the path; the real
# hashing cost is measured separately below.
CHEAP_HASHING = {"authsuite.password_time_cost": "1", "authsuite.password_memory_cost": "8"}
BASIC = {
    "multiauth.policies": "basic",
    "multiauth.policy.basic.use": "pyramid_authsuite.BasicAuthenticationPolicy",
}


def basic_variant(name: str, cache_url: str, accounts_url: str):
    from pyramid_authsuite.basic.protocol import basic_header

    app = authsuite_app({**CHEAP_HASHING, **BASIC, "authsuite.cache_url": cache_url, "authsuite.accounts_url": accounts_url})
    store = app.registry.authsuite_accounts
    if store.get("bench") is None:
        store.create("bench", PASSWORD)
    environs = [harness.environ_for("/protected", {"Authorization": basic_header("bench", PASSWORD)})]
    return name, app, environs


def argon2_cost() -> harness.Result:
    from pyramid_authsuite.accounts.passwords import PasswordHasher

    hasher = PasswordHasher()  # the shipped defaults: m=19 MiB, t=2, p=1
    stored = hasher.hash(PASSWORD)
    per_call = harness.measure_callable(lambda: hasher.verify(stored, PASSWORD))
    return harness.Result("argon2id verify, default parameters", per_call, note="per Basic login; not in the rows above")


def services_reachable() -> tuple[bool, bool]:
    import redis
    import sqlalchemy

    from pyramid_authsuite.accounts.sql import normalize_database_url

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
        redis_ok = True
    except Exception:
        redis_ok = False
    try:
        engine = sqlalchemy.create_engine(normalize_database_url(POSTGRES_URL), connect_args={"connect_timeout": 2})
        with engine.connect():
            pass
        engine.dispose()
        postgres_ok = True
    except Exception:
        postgres_ok = False
    return redis_ok, postgres_ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests (a smoke run, not for figures)")
    parser.add_argument("--only", nargs="*", help="run only variants whose name contains one of these words")
    args = parser.parse_args(argv)
    number, repeats = (200, 3) if args.quick else (3000, 7)

    workdir = tempfile.mkdtemp(prefix="authsuite-bench-")
    redis_ok, postgres_ok = services_reachable()
    variants = [basic_variant("basic (memory cache, SQLite)", "memory://", f"sqlite:///{workdir}/bench.sqlite")]
    skipped = []
    if redis_ok and postgres_ok:
        variants.append(basic_variant("basic (Redis cache, PostgreSQL)", REDIS_URL, POSTGRES_URL))
    else:
        skipped.append("basic (Redis cache, PostgreSQL): Redis or PostgreSQL not reachable")
    if args.only:
        variants = [v for v in variants if any(word in v[0] for word in args.only)]

    baseline = harness.measure(noauth_app(), [harness.environ_for("/protected")], number=number, repeats=repeats)
    results = []
    for name, app, environs in variants:
        per_request = harness.measure(app, environs, number=number, repeats=repeats)
        results.append(harness.Result(name, per_request, per_request - baseline))
    results.append(argon2_cost())
    print(harness.report(results, baseline))
    for line in skipped:
        print("skipped:", line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
