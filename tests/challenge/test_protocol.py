"""The challenge-response protocol module alone: formats, answers, ids, header parsing, keys, decoys.

Keys come from ``cryptography`` and answers from :mod:`tests.challenge.helpers`,
which computes them from the README's message format without this package.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from pyramid_authsuite.challenge import protocol
from tests.challenge.helpers import OAEP, independent_answer, private_pem, public_pem

ID_KEY = b"i" * 32
KEY_ID = "device-7"


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def fresh(expires_at: float = 2_000_000_000.0) -> tuple[str, str]:
    return protocol.make_challenge_id(ID_KEY, expires_at), protocol.new_challenge()


# -- the message and the answers ------------------------------------------------


def test_signing_message_is_exactly_the_documented_bytes():
    assert protocol.signing_message("CID", "key-1", "CHAL") == b"authsuite-challenge-v1\nCID\nkey-1\nCHAL"


@pytest.mark.parametrize("bad", ["", "a\nb", "caf\u00e9"])
def test_signing_message_refuses_fields_that_would_make_it_ambiguous(bad):
    with pytest.raises(ValueError):
        protocol.signing_message("CID", bad, "CHAL")


def test_hmac_answer_is_rfc2104_hmac_sha256_in_lowercase_hex():
    secret = b"s" * 32
    expected = hmac.new(secret, b"authsuite-challenge-v1\nCID\nkey-1\nCHAL", hashlib.sha256).hexdigest()
    assert protocol.hmac_response(secret, "CID", "key-1", "CHAL") == expected
    assert protocol.hmac_response(secret.decode(), "CID", "key-1", "CHAL") == expected


def test_ed25519_answer_verifies_with_the_public_key_alone():
    key = ed25519.Ed25519PrivateKey.generate()
    cid, challenge = fresh()
    signature = base64.b64decode(protocol.ed25519_response(key, cid, KEY_ID, challenge))
    key.public_key().verify(signature, f"authsuite-challenge-v1\n{cid}\n{KEY_ID}\n{challenge}".encode())


def test_rsa_challenge_decrypts_with_oaep_sha256_to_the_challenge(rsa_key):
    challenge = protocol.new_challenge()
    encrypted = protocol.encrypt_challenge(rsa_key.public_key(), challenge)
    ciphertext = base64.b64decode(encrypted, validate=True)
    assert len(ciphertext) == 256  # one modulus length, RFC 8017 7.1.1
    assert rsa_key.decrypt(ciphertext, OAEP) == protocol.b64url_decode(challenge)
    assert protocol.rsa_response(rsa_key, encrypted) == challenge


def test_rsa_challenge_for_another_key_cannot_be_answered(rsa_key):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    encrypted = protocol.encrypt_challenge(other.public_key(), protocol.new_challenge())
    with pytest.raises(protocol.ChallengeError):
        protocol.rsa_response(rsa_key, encrypted)


@pytest.mark.parametrize("kind", ["hmac", "ed25519", "rsa"])
def test_independent_answers_verify_and_others_do_not(kind, rsa_key):
    client = {"hmac": b"k" * 40, "ed25519": ed25519.Ed25519PrivateKey.generate(), "rsa": rsa_key}[kind]
    server = client if kind == "hmac" else protocol.load_public_key(kind, public_pem(client))
    cid, challenge = fresh()
    served = protocol.encrypt_challenge(server, challenge) if kind == "rsa" else challenge
    expected = protocol.challenge_digest(challenge) if kind == "rsa" else challenge
    answer = independent_answer(kind, client, cid, KEY_ID, served)
    assert protocol.answer(kind, client, cid, KEY_ID, served) == answer
    assert protocol.verify_response(kind, server, cid, KEY_ID, expected, answer)
    # Bound to the challenge id, the key id and the challenge:
    other_cid, other_challenge = fresh()
    if kind != "rsa":
        assert not protocol.verify_response(kind, server, other_cid, KEY_ID, expected, answer)
        assert not protocol.verify_response(kind, server, cid, "device-8", expected, answer)
        assert not protocol.verify_response(kind, server, cid, KEY_ID, other_challenge, answer)
    else:
        assert not protocol.verify_response(kind, server, cid, KEY_ID, protocol.challenge_digest(other_challenge), answer)


def test_answers_of_another_kind_or_form_are_wrong():
    secret = b"k" * 40
    signer = ed25519.Ed25519PrivateKey.generate()
    cid, challenge = fresh()
    mac = protocol.hmac_response(secret, cid, KEY_ID, challenge)
    signature = protocol.ed25519_response(signer, cid, KEY_ID, challenge)
    assert protocol.verify_response("hmac", secret, cid, KEY_ID, challenge, mac.upper())  # hex in any case
    assert not protocol.verify_response("hmac", secret, cid, KEY_ID, challenge, signature)
    assert not protocol.verify_response("hmac", secret, cid, KEY_ID, challenge, mac[:-2])
    assert not protocol.verify_response("ed25519", signer.public_key(), cid, KEY_ID, challenge, mac)
    # base64url spelling of the same signature is not the documented form
    urlsafe = signature.replace("+", "-").replace("/", "_")
    if urlsafe != signature:
        assert not protocol.verify_response("ed25519", signer.public_key(), cid, KEY_ID, challenge, urlsafe)
    assert not protocol.verify_response("ed25519", signer.public_key(), cid, KEY_ID, challenge, signature.rstrip("="))
    digest = protocol.challenge_digest(challenge)
    assert not protocol.verify_response("rsa", None, cid, KEY_ID, digest, mac)
    assert not protocol.verify_response("rsa", None, cid, KEY_ID, digest, challenge + "=")
    assert not protocol.verify_response("nope", secret, cid, KEY_ID, challenge, mac)


# -- challenge ids --------------------------------------------------------------


def test_challenge_id_carries_its_expiry_under_a_mac():
    cid = protocol.make_challenge_id(ID_KEY, 1_900_000_000.25)
    assert len(cid) == 56 and protocol.KEY_ID_PATTERN.fullmatch(cid)
    assert protocol.read_challenge_id(ID_KEY, cid) == 1_900_000_000.25
    raw = base64.urlsafe_b64decode(cid)
    assert raw[0] == 1 and struct.unpack(">Q", raw[1:9])[0] == 1_900_000_000_250
    assert raw[-16:] == hmac.digest(ID_KEY, raw[:-16], "sha256")[:16]
    assert protocol.make_challenge_id(ID_KEY, 1_900_000_000.25) != cid  # random part


def _tampered(cid: str, position: int) -> str:
    replacement = "A" if cid[position] != "A" else "B"
    return cid[:position] + replacement + cid[position + 1:]


@pytest.mark.parametrize("position", [0, 3, 10, 20, 40, 55])
def test_an_altered_challenge_id_is_refused(position):
    cid = protocol.make_challenge_id(ID_KEY, 1_900_000_000)
    with pytest.raises(protocol.ChallengeIdError):
        protocol.read_challenge_id(ID_KEY, _tampered(cid, position))


def test_challenge_ids_of_another_server_or_shape_are_refused():
    cid = protocol.make_challenge_id(ID_KEY, 1_900_000_000)
    for bad in (cid[:-1], cid + "A", cid.replace(cid[5], "+"), "", 56 * "A", None):
        with pytest.raises(protocol.ChallengeIdError):
            protocol.read_challenge_id(ID_KEY, bad)
    with pytest.raises(protocol.ChallengeIdError):
        protocol.read_challenge_id(b"j" * 32, cid)


def test_a_challenge_id_of_another_version_is_refused_even_with_a_valid_mac():
    body = struct.pack(">BQ", 2, 1_900_000_000_000) + b"r" * 17
    cid = base64.urlsafe_b64encode(body + hmac.digest(ID_KEY, body, "sha256")[:16]).decode()
    with pytest.raises(protocol.ChallengeIdError):
        protocol.read_challenge_id(ID_KEY, cid)


def test_challenges_are_32_random_bytes_in_base64url():
    seen = {protocol.new_challenge() for _ in range(50)}
    assert len(seen) == 50
    for challenge in seen:
        assert len(challenge) == 43 and len(protocol.b64url_decode(challenge)) == 32


@pytest.mark.parametrize("bad", ["AB=", "A", "AB+C", "AB/C", "AB C", "AC"])
def test_b64url_decoding_is_strict(bad):
    # "AC" has non-zero trailing bits: "AA" is the one canonical spelling.
    with pytest.raises(ValueError):
        protocol.b64url_decode(bad)


# -- the Authorization header ---------------------------------------------------


def good_header(**overrides: str) -> str:
    values = {"id": protocol.make_challenge_id(ID_KEY, 1_900_000_000), "key_id": KEY_ID, "response": "ab" * 32}
    values.update(overrides)
    return "Challenge " + ", ".join(f'{name}="{value}"' for name, value in values.items())


def test_parse_a_good_header():
    header = good_header()
    auth = protocol.parse_authorization(header)
    assert auth.key_id == KEY_ID and auth.response == "ab" * 32 and len(auth.challenge_id) == 56
    # Any order, any case of the scheme, blanks around commas.
    cid = auth.challenge_id
    again = protocol.parse_authorization(f'cHaLlEnGe response="{"ab" * 32}" ,\tkey_id="{KEY_ID}",id="{cid}" ')
    assert again == auth


def test_is_challenge():
    assert protocol.is_challenge("Challenge id=\"x\"")
    assert protocol.is_challenge("challenge")
    for other in (None, "", "Basic abc", "Challenges x", "Hawk id=\"x\"", "Challeng"):
        assert not protocol.is_challenge(other)


MALFORMED = {
    "no attributes": "Challenge",
    "only a space": "Challenge ",
    "tab after scheme": good_header().replace("Challenge ", "Challenge\t", 1),
    "too long": good_header(response="a" * 1100),
    "non-ascii": good_header(key_id="d\u00e9vice"),
    "missing id": 'Challenge key_id="k", response="abc"',
    "missing key_id": good_header().split(", key_id")[0] + ', response="abc"',
    "missing response": good_header().rsplit(", response", 1)[0],
    "duplicate id": good_header() + f', id="{protocol.make_challenge_id(ID_KEY, 1)}"',
    "duplicate response": good_header() + ', response="abcd"',
    "unknown attribute": good_header() + ', ext="x"',
    "empty response": good_header(response=""),
    "empty key_id": good_header(key_id=""),
    "unquoted value": good_header().replace(f'key_id="{KEY_ID}"', f"key_id={KEY_ID}"),
    "single quotes": good_header().replace(f'key_id="{KEY_ID}"', f"key_id='{KEY_ID}'"),
    "escaped quote": good_header(key_id='a\\"b'),
    "trailing comma": good_header() + ",",
    "leading comma": good_header().replace("Challenge ", "Challenge ,", 1),
    "no commas": good_header().replace(", ", " "),
    "semicolons": good_header().replace(", ", "; "),
    "short id": good_header(id="A" * 55),
    "long id": good_header(id="A" * 57),
    "id with plus": good_header(id="+" * 56),
    "key_id starting with dot": good_header(key_id=".hidden"),
    "key_id with slash": good_header(key_id="a/b"),
    "key_id too long": good_header(key_id="k" * 129),
    "response with space": good_header(response="ab cd"),
    "response with percent": good_header(response="ab%20"),
    "response too long": good_header(response="a" * 600),
    "control character": good_header(key_id="a\x01b"),
    "newline": good_header() + "\n",
    "uppercase attribute": good_header().replace("key_id=", "KEY_ID="),
    "garbage": "Challenge %%%%%%",
    "nine attributes": good_header() + "".join(f', x{i}="1"' for i in range(6)),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_headers_raise_parse_errors(name):
    with pytest.raises(protocol.ChallengeParseError):
        protocol.parse_authorization(MALFORMED[name])


def test_parse_errors_echo_nothing_from_the_header():
    secret_looking = "s3cr3t" * 5
    for header in (good_header(response=secret_looking + " x"), good_header(key_id=secret_looking + "/")):
        with pytest.raises(protocol.ChallengeParseError) as caught:
            protocol.parse_authorization(header)
        assert secret_looking not in str(caught.value)


def test_authorization_header_round_trips():
    cid = protocol.make_challenge_id(ID_KEY, 1_900_000_000)
    header = protocol.authorization_header(cid, KEY_ID, "ab" * 32)
    assert protocol.parse_authorization(header) == (cid, KEY_ID, "ab" * 32)


# -- key material ---------------------------------------------------------------


def test_hmac_secrets_need_32_bytes():
    assert protocol.normalize_key_material("hmac", b"x" * 32) == b"x" * 32
    with pytest.raises(protocol.KeyMaterialError):
        protocol.normalize_key_material("hmac", b"x" * 31)


def test_public_keys_are_stored_as_spki_pem(rsa_key):
    ed = ed25519.Ed25519PrivateKey.generate()
    assert protocol.normalize_key_material("ed25519", public_pem(ed)) == public_pem(ed)
    pkcs1 = rsa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
    assert protocol.normalize_key_material("rsa", pkcs1) == public_pem(rsa_key)


def test_weak_wrong_or_private_keys_are_refused(rsa_key):
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    ed = ed25519.Ed25519PrivateKey.generate()
    p256 = ec.generate_private_key(ec.SECP256R1())
    cases = [
        ("rsa", public_pem(small), "at least 2048"),
        ("rsa", public_pem(ed), "another kind"),
        ("ed25519", public_pem(rsa_key), "another kind"),
        ("ed25519", public_pem(p256), "another kind"),
        ("ed25519", private_pem(ed), "private key"),
        ("rsa", private_pem(rsa_key), "private key"),
        ("ed25519", b"not a key", "not a PEM"),
        ("ed25519", b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "PEM"),
        ("dsa", b"x" * 40, "unknown key kind"),
    ]
    for kind, pem, message in cases:
        with pytest.raises(protocol.KeyMaterialError, match=message):
            protocol.normalize_key_material(kind, pem)


def test_private_keys_for_the_client(rsa_key):
    ed = ed25519.Ed25519PrivateKey.generate()
    assert protocol.load_private_key("ed25519", private_pem(ed)).public_key() == ed.public_key()
    assert protocol.load_private_key("rsa", private_pem(rsa_key)).key_size == 2048
    assert protocol.kind_of_key(ed) == "ed25519" and protocol.kind_of_key(rsa_key) == "rsa"
    assert protocol.kind_of_key(b"x" * 32) == "hmac" and protocol.kind_of_key("x" * 32) == "hmac"
    for kind, pem in (("rsa", private_pem(ed)), ("ed25519", public_pem(ed)), ("hmac", b"short")):
        with pytest.raises(protocol.KeyMaterialError):
            protocol.load_private_key(kind, pem)
    with pytest.raises(protocol.KeyMaterialError):
        protocol.kind_of_key(ed.public_key())


def test_algorithm_names():
    assert protocol.ALGORITHMS == {"hmac": "hmac-sha256", "ed25519": "ed25519", "rsa": "rsa-oaep-sha256"}
    assert [protocol.kind_of_algorithm(name) for name in protocol.ALGORITHMS.values()] == list(protocol.KINDS)
    with pytest.raises(protocol.ChallengeError):
        protocol.kind_of_algorithm("none")


# -- decoys -----------------------------------------------------------------------


def test_decoy_kind_is_fixed_per_key_id_and_spread_over_the_kinds():
    key = secrets.token_bytes(32)
    kinds = ("hmac", "ed25519", "rsa")
    chosen = [protocol.decoy_kind(key, f"id-{n}", kinds) for n in range(60)]
    assert chosen == [protocol.decoy_kind(key, f"id-{n}", kinds) for n in range(60)]
    assert set(chosen) == set(kinds)
    assert protocol.decoy_kind(key, "anything", ("ed25519",)) == "ed25519"


@pytest.mark.parametrize("bits", [2048, 3072])
def test_decoy_rsa_key_gives_ciphertexts_shaped_like_a_real_key(bits):
    key = secrets.token_bytes(32)
    decoy = protocol.decoy_rsa_public_key(key, "ghost", bits)
    assert decoy.key_size == bits
    assert decoy.public_numbers().n == protocol.decoy_rsa_public_key(key, "ghost", bits).public_numbers().n
    assert decoy.public_numbers().n != protocol.decoy_rsa_public_key(key, "ghost-2", bits).public_numbers().n
    ciphertexts = {protocol.encrypt_challenge(decoy, protocol.new_challenge()) for _ in range(5)}
    assert len(ciphertexts) == 5
    for encrypted in ciphertexts:
        raw = base64.b64decode(encrypted, validate=True)
        assert len(raw) == bits // 8
        assert int.from_bytes(raw, "big") < decoy.public_numbers().n
