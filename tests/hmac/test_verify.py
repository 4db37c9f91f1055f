"""Verification (RFC 9421 section 3.2) and its policy: the RFC vectors under the default policy, a peer,
tampering, coverage, the clock, keys and algorithms, several labels, malformed headers, and the whole of
``verify_request`` with the fast paths against it without them."""
from __future__ import annotations

import base64
import datetime
import hmac
import random

import pytest

from pyramid_authsuite.hmac.components import _environ_message
from pyramid_authsuite.hmac.errors import BadSignature, DigestMismatch, SignatureError
from pyramid_authsuite.hmac.model import ServiceKey
from pyramid_authsuite.hmac.structured import _parse_fast
from pyramid_authsuite.hmac.verify import _HMAC_STATES, _HMAC_STATES_LIMIT, _hmac_sha256, verify_request
from tests.hmac.common import (
    B25_SIGNATURE,
    B25_SIGNATURE_INPUT,
    BODY,
    ED_PRIVATE,
    GOOD_INPUT,
    HMAC_SECRET,
    MALFORMED,
    NOW,
    OTHER_ED_PRIVATE,
    OUR_KEYS,
    RFC_CREATED,
    RFC_KEYS,
    RFC_VECTORS,
    URL,
    _combine,
    _drop_digest_header,
    _set_authority,
    _set_body,
    _set_method,
    _set_path,
    _set_query,
    _swap_signature,
    assert_same_verification,
    mutations,
    peer_signed,
    refused,
    rfc_request,
    signed,
    verification_cases,
    verify,
    verify_rfc,
    webob_request,
)


# ---------------------------------------------------------------------------
# RFC 9421 Appendix B under the default policy
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("signature_input, signature", RFC_VECTORS)
def test_rfc9421_examples_are_refused_by_the_default_policy(signature_input, signature):
    with pytest.raises(SignatureError) as caught:
        verify_request(rfc_request(signature_input, signature), resolve_key=RFC_KEYS.get, now=RFC_CREATED + 1)
    assert caught.value.code in {"missing_nonce", "missing_component"}


@pytest.mark.parametrize(
    "header, value",
    [("Date", "Tue, 20 Apr 2021 02:07:56 GMT"), ("Content-Type", "application/xml"), ("Host", "example.org")],
)
def test_rfc9421_examples_fail_when_a_covered_field_changes(header, value):
    for signature_input, signature in RFC_VECTORS:
        request = rfc_request(signature_input, signature)
        request.headers[header] = value
        with pytest.raises(BadSignature):
            verify_rfc(request)


def test_rfc9421_vectors_still_check_a_present_content_digest():
    request = rfc_request(B25_SIGNATURE_INPUT, B25_SIGNATURE)
    request.body = b'{"hello": "World"}'
    with pytest.raises(DigestMismatch) as caught:
        verify_rfc(request)
    assert caught.value.code == "digest_mismatch"


# ---------------------------------------------------------------------------
# Interoperability: requests-http-signature as the client
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("keyid", ["billing-hmac", "billing-ed"])
@pytest.mark.parametrize(
    "components",
    [("@method", "@authority", "@target-uri"), ("@method", "@authority", "@path", "@query")],
)
@pytest.mark.parametrize("method, body", [("POST", BODY), ("GET", b"")])
def test_requests_http_signature_peer_verifies(keyid, components, method, body):
    request = peer_signed(method, URL, body, keyid, covered_component_ids=components)

    result = verify(request)

    assert result.keyid == keyid and result.created == NOW
    assert result.nonce and len(result.nonce) >= 16
    # The peer covers Content-Digest of every buffered body (even empty) and Date.
    assert set(components) | {"content-digest", "date"} == set(result.covered_components)


def test_requests_http_signature_peer_tamper_is_refused():
    request = peer_signed()
    request.body = b'{"amount": 1000}'
    refused(request, "digest_mismatch")
    request = peer_signed()
    request.method = "PUT"
    refused(request, "invalid_signature")


def test_requests_http_signature_peer_without_nonce_is_refused():
    refused(peer_signed(use_nonce=False), "missing_nonce")


def test_requests_http_signature_peer_expires_is_honoured():
    request = peer_signed(expires_in=datetime.timedelta(seconds=10))
    assert verify(request, now=NOW + 10).expires == NOW + 10
    refused(request, "expired_signature", now=NOW + 11)


# ---------------------------------------------------------------------------
# Tampering: each refused with its code
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("keyid, key, algorithm", OUR_KEYS)
@pytest.mark.parametrize(
    "tamper, code",
    [
        (_set_method, "invalid_signature"),
        (_set_path, "invalid_signature"),
        (_set_query, "invalid_signature"),
        (_set_authority, "invalid_signature"),
        (_set_body, "digest_mismatch"),
        (_drop_digest_header, "invalid_signature"),
        (_swap_signature, "invalid_signature"),
    ],
)
def test_tampered_request_is_refused(keyid, key, algorithm, tamper, code):
    request = signed(keyid=keyid, key=key, algorithm=algorithm)
    verify(request)  # valid before the change
    tamper(request)
    refused(request, code)


@pytest.mark.parametrize(
    "components, url, body, missing",
    [
        (("@authority", "@target-uri"), URL, BODY, "@method"),
        (("@method", "@target-uri"), URL, BODY, "@authority"),
        (("@method", "@authority"), URL, b"", "@target-uri"),
        (("@method", "@authority", "@path"), URL, b"", "@query"),
        (("@method", "@authority", "@query"), URL, b"", "@path"),
        (("@method", "@authority", "@request-target"), URL, b"", "@target-uri"),
        (("@method", "@authority", "@path", '"@query-param";name="currency"'), URL, b"", "@query"),
    ],
)
def test_signature_missing_a_required_component_is_refused(components, url, body, missing):
    error = refused(signed(url=url, body=body, components=components), "missing_component")
    assert missing in str(error)


def test_body_without_signed_content_digest_is_refused():
    # Signed without a body (so no Content-Digest), then a body is attached.
    request = signed(body=b"")
    request.body = BODY
    refused(request, "missing_component")
    # Covering only one member of Content-Digest is not enough either.
    request = signed(components=("@method", "@authority", "@target-uri", '"content-digest";key="sha-256"'))
    refused(request, "missing_component")
    # The whole field as a structured field is.
    verify(signed(components=("@method", "@authority", "@target-uri", '"content-digest";sf')))


def test_query_rule_without_a_query():
    # No query string: @path alone is enough; @query of it would be "?" (RFC 9421 2.2.7).
    url = "https://api.example.com/v1/charges"
    request = signed(url=url, body=b"", components=("@method", "@authority", "@path"))
    verify(request)
    verify(signed(url=url, body=b"", components=("@method", "@authority", "@path", "@query")))
    # Adding a query to it makes @query required.
    request.query_string = "limit=1000"
    refused(request, "missing_component")


def test_extra_required_components_are_added_to_the_minimum():
    request = signed()
    refused(request, "missing_component", required_components=("content-type",))
    request = signed(components=("@method", "@authority", "@target-uri", "content-type"))
    assert "content-type" in verify(request, required_components=("content-type",)).covered_components
    # An empty list does not remove the minimum.
    refused(signed(components=("@authority", "@target-uri")), "missing_component", required_components=())


@pytest.mark.parametrize(
    "created, now, code",
    [
        (NOW - 301, NOW, "expired_signature"),
        (NOW - 10_000, NOW, "expired_signature"),
        (NOW + 6, NOW, "future_signature"),
        (NOW + 3600, NOW, "future_signature"),
    ],
)
def test_created_outside_the_window_is_refused(created, now, code):
    refused(signed(created=created), code, now=now)


@pytest.mark.parametrize("created", [NOW - 300, NOW, NOW + 5])
def test_created_at_the_edges_of_the_window_is_accepted(created):
    assert verify(signed(created=created), now=NOW).created == created


def test_clock_window_is_configurable():
    refused(signed(created=NOW - 61), "expired_signature", now=NOW, max_age_seconds=60)
    refused(signed(created=NOW + 1), "future_signature", now=NOW, future_skew_seconds=0)


def test_unknown_keyid_is_refused():
    refused(signed(keyid="nobody"), "unknown_key")


def test_wrong_key_is_refused():
    other = {"billing-hmac": ServiceKey("billing-hmac", "billing", "hmac-sha256", bytes(64))}
    refused(signed(), "invalid_signature", resolve_key=other.get)
    other = {"billing-ed": ServiceKey("billing-ed", "billing", "ed25519", OTHER_ED_PRIVATE.public_key())}
    request = signed(keyid="billing-ed", key=ED_PRIVATE, algorithm="ed25519")
    refused(request, "invalid_signature", resolve_key=other.get)


def test_ed25519_signature_checked_against_an_hmac_key_fails():
    # Same keyid configured as HMAC; no alg in the message to give it away.
    request = signed(keyid="billing-hmac", key=ED_PRIVATE, algorithm="ed25519", include_alg=False)
    refused(request, "invalid_signature")


def test_hmac_signature_checked_against_an_ed25519_key_fails():
    request = signed(keyid="billing-ed", key=HMAC_SECRET, algorithm="hmac-sha256", include_alg=False)
    refused(request, "invalid_signature")


@pytest.mark.parametrize(
    "keyid, key, algorithm",
    [("billing-hmac", ED_PRIVATE, "ed25519"), ("billing-ed", HMAC_SECRET, "hmac-sha256")],
)
def test_alg_parameter_that_disagrees_with_the_key_is_refused(keyid, key, algorithm):
    refused(signed(keyid=keyid, key=key, algorithm=algorithm), "algorithm_mismatch")


def test_alg_parameter_naming_another_algorithm_is_refused():
    request = signed()
    request.headers["Signature-Input"] = request.headers["Signature-Input"].replace(
        'alg="hmac-sha256"', 'alg="rsa-pss-sha512"'
    )
    refused(request, "algorithm_mismatch")


def test_missing_signature_headers():
    refused(webob_request("GET", URL, {}, b""), "missing_signature")


# ---------------------------------------------------------------------------
# Several signatures (RFC 9421 section 4.3)
# ---------------------------------------------------------------------------


def test_first_label_with_a_known_keyid_is_verified():
    stranger = signed(keyid="proxy", key=bytes(32), label="proxy")
    ours = signed(label="ours")
    assert verify(_combine(stranger, ours)).label == "ours"


def test_first_known_label_decides_even_if_a_later_one_is_valid():
    broken = signed(label="first", body=b'{"amount": 11}')  # covers another body's digest
    ours = signed(label="second")
    request = _combine(broken, ours)
    request.headers["Content-Digest"] = ours.headers["Content-Digest"]
    refused(request, "invalid_signature")


def test_several_labels_none_known():
    refused(_combine(signed(keyid="a", label="a"), signed(keyid="b", label="b")), "unknown_key")


# ---------------------------------------------------------------------------
# Malformed headers: always a SignatureError, never anything else
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "signature_input, signature, code", [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_headers_raise_signature_errors(signature_input, signature, code):
    request = webob_request("GET", URL, {}, b"")
    request.environ["HTTP_SIGNATURE_INPUT"] = signature_input
    request.environ["HTTP_SIGNATURE"] = signature
    refused(request, code)


@pytest.mark.parametrize("present", ["HTTP_SIGNATURE_INPUT", "HTTP_SIGNATURE"])
def test_one_header_without_the_other_is_malformed(present):
    request = webob_request("GET", URL, {}, b"")
    request.environ[present] = f"sig1={GOOD_INPUT}"
    refused(request, "malformed_signature")


def test_header_limits_are_parameters():
    request = signed()
    limit = len(request.headers["Signature-Input"])
    verify(request, max_header_length=limit)
    refused(request, "malformed_signature", max_header_length=limit - 1)
    two = _combine(signed(keyid="x", label="x"), signed(label="ours"))
    verify(two, max_signatures=2)
    refused(two, "malformed_signature", max_signatures=1)


def test_mutated_headers_only_ever_raise_signature_errors():
    # Deterministic fuzzing of a valid pair of headers: whatever comes out,
    # the verifier either accepts it or raises a SignatureError.
    base = signed()
    original = {name: base.headers[name] for name in ("Signature-Input", "Signature", "Content-Digest")}
    rng = random.Random(9421)
    outcomes = set()
    for _ in range(600):
        name = rng.choice(list(original))
        # One mutation draws from rng exactly as the loop written out here did.
        value = mutations(rng, original[name], 1)[0]
        request = webob_request("POST", URL, dict(base.headers), BODY)
        request.environ["HTTP_" + name.upper().replace("-", "_")] = value
        try:
            verify(request)
            outcomes.add("accepted")
        except SignatureError as error:
            outcomes.add(error.code)
    assert {"malformed_signature", "invalid_signature"} <= outcomes


# ---------------------------------------------------------------------------
# HMAC-SHA256 with precomputed pads against hmac.digest
# ---------------------------------------------------------------------------


def test_hmac_sha256_is_hmac_digest():
    rng = random.Random(2104)
    for length in (32, 33, 63, 64, 65, 100, 128, 200):
        key = bytes(rng.randrange(256) for _ in range(length))
        for size in (0, 1, 55, 56, 63, 64, 65, 150, 1000):
            message = bytes(rng.randrange(256) for _ in range(size))
            for _ in range(2):  # the second time from the memo
                assert _hmac_sha256(key, message) == hmac.digest(key, message, "sha256")
    for i in range(_HMAC_STATES_LIMIT * 2):
        _hmac_sha256(i.to_bytes(32, "big"), b"x")
        assert len(_HMAC_STATES) <= _HMAC_STATES_LIMIT


def test_hmac_signature_must_match_every_byte():
    request = signed(method="GET", body=b"")
    label, value = request.headers["Signature"].split("=", 1)
    signature = base64.b64decode(value.strip(":"))
    for wrong in (signature[:-1] + bytes([signature[-1] ^ 1]), bytes([signature[0] ^ 0x80]) + signature[1:],
                  signature + b"\0", signature[:-1], b""):
        request.headers["Signature"] = f"{label}=:{base64.b64encode(wrong).decode()}:"
        expected = "malformed_signature" if not wrong else "invalid_signature"
        refused(request, expected)


# ---------------------------------------------------------------------------
# verify_request: with the fast paths, and without
# ---------------------------------------------------------------------------


def test_verify_request_agrees_with_the_general_path():
    accepted = 0
    for request, kwargs in verification_cases():
        accepted += assert_same_verification(request, **kwargs)[0] == "ok"
    assert accepted > 50


def test_bench_requests_take_every_fast_path():
    # The shape the bench and real clients send: our signer, a WebOb request.
    request = signed(method="GET", body=b"")
    message = _environ_message(request)
    assert message is not None
    fast = _parse_fast(request.headers["Signature-Input"], request.headers["Signature"], 8192, 8)
    assert fast is not None and fast[1]["sig1"][1] is not None
    assert verify(request).keyid == "billing-hmac"
