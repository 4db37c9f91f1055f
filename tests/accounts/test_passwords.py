"""Argon2id password hashing."""
from __future__ import annotations

import pytest

from pyramid_authsuite.accounts.passwords import PasswordHasher

CHEAP = {"time_cost": 1, "memory_cost": 8 * 1024, "parallelism": 1}


@pytest.fixture(scope="module")
def hasher():
    return PasswordHasher(**CHEAP)


def test_defaults_are_owasp_argon2id():
    hasher = PasswordHasher()
    assert (hasher.memory_cost, hasher.time_cost, hasher.parallelism) == (19456, 2, 1)
    encoded = hasher.hash("secret")
    assert encoded.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert hasher.verify(encoded, "secret") is True


def test_hash_carries_its_parameters():
    encoded = PasswordHasher(time_cost=3, memory_cost=16384, parallelism=2).hash("secret")
    assert encoded.startswith("$argon2id$v=19$m=16384,t=3,p=2$")


def test_verify(hasher):
    encoded = hasher.hash("correct horse")
    assert hasher.verify(encoded, "correct horse") is True
    assert hasher.verify(encoded, "correct hors") is False
    assert hasher.verify(encoded, "Correct horse") is False
    assert hasher.verify(encoded, "") is False


def test_hashes_are_salted(hasher):
    first, second = hasher.hash("same"), hasher.hash("same")
    assert first != second
    assert hasher.verify(first, "same") and hasher.verify(second, "same")


def test_unicode_password(hasher):
    encoded = hasher.hash("pässwörd ☃")
    assert hasher.verify(encoded, "pässwörd ☃") is True
    assert hasher.verify(encoded, "passwörd ☃") is False


def test_verify_with_other_parameters(hasher):
    # An old hash keeps working after the parameters change.
    old = PasswordHasher(time_cost=2, memory_cost=8 * 1024).hash("secret")
    assert hasher.verify(old, "secret") is True
    assert hasher.verify(old, "wrong") is False


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "not a hash",
        "$argon2id$",
        "$argon2id$v=19$m=8192,t=1,p=1$bm90YmFzZTY0$garbage!",
        "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",  # bcrypt
        "pbkdf2_sha256$600000$salt$hash",
        "$argon2id$v=19$m=8192,t=1,p=1$é$é",
        None,
        b"\xff\xfe",
    ],
)
def test_malformed_or_foreign_hash_is_false(hasher, stored):
    assert hasher.verify(stored, "secret") is False


def test_argon2i_hash_still_verifies_but_needs_rehash(hasher):
    import argon2

    legacy = argon2.PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1, type=argon2.Type.I).hash("x")
    assert hasher.verify(legacy, "x") is True
    assert hasher.needs_rehash(legacy) is True


def test_needs_rehash(hasher):
    assert hasher.needs_rehash(hasher.hash("secret")) is False
    assert hasher.needs_rehash(PasswordHasher(time_cost=2, memory_cost=8 * 1024).hash("secret")) is True
    assert hasher.needs_rehash(PasswordHasher(time_cost=1, memory_cost=16 * 1024).hash("secret")) is True
    assert hasher.needs_rehash(PasswordHasher(time_cost=1, memory_cost=16, parallelism=2).hash("secret")) is True


@pytest.mark.parametrize("stored", ["", "garbage", "$2b$12$abc", None])
def test_unreadable_hash_needs_rehash(hasher, stored):
    assert hasher.needs_rehash(stored) is True


class CountingHasher(PasswordHasher):
    def __init__(self, **parameters):
        super().__init__(**parameters)
        self.verified: list = []

    def verify(self, stored_hash, password):
        result = super().verify(stored_hash, password)
        self.verified.append((stored_hash, result))
        return result


def test_verify_dummy_runs_a_real_verification_with_the_same_parameters():
    hasher = CountingHasher(**CHEAP)
    assert hasher.verify_dummy("whatever") is None
    [(dummy, result)] = hasher.verified
    assert result is False
    assert dummy.startswith("$argon2id$v=19$m=8192,t=1,p=1$")
    assert not hasher.needs_rehash(dummy)
    hasher.verify_dummy("again")
    assert hasher.verified[1][0] == dummy  # made once, reused


def test_verify_dummy_never_raises(hasher):
    assert hasher.verify_dummy("") is None
    assert hasher.verify_dummy("\udcff") is None  # unencodable
    assert hasher.verify_dummy(None) is None


@pytest.mark.parametrize(
    "parameters",
    [
        {"time_cost": 0},
        {"time_cost": -1},
        {"time_cost": 1.5},
        {"time_cost": "2"},
        {"time_cost": True},
        {"memory_cost": 0},
        {"memory_cost": None},
        {"parallelism": 0},
        {"parallelism": -2},
        {"memory_cost": 7},
        {"memory_cost": 15, "parallelism": 2},
    ],
)
def test_bad_parameters(parameters):
    with pytest.raises(ValueError):
        PasswordHasher(**{**CHEAP, **parameters})


def test_smallest_memory_for_parallelism_is_accepted():
    hasher = PasswordHasher(time_cost=1, memory_cost=16, parallelism=2)
    assert hasher.verify(hasher.hash("x"), "x") is True


def test_hash_refuses_non_strings(hasher):
    with pytest.raises(TypeError):
        hasher.hash(None)
