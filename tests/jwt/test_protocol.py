"""Compact JWS / JWT verification: the RFCs' own vectors, and the attacks RFC 8725 names.

The vectors are verified with the key configured the way an application
configures it (a ``JWTAuthenticationPolicy`` built from settings); only the
claim requirements are relaxed, explicitly, because the vectors predate them
(RFC 7515 A.1 has no ``iat``/``sub`` and expired in 2011; RFC 8037 A.4 signs a
sentence, not claims).
"""
from __future__ import annotations

import hashlib
import hmac

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from pyramid_authsuite.jwt import protocol
from pyramid_authsuite.jwt.policy import JWTAuthenticationPolicy
from pyramid_authsuite.jwt.protocol import ClaimRules, TokenError, VerificationKey
from tests.jwt.helpers import b64, private_key, public_pem

# -- RFC 7515 Appendix A.1: HS256 ---------------------------------------------------

RFC7515_A1_KEY = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"
RFC7515_A1_TOKEN = (
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
    ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
)
# Relaxed for this vector only: it carries exp and iss, no iat or sub.
A1_RULES = ClaimRules(required=("exp",), issuer="joe")
A1_NOW = 1300819370  # ten seconds before its exp


def a1_policy() -> JWTAuthenticationPolicy:
    return JWTAuthenticationPolicy(secret=protocol.b64url_decode(RFC7515_A1_KEY), algorithms="HS256")


def test_rfc7515_a1_hs256_verifies_with_the_configured_secret():
    ring = a1_policy().keyring
    verified = protocol.verify_token(RFC7515_A1_TOKEN, ring.find, ring.algorithms, A1_RULES, A1_NOW)
    assert verified.claims == {"iss": "joe", "exp": 1300819380, "http://example.com/is_root": True}
    assert verified.header == {"typ": "JWT", "alg": "HS256"}


def test_rfc7515_a1_is_refused_once_expired_and_with_another_key():
    ring = a1_policy().keyring
    with pytest.raises(TokenError) as expired:
        protocol.verify_token(RFC7515_A1_TOKEN, ring.find, ring.algorithms, A1_RULES, 1300819380)
    assert expired.value.description == protocol.EXPIRED
    other = JWTAuthenticationPolicy(secret=b"k" * 64).keyring
    with pytest.raises(TokenError) as forged:
        protocol.verify_token(RFC7515_A1_TOKEN, other.find, other.algorithms, A1_RULES, A1_NOW)
    assert forged.value.description == protocol.BAD_SIGNATURE


def test_rfc7515_a1_fails_the_policy_default_requirements():
    """Without the explicit relaxation, the vector lacks iat and sub."""
    policy = a1_policy()
    with pytest.raises(TokenError, match="iat"):
        protocol.verify_token(RFC7515_A1_TOKEN, policy.keyring.find, policy.algorithms, policy.rules, A1_NOW)


# -- RFC 8037 Appendix A: Ed25519 ---------------------------------------------------

RFC8037_D = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
RFC8037_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
RFC8037_A4_TOKEN = (
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
    ".hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
)
RFC8037_A3_THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


@pytest.fixture
def rfc8037_pems(tmp_path):
    key = ed25519.Ed25519PrivateKey.from_private_bytes(protocol.b64url_decode(RFC8037_D))
    public_path = tmp_path / "rfc8037.pub.pem"
    public_path.write_bytes(public_pem(key))
    from tests.jwt.helpers import private_pem

    private_path = tmp_path / "rfc8037.pem"
    private_path.write_bytes(private_pem(key))
    return str(private_path), str(public_path)


def test_rfc8037_a4_ed25519_verifies_with_the_configured_public_key(rfc8037_pems):
    _, public_path = rfc8037_pems
    policy = JWTAuthenticationPolicy(public_key=public_path)
    assert policy.algorithms == ("EdDSA",)
    key = policy.keyring.find(None)
    header, payload = protocol.verify_jws(RFC8037_A4_TOKEN, key)
    assert header == {"alg": "EdDSA"}
    assert payload == b"Example of Ed25519 signing"


def test_rfc8037_a3_thumbprint_is_the_kid_and_the_published_key(rfc8037_pems):
    private_path, _ = rfc8037_pems
    policy = JWTAuthenticationPolicy(private_key=private_path)
    (jwk,) = policy.public_jwks()
    assert jwk == {"kty": "OKP", "crv": "Ed25519", "x": RFC8037_X, "kid": RFC8037_A3_THUMBPRINT, "alg": "EdDSA", "use": "sig"}
    assert policy.keyring.find(RFC8037_A3_THUMBPRINT) is policy.keyring.find(None)


def test_rfc8037_a4_tampered_payload_is_refused(rfc8037_pems):
    _, public_path = rfc8037_pems
    key = JWTAuthenticationPolicy(public_key=public_path).keyring.find(None)
    header, _, signature = RFC8037_A4_TOKEN.split(".")
    with pytest.raises(TokenError, match="signature"):
        protocol.verify_jws(f"{header}.{b64(b'Example of Ed25519 signinG')}.{signature}", key)


# -- header attacks (RFC 8725 sections 2.1, 3.1, 3.11) ---------------------------------

HS_KEY = VerificationKey(None, frozenset({"HS256"}), b"s" * 32)
RULES = ClaimRules(required=())


def verify(token: str, key: VerificationKey = HS_KEY, rules: ClaimRules = RULES, allowed=("HS256",)):
    return protocol.verify_token(token, lambda kid: key, allowed, rules, 1_700_000_000)


def signed(header: dict, payload: dict, key: bytes = b"s" * 32) -> str:
    signing_input = f"{b64(header)}.{b64(payload)}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def test_a_token_signed_by_pyjwt_verifies():
    token = jwt.encode({"sub": "alice"}, b"s" * 32, algorithm="HS256")
    assert verify(token).claims == {"sub": "alice"}


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_is_refused_whatever_the_signature(alg):
    unsigned = f"{b64({'alg': alg})}.{b64({'sub': 'alice'})}."
    with pytest.raises(TokenError):
        verify(unsigned)
    with_signature = unsigned + "AAAA"
    with pytest.raises(TokenError) as refused:
        verify(with_signature, allowed=("HS256", "none"))
    assert refused.value.description == protocol.ALG_NONE


def test_an_unsigned_pyjwt_token_is_refused_as_unsigned_not_malformed():
    """PyJWT's alg none token has an empty signature (RFC 7519 section 6.1): named, not called malformed."""
    unsigned = jwt.encode({"sub": "alice"}, None, algorithm="none")
    assert unsigned.endswith(".")
    for allowed in (("HS256",), ("HS256", "none")):
        with pytest.raises(TokenError) as refused:
            verify(unsigned, allowed=allowed)
        assert refused.value.description == protocol.ALG_NONE
    with pytest.raises(TokenError) as refused:
        verify(f"{b64({'alg': 'HS256'})}.{b64({'sub': 'alice'})}.")
    assert refused.value.description == protocol.MALFORMED


def test_the_stage_says_how_far_verification_got():
    """NO_KEY: no key for the token here; UNVERIFIED: refused before its signature held; SIGNED: after."""
    cases = [
        (jwt.encode({"sub": "a"}, b"s" * 48, algorithm="HS384"), {}, protocol.NO_KEY),  # alg not allowed
        (jwt.encode({"sub": "a"}, b"s" * 48, algorithm="HS384"), {"allowed": ("HS256", "HS384")}, protocol.NO_KEY),
        (signed({"alg": "HS256"}, {"sub": "a"}, key=b"t" * 32), {}, protocol.UNVERIFIED),  # bad signature
        ("a.b", {}, protocol.UNVERIFIED),
        (jwt.encode({"sub": "a"}, None, algorithm="none"), {}, protocol.UNVERIFIED),
        (signed({"alg": "HS256"}, {"sub": "a", "exp": 1}), {}, protocol.SIGNED),  # expired
        (signed({"alg": "HS256"}, {"sub": "a"}), {"rules": ClaimRules(required=("iat",))}, protocol.SIGNED),
        (signed_payload(b"[1]"), {}, protocol.SIGNED),  # signed, but not a JSON object
    ]
    for token, kwargs, stage in cases:
        with pytest.raises(TokenError) as refused:
            verify(token, **kwargs)
        assert refused.value.stage == stage, (token, refused.value.description)
    with pytest.raises(TokenError) as unknown:
        protocol.verify_token(signed({"alg": "HS256", "kid": "x"}, {"sub": "a"}),
                              JWTAuthenticationPolicy(keys=f"y:HS256:{'s' * 32}").keyring.find, ("HS256",), RULES, 0)
    assert unknown.value.description == protocol.UNKNOWN_KEY and unknown.value.stage == protocol.NO_KEY


def test_an_algorithm_outside_the_allow_list_is_refused():
    token = jwt.encode({"sub": "alice"}, b"s" * 48, algorithm="HS384")
    with pytest.raises(TokenError) as refused:
        verify(token)
    assert refused.value.description == protocol.ALG_REFUSED


def test_an_algorithm_the_key_is_not_bound_to_is_refused():
    """Allowed by the policy but not by this key: the key decides (RFC 8725 3.1)."""
    token = jwt.encode({"sub": "alice"}, b"s" * 48, algorithm="HS384")
    with pytest.raises(TokenError) as refused:
        verify(token, allowed=("HS256", "HS384"))
    assert refused.value.description == protocol.ALG_REFUSED


@pytest.mark.parametrize("extra", [{"crit": ["exp"]}, {"crit": ["b64"], "b64": False}, {"b64": True}, {"zip": "DEF"}])
def test_unsupported_header_parameters_are_refused(extra):
    with pytest.raises(TokenError) as refused:
        verify(signed({"alg": "HS256", **extra}, {"sub": "alice"}))
    assert refused.value.description == protocol.UNSUPPORTED_HEADER


def test_jku_x5u_jwk_and_x5c_are_ignored():
    header = {
        "alg": "HS256",
        "jku": "http://127.0.0.1:1/attacker.json",
        "x5u": "http://127.0.0.1:1/cert.pem",
        "jwk": {"kty": "oct", "k": b64(b"attacker key of 32 bytes long!!")},
        "x5c": ["MIIB"],
    }
    assert verify(signed(header, {"sub": "alice"})).claims == {"sub": "alice"}
    with pytest.raises(TokenError, match="signature"):
        verify(signed(header, {"sub": "alice"}, key=b"attacker key of 32 bytes long!!"))


@pytest.mark.parametrize("typ", ["at+jwt", "AT+JWT", "application/at+jwt"])
def test_typ_is_compared_as_rfc_7515_says(typ):
    assert verify(signed({"alg": "HS256", "typ": typ}, {}), rules=ClaimRules(required=(), typ="at+jwt")).claims == {}


@pytest.mark.parametrize("typ", [None, "JWT", "id+jwt", 7])
def test_another_typ_is_refused_where_one_is_required(typ):
    header = {"alg": "HS256"} if typ is None else {"alg": "HS256", "typ": typ}
    with pytest.raises(TokenError) as refused:
        verify(signed(header, {}), rules=ClaimRules(required=(), typ="at+jwt"))
    assert refused.value.description == protocol.WRONG_TYPE


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "a.b.",
        "!!.b.c",
        "eyJhbGciOiJIUzI1NiJ9.e30.%%%%",
        "eyJhbGciOiJIUzI1NiJ9.e30.A",  # impossible base64 length
        f"{b64(b'[1]')}.e30.AAAA",  # header not an object
        f"{b64(b'not json')}.e30.AAAA",
        "eyJhbGciOiJIUzI1NiJ9 .e30.AAAA",
        "ëyJhbGciOiJIUzI1NiJ9.e30.AAAA",
    ],
)
def test_malformed_tokens_are_refused(token):
    with pytest.raises(TokenError) as refused:
        verify(token)
    assert refused.value.description == protocol.MALFORMED


@pytest.mark.parametrize("character", ["+", "/", "=", "!", " ", "\x00", "*", "\x7f"])
@pytest.mark.parametrize("segment", [0, 1, 2])
def test_a_character_outside_base64url_is_refused_in_any_segment(character, segment):
    """Also "+", "/" and "=": standard base64 would decode them, base64url has none (RFC 7515 section 2)."""
    parts = signed({"alg": "HS256"}, {"sub": "alice"}).split(".")
    parts[segment] = parts[segment][:4] + character + parts[segment][5:]
    with pytest.raises(TokenError) as refused:
        verify(".".join(parts))
    assert refused.value.description == protocol.MALFORMED


def test_a_truncated_token_is_refused():
    token = jwt.encode({"sub": "alice"}, b"s" * 32, algorithm="HS256")
    for cut in (1, 5, len(token) // 2):
        with pytest.raises(TokenError):
            verify(token[:-cut])


def test_a_payload_that_is_not_json_is_refused_after_the_signature():
    with pytest.raises(TokenError) as refused:
        verify(signed({"alg": "HS256"}, {}).split(".")[0] + "." + b64(b"not json") + ".AAAA")
    assert refused.value.description == protocol.BAD_SIGNATURE
    header = b64({"alg": "HS256"})
    signing_input = f"{header}.{b64(b'not json')}"
    mac = hmac.new(b"s" * 32, signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(TokenError) as malformed:
        verify(f"{signing_input}.{b64(mac)}")
    assert malformed.value.description == protocol.MALFORMED


def test_a_jwe_is_refused_by_name():
    with pytest.raises(TokenError) as refused:
        verify("eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d")
    assert refused.value.description == protocol.ENCRYPTED


def test_a_100kb_token_is_refused_by_size_before_decoding(monkeypatch):
    def no_decoding(*args):
        raise AssertionError("decoded a token over the size limit")

    monkeypatch.setattr(protocol, "b64url_decode", no_decoding)
    monkeypatch.setattr(protocol, "_b64_decode", no_decoding)
    monkeypatch.setattr(protocol, "_TO_BASE64", None)  # not even the character check
    huge = "eyJhbGciOiJIUzI1NiJ9." + "A" * 100_000 + ".AAAA"
    with pytest.raises(TokenError) as refused:
        protocol.verify_token(huge, lambda kid: HS_KEY, ("HS256",), RULES, 0)
    assert refused.value.description == protocol.TOO_LARGE


@pytest.mark.parametrize("kid", [7, "", "k" * 257, ["a"], {"a": 1}])
def test_a_malformed_kid_is_refused_before_any_key_lookup(kid):
    def lookup(found):
        raise AssertionError("looked up a malformed kid")

    with pytest.raises(TokenError):
        protocol.verify_token(signed({"alg": "HS256", "kid": kid}, {}), lookup, ("HS256",), RULES, 0)


# -- claims (RFC 7519 section 4.1) -------------------------------------------------------

NOW = 1_700_000_000


@pytest.mark.parametrize(
    "claims, rules, description",
    [
        ({"exp": NOW}, ClaimRules(required=()), protocol.EXPIRED),
        ({"exp": NOW - 31}, ClaimRules(required=(), leeway=30), protocol.EXPIRED),
        ({"nbf": NOW + 60}, ClaimRules(required=()), protocol.NOT_YET_VALID),
        ({"iat": NOW + 60}, ClaimRules(required=()), protocol.ISSUED_IN_FUTURE),
        ({"iss": "mallory"}, ClaimRules(required=(), issuer="joe"), protocol.WRONG_ISSUER),
        ({}, ClaimRules(required=(), issuer="joe"), protocol.WRONG_ISSUER),
        ({"aud": "other"}, ClaimRules(required=(), audiences=frozenset({"api"})), protocol.WRONG_AUDIENCE),
        ({"aud": ["other", 3]}, ClaimRules(required=(), audiences=frozenset({"api"})), protocol.WRONG_AUDIENCE),
        ({}, ClaimRules(required=(), audiences=frozenset({"api"})), protocol.WRONG_AUDIENCE),
        ({"aud": "api"}, ClaimRules(required=()), protocol.WRONG_AUDIENCE),
        ({"sub": "a"}, ClaimRules(required=("exp",)), "The access token lacks the required exp claim."),
        ({"exp": None}, ClaimRules(required=("exp",)), "The access token lacks the required exp claim."),
        ({"exp": "tomorrow"}, ClaimRules(required=()), "The access token has a malformed exp claim."),
        ({"exp": True}, ClaimRules(required=()), "The access token has a malformed exp claim."),
        ({"nbf": [1]}, ClaimRules(required=()), "The access token has a malformed nbf claim."),
        ({"sub": 42}, ClaimRules(required=()), "The access token has a malformed sub claim."),
        ({"jti": {"a": 1}}, ClaimRules(required=()), "The access token has a malformed jti claim."),
        ({}, ClaimRules(required=('we"ird',)), "The access token lacks a required claim."),
    ],
)
def test_claims_are_refused(claims, rules, description):
    with pytest.raises(TokenError) as refused:
        protocol.validate_claims(claims, rules, NOW)
    assert refused.value.description == description


@pytest.mark.parametrize(
    "claims, rules",
    [
        ({"exp": NOW + 1, "iat": NOW, "sub": "a"}, ClaimRules()),
        ({"exp": NOW - 29}, ClaimRules(required=(), leeway=30)),
        ({"exp": NOW + 0.5}, ClaimRules(required=())),
        ({"nbf": NOW + 20, "iat": NOW + 20}, ClaimRules(required=(), leeway=30)),
        ({"iss": "joe"}, ClaimRules(required=(), issuer="joe")),
        ({"aud": "api"}, ClaimRules(required=(), audiences=frozenset({"api", "other"}))),
        ({"aud": ["x", "api"]}, ClaimRules(required=(), audiences=frozenset({"api"}))),
    ],
)
def test_claims_are_accepted(claims, rules):
    protocol.validate_claims(claims, rules, NOW)


def test_descriptions_are_safe_in_a_quoted_string():
    """RFC 6750 section 3: error_description is %x20-21 / %x23-5B / %x5D-7E."""
    import re

    allowed = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]+")
    for name in dir(protocol):
        value = getattr(protocol, name)
        if name.isupper() and isinstance(value, str) and value.endswith("."):
            assert allowed.fullmatch(value), name


@pytest.mark.parametrize("alg, digest", [("HS256", "sha256"), ("HS384", "sha384"), ("HS512", "sha512")])
@pytest.mark.parametrize("length", [32, 64, 65, 128, 129, 200])
def test_hmac_states_match_the_standard_library(alg, digest, length):
    key = bytes(range(256))[:length] if length <= 256 else b"k" * length
    state = protocol.HMACState(key, getattr(hashlib, digest))
    assert state.mac(b"the signing input") == hmac.digest(key, b"the signing input", digest)


def test_every_configured_algorithm_verifies_pyjwt_tokens():
    cases = {
        "HS256": b"s" * 32, "HS384": b"s" * 48, "HS512": b"s" * 64,
        "RS256": private_key("rsa"), "RS384": private_key("rsa"), "RS512": private_key("rsa"),
        "PS256": private_key("rsa"), "PS384": private_key("rsa"), "PS512": private_key("rsa"),
        "ES256": private_key("ec256"), "ES384": private_key("ec384"), "EdDSA": private_key("ed25519"),
    }
    for alg, key in cases.items():
        verify_key = key if isinstance(key, bytes) else key.public_key()
        token = jwt.encode({"sub": "alice"}, key, algorithm=alg)
        bound = VerificationKey(None, frozenset({alg}), verify_key)
        assert protocol.verify_token(token, lambda kid: bound, (alg,), RULES, 0).algorithm == alg


# -- the payload is exactly one JSON object (RFC 7519 section 7.2, step 10) ------------------


def signed_payload(payload: bytes, header: dict | None = None) -> str:
    """A token whose payload is these bytes, correctly signed with HS_KEY."""
    signing_input = f"{b64(header or {'alg': 'HS256'})}.{b64(payload)}"
    return f"{signing_input}.{b64(hmac.new(b's' * 32, signing_input.encode(), hashlib.sha256).digest())}"


@pytest.mark.parametrize(
    "payload",
    [
        b'{"sub":"a"} x',
        b'{"sub":"a"}{}',
        b'{"sub":"a"}]',
        b'{"sub":"a"},',
        b'{"sub":"a"}\x0b',  # not JSON whitespace
        "{\"sub\":\"a\"}\u00a0".encode(),  # nor is a no-break space
        b'{"sub":"a"',
        b"[1]",
        b'"{}"',
        b"1",
        b"null",
        b"",
        b" \r\n",
        b"\x00{}",
        b'{"sub":"\xff"}',  # not UTF-8
        b'{"sub":"\xed\xa0\x80"}',  # an encoded surrogate: not UTF-8 either
        b"[" * 1_100,  # deeper than the recursion limit, within the size limit
        b'{"a":' * 1_100,
    ],
)
def test_a_signed_payload_that_is_not_one_json_object_is_refused(payload):
    with pytest.raises(TokenError) as refused:
        verify(signed_payload(payload))
    assert refused.value.description == protocol.MALFORMED


@pytest.mark.parametrize("payload", [b'{"sub":"a"}', b' \t\r\n{"sub":"a"} \t\r\n', b'{"sub":"a"}\n', b'\n{ "sub" : "a" }'])
def test_json_whitespace_around_the_payload_object_is_accepted(payload):
    assert verify(signed_payload(payload)).claims == {"sub": "a"}


def test_the_header_is_one_json_object_too():
    for header in (b'{"alg":"HS256"} x', b'{"alg":"HS256"}{}', b'["HS256"]'):
        signing_input = f"{b64(header)}.{b64({'sub': 'a'})}"
        token = f"{signing_input}.{b64(hmac.new(b's' * 32, signing_input.encode(), hashlib.sha256).digest())}"
        with pytest.raises(TokenError) as refused:
            verify(token)
        assert refused.value.description == protocol.MALFORMED


# -- the checked-header memo -------------------------------------------------------------


@pytest.fixture
def empty_header_memo(monkeypatch):
    memo: dict = {}
    monkeypatch.setattr(protocol, "_CHECKED_HEADERS", memo)
    return memo


def test_a_remembered_header_never_lets_another_header_through(empty_header_memo):
    assert verify(signed({"alg": "HS256"}, {"sub": "a"})).claims == {"sub": "a"}
    assert len(empty_header_memo) == 1
    # Same payload and key, other headers: each is decoded and checked.
    for header, description in [
        ({"alg": "HS256", "crit": ["exp"]}, protocol.UNSUPPORTED_HEADER),
        ({"alg": "HS256", "zip": "DEF"}, protocol.UNSUPPORTED_HEADER),
        ({"alg": "none"}, protocol.ALG_NONE),
        ({"alg": "HS384"}, protocol.ALG_REFUSED),
        ({"alg": "HS256", "kid": 7}, protocol.UNKNOWN_KEY),
    ]:
        with pytest.raises(TokenError) as refused:
            verify(signed(header, {"sub": "a"}))
        assert refused.value.description == description, header
    # Same header, other policy: the allow-list and typ are part of the memo key.
    with pytest.raises(TokenError) as refused:
        verify(signed({"alg": "HS256"}, {"sub": "a"}), allowed=("HS384",))
    assert refused.value.description == protocol.ALG_REFUSED
    with pytest.raises(TokenError) as refused:
        verify(signed({"alg": "HS256"}, {"sub": "a"}), rules=ClaimRules(required=(), typ="at+jwt"))
    assert refused.value.description == protocol.WRONG_TYPE
    assert len(empty_header_memo) == 1


def test_a_remembered_header_still_looks_the_key_up_every_time(empty_header_memo):
    """Keys rotate (a JWKS refetch, a removed kid): the memo holds the header, never the key."""
    value = signed({"alg": "HS256", "kid": "k1"}, {"sub": "a"})
    looked_up = []

    def find(kid):
        looked_up.append(kid)
        return HS_KEY

    for _ in range(2):
        protocol.verify_token(value, find, ("HS256",), RULES, 0)
    assert looked_up == ["k1", "k1"] and len(empty_header_memo) == 1

    def rotated_out(kid):
        raise TokenError(protocol.UNKNOWN_KEY)

    with pytest.raises(TokenError) as refused:
        protocol.verify_token(value, rotated_out, ("HS256",), RULES, 0)
    assert refused.value.description == protocol.UNKNOWN_KEY
    # The kid now names a key bound to another algorithm: refused before it is used.
    rebound = VerificationKey("k1", frozenset({"HS384"}), b"s" * 48)
    with pytest.raises(TokenError) as refused:
        protocol.verify_token(value, lambda kid: rebound, ("HS256",), RULES, 0)
    assert refused.value.description == protocol.ALG_REFUSED


def test_only_headers_of_verified_signatures_are_remembered(empty_header_memo):
    for index in range(20):
        forged = signed({"alg": "HS256", "kid": f"k{index}"}, {"sub": "a"}, key=b"f" * 32)
        with pytest.raises(TokenError, match="signature"):
            verify(forged)
    assert empty_header_memo == {}


def test_the_header_memo_is_bounded(empty_header_memo):
    for index in range(protocol._CHECKED_HEADERS_LIMIT + 10):
        verify(signed({"alg": "HS256", "n": index}, {}))
    assert 0 < len(empty_header_memo) <= protocol._CHECKED_HEADERS_LIMIT


def test_a_remembered_header_is_read_only(empty_header_memo):
    verified = verify(signed({"alg": "HS256"}, {}))
    with pytest.raises(TypeError):
        verified.header["alg"] = "none"  # type: ignore[index]


def test_an_unhashable_allow_list_still_verifies(empty_header_memo):
    assert verify(signed({"alg": "HS256"}, {"sub": "a"}), allowed=["HS256"]).claims == {"sub": "a"}
    with pytest.raises(TokenError) as refused:
        verify(signed({"alg": "HS384"}, {"sub": "a"}), allowed=["HS256"])
    assert refused.value.description == protocol.ALG_REFUSED
    assert empty_header_memo == {}


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_json_number_literals_are_refused(literal):
    # RFC 8259 section 6: not JSON, though Python's decoder takes them by default.
    with pytest.raises(TokenError) as refused:
        protocol._json_object(f'{{"sub": "alice", "x": {literal}}}'.encode())
    assert refused.value.description == protocol.MALFORMED
    assert protocol._json_object(b'{"sub": "alice", "x": 1e308}')["x"] == 1e308
