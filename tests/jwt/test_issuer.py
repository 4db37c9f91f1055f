"""The settings object and the token issuer, used without a policy (as an OAuth token endpoint will).

Tokens signed by a :class:`TokenIssuer` built from :class:`JWTSettings` alone
are read back with PyJWT (an independent implementation) and presented to
the demo app, whose policy must accept them; a revocation by such an issuer
must be seen by the app's policy. Runs on memory+SQLite and Redis+PostgreSQL.
"""
from __future__ import annotations

import dataclasses
import hashlib
import inspect

import jwt
import pytest

from pyramid_authsuite.jwt.issuer import REVOKED_PREFIX, TokenIssuer
from pyramid_authsuite.jwt.policy import JWTAuthenticationPolicy
from pyramid_authsuite.jwt.settings import JWTSettings
from pyramid_authsuite.jwt.verified import TokenEntry
from tests.apps import basic, registry
from tests.jwt.helpers import PASSWORD, SECRET, bearer, bearer_challenge, private_key, write_pems

ISSUER = "https://issuer.example.com"


def test_the_settings_are_parsed_once_into_a_frozen_object_the_policy_and_issuer_share():
    policy = JWTAuthenticationPolicy(secret=SECRET, issuer=ISSUER, audience="api web", leeway_seconds="10")
    settings = policy.settings
    assert isinstance(settings, JWTSettings)
    assert policy.token_issuer.settings is settings
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.issuer = "https://attacker.example.com"  # type: ignore[misc]
    assert (settings.issuer, settings.audiences, settings.leeway_seconds) == (ISSUER, ("api", "web"), 10)
    assert settings.rules.required == ("exp", "iat", "sub", "iss", "aud")
    # The same strings parsed without a policy give the same settings (the keyring is a new object).
    again = JWTSettings.parse(secret=SECRET, issuer=ISSUER, audience="api web", leeway_seconds="10")
    assert dataclasses.replace(again, keyring=settings.keyring) == settings
    assert again.keyring.find(None).key == settings.keyring.find(None).key == SECRET.encode()


def test_the_policy_takes_exactly_the_settings_arguments_with_the_same_defaults():
    policy_parameters = dict(inspect.signature(JWTAuthenticationPolicy.__init__).parameters)
    del policy_parameters["self"]
    assert policy_parameters.pop("realm").default == "authsuite"
    settings_parameters = inspect.signature(JWTSettings.parse).parameters
    assert [(p.name, p.default) for p in policy_parameters.values()] == [(p.name, p.default) for p in settings_parameters.values()]


def test_a_policy_over_parsed_settings_is_the_policy_of_the_strings():
    settings = JWTSettings.parse(secret=SECRET, header="X-Token")
    policy = JWTAuthenticationPolicy.from_settings(settings, realm="api")
    assert policy.settings is settings and policy.realm == "api"
    assert policy.header == "X-Token" and policy.algorithms == ("HS256",)


def test_an_issuer_without_a_policy_signs_tokens_the_app_accepts(build):
    app = build(secret=SECRET, issuer=ISSUER, audience="api")
    issuer = TokenIssuer(JWTSettings.parse(secret=SECRET, issuer=ISSUER, audience="api", access_token_ttl_seconds="10m"))
    account = registry(app).authsuite_accounts.get("alice")
    body = issuer.issue_token(registry(app), account)
    assert body["token_type"] == "Bearer" and body["expires_in"] == 600
    value = body["access_token"]
    payload = jwt.decode(value, SECRET, algorithms=["HS256"], audience="api", issuer=ISSUER)
    assert payload["sub"] == "alice" and payload["roles"] == ["admin"] and payload["tenant_id"] == "acme"
    assert payload["email"] == "alice@example.com" and payload["exp"] - payload["iat"] == 600
    assert jwt.get_unverified_header(value)["typ"] == "at+jwt"
    whoami = app.get("/whoami", headers=bearer(value), status=200).json
    assert whoami["userid"] == "alice" and "role:admin" in whoami["principals"]
    with pytest.raises(ValueError, match="ttl must be 60 to 86400"):
        issuer.issue_token(registry(app), account, ttl=59)


def test_a_revocation_by_an_issuer_without_a_policy_is_seen_by_the_policy(build):
    app = build(secret=SECRET, issuer=ISSUER)
    issuer = TokenIssuer(JWTSettings.parse(secret=SECRET, issuer=ISSUER))
    value = issuer.issue_token(registry(app), registry(app).authsuite_accounts.get("alice"))["access_token"]
    app.get("/whoami", headers=bearer(value), status=200)  # verified and cached
    payload = jwt.decode(value, SECRET, algorithms=["HS256"])
    revocation_key = hashlib.sha256(f"{ISSUER}\x00{payload['jti']}".encode()).hexdigest()
    issuer.revoke(registry(app), TokenEntry(None, "alice", float(payload["exp"]), revocation_key, 0.0))
    assert registry(app).authsuite_cache.get(REVOKED_PREFIX + revocation_key) == 1
    refused = app.get("/whoami", headers=bearer(value), status=401)
    assert 'error_description="The access token has been revoked."' in bearer_challenge(refused)


def test_the_endpoints_sign_and_revoke_through_the_issuer(build):
    app = build(secret=SECRET)
    value = app.post("/tokens", headers=basic("alice", PASSWORD), status=200).json["access_token"]
    app.get("/whoami", headers=bearer(value), status=200)
    app.delete("/tokens/current", headers=bearer(value), status=204)
    app.get("/whoami", headers=bearer(value), status=401)


def test_an_issuer_without_a_policy_publishes_the_development_key_the_app_publishes(build):
    app = build()  # no key configured: the development key, derived from the server secret
    issuer = TokenIssuer(JWTSettings.parse())
    assert issuer.public_jwks() == []  # nothing to derive it from yet
    published = app.get("/.well-known/jwks.json", status=200).json["keys"]
    assert issuer.public_jwks(registry(app)) == published and len(published) == 1
    value = issuer.issue_token(registry(app), registry(app).authsuite_accounts.get("alice"))["access_token"]
    assert jwt.get_unverified_header(value)["kid"] == published[0]["kid"]
    app.get("/whoami", headers=bearer(value), status=200)


def test_only_an_issuer_holding_a_private_key_can_issue(tmp_path):
    _, public_path = write_pems(tmp_path, "ed", private_key("ed25519"))
    for verify_only in (JWTSettings.parse(public_key=public_path), JWTSettings.parse(jwks_url="https://issuer.example.com/jwks.json")):
        issuer = TokenIssuer(verify_only)
        assert issuer.can_issue(None) is False
        with pytest.raises(ValueError, match="no key to sign"):
            issuer.issue_token(None, object())
    assert TokenIssuer(JWTSettings.parse(public_key=public_path)).public_jwks()[0]["kty"] == "OKP"
    assert TokenIssuer(JWTSettings.parse(secret=SECRET)).public_jwks() == []  # a secret is never published
