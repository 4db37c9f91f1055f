"""Tests of :mod:`pyramid_authsuite._hmac_state`: HMAC with precomputed key pads.

The standard library's ``hmac`` is the oracle, for every hash the schemes
use and every key length around the block sizes (a key longer than the
block is hashed first, RFC 2104 section 2).
"""
from __future__ import annotations

import hashlib
import hmac
import random

import pytest

from pyramid_authsuite._hmac_state import HMACState, HMACStates

HASHES = [hashlib.sha1, hashlib.sha256, hashlib.sha384, hashlib.sha512]
KEY_LENGTHS = [0, 1, 20, 32, 63, 64, 65, 127, 128, 129, 300]


@pytest.mark.parametrize("hash_constructor", HASHES, ids=lambda new: new().name)
def test_mac_matches_the_standard_library_for_every_key_length(hash_constructor):
    rng = random.Random(hash_constructor().name)
    for length in KEY_LENGTHS:
        key = bytes(rng.randrange(256) for _ in range(length))
        state = HMACState(key, hash_constructor)
        cache = HMACStates(4)
        for size in (0, 1, 55, 64, 200):
            message = bytes(rng.randrange(256) for _ in range(size))
            expected = hmac.new(key, message, hash_constructor).digest()
            # Twice each: the keyed states are copied, never consumed.
            for _ in range(2):
                assert state.mac(message) == expected
                assert cache.mac(key, hash_constructor, message) == expected
                assert cache.state(key, hash_constructor).mac(message) == expected


def test_rfc_4231_test_case_2():
    # RFC 4231 section 4.3: a key shorter than the output ("Jefe").
    state = HMACState(b"Jefe", hashlib.sha256)
    assert state.mac(b"what do ya want for nothing?").hex() == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


def test_bytes_like_messages_and_keys():
    key = bytearray(b"k" * 10)
    expected = hmac.new(bytes(key), b"abc", hashlib.sha256).digest()
    assert HMACState(key, hashlib.sha256).mac(memoryview(b"abc")) == expected


def test_the_cache_is_bounded_and_cleared_when_full():
    cache = HMACStates(2)
    cache.mac(b"one", hashlib.sha256, b"m")
    first = cache.state(b"one", hashlib.sha256)
    assert cache.state(b"one", hashlib.sha256) is first  # derived once
    cache.mac(b"one", hashlib.sha1, b"m")  # one key, two hashes: two states
    assert len(cache) == 2
    cache.mac(b"three", hashlib.sha256, b"m")
    assert len(cache) == 1  # cleared, then the new one added
    assert cache.state(b"one", hashlib.sha256) is not first
    assert cache.mac(b"one", hashlib.sha256, b"m") == hmac.new(b"one", b"m", hashlib.sha256).digest()
    cache.clear()
    assert len(cache) == 0


def test_a_limit_below_one_is_refused():
    with pytest.raises(ValueError):
        HMACStates(0)


def test_repr_shows_nothing_of_the_key():
    key = b"the-secret-key-bytes"
    text = repr(HMACState(key, hashlib.sha256))
    assert text == "HMACState(sha256)"
    assert "secret" not in text
