"""Tests of webhook signing and verification (``Webhook-Timestamp`` / ``Webhook-Signature: v1=``)."""
from __future__ import annotations

import hashlib
import hmac
import re

import pytest

from pyramid_authsuite.hmac.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookVerificationError,
    sign_webhook,
    verify_webhook,
)

NOW = 1_700_000_000
SECRET = b"whsec-current-0123456789abcdef-0123"
OLD_SECRET = b"whsec-previous-0123456789abcdef-012"
PAYLOAD = b'{"id": "evt_1", "type": "charge.succeeded"}'


def refused(code: str, *args, **kwargs) -> WebhookVerificationError:
    with pytest.raises(WebhookVerificationError) as caught:
        verify_webhook(*args, **kwargs)
    assert caught.value.code == code, caught.value
    for secret in (SECRET, OLD_SECRET):
        assert secret.decode() not in str(caught.value)
    return caught.value


def test_sign_webhook_scheme_is_documented_hmac():
    headers = sign_webhook(PAYLOAD, SECRET, timestamp=NOW)
    expected = hmac.new(SECRET, b"1700000000." + PAYLOAD, hashlib.sha256).hexdigest()
    assert headers == {TIMESTAMP_HEADER: "1700000000", SIGNATURE_HEADER: f"v1={expected}"}


def test_round_trip():
    headers = sign_webhook(PAYLOAD, SECRET, timestamp=NOW)
    verify_webhook(PAYLOAD, headers[SIGNATURE_HEADER], headers[TIMESTAMP_HEADER], SECRET, now=NOW + 1)
    # An int timestamp is accepted as well as the header string.
    verify_webhook(PAYLOAD, headers[SIGNATURE_HEADER], NOW, SECRET, now=NOW)


def test_round_trip_with_the_default_clock():
    headers = sign_webhook(PAYLOAD, SECRET)
    verify_webhook(PAYLOAD, headers[SIGNATURE_HEADER], headers[TIMESTAMP_HEADER], SECRET, tolerance_seconds=3600)


@pytest.mark.parametrize(
    "payload, timestamp, secret",
    [
        (PAYLOAD + b" ", str(NOW), SECRET),  # payload
        (PAYLOAD.replace(b"evt_1", b"evt_2"), str(NOW), SECRET),
        (PAYLOAD, str(NOW - 1), SECRET),  # the timestamp is signed
        (PAYLOAD, str(NOW), OLD_SECRET),  # another secret
        (PAYLOAD, str(NOW), SECRET + b"x"),
    ],
)
def test_tampering_is_refused(payload, timestamp, secret):
    signature = sign_webhook(PAYLOAD, SECRET, timestamp=NOW)[SIGNATURE_HEADER]
    refused("invalid_signature", payload, signature, timestamp, secret, now=NOW)


def test_flipped_signature_digit_is_refused():
    signature = sign_webhook(PAYLOAD, SECRET, timestamp=NOW)[SIGNATURE_HEADER]
    last = signature[-1]
    flipped = signature[:-1] + ("0" if last != "0" else "1")
    refused("invalid_signature", PAYLOAD, flipped, str(NOW), SECRET, now=NOW)


def test_stale_timestamp_is_refused():
    signature = sign_webhook(PAYLOAD, SECRET, timestamp=NOW)[SIGNATURE_HEADER]
    verify_webhook(PAYLOAD, signature, str(NOW), SECRET, now=NOW + 300)
    refused("stale_timestamp", PAYLOAD, signature, str(NOW), SECRET, now=NOW + 301)
    refused("stale_timestamp", PAYLOAD, signature, str(NOW), SECRET, tolerance_seconds=10, now=NOW + 11)


def test_future_timestamp_is_refused():
    signature = sign_webhook(PAYLOAD, SECRET, timestamp=NOW)[SIGNATURE_HEADER]
    verify_webhook(PAYLOAD, signature, str(NOW), SECRET, now=NOW - 60)
    refused("future_timestamp", PAYLOAD, signature, str(NOW), SECRET, now=NOW - 61)
    refused("future_timestamp", PAYLOAD, signature, str(NOW), SECRET, now=NOW - 3600)
    refused("future_timestamp", PAYLOAD, signature, str(NOW), SECRET, now=NOW - 2, future_skew_seconds=1)


def test_rotation_sender_signs_with_both_secrets():
    headers = sign_webhook(PAYLOAD, [SECRET, OLD_SECRET], timestamp=NOW)
    values = headers[SIGNATURE_HEADER].split(", ")
    assert len(values) == 2 and all(v.startswith("v1=") for v in values)
    # A receiver still on the old secret, and one already on the new one.
    verify_webhook(PAYLOAD, headers[SIGNATURE_HEADER], str(NOW), OLD_SECRET, now=NOW)
    verify_webhook(PAYLOAD, headers[SIGNATURE_HEADER], str(NOW), SECRET, now=NOW)


def test_rotation_two_values_one_valid():
    good = sign_webhook(PAYLOAD, SECRET, timestamp=NOW)[SIGNATURE_HEADER]
    bad = "v1=" + "0" * 64
    for header in (f"{bad}, {good}", f"{good},{bad}", f"{bad} ,  {good}"):
        verify_webhook(PAYLOAD, header, str(NOW), SECRET, now=NOW)
    refused("invalid_signature", PAYLOAD, f"{bad}, v1={'1' * 64}", str(NOW), SECRET, now=NOW)


def test_rotation_receiver_accepts_any_of_its_secrets():
    signature = sign_webhook(PAYLOAD, OLD_SECRET, timestamp=NOW)[SIGNATURE_HEADER]
    verify_webhook(PAYLOAD, signature, str(NOW), [SECRET, OLD_SECRET], now=NOW)
    refused("invalid_signature", PAYLOAD, signature, str(NOW), [SECRET], now=NOW)


def test_other_schemes_are_ignored_but_a_v1_is_required():
    good = sign_webhook(PAYLOAD, SECRET, timestamp=NOW)[SIGNATURE_HEADER]
    verify_webhook(PAYLOAD, f"v2=somethingelse, {good}", str(NOW), SECRET, now=NOW)
    refused("malformed_header", PAYLOAD, "v2=somethingelse", str(NOW), SECRET, now=NOW)


GOOD_V1 = "v1=" + "a" * 64


@pytest.mark.parametrize(
    "signature",
    [
        "",
        " ",
        "v1",
        "v1=",
        "=abc",
        "v1=xyz",
        "v1=" + "a" * 63,
        "v1=" + "a" * 65,
        "v1=" + "A" * 64,  # lowercase hex only
        "v1=" + "g" * 64,
        f"{GOOD_V1};",
        f"{GOOD_V1},",
        f",{GOOD_V1}",
        f"{GOOD_V1} {GOOD_V1}",
        "V1=" + "a" * 64,
        "v1:" + "a" * 64,
        "v1=" + "a" * 32 + "\x00" + "a" * 31,
        "v1=" + "é" * 64,
        ", ".join([GOOD_V1] * 9),  # too many entries
        "x" * 1025,  # too long
        None,
        b"v1=" + b"a" * 64,
    ],
)
def test_malformed_signature_header(signature):
    refused("malformed_header", PAYLOAD, signature, str(NOW), SECRET, now=NOW)


@pytest.mark.parametrize(
    "timestamp",
    [
        "",
        " 1700000000",
        "1700000000 ",
        "+1700000000",
        "-1",
        "01700000000",
        "1.7e9",
        "1700000000.0",
        "abc",
        "1" * 13,
        None,
        True,
        1.5,
    ],
)
def test_malformed_timestamp(timestamp):
    signature = sign_webhook(PAYLOAD, SECRET, timestamp=NOW)[SIGNATURE_HEADER]
    refused("malformed_header", PAYLOAD, signature, timestamp, SECRET, now=NOW)


@pytest.mark.parametrize("secret, message", [
    (b"", "at least 32 bytes (got 0)"),
    ("", "at least 32 bytes (got 0)"),
    (b"x" * 31, "at least 32 bytes (got 31)"),
    ("x" * 31, "at least 32 bytes (got 31)"),
    ("é" * 15 + "x", "at least 32 bytes (got 31)"),  # counted in UTF-8 bytes, not characters
    ("a str secret", "at least 32 bytes (got 12)"),
    ([], "give 1 to 4 secrets, got 0"),
    ([SECRET] * 5, "give 1 to 4 secrets, got 5"),
    ([SECRET, b"x" * 31], "at least 32 bytes (got 31)"),
])
def test_bad_secrets_are_a_configuration_error(secret, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        sign_webhook(PAYLOAD, secret, timestamp=NOW)
    with pytest.raises(ValueError, match=re.escape(message)):
        verify_webhook(PAYLOAD, GOOD_V1, str(NOW), secret, now=NOW)


@pytest.mark.parametrize("secret", [None, 12345678901234567890123456789012345, [SECRET, None], {"a": 1}.values()])
def test_secrets_of_another_type_are_a_type_error(secret):
    with pytest.raises(TypeError, match="a webhook secret is bytes or str"):
        sign_webhook(PAYLOAD, secret, timestamp=NOW)
    with pytest.raises(TypeError, match="a webhook secret is bytes or str"):
        verify_webhook(PAYLOAD, GOOD_V1, str(NOW), secret, now=NOW)


def test_a_str_secret_is_its_utf8_bytes():
    # The hex text `authsuite gen-secret` prints, read from the environment as
    # str, signs exactly as its bytes do, alone or in a rotation list.
    text = "3f1c" * 16 + "é"
    as_bytes = text.encode("utf-8")
    assert sign_webhook(PAYLOAD, text, timestamp=NOW) == sign_webhook(PAYLOAD, as_bytes, timestamp=NOW)
    assert sign_webhook(PAYLOAD, [text, OLD_SECRET], timestamp=NOW) == sign_webhook(
        PAYLOAD, [as_bytes, OLD_SECRET], timestamp=NOW)
    expected = hmac.new(as_bytes, b"1700000000." + PAYLOAD, hashlib.sha256).hexdigest()
    assert sign_webhook(PAYLOAD, text, timestamp=NOW)[SIGNATURE_HEADER] == f"v1={expected}"
    by_bytes = sign_webhook(PAYLOAD, as_bytes, timestamp=NOW)
    verify_webhook(PAYLOAD, by_bytes[SIGNATURE_HEADER], by_bytes[TIMESTAMP_HEADER], text, now=NOW)
    verify_webhook(PAYLOAD, by_bytes[SIGNATURE_HEADER], by_bytes[TIMESTAMP_HEADER], [SECRET, text], now=NOW)
    refused("invalid_signature", PAYLOAD, by_bytes[SIGNATURE_HEADER], str(NOW), text[:-1] + "e", now=NOW)


@pytest.mark.parametrize("timestamp", [-1, 10**12])
def test_sign_webhook_refuses_unrepresentable_timestamps(timestamp):
    with pytest.raises(ValueError):
        sign_webhook(PAYLOAD, SECRET, timestamp=timestamp)


def test_payload_must_be_bytes():
    with pytest.raises(TypeError):
        sign_webhook("text", SECRET, timestamp=NOW)
    with pytest.raises(TypeError):
        verify_webhook("text", GOOD_V1, str(NOW), SECRET, now=NOW)
