"""Fuzzing challenge-response: garbage ``Authorization: Challenge`` headers and mutations of real answers.

Every answer starts from a real ``POST /challenges``; keys are made by
``cryptography`` and answers computed from the README's message format by
:func:`tests.challenge.helpers.independent_answer` (standard library and
``cryptography``, not our protocol module). Oracle: the header read here,
the challenge it names one this test was issued for that key id and not yet
accepted, and the answer checked with ``cryptography`` and ``hmac`` alone.
A small share of the requests fuzz ``POST /challenges`` itself (no 5xx,
problem+json 4xx).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from tests.challenge.helpers import OAEP, independent_answer, material, message
from tests.fuzz.common import (
    EXAMPLES,
    Judge,
    Sent,
    any_scheme_garbage,
    auth_params,
    b64_of,
    mutate_params,
    mutate_text,
    rng_for,
    text,
    value,
)

pytestmark = [pytest.mark.fuzz, pytest.mark.filterwarnings("ignore::webtest.lint.WSGIWarning")]

NAMES = ("id", "key_id", "response")


@dataclass
class Issued:
    challenge_id: str
    key_id: str
    kind: str
    key: Any
    served: str
    userid: str


@pytest.fixture(scope="module")
def keys(app):
    """Client keys registered in the app: alice has one of each kind, bob hmac and ed25519."""
    made = {
        "alice-hmac": ("alice", "hmac", secrets.token_hex(32).encode()),
        "alice-ed25519": ("alice", "ed25519", ed25519.Ed25519PrivateKey.generate()),
        "alice-rsa": ("alice", "rsa", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        "bob-hmac": ("bob", "hmac", secrets.token_hex(32).encode()),
        "bob-ed25519": ("bob", "ed25519", ed25519.Ed25519PrivateKey.generate()),
    }
    store = app.app.registry.authsuite_accounts
    for key_id, (userid, kind, key) in made.items():
        store.add_key(userid, key_id, kind, material(kind, key))
    return made


class ChallengeOracle:
    def __init__(self):
        self.issued: dict[str, Issued] = {}
        self.accepted: set[str] = set()

    def __call__(self, sent: Sent):
        def oracle():
            header = sent.headers.get("Authorization", "").strip(" \t")
            scheme, space, rest = header.partition(" ")
            if scheme.lower() != "challenge" or not space:
                return None
            values: dict[str, set[str]] = {}
            for name, raw in re.findall(r'([A-Za-z_]+)\s*=\s*"([^"]*)"', rest):
                values.setdefault(name, set()).add(raw)
            if any(len(found) != 1 for found in values.values()) or not set(NAMES) <= set(values):
                return None  # ambiguous or incomplete: no single reading is the valid one
            challenge_id, key_id, response = (next(iter(values[name])) for name in NAMES)
            issued = self.issued.get(challenge_id)
            if issued is None or issued.key_id != key_id or challenge_id in self.accepted:
                return None
            if not answer_is_right(issued, response):
                return None
            self.accepted.add(challenge_id)
            return issued.userid
        return oracle


def answer_is_right(issued: Issued, response: str) -> bool:
    signed = message(issued.challenge_id, issued.key_id, issued.served)
    try:
        if issued.kind == "hmac":
            return hmac.compare_digest(bytes.fromhex(response), hmac.new(issued.key, signed, hashlib.sha256).digest())
        if issued.kind == "ed25519":
            issued.key.public_key().verify(base64.b64decode(response, validate=True), signed)
            return True
        plaintext = issued.key.decrypt(base64.b64decode(issued.served), OAEP)
        return base64.urlsafe_b64decode(response + "=" * (-len(response) % 4)) == plaintext
    except (ValueError, binascii.Error, InvalidSignature):
        return False


def header(challenge_id: str, key_id: str, response: str) -> str:
    return f'Challenge id="{challenge_id}", key_id="{key_id}", response="{response}"'


def reencode(rng, issued: Issued, response: str) -> str:
    """The same answer bytes in another spelling (hex case, base64 alphabet and padding)."""
    if issued.kind == "hmac":
        raw = bytes.fromhex(response)
        return rng.choice((response.upper(), b64_of(rng, raw), response[:63], response + "0"))
    if issued.kind == "ed25519":
        return b64_of(rng, base64.b64decode(response))
    raw = base64.urlsafe_b64decode(response + "=" * (-len(response) % 4))
    return rng.choice((b64_of(rng, raw), raw.hex(), response + "="))


def flip(rng, response: str) -> str:
    try:
        raw = bytearray(bytes.fromhex(response) if re.fullmatch(r"[0-9a-f]{64}", response)
                        else base64.urlsafe_b64decode(response.replace("+", "-").replace("/", "_")
                                                      + "=" * (-len(response) % 4)))
    except (ValueError, binascii.Error):
        return mutate_text(rng, response)
    raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
    if re.fullmatch(r"[0-9a-f]{64}", response):
        return raw.hex()
    return base64.b64encode(bytes(raw)).decode() if "=" in response else base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


def mutate(rng, issued: Issued, response: str, others: list[Issued], keys: dict) -> str:
    valid = header(issued.challenge_id, issued.key_id, response)
    choice = rng.randrange(11)
    if choice == 0:
        return mutate_text(rng, valid)
    if choice <= 2:
        return mutate_params(rng, valid)
    if choice == 3:
        return header(issued.challenge_id, issued.key_id, reencode(rng, issued, response))
    if choice == 4:
        return header(issued.challenge_id, issued.key_id, flip(rng, response))
    if choice == 5:  # another (older, maybe consumed) challenge's id
        other = rng.choice(others) if others else issued
        return header(other.challenge_id, rng.choice((issued.key_id, other.key_id)), response)
    if choice == 6:  # another key id: same user, other user, unknown
        return header(issued.challenge_id, rng.choice(sorted(keys) + ["nobody-hmac", "x"]), response)
    if choice == 7:  # the answer made with another key (of this kind or another)
        key_id = rng.choice(sorted(keys))
        _, kind, key = keys[key_id]
        if kind == "rsa" and issued.kind != "rsa":
            kind, key = "hmac", secrets.token_hex(32).encode()
        try:
            forged = independent_answer(kind, key, issued.challenge_id, issued.key_id, issued.served)
        except ValueError:
            forged = response
        return header(issued.challenge_id, issued.key_id, forged)
    if choice == 8:  # the right key, signing over another key id or challenge id
        if issued.kind == "rsa":
            return header(issued.challenge_id, issued.key_id, mutate_text(rng, response))
        other_key_id = rng.choice(sorted(keys))
        return header(issued.challenge_id, issued.key_id,
                      independent_answer(issued.kind, issued.key, issued.challenge_id, other_key_id, issued.served))
    if choice == 9:  # the challenge id forged: one character changed
        position = rng.randrange(len(issued.challenge_id))
        replacement = rng.choice("ABCDEFabcdef0123456789-_")
        return header(issued.challenge_id[:position] + replacement + issued.challenge_id[position + 1:],
                      issued.key_id, response)
    return auth_params(rng, "Challenge", NAMES, {"id": (issued.challenge_id,), "key_id": (issued.key_id,),
                                                 "response": (response,)})


def endpoint_fuzz(rng, keys: dict) -> Sent:
    """A generated ``POST /challenges``: odd bodies, types and key ids."""
    key_id = rng.choice(sorted(keys) + [value(rng), "", "a" * 129, "a" * 128, "-x", "x y", "x\u00e9"])
    body_choice = rng.randrange(6)
    if body_choice == 0:
        body = json.dumps({"key_id": key_id, "ttl": rng.choice((0, -1, 1, 30, 120, 121, 10 ** 20, "30", None, 1.5,
                                                                True, []))}).encode()
    elif body_choice == 1:
        body = json.dumps({"key_id": key_id, "extra": value(rng)}).encode()
    elif body_choice == 2:
        body = rng.choice((b"", b"{", b"[]", b"null", b'"x"', b"{}", b"\xff\xfe", b"[" * 3000 + b"]" * 3000,
                           b"key_id=alice-hmac", json.dumps({"key_id": key_id}).encode() * 2))
    elif body_choice == 3:
        body = json.dumps({"key_id": key_id}).encode() + b" " * rng.choice((0, 5000, 70000))
    elif body_choice == 4:
        body = text(rng).encode("utf-8", "surrogatepass")
    else:
        body = json.dumps({"key_id": [key_id], "ttl": {"a": 1}}).encode()
    content_type = rng.choice(("application/json", "application/json", "text/plain", "",
                               "application/x-www-form-urlencoded", "application/json; charset=latin-1"))
    headers = {"Content-Type": content_type} if content_type else {}
    return Sent("POST", "/challenges", headers, body, note="POST /challenges fuzz")


def test_fuzz_challenge(app, keys):
    rng = rng_for("challenge")
    judge = Judge(app, "challenge")
    oracle = ChallengeOracle()
    key_ids = sorted(keys)
    weights = [0.1 if keys[key_id][1] == "rsa" else 1 for key_id in key_ids]
    recent: list[Issued] = []
    while judge.fuzzed < EXAMPLES:
        roll = rng.random()
        if roll < 0.04:
            judge.fuzz(endpoint_fuzz(rng, keys), None)
            continue
        if roll < 0.12:
            pool = {"id": tuple(i.challenge_id for i in recent[-5:]), "key_id": tuple(key_ids)}
            raw = auth_params(rng, "Challenge", NAMES, pool) if rng.random() < 0.8 else any_scheme_garbage(rng)
            sent = Sent("GET", "/whoami", {"Authorization": raw}, note="challenge garbage")
            judge.fuzz(sent, oracle(sent))
            continue
        key_id = rng.choices(key_ids, weights)[0]
        userid, kind, key = keys[key_id]
        created = judge.send(Sent("POST", "/challenges", {"Content-Type": "application/json"},
                                  json.dumps({"key_id": key_id}).encode(), note="issue"))
        assert created.status_int == 201, created
        issued = Issued(created.json["challenge_id"], key_id, kind, key, created.json["challenge"], userid)
        oracle.issued[issued.challenge_id] = issued
        answer = independent_answer(kind, key, issued.challenge_id, key_id, issued.served)
        # challenge is a login scheme: an answer also buys a Hawk session (a 201 is an acceptance too).
        method, path = rng.choice((("GET", "/whoami"), ("GET", "/whoami"), ("GET", "/admin"),
                                   ("POST", "/hawk-sessions")))
        valid = Sent(method, path, {"Authorization": header(issued.challenge_id, key_id, answer)}, note="valid")
        first = rng.random() < 0.3
        if first:
            response = judge.send(valid)
            judge.check(response, valid, oracle(valid))
            judge.expect_accepted(response, valid, userid)
        for _ in range(rng.randrange(1, 3)):
            mutated = Sent(valid.method, valid.path, {"Authorization": mutate(rng, issued, answer, recent, keys)},
                           note=f"challenge mutation ({kind})")
            judge.fuzz(mutated, oracle(mutated))
        if first or rng.random() < 0.3:
            judge.fuzz(valid, oracle(valid))
        recent = (recent + [issued])[-20:]
    print(judge.summary())
    judge.assert_clean()
