"""The claims of issued tokens: email, tenant, roles and the account's custom claims,
under configurable names, read back by PyJWT and by our own policy."""
from __future__ import annotations

import jwt
import pytest

from pyramid_authsuite.accounts import Account, InvalidAccountField
from pyramid_authsuite.exceptions import SettingError
from pyramid_authsuite.jwt.issuer import TokenIssuer
from pyramid_authsuite.jwt.settings import JWTSettings
from tests.apps import basic, make_demo, registry
from tests.jwt.helpers import PASSWORD, SECRET, jwt_settings

ALICE = Account(
    "alice",
    roles=("admin", "billing"),
    tenant="acme",
    email="alice@example.com",
    custom_claims={"plan": "pro", "seats": 5, "features": ["a", "b"], "limits": {"rpm": 60}},
)


def issued(account: Account = ALICE, **settings) -> dict:
    """The claims of a token the issuer signs for ``account``, as PyJWT decodes them."""
    issuer = TokenIssuer(JWTSettings.parse(secret=SECRET, **settings))
    value = issuer.issue_token(None, account)["access_token"]
    return jwt.decode(value, SECRET, algorithms=["HS256"], options={"verify_aud": False})


def test_default_claim_names():
    claims = issued()
    assert claims["email"] == "alice@example.com"
    assert claims["tenant_id"] == "acme"
    assert claims["roles"] == ["admin", "billing"]
    assert claims["plan"] == "pro" and claims["seats"] == 5
    assert claims["features"] == ["a", "b"] and claims["limits"] == {"rpm": 60}
    assert claims["sub"] == "alice" and claims["exp"] - claims["iat"] == 3600


def test_configured_claim_names():
    claims = issued(email_claim="mail", tenant_claim="https://example.com/tenant", roles_claim="groups")
    assert claims["mail"] == "alice@example.com"
    assert claims["https://example.com/tenant"] == "acme"
    assert claims["groups"] == ["admin", "billing"]
    assert not {"email", "tenant_id", "roles"} & set(claims)


def test_empty_names_leave_the_claims_out_and_custom_claims_can_be_turned_off():
    claims = issued(email_claim="", tenant_claim="", roles_claim="", custom_claims="false")
    assert set(claims) == {"sub", "iat", "exp", "jti"}


def test_an_account_without_a_value_gets_no_claim():
    claims = issued(Account("bob"))
    assert set(claims) == {"sub", "iat", "exp", "jti"}


@pytest.mark.parametrize(
    "custom",
    [
        {"sub": "mallory"}, {"iss": "https://evil.example"}, {"aud": "other"}, {"exp": 9999999999},
        {"iat": 9999999999}, {"nbf": 9999999999}, {"jti": "fixed"},
        {"roles": ["admin"]}, {"tenant_id": "other"}, {"email": "mallory@example.com"},
        {"role": "admin"}, {"scope": "admin:all"},  # principal claims: would grant principals
    ],
    ids=lambda custom: next(iter(custom)),
)
def test_a_custom_claim_never_overrides_a_registered_or_configured_claim(custom):
    # Bob has no roles, tenant or email: a custom claim must not fill the gap either.
    claims = issued(Account("bob", custom_claims={**custom, "plan": "pro"}), issuer="https://issuer.example")
    (name, value), = custom.items()
    assert claims.get(name) != value
    assert claims["plan"] == "pro" and claims["sub"] == "bob" and claims["iss"] == "https://issuer.example"


def test_custom_claims_named_like_the_configured_names_are_dropped():
    account = Account("bob", custom_claims={"groups": ["admin"], "org": "other", "mail": "x@example.com", "keep": 1})
    claims = issued(account, roles_claim="groups", tenant_claim="org", email_claim="mail")
    assert set(claims) == {"sub", "iat", "exp", "jti", "keep"}
    assert issued(ALICE, roles_claim="groups")["groups"] == ["admin", "billing"]


def test_principal_claims_follow_the_configured_names():
    settings = JWTSettings.parse(secret=SECRET, roles_claim="groups", tenant_claim="org")
    assert settings.principal_claims == (("role", "role"), ("groups", "role"), ("org", "tenant"), ("scope", "scope"))
    default = JWTSettings.parse(secret=SECRET)
    assert default.principal_claims == (("role", "role"), ("roles", "role"), ("tenant_id", "tenant"), ("scope", "scope"))
    # Given explicitly, principal_claims are taken as they are.
    explicit = JWTSettings.parse(secret=SECRET, roles_claim="groups", principal_claims="groups=group")
    assert explicit.principal_claims == (("groups", "group"),)


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"email_claim": "sub"}, "email_claim"),
        ({"roles_claim": "exp"}, "roles_claim"),
        ({"tenant_claim": "with space"}, "tenant_claim"),
        ({"tenant_claim": "a=b"}, "tenant_claim"),
        ({"roles_claim": "x" * 201}, "roles_claim"),
        ({"roles_claim": "email"}, "roles_claim"),  # already the email claim
        ({"userid_claim": "uid", "required_claims": "exp iat uid", "tenant_claim": "uid"}, "tenant_claim"),
        ({"custom_claims": "maybe"}, "custom_claims"),
    ],
)
def test_bad_claim_settings_name_their_key(settings, key):
    with pytest.raises(SettingError) as raised:
        JWTSettings.parse(secret=SECRET, **settings)
    assert raised.value.key == key


# -- through the app: POST /tokens, then our policy and PyJWT ------------------------------


def test_tokens_from_post_tokens_carry_the_claims_and_give_principals(backends):
    app = make_demo({**backends, **jwt_settings(secret=SECRET, roles_claim="https://example.com/roles",
                                                 tenant_claim="org")})
    store = registry(app).authsuite_accounts
    with pytest.raises(InvalidAccountField):
        # The store refuses a custom claim named like a default principal claim.
        store.create("alice", PASSWORD, custom_claims={"plan": "pro", "role": "superuser"})
    store.create("alice", PASSWORD, roles=["admin"], tenant="acme", email="alice@example.com",
                 custom_claims={"plan": "pro"})
    value = app.post("/tokens", headers=basic("alice", PASSWORD)).json["access_token"]
    claims = jwt.decode(value, SECRET, algorithms=["HS256"])
    assert claims["https://example.com/roles"] == ["admin"] and claims["org"] == "acme"
    assert claims["email"] == "alice@example.com" and claims["plan"] == "pro"
    whoami = app.get("/whoami", headers={"Authorization": f"Bearer {value}"}).json
    assert {"role:admin", "tenant:acme", "scheme:jwt"} == set(whoami["principals"])
    assert whoami["claims"]["plan"] == "pro"
    app.get("/admin", headers={"Authorization": f"Bearer {value}"}, status=200)
    store.close()
    registry(app).authsuite_cache.close()
