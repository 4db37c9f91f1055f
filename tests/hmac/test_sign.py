"""Signing (RFC 9421 section 3.1): the RFC's B.2.5 base, round trips, arguments, the library verifier accepts ours."""
from __future__ import annotations

import pytest
import requests
from requests_http_signature import algorithms

from pyramid_authsuite.hmac.digest import content_digest
from pyramid_authsuite.hmac.sign import sign_request
from tests.hmac.common import (
    BODY,
    ED_PRIVATE,
    HELLO,
    HELLO_SHA512,
    HMAC_SECRET,
    NOW,
    OUR_KEYS,
    RFC_CREATED,
    RFC_SHARED_SECRET,
    URL,
    rfc_request,
    signed,
    verify,
    verify_rfc,
    webob_request,
)


def test_rfc9421_b25_signature_is_what_our_signer_produces():
    headers = sign_request(
        "POST",
        "https://example.com/foo?param=Value&Pet=dog",
        {"Date": "Tue, 20 Apr 2021 02:07:55 GMT", "Content-Type": "application/json"},
        b"",
        keyid="test-shared-secret",
        key=RFC_SHARED_SECRET,
        algorithm="hmac-sha256",
        created=RFC_CREATED,
        components=("date", "@authority", "content-type"),
        label="sig-b25",
        include_alg=False,
        nonce="n",
    )
    # Same base as B.2.5 plus the nonce, so the signature differs; the
    # library's base and ours must agree byte for byte for it to verify.
    request = rfc_request(headers["Signature-Input"], headers["Signature"])
    assert verify_rfc(request, require_nonce=True).nonce == "n"


@pytest.mark.parametrize("keyid, key, algorithm", OUR_KEYS)
@pytest.mark.parametrize(
    "method, url, body",
    [
        ("POST", URL, BODY),
        ("GET", "https://api.example.com/v1/charges", b""),
        ("DELETE", "http://127.0.0.1:8080/v1/charges/ch_1?force=1", b""),
        ("PUT", "https://api.example.com:8443/v1/a%20b/~c?q=a%20b&q=c", b"\x00\xffbinary"),
    ],
)
def test_sign_request_round_trip(keyid, key, algorithm, method, url, body):
    request = signed(method, url, body, keyid=keyid, key=key, algorithm=algorithm, nonce="nonce-1")

    result = verify(request)

    assert (result.keyid, result.service, result.algorithm) == (keyid, "billing", algorithm)
    assert (result.created, result.nonce, result.label) == (NOW, "nonce-1", "sig1")
    expected = ("@method", "@authority", "@target-uri") + (("content-digest",) if body else ())
    assert result.covered_components == expected


def test_sign_request_returns_only_the_headers_to_add():
    headers = sign_request("POST", URL, {}, BODY, keyid="k", key=HMAC_SECRET, algorithm="hmac-sha256", created=NOW)
    assert set(headers) == {"Content-Digest", "Signature-Input", "Signature"}
    assert headers["Content-Digest"] == content_digest(BODY)
    headers = sign_request("GET", URL, {}, b"", keyid="k", key=HMAC_SECRET, algorithm="hmac-sha256", created=NOW)
    assert set(headers) == {"Signature-Input", "Signature"}
    assert 'alg="hmac-sha256"' in headers["Signature-Input"] and "nonce=" in headers["Signature-Input"]


def test_sign_request_nonces_are_fresh():
    inputs = {
        sign_request("GET", URL, {}, b"", keyid="k", key=HMAC_SECRET, algorithm="hmac-sha256", created=NOW)[
            "Signature-Input"
        ]
        for _ in range(5)
    }
    assert len(inputs) == 5


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(algorithm="rsa-pss-sha512", key=HMAC_SECRET),
        dict(algorithm="hmac-sha256", key=b"short"),
        dict(algorithm="hmac-sha256", key=ED_PRIVATE),
        dict(algorithm="ed25519", key=HMAC_SECRET),
        dict(algorithm="ed25519", key=ED_PRIVATE.public_key()),
        dict(algorithm="hmac-sha256", key=HMAC_SECRET, nonce="has space"),
        dict(algorithm="hmac-sha256", key=HMAC_SECRET, nonce="x" * 129),
        dict(algorithm="hmac-sha256", key=HMAC_SECRET, components=("@nonsense",)),
    ],
)
def test_sign_request_refuses_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        sign_request("GET", URL, {}, b"", keyid="k", created=NOW, **kwargs)


def test_our_signature_verifies_with_the_library_verifier():
    # The other direction: what sign_request produces, the peer library accepts.
    from http_message_signatures import HTTPMessageVerifier, MappingKeyResolver

    url = "https://api.example.com/v1/charges"
    headers = {"Content-Type": "application/json"}
    headers.update(
        sign_request("POST", url, headers, BODY, keyid="k", key=HMAC_SECRET, algorithm="hmac-sha256", created=NOW)
    )
    prepared = requests.Request("POST", url, data=BODY, headers=headers).prepare()
    verifier = HTTPMessageVerifier(
        signature_algorithm=algorithms.HMAC_SHA256,
        key_resolver=MappingKeyResolver(public_keys={"k": HMAC_SECRET}, private_keys={}),
    )
    (result,) = verifier.verify(prepared, max_age=None, body=BODY)
    assert result.parameters["created"] == NOW


def test_sign_request_keeps_and_covers_a_content_digest_given_by_the_caller():
    given = {"Content-Digest": HELLO_SHA512}
    headers = sign_request(
        "POST", URL, given, HELLO, keyid="billing-hmac", key=HMAC_SECRET, algorithm="hmac-sha256", created=NOW
    )
    assert "Content-Digest" not in headers and '"content-digest"' in headers["Signature-Input"]
    verify(webob_request("POST", URL, {**given, **headers}, HELLO))
    with pytest.raises(ValueError):
        sign_request("POST", URL, given, BODY, keyid="k", key=HMAC_SECRET, algorithm="hmac-sha256", created=NOW)


def test_an_hmac_key_given_as_str_signs_as_its_utf8_bytes():
    text_key = "a str secret, as env: and file: read it, 0123456789"
    as_text = sign_request("GET", URL, {}, b"", keyid="k", key=text_key, algorithm="hmac-sha256", created=NOW, nonce="n")
    as_bytes = sign_request(
        "GET", URL, {}, b"", keyid="k", key=text_key.encode("utf-8"), algorithm="hmac-sha256", created=NOW, nonce="n"
    )
    assert as_text == as_bytes
    with pytest.raises(ValueError):
        sign_request("GET", URL, {}, b"", keyid="k", key="short", algorithm="hmac-sha256", created=NOW)
    with pytest.raises(ValueError):
        sign_request("GET", URL, {}, b"", keyid="k", key=text_key, algorithm="ed25519", created=NOW)
