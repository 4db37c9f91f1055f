"""pyramid_authsuite.keys: every key kind and form, refusals by kind and size,
the HMAC-secret guard, and generation round trips.

Keys are made by ``cryptography`` directly and by the ``openssl`` command line
(a second implementation, and the traditional PEM forms operators have), never
by the module under test, except where generation itself is tested; then the
result is read back by ``cryptography`` and by ``openssl``.
"""
from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from pyramid_authsuite import keys
from pyramid_authsuite.keys import KeyMaterialError

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="the openssl command is not installed")


def spki(key) -> bytes:
    public = key.public_key() if hasattr(key, "private_bytes") else key
    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def pem_public(key, form=serialization.PublicFormat.SubjectPublicKeyInfo) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, form)


def pem_private(key, form=serialization.PrivateFormat.PKCS8, encryption=None) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, form, encryption or serialization.NoEncryption())


@pytest.fixture(scope="module")
def made():
    """One private key of each kind, made by cryptography."""
    return {
        "ed25519": ed25519.Ed25519PrivateKey.generate(),
        "ed448": ed448.Ed448PrivateKey.generate(),
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ec": ec.generate_private_key(ec.SECP384R1()),
    }


def openssl(*args: str, data: bytes | None = None) -> bytes:
    result = subprocess.run([OPENSSL, *args], input=data, capture_output=True, timeout=120, check=True)
    return result.stdout


# -- public keys ------------------------------------------------------------------


@pytest.mark.parametrize("kind", keys.KINDS)
def test_each_kind_of_public_pem_loads_under_its_own_kind_only(made, kind):
    pem = pem_public(made[kind])
    loaded = keys.load_public_pem(pem, (kind,))
    assert spki(loaded) == spki(made[kind])
    assert keys.kind_of(loaded) == kind and not keys.is_private(loaded)
    for other in keys.KINDS:
        if other != kind:
            with pytest.raises(KeyMaterialError, match="another kind of key than") as caught:
                keys.load_public_pem(pem, (other,))
            assert caught.value.reason == "kind"


def test_pkcs1_rsa_public_keys_load(made):
    pem = pem_public(made["rsa"], serialization.PublicFormat.PKCS1)
    assert pem.startswith(b"-----BEGIN RSA PUBLIC KEY-----")
    assert spki(keys.load_public_pem(pem, ("rsa",))) == spki(made["rsa"])


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.SECP384R1(), ec.SECP521R1()])
def test_the_jose_curves_load(curve):
    key = ec.generate_private_key(curve)
    assert keys.load_public_pem(pem_public(key), ("ec",)).curve.name == curve.name
    assert keys.load_private_pem(pem_private(key), ("ec",)).curve.name == curve.name


def test_other_curves_are_refused():
    key = ec.generate_private_key(ec.SECP256K1())
    for load in (lambda: keys.load_public_pem(pem_public(key), ("ec",)), lambda: keys.load_private_pem(pem_private(key))):
        with pytest.raises(KeyMaterialError, match="unsupported curve secp256k1") as caught:
            load()
        assert caught.value.reason == "curve"


def test_a_private_key_is_never_taken_for_a_public_one(made):
    for kind in keys.KINDS:
        with pytest.raises(KeyMaterialError, match="this is a private key: give the public one") as caught:
            keys.load_public_pem(pem_private(made[kind]), private_hint="give the public one")
        assert caught.value.reason == "private"


@pytest.mark.parametrize("material, reason", [
    (b"not a key", "not_pem"),
    (b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "not_pem"),
    (b"", "not_pem"),
    ("a str, not bytes", "not_pem"),
])
def test_what_is_not_a_public_pem(material, reason):
    with pytest.raises(KeyMaterialError, match="PEM public key|must be bytes") as caught:
        keys.load_public_pem(material)
    assert caught.value.reason == reason


def test_dsa_is_no_kind_of_ours():
    key = dsa.generate_private_key(key_size=2048)
    with pytest.raises(KeyMaterialError, match="another kind of key than Ed25519 or RSA") as caught:
        keys.load_public_pem(pem_public(key), ("ed25519", "rsa"))
    assert caught.value.reason == "kind"
    # Without an allow-list it loads, for a caller that names it in its own words.
    assert keys.describe(keys.load_pem_key(pem_private(key), kinds=None)) == "DSAPrivateKey"
    assert keys.kind_of(key) is None and keys.is_private(key)


def test_an_unknown_kind_in_an_allow_list_is_a_programming_error(made):
    with pytest.raises(ValueError, match="unknown key kinds") as caught:
        keys.load_public_pem(pem_public(made["rsa"]), ("dsa",))
    assert not isinstance(caught.value, KeyMaterialError)


# -- private keys -----------------------------------------------------------------


@pytest.mark.parametrize("kind", keys.KINDS)
def test_each_kind_of_private_pem_loads(made, kind):
    loaded = keys.load_private_pem(pem_private(made[kind]), (kind,))
    assert keys.is_private(loaded) and spki(loaded) == spki(made[kind])
    assert keys.public_of(loaded) is not loaded and spki(keys.public_of(loaded)) == spki(made[kind])
    other = "ed25519" if kind == "rsa" else "rsa"
    # The label is the caller's name for the kind (challenge-response says "rsa").
    with pytest.raises(KeyMaterialError, match=f"another kind of key than {other}$"):
        keys.load_private_pem(pem_private(made[kind]), (other,), label=other)


def test_traditional_private_pem_loads(made):
    pem = pem_private(made["rsa"], serialization.PrivateFormat.TraditionalOpenSSL)
    assert pem.startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    assert spki(keys.load_private_pem(pem, ("rsa",))) == spki(made["rsa"])


def test_encrypted_and_public_pems_are_not_private_keys(made):
    encrypted = pem_private(made["ed25519"], encryption=serialization.BestAvailableEncryption(b"pass"))
    with pytest.raises(KeyMaterialError, match="not an unencrypted PEM private key") as caught:
        keys.load_private_pem(encrypted)
    assert caught.value.reason == "encrypted"
    with pytest.raises(KeyMaterialError, match="not an unencrypted PEM private key") as caught:
        keys.load_private_pem(pem_public(made["ed25519"]))
    assert caught.value.reason == "not_pem"


def test_load_pem_key_takes_either_half(made):
    private = keys.load_pem_key(pem_private(made["ec"]))
    public = keys.load_pem_key(pem_public(made["ec"]))
    assert keys.is_private(private) and not keys.is_private(public)
    assert spki(private) == spki(public) == spki(made["ec"])
    encrypted = pem_private(made["ec"], encryption=serialization.BestAvailableEncryption(b"pass"))
    with pytest.raises(KeyMaterialError, match="encrypted private keys are not supported"):
        keys.load_pem_key(encrypted)
    with pytest.raises(KeyMaterialError, match="not a PEM private or public key"):
        keys.load_pem_key(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(KeyMaterialError, match="another kind"):
        keys.load_pem_key(pem_public(made["ec"]), ("rsa",))


# -- raw Ed25519 --------------------------------------------------------------------


def test_raw_ed25519_public_keys(made):
    key = made["ed25519"].public_key()
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert spki(keys.load_ed25519_public_key(base64.b64encode(raw))) == spki(key)
    assert spki(keys.load_ed25519_public_key(pem_public(made["ed25519"]))) == spki(key)
    for bad in (base64.b64encode(raw[:31]), base64.b64encode(raw + b"x"), b"x" * 40, base64.urlsafe_b64encode(b"\xfb" * 32),
                b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"):
        with pytest.raises(KeyMaterialError, match=r"not an Ed25519 public key \(PEM or base64 of 32 bytes\)"):
            keys.load_ed25519_public_key(bad)
    with pytest.raises(KeyMaterialError, match="another kind of key than Ed25519"):
        keys.load_ed25519_public_key(pem_public(made["rsa"]))
    with pytest.raises(KeyMaterialError, match="this is a private key"):
        keys.load_ed25519_public_key(pem_private(made["ed25519"]))


# -- RSA sizes ----------------------------------------------------------------------


def test_rsa_sizes(made):
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(KeyMaterialError, match=r"at least 2048 bits \(this one has 1024\)") as caught:
        keys.check_rsa_size(small.public_key())
    assert caught.value.reason == "rsa_too_small"
    assert keys.check_rsa_size(made["rsa"]) is made["rsa"]
    # An 8200-bit modulus (odd, top bit set): only the size matters here.
    large = rsa.RSAPublicNumbers(65537, (1 << 8199) | 0xFFFF).public_key()
    with pytest.raises(KeyMaterialError, match=r"at most 8192 bits \(this one has 8200\)") as caught:
        keys.check_rsa_size(large)
    assert caught.value.reason == "rsa_too_large"
    assert keys.check_rsa_size(large, maximum=None) is large
    assert keys.check_rsa_size(made["ed25519"]) is made["ed25519"]  # other kinds pass


# -- the HMAC-secret guard -------------------------------------------------------------


def test_a_pem_key_is_not_an_hmac_secret(made):
    for pem in (pem_public(made["rsa"]), pem_private(made["ed25519"]), b"  \n" + pem_public(made["ec"])):
        with pytest.raises(KeyMaterialError) as caught:
            keys.check_hmac_secret(pem, 32, name="the secret of 'billing'", hint="use an ed25519 key")
        assert str(caught.value) == "the secret of 'billing' is a PEM key, not an HMAC secret: use an ed25519 key"
        assert caught.value.reason == "pem_secret"
        assert b"BEGIN" not in str(caught.value).encode()


def test_a_short_secret_is_refused_with_the_callers_name():
    assert keys.check_hmac_secret(b"s" * 32, 32, name="secret") == b"s" * 32
    with pytest.raises(KeyMaterialError) as caught:
        keys.check_hmac_secret(b"s" * 31, 32, name="the secret of 'billing'")
    assert str(caught.value) == "the secret of 'billing' has fewer than 32 bytes"
    assert caught.value.reason == "short_secret" and "s" * 31 not in str(caught.value)
    with pytest.raises(KeyMaterialError, match="^an HS512 secret must be at least 64 bytes$"):
        keys.check_hmac_secret(b"s" * 63, 64, name="this", too_short="an HS512 secret must be at least 64 bytes")
    # A secret that merely contains the marker further on is a secret.
    assert keys.check_hmac_secret(b"x" * 32 + b"-----BEGIN", 32, name="secret")


def test_every_caller_refuses_a_pem_as_hmac_secret(made, monkeypatch):
    from pyramid_authsuite.challenge import protocol as challenge
    from pyramid_authsuite.exceptions import SettingError
    from pyramid_authsuite.hmac.policy import parse_keys
    from pyramid_authsuite.jwt.keys import secret_key

    pem = pem_public(made["rsa"])
    monkeypatch.setenv("AUTHSUITE_TEST_PEM_SECRET", pem.decode())
    with pytest.raises(SettingError, match="the secret of 'billing' is a PEM key, not an HMAC secret"):
        parse_keys("billing:hmac-sha256:env:AUTHSUITE_TEST_PEM_SECRET")
    with pytest.raises(challenge.KeyMaterialError, match="PEM key, not an HMAC secret"):
        challenge.normalize_key_material("hmac", pem)
    with pytest.raises(challenge.KeyMaterialError, match="PEM key, not an HMAC secret"):
        challenge.load_private_key("hmac", pem)
    with pytest.raises(SettingError, match="PEM key, not an HMAC secret: use private_key / public_key"):
        secret_key(pem, ("HS256",))


# -- generation and serialisation ----------------------------------------------------------


@pytest.mark.parametrize("kind, check", [
    ("ed25519", lambda key: isinstance(key, ed25519.Ed25519PrivateKey)),
    ("rsa", lambda key: isinstance(key, rsa.RSAPrivateKey) and key.key_size == 3072 and key.public_key().public_numbers().e == 65537),
    ("ec", lambda key: isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"),
])
def test_generated_keys_round_trip(kind, check):
    key = keys.generate_private_key(kind)
    assert check(key)
    private, public = keys.private_pem(key), keys.public_pem(key)
    assert private.startswith(b"-----BEGIN PRIVATE KEY-----") and public.startswith(b"-----BEGIN PUBLIC KEY-----")
    # Read back by cryptography directly, and by this module's loaders.
    again = serialization.load_pem_private_key(private, password=None)
    assert spki(again) == spki(key) == spki(serialization.load_pem_public_key(public))
    assert keys.spki_der(key) == keys.spki_der(keys.load_public_pem(public, (kind,))) == spki(key)
    assert keys.public_pem(keys.load_private_pem(private, (kind,))) == public


def test_unknown_kinds_are_not_generated():
    with pytest.raises(ValueError, match="unknown key kind 'dsa'"):
        keys.generate_private_key("dsa")


@needs_openssl
@pytest.mark.parametrize("kind", ["ed25519", "rsa", "ec"])
def test_openssl_reads_what_we_generate(tmp_path: Path, kind):
    key = keys.generate_private_key(kind)
    path = tmp_path / "key.pem"
    path.write_bytes(keys.private_pem(key))
    assert openssl("pkey", "-in", str(path), "-pubout") == keys.public_pem(key)


@needs_openssl
@pytest.mark.parametrize("kind, arguments", [
    ("ed25519", ["genpkey", "-algorithm", "ed25519"]),
    ("ed448", ["genpkey", "-algorithm", "ed448"]),
    ("rsa", ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]),
    ("ec", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"]),
])
def test_keys_made_by_openssl_load(tmp_path: Path, kind, arguments):
    path = tmp_path / "key.pem"
    path.write_bytes(openssl(*arguments))
    public = openssl("pkey", "-in", str(path), "-pubout")
    private = keys.load_private_pem(path.read_bytes(), (kind,))
    assert keys.public_pem(private) == public
    assert keys.spki_der(keys.load_public_pem(public, (kind,))) == keys.spki_der(private)
    assert keys.load_pem_key(public) is not None and not keys.is_private(keys.load_pem_key(public))


@needs_openssl
def test_openssl_traditional_and_encrypted_rsa_keys(tmp_path: Path):
    path = tmp_path / "key.pem"
    path.write_bytes(openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"))
    traditional = openssl("rsa", "-in", str(path), "-traditional")
    assert traditional.startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    assert keys.load_private_pem(traditional, ("rsa",)).key_size == 2048
    pkcs1_public = openssl("rsa", "-in", str(path), "-RSAPublicKey_out")
    assert keys.spki_der(keys.load_public_pem(pkcs1_public, ("rsa",))) == keys.spki_der(keys.load_private_pem(traditional))
    encrypted = openssl("pkey", "-in", str(path), "-aes256", "-passout", "pass:secret")
    with pytest.raises(KeyMaterialError) as caught:
        keys.load_private_pem(encrypted)
    assert caught.value.reason == "encrypted"
    small = openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024")
    with pytest.raises(KeyMaterialError, match="at least 2048 bits"):
        keys.check_rsa_size(keys.load_private_pem(small, ("rsa",)))


def test_describe_names_kinds_and_curves(made):
    assert keys.describe(made["rsa"]) == "RSA" and keys.describe(made["ec"]) == "EC secp384r1"
    assert keys.describe(made["ed25519"].public_key()) == "Ed25519" and keys.describe(made["ed448"]) == "Ed448"
    assert keys.public_of(b"secret") == b"secret" and not keys.is_private(b"secret")


def test_the_sign_command_keeps_its_messages(made, tmp_path: Path):
    from pyramid_authsuite.hmac.commands import load_signing_key
    from pyramid_authsuite.scripts.cli import CommandError

    good, other, garbage = (tmp_path / name for name in ("good.pem", "other.pem", "garbage.pem"))
    good.write_bytes(pem_private(made["ed25519"]))
    other.write_bytes(pem_private(made["rsa"]))
    garbage.write_bytes(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    assert spki(load_signing_key(f"file:{good}", "ed25519")) == spki(made["ed25519"])
    with pytest.raises(CommandError, match="^--key: the PEM holds another kind of key than Ed25519$"):
        load_signing_key(f"file:{other}", "ed25519")
    public = tmp_path / "public.pem"
    public.write_bytes(pem_public(made["ed25519"]))
    for path in (garbage, public):
        with pytest.raises(CommandError, match=r"^--key: not a PEM private key \(authsuite gen-keypair --kind ed25519"):
            load_signing_key(f"file:{path}", "ed25519")
    assert load_signing_key("x" * 32, "hmac-sha256") == b"x" * 32
