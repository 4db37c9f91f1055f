"""Tokens from an external issuer's JWKS, over real HTTP on 127.0.0.1.

The issuer is a second instance of the demo app (``POST /tokens``,
``GET /.well-known/jwks.json``) served by waitress in a thread; it can be
swapped for a reconfigured instance, which is how it rotates its key.
"""
from __future__ import annotations

import collections
import secrets

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from webtest.http import StopableWSGIServer

from pyramid_authsuite.jwt import protocol
from pyramid_authsuite.jwt.policy import JWTAuthenticationPolicy
from tests.apps import basic, make_demo, registry
from tests.jwt.helpers import PASSWORD, bearer, bearer_challenge, claims, private_key, problem_code, write_pems


class ThreadedServer:
    """A WSGI app on a free 127.0.0.1 port, in a thread; counts hits per path; the app can be swapped."""

    def __init__(self, app):
        self.app = app
        self.hits: collections.Counter = collections.Counter()
        # WebTest's waitress server: runs in its own thread, stops cleanly.
        self.server = StopableWSGIServer.create(self._wsgi, host="127.0.0.1", port=0)
        self.url = f"http://127.0.0.1:{self.server.effective_port}"

    def _wsgi(self, environ, start_response):
        self.hits[environ["PATH_INFO"]] += 1
        return self.app(environ, start_response)

    def close(self):
        self.server.shutdown()


class Issuer:
    """The issuing app: demo with Ed25519 keys given as ``KID:EdDSA:PATH`` entries."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.apps = []
        self.server = None

    def configure(self, keys: str, signing_kid: str | None = None):
        settings = {
            "authsuite.accounts_url": f"sqlite:///{self.tmp_path}/issuer.sqlite",
            "authsuite.endpoints": "tokens jwks",
            "multiauth.policies": "jwt basic",
            "multiauth.policy.jwt.use": "pyramid_authsuite.JWTAuthenticationPolicy",
            "multiauth.policy.jwt.keys": keys,
            "multiauth.policy.jwt.issuer": "https://issuer.test",
            "multiauth.policy.basic.use": "pyramid_authsuite.BasicAuthenticationPolicy",
        }
        if signing_kid:
            settings["multiauth.policy.jwt.signing_kid"] = signing_kid
        test_app = make_demo(settings)
        store = registry(test_app).authsuite_accounts
        if store.get("alice") is None:
            store.create("alice", PASSWORD, roles=["admin"], tenant="acme")
        self.apps.append(test_app)
        if self.server is None:
            self.server = ThreadedServer(test_app.app)
        else:
            self.server.app = test_app.app  # the rotation: same URL, new configuration
        self.test_app = test_app

    @property
    def jwks_url(self) -> str:
        return self.server.url + "/.well-known/jwks.json"

    @property
    def jwks_hits(self) -> int:
        return self.server.hits["/.well-known/jwks.json"]

    def token(self) -> str:
        return self.test_app.post("/tokens", headers=basic("alice", PASSWORD), status=200).json["access_token"]

    def close(self):
        if self.server is not None:
            self.server.close()
        for test_app in self.apps:
            registry(test_app).authsuite_accounts.close()


def ed_key(tmp_path, name):
    return write_pems(tmp_path, name, ed25519.Ed25519PrivateKey.generate())


@pytest.fixture
def issuer(tmp_path):
    issuer = Issuer(tmp_path)
    yield issuer
    issuer.close()


def consumer(tmp_path, jwks_url, **policy):
    settings = {
        "authsuite.accounts_url": f"sqlite:///{tmp_path}/consumer.sqlite",
        "authsuite.endpoints": "jwks",
        "multiauth.policies": "external",
        "multiauth.policy.external.use": "pyramid_authsuite.JWTAuthenticationPolicy",
        "multiauth.policy.external.jwks_url": jwks_url,
        "multiauth.policy.external.algorithms": "EdDSA RS256",
        "multiauth.policy.external.issuer": "https://issuer.test",
        "multiauth.policy.external.realm": "consumer",
    }
    settings.update({f"multiauth.policy.external.{name}": value for name, value in policy.items()})
    return make_demo(settings)


def test_the_issuers_tokens_are_accepted_and_its_keys_not_republished(issuer, tmp_path):
    private_path, _ = ed_key(tmp_path, "k1")
    issuer.configure(f"k1:EdDSA:{private_path}")
    app = consumer(tmp_path, issuer.jwks_url)
    value = issuer.token()
    body = app.get("/whoami", headers=bearer(value)).json
    assert body["userid"] == "alice" and body["claims"]["iss"] == "https://issuer.test"
    assert {"role:admin", "tenant:acme", "scheme:jwt"} <= set(body["principals"])
    app.get("/admin", headers=bearer(value), status=200)
    assert issuer.jwks_hits == 1
    for _ in range(3):
        app.get("/whoami", headers=bearer(issuer.token()), status=200)
    assert issuer.jwks_hits == 1  # cached
    assert app.get("/.well-known/jwks.json").json == {"keys": []}


def test_after_the_issuer_rotates_the_new_kid_is_fetched_and_accepted(issuer, tmp_path):
    old_private, old_public = ed_key(tmp_path, "2026-01")
    new_private, _ = ed_key(tmp_path, "2026-07")
    issuer.configure(f"2026-01:EdDSA:{old_private}")
    app = consumer(tmp_path, issuer.jwks_url, jwks_refetch_seconds="0")
    old_token = issuer.token()
    app.get("/whoami", headers=bearer(old_token), status=200)

    issuer.configure(f"2026-07:EdDSA:{new_private} 2026-01:EdDSA:{old_public}", signing_kid="2026-07")
    new_token = issuer.token()
    assert jwt.get_unverified_header(new_token)["kid"] == "2026-07"
    hits = issuer.jwks_hits
    app.get("/whoami", headers=bearer(new_token), status=200)
    assert issuer.jwks_hits == hits + 1
    app.get("/whoami", headers=bearer(old_token), status=200)

    issuer.configure(f"2026-07:EdDSA:{new_private}")  # the old key retired
    newest = issuer.token()
    app.get("/whoami", headers=bearer(newest), status=200)
    forged_kid = jwt.encode(claims(iss="https://issuer.test"), private_key("ed25519"), algorithm="EdDSA",
                            headers={"kid": "2026-99"})
    response = app.get("/whoami", headers=bearer(forged_kid), status=401)
    assert 'error_description="The access token names an unknown key."' in bearer_challenge(response)


def test_unknown_kids_refetch_at_most_once_per_interval(issuer, tmp_path):
    private_path, _ = ed_key(tmp_path, "k1")
    issuer.configure(f"k1:EdDSA:{private_path}")
    app = consumer(tmp_path, issuer.jwks_url, jwks_refetch_seconds="3600")
    app.get("/whoami", headers=bearer(issuer.token()), status=200)
    assert issuer.jwks_hits == 1
    for _ in range(5):
        stranger = jwt.encode(claims(iss="https://issuer.test"), private_key("ed25519"), algorithm="EdDSA",
                              headers={"kid": secrets.token_hex(8)})
        assert problem_code(app.get("/whoami", headers=bearer(stranger), status=401)) == "invalid_token"
    assert issuer.jwks_hits == 2  # one refetch for the first unknown kid, none for the others


def test_jku_pointing_elsewhere_is_never_fetched(issuer, tmp_path):
    private_path, _ = ed_key(tmp_path, "k1")
    issuer.configure(f"k1:EdDSA:{private_path}")
    attacker_key_path, _ = ed_key(tmp_path, "attacker")
    attacker = Issuer(tmp_path / "attacker")
    (tmp_path / "attacker").mkdir()
    attacker.configure(f"evil:EdDSA:{attacker_key_path}")
    try:
        app = consumer(tmp_path, issuer.jwks_url)
        forged = jwt.encode(claims(iss="https://issuer.test"), attacker.test_app.app.registry.authsuite_security_policy
                            .get_policy(JWTAuthenticationPolicy).keyring.signing.signing_key, algorithm="EdDSA",
                            headers={"kid": "evil", "jku": attacker.jwks_url, "x5u": attacker.server.url + "/cert"})
        app.get("/whoami", headers=bearer(forged), status=401)
        assert attacker.server.hits == {}
        # An attacker-chosen jku next to a real kid is just as ignored.
        relabelled = jwt.encode(claims(iss="https://issuer.test"), private_key("ed25519"), algorithm="EdDSA",
                                headers={"kid": "k1", "jku": attacker.jwks_url})
        response = app.get("/whoami", headers=bearer(relabelled), status=401)
        assert protocol.BAD_SIGNATURE in bearer_challenge(response)
        assert attacker.server.hits == {}
    finally:
        attacker.close()


def test_an_unreachable_issuer_fails_closed_and_a_fetched_set_survives_an_outage(issuer, tmp_path):
    private_path, _ = ed_key(tmp_path, "k1")
    issuer.configure(f"k1:EdDSA:{private_path}")
    value = issuer.token()
    from tests.conftest import free_port

    down = consumer(tmp_path, f"http://127.0.0.1:{free_port()}/jwks.json", jwks_timeout_seconds="1")
    response = down.get("/whoami", headers=bearer(value), status=503)
    assert response.headers["Retry-After"] and problem_code(response) == "unavailable"

    app = consumer(tmp_path, issuer.jwks_url, jwks_cache_seconds="1", jwks_refetch_seconds="0")
    app.get("/whoami", headers=bearer(value), status=200)
    policy = registry(app).authsuite_security_policy.get_policy(JWTAuthenticationPolicy)
    issuer.server.close()
    issuer.server = None
    policy._verified.clear()
    policy.remote._fetched_at -= 10  # the set has expired; the refresh fails; the copy serves
    app.get("/whoami", headers=bearer(value), status=200)
    assert policy.remote.fetches == 2
    policy.remote._fetched_at -= policy.remote.max_stale_seconds  # too old to trust any more
    policy.remote._failed_at = None
    policy._verified.clear()
    app.get("/whoami", headers=bearer(value), status=503)


def test_remote_key_set_skips_keys_it_must_not_use(tmp_path):
    """oct keys, private JWKs, encryption keys and algorithms outside the allow-list are never bound."""
    import json

    from cryptography.hazmat.primitives.asymmetric import rsa

    from pyramid_authsuite.jwt.keys import public_jwk

    ed_public = public_jwk(private_key("ed25519").public_key())
    rsa_public = public_jwk(private_key("rsa").public_key())
    weak = public_jwk(rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key())
    document = {"keys": [
        {"kty": "oct", "k": "c2VjcmV0IHNlY3JldCBzZWNyZXQgc2VjcmV0IQ", "kid": "oct", "alg": "HS256"},
        {**ed_public, "kid": "enc", "use": "enc"},
        {**ed_public, "kid": "ok"},
        {**rsa_public, "kid": "rsa-ps", "alg": "PS256"},
        {**rsa_public, "kid": "rsa"},
        {**weak, "kid": "weak"},
        {"kty": "EC", "crv": "P-256", "kid": "broken"},
        "not a key",
    ]}

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(document).encode()]

    server = ThreadedServer(app)
    try:
        policy = JWTAuthenticationPolicy(jwks_url=server.url + "/jwks", algorithms="EdDSA RS256")
        keys = policy.remote.keys()
        assert set(keys) == {"ok", "rsa"}
        assert keys["rsa"].algorithms == {"RS256"} and keys["ok"].algorithms == {"EdDSA"}
    finally:
        server.close()


def test_remote_refetch_interval_uses_the_clock(tmp_path):
    """The interval is measured on the key set's clock (monotonic by default)."""
    calls = []

    def app(environ, start_response):
        calls.append(1)
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"keys": []}']

    server = ThreadedServer(app)
    try:
        policy = JWTAuthenticationPolicy(jwks_url=server.url + "/jwks", algorithms="EdDSA", jwks_refetch_seconds="30")
        remote = policy.remote
        now = [1000.0]
        remote.clock = lambda: now[0]
        for _ in range(3):
            with pytest.raises(protocol.TokenError):
                remote.find("a")
        assert len(calls) == 2  # the first fetch, one forced refetch
        now[0] += 31
        with pytest.raises(protocol.TokenError):
            remote.find("b")
        assert len(calls) == 3
    finally:
        server.close()
