"""The JWT policy, /tokens and /.well-known/jwks.json through the demo app.

Tokens are made by PyJWT directly (an implementation independent of our
verifier) or by ``POST /tokens``. Runs on memory+SQLite and on Redis+PostgreSQL.
"""
from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

import pyramid_authsuite.jwt.policy as jwt_policy_module
from pyramid_authsuite.jwt import protocol
from pyramid_authsuite.jwt.keys import DEVELOPMENT_KEY_PURPOSE
from pyramid_authsuite.jwt.policy import REVOKED_PREFIX, JWTAuthenticationPolicy
from pyramid_authsuite.revocation import cutoff_key
from pyramid_authsuite.secret import derived_key
from tests.apps import basic, make_demo, registry
from tests.conftest import free_port
from tests.jwt.helpers import (
    PASSWORD,
    SECRET,
    jwt_settings,
    b64,
    bearer,
    bearer_challenge,
    claims,
    private_key,
    problem_code,
    public_pem,
    token,
    write_pems,
)


@pytest.fixture
def app(build):
    return build(secret=SECRET)


def jwt_policy(app) -> JWTAuthenticationPolicy:
    return registry(app).authsuite_security_policy.get_policy(JWTAuthenticationPolicy)


def refused(app, value: str, path: str = "/whoami") -> str:
    """Send a bearer token that must be refused; return the error_description."""
    response = app.get(path, headers=bearer(value), status=401)
    assert problem_code(response) == "invalid_token"
    challenge = bearer_challenge(response)
    assert challenge.startswith('Bearer realm="jwt-test", error="invalid_token", error_description="')
    description = challenge.split('error_description="', 1)[1][:-1]
    assert response.json["detail"] == description
    # Never the token, nor any of its parts, in the answer.
    for part in [value] + [segment for segment in value.split(".") if len(segment) > 8]:
        assert part not in response.text and part not in challenge
    return description


# -- accepted tokens -------------------------------------------------------------


def test_a_pyjwt_token_is_accepted_with_its_claims_on_the_identity(app):
    payload = claims(email="alice@example.com", tenant_id="acme", role="admin", scope="read write", custom={"x": [1]})
    body = app.get("/whoami", headers=bearer(token(SECRET.encode(), "HS256", payload))).json
    assert body["userid"] == "alice" and body["scheme"] == "jwt"
    assert set(body["principals"]) == {"role:admin", "tenant:acme", "scope:read", "scope:write", "scheme:jwt"}
    assert body["claims"] == payload


@pytest.mark.parametrize(
    "alg, kind",
    [("HS256", None), ("HS384", None), ("HS512", None), ("RS256", "rsa"), ("PS256", "rsa"), ("ES256", "ec256"),
     ("ES384", "ec384"), ("EdDSA", "ed25519")],
)
def test_each_configured_algorithm_accepts_pyjwt_tokens(build, tmp_path, alg, kind):
    if kind is None:
        secret = "h" * 64
        app = build(secret=secret, algorithms=alg)
        signing_key = secret.encode()
    else:
        private_path, public_path = write_pems(tmp_path, kind, private_key(kind))
        app = build(public_key=public_path, algorithms=alg)
        signing_key = private_key(kind)
    assert app.get("/whoami", headers=bearer(token(signing_key, alg))).json["userid"] == "alice"
    # Also with the kid the policy names the key by (its RFC 7638 thumbprint).
    kid = jwt_policy(app).keyring.default.kid
    if kid is not None:
        app.get("/whoami", headers=bearer(token(signing_key, alg, kid=kid)), status=200)
        assert refused(app, token(signing_key, alg, kid=kid + "x")) == protocol.UNKNOWN_KEY


def test_admin_needs_the_admin_role(app):
    app.get("/admin", headers=bearer(token(SECRET.encode(), "HS256", claims(roles=["admin"]))), status=200)
    forbidden = app.get("/admin", headers=bearer(token(SECRET.encode(), "HS256", claims(roles=["user"]))), status=403)
    assert problem_code(forbidden) == "forbidden"
    app.get("/admin", headers=bearer(token(SECRET.encode(), "HS256", claims(role="admin"))), status=200)


def test_principal_claims_map_other_claim_names(build):
    app = build(secret=SECRET, principal_claims="https://example.com/roles=role cognito:groups=group org=tenant")
    payload = claims(**{"https://example.com/roles": ["admin"], "cognito:groups": ["ops", 7, {"no": 1}], "org": 42,
                        "role": "ignored", "tenant_id": "ignored"})
    body = app.get("/whoami", headers=bearer(token(SECRET.encode(), "HS256", payload))).json
    assert set(body["principals"]) == {"role:admin", "group:ops", "group:7", "tenant:42", "scheme:jwt"}
    app.get("/admin", headers=bearer(token(SECRET.encode(), "HS256", payload)), status=200)


def test_principals_follow_each_tokens_values(app):
    """The principals memo keys on values and their types: 1 is a tenant, True is not."""
    cases = [
        (claims(tenant_id=True, roles=["a", "b"]), {"role:a", "role:b"}),
        (claims(tenant_id=1, roles=["a", "b"]), {"role:a", "role:b", "tenant:1"}),
        (claims(tenant_id="1", roles=["a"]), {"role:a", "tenant:1"}),
        (claims(tenant_id=1, roles="a b"), {"role:a b", "tenant:1"}),
        (claims(scope="a b", roles=[{"nested": 1}, "c"]), {"scope:a", "scope:b", "role:c"}),
        (claims(tenant_id=True, roles=["a", "b"]), {"role:a", "role:b"}),
        (claims(roles=["bad\nrole", "x" * 201, "ok"]), {"role:ok"}),
        # Array items keep their types too: only integers and strings are principals.
        (claims(roles=[True]), set()),
        (claims(roles=[1]), {"role:1"}),
        (claims(roles=[1.0]), set()),
        (claims(roles=["1"]), {"role:1"}),
        (claims(roles=[True]), set()),
        (claims(tenant_id=1.0), set()),
        (claims(tenant_id=1), {"tenant:1"}),
        # A string and an array of that string are different values.
        (claims(scope="a b"), {"scope:a", "scope:b"}),
        (claims(scope=["a b"]), {"scope:a b"}),
        (claims(scope="a b"), {"scope:a", "scope:b"}),
        (claims(roles=[["a"]], tenant_id={"t": 1}), set()),
        (claims(roles=["a", ["b"]], tenant_id={"t": True}), {"role:a"}),
    ]
    for payload, expected in cases:
        body = app.get("/whoami", headers=bearer(token(SECRET.encode(), "HS256", payload))).json
        assert set(body["principals"]) == expected | {"scheme:jwt"}, payload


def test_a_custom_header_and_auth_type(build):
    app = build(secret=SECRET, header="X-Auth-Token")
    value = token(SECRET.encode(), "HS256")
    app.get("/whoami", headers={"X-Auth-Token": value}, status=200)
    app.get("/whoami", headers=bearer(value), status=401)
    jwt_app = build(secret=SECRET, auth_type="JWT")
    jwt_app.get("/whoami", headers={"Authorization": f"JWT {value}"}, status=200)
    jwt_app.get("/whoami", headers={"Authorization": f"jwt {value}"}, status=200)  # schemes ignore case
    assert 'JWT realm="jwt-test"' in jwt_app.get("/whoami", status=401).headers.getall("WWW-Authenticate")


# -- RFC 6750 errors --------------------------------------------------------------------


def test_no_token_is_a_plain_bearer_challenge(app):
    response = app.get("/whoami", status=401)
    assert 'Bearer realm="jwt-test"' in response.headers.getall("WWW-Authenticate")
    assert problem_code(response) == "authentication_required"


def test_the_refusal_names_the_reason(app):
    expired = token(SECRET.encode(), "HS256", claims(exp=int(time.time()) - 3600))
    assert refused(app, expired) == protocol.EXPIRED
    forged = token(b"another secret of at least 32 bytes!", "HS256")
    assert refused(app, forged) == protocol.BAD_SIGNATURE


def rsa_app(build, tmp_path, **extra):
    _, public_path = write_pems(tmp_path, "rsa", private_key("rsa"))
    return build(public_key=public_path, **extra)


def test_hs256_signed_with_the_rsa_public_key_is_refused(build, tmp_path):
    """The key-confusion attack (RFC 8725 section 2.1): the public key PEM used as an HMAC secret."""
    app = rsa_app(build, tmp_path)
    pem = public_pem(private_key("rsa"))
    signing_input = f"{b64({'alg': 'HS256', 'typ': 'JWT'})}.{b64(claims())}"
    import hashlib
    import hmac

    forged = f"{signing_input}.{b64(hmac.new(pem, signing_input.encode(), hashlib.sha256).digest())}"
    assert refused(app, forged) == protocol.ALG_REFUSED
    # And the genuine RS256 token passes, so the refusal is about the algorithm.
    app.get("/whoami", headers=bearer(token(private_key("rsa"), "RS256")), status=200)


def test_alg_none_is_refused(app):
    # The empty signature alg none makes (RFC 7519 section 6.1) is named for what it is, not "malformed".
    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims())}."
    assert refused(app, unsigned) == protocol.ALG_NONE
    assert refused(app, unsigned + "c2ln") == protocol.ALG_NONE
    for alg in ("none", "None", "NONE"):
        assert refused(app, f"{b64({'alg': alg})}.{b64(claims())}.") == protocol.ALG_NONE
    # As PyJWT makes one.
    pyjwt_unsigned = jwt.encode(claims(), None, algorithm="none")
    assert pyjwt_unsigned.endswith(".")
    assert refused(app, pyjwt_unsigned) == protocol.ALG_NONE
    # An empty signature with a real algorithm is still malformed, and so is an empty header.
    assert refused(app, f"{b64({'alg': 'HS256'})}.{b64(claims())}.") == protocol.MALFORMED
    assert refused(app, f"{b64(b'not json')}.{b64(claims())}.") == protocol.MALFORMED
    assert refused(app, f".{b64(claims())}.") == protocol.MALFORMED


@pytest.mark.parametrize(
    "kid", ["unknown", "../../../../dev/null", "/etc/passwd", "' OR '1'='1' --", "key\"; DROP TABLE accounts; --", "%00"]
)
def test_a_kid_naming_no_configured_key_is_refused(build, tmp_path, kid):
    app = build(keys=f"current:HS256:{SECRET.replace(' ', '-')}")
    assert refused(app, token(SECRET.replace(" ", "-").encode(), "HS256", kid=kid)) == protocol.UNKNOWN_KEY
    app.get("/whoami", headers=bearer(token(SECRET.replace(" ", "-").encode(), "HS256", kid="current")), status=200)


def test_jku_and_x5u_headers_are_ignored(app):
    genuine = token(SECRET.encode(), "HS256", jku="https://attacker.example/jwks.json", x5u="https://attacker.example/c")
    app.get("/whoami", headers=bearer(genuine), status=200)
    attacker = token(b"attacker-secret-of-more-than-32-bytes", "HS256", jku="https://attacker.example/jwks.json")
    assert refused(app, attacker) == protocol.BAD_SIGNATURE


@pytest.mark.parametrize(
    "overrides, description",
    [
        ({"exp": -10}, protocol.EXPIRED),
        ({"nbf": 3600}, protocol.NOT_YET_VALID),
        ({"iat": 3600}, protocol.ISSUED_IN_FUTURE),
        ({"iss": "https://mallory.example"}, protocol.WRONG_ISSUER),
        ({"iss": None}, "The access token lacks the required iss claim."),
        ({"aud": "another-api"}, protocol.WRONG_AUDIENCE),
        ({"aud": None}, "The access token lacks the required aud claim."),
        ({"exp": None}, "The access token lacks the required exp claim."),
        ({"sub": None}, "The access token lacks the required sub claim."),
        ({"sub": ""}, "The access token's sub claim is not a valid user id."),
    ],
)
def test_claims_are_checked(build, overrides, description):
    app = build(secret=SECRET, issuer="https://issuer.example", audience="demo-api other-api", leeway_seconds="5")
    now = int(time.time())
    payload = claims(iss="https://issuer.example", aud="demo-api")
    for name, value in overrides.items():
        payload[name] = value if not isinstance(value, int) or name not in ("exp", "nbf", "iat") else now + value
    payload = {name: value for name, value in payload.items() if value is not None}
    assert refused(app, token(SECRET.encode(), "HS256", payload)) == description
    app.get("/whoami", headers=bearer(token(SECRET.encode(), "HS256", claims(iss="https://issuer.example", aud=["x", "other-api"]))), status=200)


def test_lone_surrogates_in_claims_are_handled(app):
    app.get("/whoami", headers=bearer(token(SECRET.encode(), "HS256", claims(jti="\ud800x"))), status=200)
    assert refused(app, token(SECRET.encode(), "HS256", claims(sub="\ud800"))) == "The access token's sub claim is not a valid user id."


def test_a_token_of_another_typ_is_refused_where_one_is_required(build):
    app = build(secret=SECRET, typ="at+jwt")
    assert refused(app, token(SECRET.encode(), "HS256")) == protocol.WRONG_TYPE  # PyJWT's default typ is JWT
    assert refused(app, token(SECRET.encode(), "HS256", typ="id+jwt")) == protocol.WRONG_TYPE
    app.get("/whoami", headers=bearer(token(SECRET.encode(), "HS256", typ="at+jwt")), status=200)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[: len(t) // 2],
        lambda t: t.rsplit(".", 1)[0],
        lambda t: t.replace(".", "!", 1),
        lambda t: "%%%." + t,
        lambda t: t + " extra",
        lambda t: base64.b64encode(t.encode()).decode(),
        lambda t: t[:-6] + "~~~~~~",
    ],
)
def test_truncated_and_non_base64_tokens_are_refused(app, mangle):
    assert refused(app, mangle(token(SECRET.encode(), "HS256"))) in (protocol.MALFORMED, protocol.BAD_SIGNATURE)


def test_a_100kb_token_is_refused_by_size(app):
    huge = token(SECRET.encode(), "HS256", claims(padding="p" * 100_000))
    assert len(huge) > 100_000
    assert refused(app, huge) == protocol.TOO_LARGE


def test_an_empty_bearer_is_malformed(app):
    response = app.get("/whoami", headers={"Authorization": "Bearer "}, status=401)
    assert problem_code(response) == "invalid_token"


# -- rotation ------------------------------------------------------------------------------


def test_rotation_by_kid_accepts_old_and_new_while_both_are_configured(build, tmp_path):
    old_private, old_public = write_pems(tmp_path, "old", private_key("ed25519", 0))
    from cryptography.hazmat.primitives.asymmetric import ed25519

    new_key = ed25519.Ed25519PrivateKey.generate()
    new_private, _ = write_pems(tmp_path, "new", new_key)
    before = build(keys=f"2026-01:EdDSA:{old_private}")
    old_token = before.post("/tokens", headers=basic("alice", PASSWORD)).json["access_token"]
    assert jwt.get_unverified_header(old_token)["kid"] == "2026-01"

    during = build(keys=f"2026-07:EdDSA:{new_private} 2026-01:EdDSA:{old_public}", signing_kid="2026-07")
    new_token = during.post("/tokens", headers=basic("alice", PASSWORD)).json["access_token"]
    assert jwt.get_unverified_header(new_token)["kid"] == "2026-07"
    for value in (old_token, new_token):
        during.get("/whoami", headers=bearer(value), status=200)
    assert [key["kid"] for key in during.get("/.well-known/jwks.json").json["keys"]] == ["2026-07", "2026-01"]

    after = build(keys=f"2026-07:EdDSA:{new_private}")
    after.get("/whoami", headers=bearer(new_token), status=200)
    assert refused(after, old_token) == protocol.UNKNOWN_KEY


# -- POST /tokens, DELETE /tokens/current, JWKS ---------------------------------------------


def test_post_tokens_with_basic_then_whoami_and_admin(build):
    app = build(secret=SECRET, issuer="https://api.example", audience="demo-api")
    response = app.post("/tokens", headers=basic("alice", PASSWORD), status=200)
    assert response.headers["Cache-Control"] == "no-store" and response.headers["Pragma"] == "no-cache"
    body = response.json
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    header = jwt.get_unverified_header(body["access_token"])
    assert header == {"alg": "HS256", "typ": "at+jwt"}
    payload = jwt.decode(body["access_token"], SECRET, algorithms=["HS256"], audience="demo-api", issuer="https://api.example")
    assert payload["sub"] == "alice" and payload["exp"] - payload["iat"] == 3600
    assert payload["roles"] == ["admin"] and payload["tenant_id"] == "acme" and payload["email"] == "alice@example.com"
    assert len(payload["jti"]) >= 22
    whoami = app.get("/whoami", headers=bearer(body["access_token"])).json
    assert whoami["userid"] == "alice" and {"role:admin", "tenant:acme", "scheme:jwt"} <= set(whoami["principals"])
    app.get("/admin", headers=bearer(body["access_token"]), status=200)
    bob = app.post("/tokens", headers=basic("bob", PASSWORD)).json["access_token"]
    assert "roles" not in jwt.decode(bob, SECRET, algorithms=["HS256"], audience="demo-api")
    app.get("/admin", headers=bearer(bob), status=403)


def test_post_tokens_needs_a_login_scheme(app):
    app.post("/tokens", status=401)
    value = app.post("/tokens", headers=basic("alice", PASSWORD)).json["access_token"]
    refused_login = app.post("/tokens", headers=bearer(value), status=403)
    assert problem_code(refused_login) == "login_scheme_not_allowed"


def test_post_tokens_with_a_hawk_session(build, backends):
    app = make_demo({
        **backends,
        **jwt_settings(secret=SECRET),
        "authsuite.endpoints": "tokens hawk_sessions",
        "multiauth.policies": "jwt hawk basic",
        "multiauth.policy.hawk.use": "pyramid_authsuite.HawkAuthenticationPolicy",
    })
    import mohawk

    from pyramid_authsuite.hawk.protocol import derive_session_credentials

    app.extra_environ = {**app.extra_environ, "HTTP_HOST": "api.example.com"}
    registry(app).authsuite_accounts.create("carol", PASSWORD, roles=["admin"])
    session = app.post("/hawk-sessions", headers=basic("carol", PASSWORD), status=201).json["token"]
    hawk_id, key = derive_session_credentials(session)
    sender = mohawk.Sender({"id": hawk_id, "key": key.decode(), "algorithm": "sha256"}, "http://api.example.com/tokens", "POST",
                           content=b"", content_type="")
    value = app.post("/tokens", headers={"Authorization": sender.request_header}, status=200).json["access_token"]
    assert app.get("/whoami", headers=bearer(value)).json["userid"] == "carol"
    registry(app).authsuite_accounts.close()
    registry(app).authsuite_cache.close()


def test_delete_current_revokes_the_presenting_token_only(app):
    first = app.post("/tokens", headers=basic("alice", PASSWORD)).json["access_token"]
    second = app.post("/tokens", headers=basic("alice", PASSWORD)).json["access_token"]
    app.get("/whoami", headers=bearer(first), status=200)  # now in the verified-token cache
    app.delete("/tokens/current", headers=bearer(first), status=204)
    assert refused(app, first) == "The access token has been revoked."
    app.get("/whoami", headers=bearer(second), status=200)
    assert problem_code(app.delete("/tokens/current", headers=basic("alice", PASSWORD), status=403)) == "bearer_token_required"
    app.delete("/tokens", headers=bearer(second), status=405)
    app.post("/tokens/current", headers=basic("alice", PASSWORD), status=405)
    app.delete("/tokens/current", status=401)


def test_revocation_lives_until_the_token_would_expire(app):
    value = app.post("/tokens", headers=basic("alice", PASSWORD)).json["access_token"]
    app.delete("/tokens/current", headers=bearer(value), status=204)
    payload = jwt.decode(value, SECRET, algorithms=["HS256"])
    policy = jwt_policy(app)
    import hashlib

    key = REVOKED_PREFIX + hashlib.sha256(f"\x00{payload['jti']}".encode()).hexdigest()
    cache = registry(app).authsuite_cache
    assert cache.get(key) == 1
    from pyramid_authsuite.cache.redis import RedisCache

    if isinstance(cache, RedisCache):  # the TTL is the token's remaining life, plus the leeway
        ttl = cache._client.ttl(cache.prefix + key)
        assert payload["exp"] - time.time() < ttl <= payload["exp"] - time.time() + policy.leeway_seconds + 2


def test_a_token_without_jti_is_revoked_by_its_signed_part(app):
    value = token(SECRET.encode(), "HS256")
    app.delete("/tokens/current", headers=bearer(value), status=204)
    assert refused(app, value) == "The access token has been revoked."


def test_jwks_publishes_public_keys_never_secrets(build, tmp_path):
    private_path, _ = write_pems(tmp_path, "ed", private_key("ed25519"))
    keys = build(keys=f"ed:EdDSA:{private_path} hs:HS256:{'s' * 32}")
    response = keys.get("/.well-known/jwks.json", status=200)
    assert response.headers["Cache-Control"] == "public, max-age=300"
    (jwk,) = response.json["keys"]
    assert jwk["kid"] == "ed" and jwk["kty"] == "OKP" and set(jwk) == {"kty", "crv", "x", "kid", "alg", "use"}
    assert "s" * 32 not in response.text and b64(b"s" * 32) not in response.text
    secret_only = build(secret=SECRET)
    assert secret_only.get("/.well-known/jwks.json").json == {"keys": []}
    cors = keys.get("/.well-known/jwks.json", headers={"Origin": "https://spa.example"})
    assert cors.headers["Access-Control-Allow-Origin"] in ("*", "https://spa.example")


def test_development_key_is_derived_from_the_server_secret(build):
    # Was HS256 under derived_key(registry, "jwt"), which no JWKS can publish;
    # now an Ed25519 key whose seed is derived under its own purpose.
    app = build()
    value = app.post("/tokens", headers=basic("alice", PASSWORD)).json["access_token"]
    seed = derived_key(registry(app), DEVELOPMENT_KEY_PURPOSE)
    public = ed25519.Ed25519PrivateKey.from_private_bytes(seed).public_key()
    assert jwt.decode(value, public, algorithms=["EdDSA"])["sub"] == "alice"
    header = jwt.get_unverified_header(value)
    assert header["alg"] == "EdDSA" and header["kid"]
    app.get("/whoami", headers=bearer(value), status=200)
    second = build()  # another app on the same store: same server secret, same key
    second.get("/whoami", headers=bearer(value), status=200)
    # An HS256 token under the key the development default used to derive is not accepted.
    old_default = token(derived_key(registry(app), "jwt"), "HS256")
    assert refused(app, old_default) == protocol.ALG_REFUSED


def test_issue_token_keeps_to_the_bounds_of_access_token_ttl_seconds(app):
    policy, alice = jwt_policy(app), registry(app).authsuite_accounts.get("alice")
    for ttl in (60, 86400):
        assert policy.issue_token(registry(app), alice, ttl=ttl)["expires_in"] == ttl
    for ttl in (0, 59, 86401, 30 * 86400):
        with pytest.raises(ValueError):
            policy.issue_token(registry(app), alice, ttl=ttl)


def test_development_key_with_the_account_store_down_is_a_503(tmp_path):
    """Deriving the development key needs the server secret; without the store, the JWK Set fails closed."""
    app = make_demo({**jwt_settings(), "authsuite.accounts_url": f"postgresql://postgres@127.0.0.1:{free_port()}/test",
                     "authsuite.accounts_connect_timeout_seconds": "1"})
    response = app.get("/.well-known/jwks.json", status=503)
    assert problem_code(response) == "unavailable" and response.headers["Retry-After"]


def test_development_key_is_published_before_its_first_use(build):
    """The JWK Set lists the development key from the first request on, in every process on the store."""
    first = build()
    (jwk,) = first.get("/.well-known/jwks.json", status=200).json["keys"]
    assert jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519" and jwk["alg"] == "EdDSA" and jwk["use"] == "sig"
    assert set(jwk) == {"kty", "crv", "x", "kid", "alg", "use"}
    second = build()
    assert second.get("/.well-known/jwks.json").json["keys"] == [jwk]
    value = second.post("/tokens", headers=basic("alice", PASSWORD)).json["access_token"]
    assert jwt.get_unverified_header(value)["kid"] == jwk["kid"]
    assert jwt.decode(value, jwt.PyJWK(jwk), algorithms=["EdDSA"])["sub"] == "alice"


# -- the verified-token cache and the account bound -----------------------------------------


@pytest.fixture
def clock(monkeypatch):
    """The policy's clock, movable: ``clock.now += 61``."""

    class Clock:
        now = time.time()

        def __call__(self):
            return self.now

    fake = Clock()
    monkeypatch.setattr(jwt_policy_module, "_now", fake)
    return fake


@pytest.fixture
def verifications(monkeypatch):
    calls = []
    original = protocol.verify_token

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(protocol, "verify_token", counting)
    return calls


def test_a_repeated_token_is_verified_once(app, verifications):
    value = token(SECRET.encode(), "HS256")
    for _ in range(3):
        app.get("/whoami", headers=bearer(value), status=200)
    assert len(verifications) == 1
    app.get("/whoami", headers=bearer(token(SECRET.encode(), "HS256", claims(jti="other"))), status=200)
    assert len(verifications) == 2


def test_the_cache_can_be_turned_off(build, verifications):
    app = build(secret=SECRET, verified_cache_size="0")
    value = token(SECRET.encode(), "HS256")
    for _ in range(3):
        app.get("/whoami", headers=bearer(value), status=200)
    assert len(verifications) == 3
    assert len(jwt_policy(app)._verified) == 0


def test_a_cached_entry_never_outlives_exp(app, clock, verifications):
    exp = int(clock.now) + 40
    value = token(SECRET.encode(), "HS256", claims(iat=int(clock.now), exp=exp))
    app.get("/whoami", headers=bearer(value), status=200)
    clock.now = exp + 1  # within the 30 s leeway: verified again, still valid
    app.get("/whoami", headers=bearer(value), status=200)
    assert len(verifications) == 2
    clock.now = exp + 31
    assert refused(app, value) == protocol.EXPIRED


def test_a_cached_entry_never_outlives_the_cache_ttl(build, clock, verifications):
    app = build(secret=SECRET, verified_cache_seconds="60")
    value = token(SECRET.encode(), "HS256", claims(iat=int(clock.now), exp=int(clock.now) + 3600))
    app.get("/whoami", headers=bearer(value), status=200)
    clock.now += 59
    app.get("/whoami", headers=bearer(value), status=200)
    assert len(verifications) == 1
    clock.now += 2
    app.get("/whoami", headers=bearer(value), status=200)
    assert len(verifications) == 2


def test_verified_claims_are_read_only(app):
    value = token(SECRET.encode(), "HS256", claims(roles=["user"], nested={"a": [1]}))
    app.get("/whoami", headers=bearer(value), status=200)
    (cached,) = jwt_policy(app)._verified._entries.values()  # the shared, cached identity
    identity = cached.verdict.identity
    with pytest.raises(TypeError):
        identity.claims["roles"] = ["admin"]
    with pytest.raises((TypeError, AttributeError)):
        identity.claims["roles"].append("admin")
    with pytest.raises(TypeError):
        identity.claims["nested"]["a"] = 2
    assert json.loads(json.dumps(dict(identity.claims)))["nested"] == {"a": [1]}
    assert identity.claims["roles"] == ("user",)
    app.get("/admin", headers=bearer(value), status=403)  # still the token's own roles


@pytest.mark.parametrize(
    "value, frozen",
    [
        (["a", 1, True, None, 1.5], ("a", 1, True, None, 1.5)),
        ([], ()),
        ({"a": 1, "b": "c"}, {"a": 1, "b": "c"}),
        ([{"a": [1, {"b": []}]}], ({"a": (1, {"b": ()})},)),
        ({"a": {"b": [2]}}, {"a": {"b": (2,)}}),
    ],
)
def test_claims_are_frozen_all_the_way_down(value, frozen):
    """Arrays of scalars (the usual roles) take a shortcut; what is nested takes the long way."""
    from pyramid_authsuite.jwt.verified import FrozenDict, freeze_claims

    claims = freeze_claims({"sub": "a", "value": value})
    assert claims["value"] == frozen and type(claims["value"]) is type(frozen if isinstance(frozen, tuple) else FrozenDict())

    def mutable(item):
        if isinstance(item, (list, dict)) and not isinstance(item, FrozenDict):
            return True
        children = item.values() if isinstance(item, dict) else item if isinstance(item, tuple) else ()
        return any(mutable(child) for child in children)

    assert not mutable(claims["value"])
    with pytest.raises(TypeError):
        claims["value"] = None  # type: ignore[index]


def test_a_disabled_account_stops_working_at_once_else_within_the_bound(build, clock):
    app = build(secret=SECRET, account_check_seconds="60")
    value = app.post("/tokens", headers=basic("bob", PASSWORD)).json["access_token"]
    app.get("/whoami", headers=bearer(value), status=200)
    registry(app).authsuite_accounts.update("bob", disabled=True)
    # Through the store: its listener wrote the account's cutoff, at once.
    assert refused(app, value) == "The access token was issued before the account's credentials were ended."
    # Without the cutoff (a change made in the database behind the store's
    # back): the account check's bound.
    assert registry(app).authsuite_cache.delete(cutoff_key("bob"))
    app.get("/whoami", headers=bearer(value), status=200)  # within the bound
    clock.now += 61
    assert refused(app, value) == "The account of this access token is disabled or unknown."


def test_account_check_every_request_and_unknown_accounts(build):
    app = build(secret=SECRET, account_check_seconds="0")
    value = app.post("/tokens", headers=basic("bob", PASSWORD)).json["access_token"]
    app.get("/whoami", headers=bearer(value), status=200)
    registry(app).authsuite_accounts.update("bob", disabled=True)
    assert registry(app).authsuite_cache.delete(cutoff_key("bob"))
    assert refused(app, value) == "The account of this access token is disabled or unknown."
    assert refused(app, token(SECRET.encode(), "HS256", claims(sub="nobody"))).startswith("The account")
    unchecked = build(secret=SECRET, check_account="false")
    unchecked.get("/whoami", headers=bearer(token(SECRET.encode(), "HS256", claims(sub="nobody"))), status=200)


def test_a_cache_outage_fails_closed(throwaway_redis, tmp_path):
    app = make_demo({
        "authsuite.cache_url": throwaway_redis.url,
        "authsuite.cache_timeout_seconds": "0.5",
        "authsuite.accounts_url": f"sqlite:///{tmp_path}/a.sqlite",
        **jwt_settings(secret=SECRET, check_account="false"),
    })
    value = token(SECRET.encode(), "HS256")
    app.get("/whoami", headers=bearer(value), status=200)
    throwaway_redis.stop()
    response = app.get("/whoami", headers=bearer(value), status=503)
    assert response.headers["Retry-After"] and problem_code(response) == "unavailable"


@pytest.mark.parametrize("exp", [10**400, 2**63, 1e300])
def test_an_exp_beyond_any_float_is_valid_and_revocable(app, exp):
    """NumericDate has no upper bound (RFC 7519 section 2): never a 500, and revocation still works."""
    value = token(SECRET, "HS256", claims(exp=exp, jti="far-future"))
    app.get("/whoami", headers=bearer(value), status=200)
    app.delete("/tokens/current", headers=bearer(value), status=204)
    assert refused(app, value) == "The access token has been revoked."


def test_an_exp_far_in_the_past_is_expired(app):
    assert refused(app, token(SECRET, "HS256", claims(exp=-(10**400)))) == protocol.EXPIRED
