"""Tests of :mod:`pyramid_authsuite.hawk.mac`: normalized strings, payload hash, MACs."""
from __future__ import annotations

import base64
import random

import pytest

from pyramid_authsuite.hawk import protocol as P
from tests.hawk.vectors import (
    BOTH,
    README_GET_MAC,
    README_KEY,
    README_POST_MAC,
    README_REQUEST,
)


# --------------------------------------------------------------------------
# Normalized string, payload hash, MAC comparison
# --------------------------------------------------------------------------


def test_normalized_string_ext_escaping_and_app_dlg():
    normalized = P.normalized_string(
        "response", ts="12", nonce="n", method="get", resource="/r", host="Example.COM", port=443,
        hash="h", ext="a\\b\nc", app="app", dlg="dlg",
    )
    assert normalized == b"hawk.1.response\n12\nn\nGET\n/r\nexample.com\n443\nh\na\\\\b\\nc\napp\ndlg\n"
    assert P.normalized_string(
        "bewit", ts=1, nonce="", method="GET", resource="/r", host="h", port=1, app="app"
    ) == b"hawk.1.bewit\n1\n\nGET\n/r\nh\n1\n\n\napp\n\n"
    # dlg is only covered together with app (which is why the parser demands app).
    assert P.normalized_string(
        "header", ts=1, nonce="n", method="GET", resource="/r", host="h", port=1, dlg="dlg"
    ) == b"hawk.1.header\n1\nn\nGET\n/r\nh\n1\n\n\n"
    with pytest.raises(ValueError):
        P.normalized_string("ts", ts=1, nonce="n", method="GET", resource="/r", host="h", port=1)


def test_payload_hash_content_type_normalization_and_body_forms():
    expected = P.payload_hash("sha256", "text/plain", b"\xc3\xa9")
    assert P.payload_hash("sha256", " Text/PLAIN ; charset=UTF-8", b"\xc3\xa9") == expected
    assert P.payload_hash("sha256", "text/plain", "\u00e9") == expected
    assert P.payload_hash("sha256", "text/plain", bytearray(b"\xc3\xa9")) == expected
    assert P.payload_hash("sha256", "text/html", b"\xc3\xa9") != expected
    assert P.payload_hash("sha256", None, None) == P.payload_hash("sha256", "", b"")
    digest = __import__("hashlib").sha256(b"hawk.1.payload\n\n\n").digest()
    assert P.payload_hash("sha256", None, None) == base64.b64encode(digest).decode()


def test_verify_mac():
    assert P.verify_mac(README_GET_MAC, README_GET_MAC)
    assert not P.verify_mac(README_GET_MAC, README_POST_MAC)
    assert not P.verify_mac(README_GET_MAC, README_GET_MAC[:-1])
    assert not P.verify_mac(README_GET_MAC, "\u00e9" * 44)


def test_str_and_bytes_keys_agree():
    normalized = P.normalized_string("header", ts=1, nonce="n", **README_REQUEST)
    from_text = P.calculate_mac(README_KEY.decode(), "sha256", normalized)
    assert from_text == P.calculate_mac(README_KEY, "sha256", normalized)


@pytest.mark.parametrize("algorithm", ["sha256", "sha1"])
def test_mac_matches_the_standard_library_hmac_for_every_key_length(algorithm):
    import hashlib
    import hmac as stdlib_hmac

    rng = random.Random(algorithm)
    for length in [0, 1, 20, 32, 63, 64, 65, 128, 129, 300]:
        key = bytes(rng.randrange(256) for _ in range(length))
        message = bytes(rng.randrange(256) for _ in range(rng.randrange(200)))
        expected = base64.b64encode(stdlib_hmac.new(key, message, getattr(hashlib, algorithm)).digest()).decode()
        # Twice: the second call uses the cached keyed state.
        for _ in range(2):
            assert P.calculate_mac(key, algorithm, message, allowed_algorithms=BOTH) == expected
