"""JWT policy settings: parsed once from ini strings, a bad value is a ConfigurationError naming its key."""
from __future__ import annotations

import pytest
from pyramid.exceptions import ConfigurationError

from pyramid_authsuite.exceptions import SettingError
from pyramid_authsuite.jwt.policy import JWTAuthenticationPolicy
from pyramid_authsuite.jwt.settings import JWTSettings
from tests.apps import make_demo
from tests.jwt.helpers import SECRET, private_key, write_pems


def demo(tmp_path, **policy):
    settings = {
        "authsuite.accounts_url": f"sqlite:///{tmp_path}/a.sqlite",
        "multiauth.policies": "jwt",
        "multiauth.policy.jwt.use": "pyramid_authsuite.JWTAuthenticationPolicy",
    }
    settings.update({f"multiauth.policy.jwt.{name}": value for name, value in policy.items()})
    return make_demo(settings)


def test_a_secret_under_32_bytes_is_a_configuration_error_naming_the_key(tmp_path):
    with pytest.raises(ConfigurationError) as error:
        demo(tmp_path, secret="x" * 31)
    assert "multiauth.policy.jwt.secret" in str(error.value)
    assert "x" * 31 not in str(error.value)  # never the secret itself


@pytest.mark.parametrize("alg, length", [("HS384", 47), ("HS512", 63)])
def test_longer_hashes_need_longer_secrets(alg, length):
    with pytest.raises(SettingError) as error:
        JWTAuthenticationPolicy(secret="x" * length, algorithms=alg)
    assert error.value.key == "secret" and "RFC 7518" in error.value.message
    JWTAuthenticationPolicy(secret="x" * (length + 1), algorithms=alg)


def test_secret_from_the_environment(monkeypatch):
    monkeypatch.setenv("JWT_TEST_SECRET", SECRET)
    policy = JWTAuthenticationPolicy(secret="env:JWT_TEST_SECRET")
    assert policy.keyring.find(None).key == SECRET.encode()
    monkeypatch.delenv("JWT_TEST_SECRET")
    with pytest.raises(SettingError, match="JWT_TEST_SECRET"):
        JWTAuthenticationPolicy(secret="env:JWT_TEST_SECRET")


@pytest.fixture
def pems(tmp_path):
    return {
        kind: write_pems(tmp_path, kind, private_key(kind)) for kind in ("rsa", "ec256", "ed25519")
    }


# (settings, the key a SettingError names, a fragment of its message)
BAD_SETTINGS = [
    ({"secret": SECRET, "algorithms": "none"}, "algorithms", "none algorithm is never accepted"),
    ({"secret": SECRET, "algorithms": "HS256 none"}, "algorithms", "never accepted"),
    ({"secret": SECRET, "algorithms": "HS257"}, "algorithms", "unknown algorithm"),
    ({"secret": SECRET, "algorithms": "RS256"}, "algorithms", "needs private_key or public_key"),
    ({"secret": SECRET, "algorithms": "HS256", "algorithm": "HS256"}, "algorithm", "not both"),
    ({"algorithms": "RS256"}, "algorithms", "development key is EdDSA only"),
    ({"algorithms": "HS256"}, "algorithms", "development key is EdDSA only"),
    ({"secret": SECRET, "keys": "a:HS256:" + SECRET}, "keys", "not secret and keys"),
    ({"secret": SECRET, "signing_kid": "a"}, "signing_kid", "only meaningful with keys"),
    ({"keys": "a:HS256"}, "keys", "KID:ALG:SOURCE"),
    ({"keys": "a/b:HS256:" + SECRET.replace(" ", "")}, "keys", "key id"),
    ({"keys": f"a:HS256:{'s' * 32} a:HS256:{'t' * 32}"}, "keys", "listed twice"),
    ({"keys": "a:HS256:short"}, "keys", "at least 32 bytes"),
    ({"keys": f"a:HS256:{'s' * 32}", "signing_kid": "b"}, "signing_kid", "no key 'b'"),
    ({"keys": f"a:HS256:{'s' * 32}", "algorithms": "HS512"}, "keys", "not in algorithms"),
    ({"jwks_url": "http://issuer.example.com/jwks.json"}, "jwks_url", "https"),
    ({"jwks_url": "ftp://127.0.0.1/jwks.json"}, "jwks_url", "https"),
    ({"jwks_url": "https://issuer.example.com/jwks.json", "algorithms": "RS256 HS256"}, "algorithms", "never accepted from a JWKS"),
    ({"secret": SECRET, "required_claims": "iat sub"}, "required_claims", "must include exp"),
    ({"secret": SECRET, "userid_claim": "email"}, "required_claims", "must include exp, iat and email"),
    ({"secret": SECRET, "principal_claims": "roles"}, "principal_claims", "CLAIM=PREFIX"),
    ({"secret": SECRET, "principal_claims": "roles=Role"}, "principal_claims", "CLAIM=PREFIX"),
    ({"secret": SECRET, "leeway_seconds": "10m"}, "leeway_seconds", "at most 300"),
    ({"secret": SECRET, "access_token_ttl_seconds": "2d"}, "access_token_ttl_seconds", "at most 86400"),
    ({"secret": SECRET, "max_token_bytes": "100"}, "max_token_bytes", "at least 256"),
    ({"secret": SECRET, "header": "Bad Header"}, "header", "header name"),
    ({"secret": SECRET, "auth_type": "Bear er"}, "auth_type", "scheme name"),
    ({"secret": SECRET, "check_account": "maybe"}, "check_account", "boolean"),
    ({"secret": "-----BEGIN PUBLIC KEY-----\nMIIBIjANBg" + "A" * 40}, "secret", "PEM key"),
]


@pytest.mark.parametrize("kwargs, key, fragment", BAD_SETTINGS)
def test_bad_settings_name_their_key(kwargs, key, fragment):
    with pytest.raises(SettingError) as error:
        JWTAuthenticationPolicy(**kwargs)
    assert error.value.key == key
    assert fragment in error.value.message


@pytest.mark.parametrize("kwargs, key, fragment", BAD_SETTINGS)
def test_the_settings_object_refuses_what_the_policy_refuses(kwargs, key, fragment):
    """JWTSettings.parse is where the policy's checks live: same key, same message, no policy."""
    with pytest.raises(SettingError) as error:
        JWTSettings.parse(**kwargs)
    assert error.value.key == key
    assert fragment in error.value.message


def test_an_hmac_algorithm_is_never_accepted_for_an_asymmetric_key(pems):
    private_path, public_path = pems["rsa"]
    for kwargs in ({"private_key": private_path}, {"public_key": public_path}):
        with pytest.raises(SettingError) as error:
            JWTAuthenticationPolicy(algorithms="RS256 HS256", **kwargs)
        assert error.value.key == "algorithms" and "key confusion" in error.value.message
    # A public key offered as an HMAC secret (the classic confusion) is refused too.
    with pytest.raises(SettingError, match="PEM key, not an HMAC secret"):
        JWTAuthenticationPolicy(keys=f"a:HS256:file:{public_path}")


def test_key_pairs_pick_their_algorithm_and_refuse_misfits(pems):
    assert JWTAuthenticationPolicy(private_key=pems["rsa"][0]).algorithms == ("RS256",)
    assert JWTAuthenticationPolicy(private_key=pems["ec256"][0]).algorithms == ("ES256",)
    assert JWTAuthenticationPolicy(public_key=pems["ed25519"][1]).algorithms == ("EdDSA",)
    assert JWTAuthenticationPolicy(private_key=pems["rsa"][0], algorithms="PS256 RS256").algorithms == ("RS256", "PS256")
    with pytest.raises(SettingError, match="ES384 does not fit"):
        JWTAuthenticationPolicy(private_key=pems["ec256"][0], algorithms="ES384")
    with pytest.raises(SettingError, match="does not match private_key"):
        JWTAuthenticationPolicy(private_key=pems["rsa"][0], public_key=pems["ed25519"][1])
    with pytest.raises(SettingError, match="put it in public_key"):
        JWTAuthenticationPolicy(private_key=pems["rsa"][1])
    with pytest.raises(SettingError, match="put it in private_key"):
        JWTAuthenticationPolicy(public_key=pems["rsa"][0])
    with pytest.raises(SettingError, match="cannot read"):
        JWTAuthenticationPolicy(private_key="/nonexistent/key.pem")


def test_weak_rsa_keys_are_refused(tmp_path):
    from cryptography.hazmat.primitives.asymmetric import rsa

    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    private_path, _ = write_pems(tmp_path, "weak", weak)
    with pytest.raises(SettingError, match="2048 bits"):
        JWTAuthenticationPolicy(private_key=private_path)


def test_keys_syntax_for_rotation(pems, monkeypatch):
    monkeypatch.setenv("JWT_OLD_KEY", "o" * 32)
    policy = JWTAuthenticationPolicy(
        keys=f"""
            2026-07:EdDSA:file:{pems['ed25519'][0]}
            2026-01:EdDSA:{pems['ed25519'][1]}
            legacy:HS256:env:JWT_OLD_KEY
            rsa-1:RS256:{pems['rsa'][1]}
        """,
    )
    ring = policy.keyring
    assert ring.signing.kid == "2026-07"
    assert set(ring.by_kid) == {"2026-07", "2026-01", "legacy", "rsa-1"}
    assert policy.algorithms == ("HS256", "RS256", "EdDSA")
    assert ring.find("legacy").algorithms == {"HS256"}
    assert ring.find(None) is ring.find("2026-07")  # kid-less tokens: the signing key only
    published = policy.public_jwks()
    assert [jwk["kid"] for jwk in published] == ["2026-07", "2026-01", "rsa-1"]
    for jwk in published:
        assert "k" not in jwk and "d" not in jwk and jwk["use"] == "sig"


def test_signing_kid_must_name_a_private_key(pems):
    keys = f"new:EdDSA:{pems['ed25519'][1]} old:RS256:{pems['rsa'][0]}"
    assert JWTAuthenticationPolicy(keys=keys).keyring.signing.kid == "old"
    with pytest.raises(SettingError, match="no private key"):
        JWTAuthenticationPolicy(keys=keys, signing_kid="new")
    verify_only = JWTAuthenticationPolicy(keys=f"new:EdDSA:{pems['ed25519'][1]}")
    assert verify_only.keyring.signing is None


def test_the_tokens_endpoint_needs_a_jwt_policy(tmp_path):
    with pytest.raises(ConfigurationError, match="tokens needs a pyramid_authsuite.JWTAuthenticationPolicy"):
        make_demo({"authsuite.accounts_url": f"sqlite:///{tmp_path}/a.sqlite", "authsuite.endpoints": "tokens"})


def test_jwks_url_defaults():
    policy = JWTAuthenticationPolicy(jwks_url="http://127.0.0.1:9/jwks.json")
    assert policy.algorithms == ("RS256",)
    assert policy.check_account is False
    assert policy.remote.url == "http://127.0.0.1:9/jwks.json"
    assert JWTAuthenticationPolicy(jwks_url="https://issuer.example.com/.well-known/jwks.json").remote is not None
