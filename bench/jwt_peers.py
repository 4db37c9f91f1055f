"""JWT variants for the benchmarks, and pyramid_jwt set up the way its README says.

``jwt_variants(workdir)`` and ``pyramid_jwt_variant()`` return
``(name, wsgi_app, environs)`` tuples for :func:`bench.harness.measure`
(environs are cycled, so a variant's token is sent again and again):

- "repeated token": the verified-token cache answers after the first request;
- "first-seen token": the verified-token cache is off (``verified_cache_size
  = 0``), so every request verifies signature and claims from scratch, which
  is what a token seen for the first time costs. :func:`fresh_token_environs`
  builds never-seen tokens instead, for ``measure(fresh_environs=...)``.

pyramid_jwt 1.6.1 runs on Pyramid 2 as a legacy ``IAuthenticationPolicy``
(``set_authentication_policy`` / ``set_authorization_policy`` are deprecated
and wrapped in Pyramid's ``LegacySecurityPolicy``); its deprecation warnings
are silenced here only. It cannot be named in ``multiauth.policy.<name>.use``
(``request.jwt_claims`` only exists after ``set_jwt_authentication_policy``),
so it is measured as its README configures it, in its own app.
"""
from __future__ import annotations

import os
import warnings
from typing import Any, Callable

from bench import harness
from bench.apps import Root, authsuite_app, hello

# 64 bytes: long enough for HS256 and for PyJWT's own key length warning.
SECRET = "benchmark-secret-0123456789abcdef-0123456789abcdef-0123456789abc"
USERID = "bench"


def _jwt_app(workdir: str, cache_url: str = "memory://", **policy: str):
    settings = {
        "authsuite.cache_url": cache_url,
        "authsuite.cache_prefix": "authsuite-bench:",
        "authsuite.accounts_url": f"sqlite:///{workdir}/jwt-bench.sqlite",
        "multiauth.policies": "jwt",
        "multiauth.policy.jwt.use": "pyramid_authsuite.JWTAuthenticationPolicy",
    }
    settings.update({f"multiauth.policy.jwt.{name}": value for name, value in policy.items()})
    app = authsuite_app(settings)
    store = app.registry.authsuite_accounts
    if store.get(USERID) is None:
        store.create(USERID, None, roles=["reader"], tenant="bench")
    return app


def _policy(app: Any) -> Any:
    from pyramid_authsuite.jwt.policy import JWTAuthenticationPolicy

    return app.registry.authsuite_security_policy.get_policy(JWTAuthenticationPolicy)


def _environs_with_token(app: Any, ttl: int = 3600) -> list[dict]:
    """One token as ``POST /tokens`` would issue it (sub, iat, exp, jti, roles, tenant_id)."""
    account = app.registry.authsuite_accounts.get(USERID)
    token = _policy(app).issue_token(app.registry, account, ttl=ttl)["access_token"]
    return [harness.environ_for("/protected", {"Authorization": f"Bearer {token}"})]


def fresh_token_environs(app: Any) -> Callable[[int], list[dict]]:
    """``count -> environs``, each with a token never sent before (for ``fresh_environs=``)."""
    account = app.registry.authsuite_accounts.get(USERID)
    policy = _policy(app)

    def build(count: int) -> list[dict]:
        return [
            harness.environ_for(
                "/protected",
                {"Authorization": "Bearer " + policy.issue_token(app.registry, account, ttl=3600)["access_token"]},
            )
            for _ in range(count)
        ]

    return build


def _write_key(workdir: str, kind: str) -> str:
    from cryptography.hazmat.primitives import serialization

    from pyramid_authsuite.scripts.keys import generate_private_key

    path = os.path.join(workdir, f"jwt-bench-{kind}.pem")
    if not os.path.exists(path):
        key = generate_private_key(kind)
        with open(path, "wb") as handle:
            handle.write(
                key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
            )
    return path


def jwt_variants(workdir: str, redis_url: str | None = None) -> list[tuple[str, Any, list[dict]]]:
    """Our JWT policy: HS256 repeated and first-seen; RS256, ES256 and EdDSA first-seen; Redis if given."""
    variants = []
    repeated = _jwt_app(workdir, secret=SECRET)
    variants.append(("jwt HS256, repeated token", repeated, _environs_with_token(repeated)))
    first_seen = _jwt_app(workdir, secret=SECRET, verified_cache_size="0")
    variants.append(("jwt HS256, first-seen token (cache off)", first_seen, _environs_with_token(first_seen)))
    for kind, label in (("rsa", "RS256 3072-bit"), ("ec", "ES256"), ("ed25519", "EdDSA")):
        app = _jwt_app(workdir, private_key=_write_key(workdir, kind), verified_cache_size="0")
        variants.append((f"jwt {label}, first-seen token (cache off)", app, _environs_with_token(app)))
    if redis_url:
        app = _jwt_app(workdir, cache_url=redis_url, secret=SECRET)
        variants.append(("jwt HS256, repeated token, Redis revocation", app, _environs_with_token(app)))
    return variants


def pyramid_jwt_app(secret: str = SECRET, algorithm: str = "HS256") -> Any:
    """The same view behind pyramid_jwt, configured as its README shows.

    README: ``config.set_authorization_policy(ACLAuthorizationPolicy())``,
    ``config.include('pyramid_jwt')``, ``config.set_jwt_authentication_policy(secret)``.
    Its default algorithm is HS512; HS256 is passed (a documented argument)
    so that both sides compute the same MAC.
    """
    from pyramid.config import Configurator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from pyramid.authorization import ACLAuthorizationPolicy

        with Configurator(root_factory=Root) as config:
            config.set_authorization_policy(ACLAuthorizationPolicy())
            config.include("pyramid_jwt")
            config.set_jwt_authentication_policy(secret, algorithm=algorithm, expiration=3600)
            config.add_route("protected", "/protected")
            config.add_view(hello, route_name="protected", permission="authenticated")
        return config.make_wsgi_app()


def pyramid_jwt_variant(algorithm: str = "HS256") -> tuple[str, Any, list[dict]]:
    """pyramid_jwt's policy with a token from its ``create_token`` (what ``request.create_jwt_token`` calls).

    Its default ``auth_type`` is ``JWT``: the header is ``Authorization: JWT <token>``.
    """
    from pyramid.interfaces import IAuthenticationPolicy

    app = pyramid_jwt_app(algorithm=algorithm)
    policy = app.registry.queryUtility(IAuthenticationPolicy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # datetime.utcnow() on Python 3.12+
        token = policy.create_token(USERID)
    return (f"pyramid_jwt {algorithm}", app, [harness.environ_for("/protected", {"Authorization": f"JWT {token}"})])


def main() -> None:  # pragma: no cover - a throwaway report: python -m bench.jwt_peers
    import statistics
    import tempfile

    from bench.apps import noauth_app

    with tempfile.TemporaryDirectory() as workdir:
        variants = jwt_variants(workdir)
        peer = pyramid_jwt_variant()
        rounds = []
        for _ in range(3):
            base = harness.measure(noauth_app(), peer[2], number=3000)
            row = {name: harness.measure(app, environs, number=3000) - base for name, app, environs in [*variants, peer]}
            fresh_app = variants[0][1]
            row["jwt HS256, first-seen token (fresh tokens)"] = (
                harness.measure(fresh_app, fresh_environs=fresh_token_environs(fresh_app), number=2000) - base
            )
            rounds.append(row)
        medians = {name: statistics.median(r[name] for r in rounds) for name in rounds[0]}
        for name, added in medians.items():
            print(f"{name:48} +{added:6.1f} us")
        print()
        for line in goal_lines(medians, peer[0]):
            print(line)


# The issue's goals: µs added over no auth, and the largest ratio to pyramid_jwt's added cost.
GOAL_FIRST_SEEN_US = 90.0
GOAL_REPEATED_US = 25.0
GOAL_RATIO = 0.4


def goal_lines(added: dict[str, float], peer: str) -> list[str]:
    """Each HS256 row against pyramid_jwt (ratio) and against its own µs goal."""
    lines = []
    rows = (
        ("jwt HS256, repeated token", GOAL_REPEATED_US),
        ("jwt HS256, first-seen token (cache off)", GOAL_FIRST_SEEN_US),
        ("jwt HS256, first-seen token (fresh tokens)", GOAL_FIRST_SEEN_US),
    )
    for name, limit in rows:
        if name not in added:
            continue
        ours = added[name]
        verdict = "met" if ours <= limit else "NOT met"
        line = f"{name}: {ours:.1f} us (goal <= {limit:.0f}: {verdict})"
        if added.get(peer, 0) > 0:
            ratio = ours / added[peer]
            line += f", {ratio:.2f}x {peer} (goal <= {GOAL_RATIO}: {'met' if ratio <= GOAL_RATIO else 'NOT met'})"
        lines.append(line)
    return lines


if __name__ == "__main__":  # pragma: no cover
    main()
