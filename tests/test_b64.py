"""Tests of :mod:`pyramid_authsuite._b64`, the one base64url of every scheme.

Against the standard library's ``base64`` (RFC 4648 section 5) as the
oracle: every encoding it writes is read back, every text outside the
alphabet is refused, and each flag (``padded``, ``canonical``) does what
its scheme needs and nothing more. Hand-picked tables first, then generated
input (hypothesis, seeded and bounded).
"""
from __future__ import annotations

import base64
import binascii

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyramid_authsuite import _b64
from pyramid_authsuite._b64 import b64url_decode, b64url_encode

GENERATED = settings(derandomize=True, database=None, deadline=None, max_examples=400)
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def test_encode_matches_the_standard_library_for_every_length():
    for length in range(70):
        data = bytes((7 * i + length) % 256 for i in range(length))
        padded = base64.urlsafe_b64encode(data).decode("ascii")
        assert b64url_encode(data) == padded.rstrip("=")
        assert b64url_encode(data, padded=True) == padded
        assert b64url_decode(b64url_encode(data)) == data
        assert b64url_decode(padded, padded=True) == data


def test_rfc_4648_vectors():
    # RFC 4648 section 10 (the base64 vectors; the url alphabet differs only in "+/").
    for data, text in [(b"", ""), (b"f", "Zg"), (b"fo", "Zm8"), (b"foo", "Zm9v"), (b"foob", "Zm9vYg"),
                       (b"fooba", "Zm9vYmE"), (b"foobar", "Zm9vYmFy"), (b"\xfb\xff", "-_8")]:
        assert b64url_encode(data) == text
        assert b64url_decode(text) == data


@pytest.mark.parametrize(
    "text",
    ["Zg==", "Zg=", "Zm9v=", "Z+8", "Z/8", "Zm 9v", "Zm9v\n", " Zm9v", "Zm9v\t", "Zm\u00e99v", "Zm9v\x00",
     "Z", "Zm9vY", "Zm9v!", "Zm.9v", "Zm9v%3D"],
)
def test_strict_decoding_refuses(text):
    with pytest.raises(ValueError):
        b64url_decode(text)
    with pytest.raises(ValueError):
        b64url_decode(text, canonical=False)


@pytest.mark.parametrize("value", [b"Zm9v", None, 42, bytearray(b"Zm9v")])
def test_only_text_is_decoded(value):
    with pytest.raises(ValueError):
        b64url_decode(value)


def test_canonical_refuses_non_zero_unused_bits_and_the_lenient_form_drops_them():
    # "Zh": 12 bits for one byte, the last four "0001" unused.
    with pytest.raises(ValueError, match="canonical"):
        b64url_decode("Zh")
    assert b64url_decode("Zh", canonical=False) == b"f" == b64url_decode("Zg")
    with pytest.raises(ValueError, match="canonical"):
        b64url_decode("Zm9")
    assert b64url_decode("Zm9", canonical=False) == b"fo"


def test_padded_tolerates_up_to_two_equals_after_some_text():
    assert b64url_decode("Zg", padded=True) == b"f"
    assert b64url_decode("Zg=", padded=True) == b"f"  # the wrong number, as mohawk's bewits may not
    assert b64url_decode("Zg==", padded=True) == b"f"
    assert b64url_decode("Zm9v==", padded=True) == b"foo"
    for text in ["Zg===", "=", "==", "Z=g", "=Zg", "Zg=\n", "Zh=="]:
        with pytest.raises(ValueError):
            b64url_decode(text, padded=True)
    assert b64url_decode("Zh==", padded=True, canonical=False) == b"f"


def test_errors_echo_nothing_of_the_input():
    for text in ["secret+value", "s\u00e9cret", "secretZ"]:
        with pytest.raises(ValueError) as caught:
            b64url_decode(text)
        assert "secret" not in str(caught.value) and "cret" not in str(caught.value)


def test_url_to_standard_table_checks_and_translates_in_one_pass():
    table = _b64.url_to_standard_table(b".")
    translated = b"ab-_.+/= \xff".translate(table)
    assert translated == b"ab+/.!!!!!"
    assert _b64.INVALID not in b"Zm9v.Zg-_".translate(table)
    assert _b64.INVALID in b"Zm9v.Zg".translate(_b64.URL_TO_STANDARD)  # no separator kept
    for keep in [b"A", b"-", b"+", b"=", b"!"]:
        with pytest.raises(ValueError):
            _b64.url_to_standard_table(keep)


def test_the_table_for_a_compact_jws_is_the_one_jwt_built():
    # jwt/protocol.py's own table, written out as it builds it: _b64 offers the same.
    jws_characters = ALPHABET.encode() + b"."
    jwt_table = bytes(
        {ord("-"): ord("+"), ord("_"): ord("/")}.get(byte, byte if byte in jws_characters else ord("!"))
        for byte in range(256)
    )
    assert _b64.url_to_standard_table(b".") == jwt_table


def test_decode_translated():
    assert _b64.decode_translated(b"Zm9v") == b"foo"
    assert _b64.decode_translated(b"Zm8") == b"fo"
    assert _b64.decode_translated(b"+/8") == b"\xfb\xff"
    assert _b64.decode_translated(b"") == b""
    with pytest.raises(ValueError):
        _b64.decode_translated(b"Zm9vY")


# --------------------------------------------------------------------------
# Generated input
# --------------------------------------------------------------------------


def reference_decode(text: str, padded: bool, canonical: bool) -> bytes | str:
    """The rules written out with the standard library, one check at a time: bytes, or "refused"."""
    if padded:
        body = text.rstrip("=")
        if len(text) - len(body) > 2 or (text != body and not body):
            return "refused"
        text = body
    if any(character not in ALPHABET for character in text) or len(text) % 4 == 1:
        return "refused"
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if canonical and base64.urlsafe_b64encode(data).decode().rstrip("=") != text:
        return "refused"
    return data


def outcome(text: str, padded: bool, canonical: bool) -> bytes | str:
    try:
        return b64url_decode(text, padded=padded, canonical=canonical)
    except ValueError:
        return "refused"


@GENERATED
@given(st.binary(max_size=80), st.booleans())
def test_generated_bytes_round_trip(data, padded):
    text = b64url_encode(data, padded=padded)
    assert text == base64.urlsafe_b64encode(data).decode().rstrip("" if padded else "=")
    for canonical in (True, False):
        assert b64url_decode(text, padded=padded, canonical=canonical) == data


TEXTS = st.text(st.sampled_from(ALPHABET), max_size=24) | st.text(
    st.sampled_from(ALPHABET + "=+/ \n.\u00e9!\x00"), max_size=24
)


@GENERATED
@given(TEXTS, st.sampled_from(["", "=", "==", "==="]), st.booleans(), st.booleans())
def test_generated_text_is_decoded_as_the_rules_say(text, padding, padded, canonical):
    text += padding
    assert outcome(text, padded, canonical) == reference_decode(text, padded, canonical)


@GENERATED
@given(st.text(st.sampled_from(ALPHABET), max_size=40))
def test_decode_translated_agrees_with_binascii(text):
    translated = text.encode().translate(_b64.URL_TO_STANDARD)
    if len(text) % 4 == 1:
        with pytest.raises(ValueError):
            _b64.decode_translated(translated)
    else:
        assert _b64.decode_translated(translated) == binascii.a2b_base64(translated + b"=" * (-len(text) % 4))


def test_basic_credentials_are_utf8_standard_base64():
    import base64

    from pyramid_authsuite._b64 import basic_credentials

    # RFC 7617 section 2.1's example, and a value whose base64 holds + and /.
    assert basic_credentials("test", "123\u00a3") == "Basic dGVzdDoxMjPCow=="
    value = basic_credentials("\u00fc>?", "~~~")
    assert value.startswith("Basic ")
    assert base64.b64decode(value[6:], validate=True) == "\u00fc>?:~~~".encode("utf-8")
    assert "+" in value or "/" in value
