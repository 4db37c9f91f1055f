"""Three JWT policies at once: the server's own asymmetric keys, an external issuer's JWKS, a shared secret.

The external issuer is a second demo app on a real 127.0.0.1 port (the
``Issuer`` of ``test_jwks``). Tokens are made by PyJWT or by the issuer's
``POST /tokens``. Whatever the order of the policies, a refused token is
reported with the reason of the policy it was meant for (the one holding its
key), a token meant for none of them is refused, and a 401 carries one
``Bearer`` challenge per realm.
"""
from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from pyramid_authsuite.jwt import protocol
from pyramid_authsuite.jwt.policy import REVOKED
from tests.apps import basic, make_demo, registry
from tests.jwt.helpers import PASSWORD, SECRET, bearer, claims, private_key, problem_code, write_pems
from tests.jwt.test_jwks import Issuer, ed_key

# The policies as the issue describes them; "own" and "partner" both accept EdDSA.
POLICIES = ("own", "partner", "shared")


@pytest.fixture
def issuer(tmp_path):
    issuer = Issuer(tmp_path)
    private_path, _ = ed_key(tmp_path, "partner-1")
    issuer.configure(f"partner-1:EdDSA:{private_path}")
    issuer.private_path = private_path
    yield issuer
    issuer.close()


@pytest.fixture
def own_key(tmp_path):
    key = ed25519.Ed25519PrivateKey.generate()
    private_path, _ = write_pems(tmp_path, "own-1", key)
    return key, private_path


def several(tmp_path, issuer, own_key, order=POLICIES, realms=None):
    """The demo with the three JWT policies (in ``order``) and Basic; alice exists."""
    realms = realms or {}
    name = "-".join(order) + "".join(f"-{policy}={realm}" for policy, realm in realms.items())
    settings = {
        "authsuite.accounts_url": f"sqlite:///{tmp_path}/{name}.sqlite",
        "authsuite.endpoints": "tokens jwks",
        "multiauth.policies": " ".join(order) + " basic",
        "multiauth.policy.own.use": "pyramid_authsuite.JWTAuthenticationPolicy",
        "multiauth.policy.own.keys": f"own-1:EdDSA:{own_key[1]}",
        "multiauth.policy.partner.use": "pyramid_authsuite.JWTAuthenticationPolicy",
        "multiauth.policy.partner.jwks_url": issuer.jwks_url,
        "multiauth.policy.partner.algorithms": "EdDSA RS256",
        "multiauth.policy.partner.issuer": "https://issuer.test",
        "multiauth.policy.partner.jwks_refetch_seconds": "0",
        "multiauth.policy.shared.use": "pyramid_authsuite.JWTAuthenticationPolicy",
        "multiauth.policy.shared.secret": SECRET,
        "multiauth.policy.basic.use": "pyramid_authsuite.BasicAuthenticationPolicy",
        **{f"multiauth.policy.{policy}.realm": realm for policy, realm in realms.items()},
    }
    app = make_demo(settings)
    registry(app).authsuite_accounts.create("alice", PASSWORD, roles=["admin"])
    return app


def partner_signing_key(issuer):
    return registry(issuer.test_app).authsuite_security_policy.get_policy("jwt").keyring.signing.signing_key


def expired(**overrides):
    now = int(time.time())
    return claims(iat=now - 7200, exp=now - 3600, **overrides)


def bearer_challenges(response) -> list[str]:
    return [value for value in response.headers.getall("WWW-Authenticate") if value.startswith("Bearer ")]


def refusal(app, value: str) -> tuple[str, list[str]]:
    """``(detail, Bearer challenges)`` of a refused token; the detail is also in the challenge."""
    response = app.get("/whoami", headers=bearer(value), status=401)
    assert problem_code(response) == "invalid_token"
    challenges = bearer_challenges(response)
    assert any(f'error_description="{response.json["detail"]}"' in challenge for challenge in challenges)
    return response.json["detail"], challenges


ORDERS = [POLICIES, ("partner", "shared", "own"), ("shared", "own", "partner")]


@pytest.mark.parametrize("order", ORDERS, ids="-".join)
def test_each_policys_tokens_are_accepted(tmp_path, issuer, own_key, order):
    app = several(tmp_path, issuer, own_key, order)
    shared = jwt.encode(claims(), SECRET, algorithm="HS256")
    own = jwt.encode(claims(), own_key[0], algorithm="EdDSA", headers={"kid": "own-1"})
    partner = issuer.token()
    for value, policy in ((shared, "shared"), (own, "own"), (partner, "partner")):
        body = app.get("/whoami", headers=bearer(value), status=200).json
        assert body["userid"] == "alice" and body["scheme"] == "jwt"
    # Our own POST /tokens signs with the first policy that can: own or shared, never the JWKS.
    issued = app.post("/tokens", headers=basic("alice", PASSWORD), status=200).json["access_token"]
    app.get("/whoami", headers=bearer(issued), status=200)


@pytest.mark.parametrize("order", ORDERS, ids="-".join)
def test_an_expired_token_is_reported_expired_by_the_policy_it_was_meant_for(tmp_path, issuer, own_key, order):
    app = several(tmp_path, issuer, own_key, order)
    tokens = {
        "shared (HS256)": jwt.encode(expired(), SECRET, algorithm="HS256"),
        "own (EdDSA)": jwt.encode(expired(), own_key[0], algorithm="EdDSA", headers={"kid": "own-1"}),
        "partner (EdDSA, from its JWKS)": jwt.encode(
            expired(iss="https://issuer.test"), partner_signing_key(issuer), algorithm="EdDSA", headers={"kid": "partner-1"}
        ),
    }
    for name, value in tokens.items():
        detail, challenges = refusal(app, value)
        assert detail == protocol.EXPIRED, name
        # One Bearer challenge (all three share the realm), and it says why.
        assert challenges == [
            f'Bearer realm="authsuite", error="invalid_token", error_description="{protocol.EXPIRED}"'
        ], name


@pytest.mark.parametrize("order", ORDERS, ids="-".join)
def test_the_meant_for_policys_other_refusals_win_too(tmp_path, issuer, own_key, order):
    """Wrong issuer, missing claim, bad user id, revoked: all after the signature, all the token's own policy's."""
    app = several(tmp_path, issuer, own_key, order)
    wrong_issuer = jwt.encode(claims(iss="https://elsewhere.test"), partner_signing_key(issuer), algorithm="EdDSA",
                              headers={"kid": "partner-1"})
    assert refusal(app, wrong_issuer)[0] == protocol.WRONG_ISSUER
    no_iat = jwt.encode(claims(iat=None), SECRET, algorithm="HS256")
    assert refusal(app, no_iat)[0] == protocol.missing_claim("iat")
    not_yet = jwt.encode(claims(nbf=int(time.time()) + 3600), own_key[0], algorithm="EdDSA", headers={"kid": "own-1"})
    assert refusal(app, not_yet)[0] == protocol.NOT_YET_VALID
    value = jwt.encode(claims(jti="one"), SECRET, algorithm="HS256")
    app.delete("/tokens/current", headers=bearer(value), status=204)
    assert refusal(app, value)[0] == REVOKED


@pytest.mark.parametrize("order", ORDERS, ids="-".join)
def test_a_token_meant_for_no_policy_is_refused(tmp_path, issuer, own_key, order):
    app = several(tmp_path, issuer, own_key, order)
    other_ed = ed25519.Ed25519PrivateKey.generate()
    nobodys = {
        # HS256 under another secret: only "shared" takes HS256 without kid; its signature fails.
        "another secret": (jwt.encode(claims(), "another secret of more than 32 bytes!!", algorithm="HS256"),
                           protocol.BAD_SIGNATURE),
        # A key nobody holds, named by a kid nobody knows (the JWKS is refetched and still lacks it).
        "unknown kid": (jwt.encode(claims(), other_ed, algorithm="EdDSA", headers={"kid": "stranger"}), None),
        # A known kid, the wrong key: the kid's holder says the signature is invalid.
        "own kid, other key": (jwt.encode(claims(), other_ed, algorithm="EdDSA", headers={"kid": "own-1"}),
                               protocol.BAD_SIGNATURE),
        "partner kid, other key": (jwt.encode(claims(iss="https://issuer.test"), other_ed, algorithm="EdDSA",
                                              headers={"kid": "partner-1"}), protocol.BAD_SIGNATURE),
        # An algorithm none of them accepts.
        "ES256": (jwt.encode(claims(), private_key("ec256"), algorithm="ES256"), protocol.ALG_REFUSED),
        "alg none": (jwt.encode(claims(), None, algorithm="none"), protocol.ALG_NONE),
        "not a token": ("not-a-token", protocol.MALFORMED),
    }
    for name, (value, expected) in nobodys.items():
        detail, challenges = refusal(app, value)
        if expected is not None:
            assert detail == expected, name
        else:
            assert detail in (protocol.UNKNOWN_KEY, protocol.ALG_REFUSED), name
        assert len(challenges) == 1, name


def test_anonymous_401_has_one_bearer_challenge_per_realm(tmp_path, issuer, own_key):
    app = several(tmp_path, issuer, own_key)
    anonymous = app.get("/whoami", status=401)
    assert problem_code(anonymous) == "authentication_required"
    assert anonymous.headers.getall("WWW-Authenticate") == [
        'Bearer realm="authsuite"', 'Basic realm="authsuite-test", charset="UTF-8"'
    ]
    # Two realms: two Bearer challenges, in policy order.
    split = several(tmp_path, issuer, own_key, realms={"partner": "partners"})
    anonymous = split.get("/whoami", status=401)
    assert anonymous.headers.getall("WWW-Authenticate") == [
        'Bearer realm="authsuite"', 'Bearer realm="partners"', 'Basic realm="authsuite-test", charset="UTF-8"'
    ]
    # A refused token: the realm of the policy it was meant for says why; the other realm answers for itself.
    detail, challenges = refusal(split, jwt.encode(expired(), SECRET, algorithm="HS256"))
    assert detail == protocol.EXPIRED
    assert challenges == [
        f'Bearer realm="authsuite", error="invalid_token", error_description="{protocol.EXPIRED}"',
        f'Bearer realm="partners", error="invalid_token", error_description="{protocol.ALG_REFUSED}"',
    ]


def test_other_schemes_still_report_their_own_refusals(tmp_path, issuer, own_key):
    app = several(tmp_path, issuer, own_key)
    wrong = app.get("/whoami", headers=basic("alice", "wrong password"), status=401)
    assert problem_code(wrong) != "invalid_token"
    assert wrong.headers.getall("WWW-Authenticate") == ['Bearer realm="authsuite"', 'Basic realm="authsuite-test", charset="UTF-8"']
    app.get("/whoami", headers=basic("alice", PASSWORD), status=200)
