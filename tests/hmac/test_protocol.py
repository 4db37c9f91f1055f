"""Tests of the pure HTTP Message Signatures module: RFC vectors, a peer, tampering, hostile input.

Fixed vectors, from the RFCs' own text:

* RFC 9421 Appendix B.2 (the ``test-request`` message), B.1.4 (the
  ``test-key-ed25519`` key), B.1.5 (the ``test-shared-secret``), B.2.5
  (hmac-sha256) and B.2.6 (ed25519), signature bases included.  The RFC
  wraps long lines with ``\\`` per RFC 8792; they are unwrapped here.
* RFC 9530 (Content-Digest): ``{"hello": "world"}`` digests, sha-256 and
  sha-512 (the latter is also the ``Content-Digest`` of RFC 9421 B.2).

Peer: ``requests_http_signature.HTTPSignatureAuth`` applied to a prepared
``requests`` request in-process (no network), then replayed as a WebOb
request.  All clocks are fixed numbers: nothing here depends on timing.
"""
from __future__ import annotations

import base64
import datetime
import random

import pytest
import requests
import webob
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from requests_http_signature import HTTPSignatureAuth, algorithms

from pyramid_authsuite.hmac import protocol as P
from pyramid_authsuite.hmac.protocol import (
    ServiceKey,
    SignatureError,
    VerifiedSignature,
    sign_request,
    verify_request,
)

# ---------------------------------------------------------------------------
# RFC 9421 Appendix B
# ---------------------------------------------------------------------------

# B.2: the test request, as given in the RFC.
RFC_TEST_REQUEST = b"""\
POST /foo?param=Value&Pet=dog HTTP/1.1
Host: example.com
Date: Tue, 20 Apr 2021 02:07:55 GMT
Content-Type: application/json
Content-Digest: sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:
Content-Length: 18

{"hello": "world"}"""

# B.1.5: test-shared-secret.
RFC_SHARED_SECRET = base64.b64decode(
    "uzvJfB4u3N0Jy4T7NZ75MDVcr8zSTInedJtkgcu46YW4XByzNJjxBdtjUkdJPBtbmHhIDi6pcl8jsasjlTMtDQ=="
)
# B.1.4: test-key-ed25519.
RFC_ED25519_PUBLIC_PEM = b"""\
-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=
-----END PUBLIC KEY-----
"""
RFC_ED25519_PRIVATE_PEM = b"""\
-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF
-----END PRIVATE KEY-----
"""
RFC_CREATED = 1618884473

# B.2.5: Signing a Request Using hmac-sha256.
B25_BASE = (
    b'"date": Tue, 20 Apr 2021 02:07:55 GMT\n'
    b'"@authority": example.com\n'
    b'"content-type": application/json\n'
    b'"@signature-params": ("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"'
)
B25_SIGNATURE_INPUT = 'sig-b25=("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"'
B25_SIGNATURE = "sig-b25=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:"

# B.2.6: Signing a Request Using ed25519.
B26_BASE = (
    b'"date": Tue, 20 Apr 2021 02:07:55 GMT\n'
    b'"@method": POST\n'
    b'"@path": /foo\n'
    b'"@authority": example.com\n'
    b'"content-type": application/json\n'
    b'"content-length": 18\n'
    b'"@signature-params": ("date" "@method" "@path" "@authority" "content-type" "content-length")'
    b';created=1618884473;keyid="test-key-ed25519"'
)
B26_SIGNATURE_INPUT = (
    'sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length")'
    ';created=1618884473;keyid="test-key-ed25519"'
)
B26_SIGNATURE = (
    "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:"
)

# RFC 9530: digests of {"hello": "world"}.
HELLO = b'{"hello": "world"}'
HELLO_SHA256 = "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
HELLO_SHA512 = "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:"

RFC_KEYS = {
    "test-shared-secret": ServiceKey("test-shared-secret", "rfc", "hmac-sha256", RFC_SHARED_SECRET),
    "test-key-ed25519": ServiceKey(
        "test-key-ed25519", "rfc", "ed25519", serialization.load_pem_public_key(RFC_ED25519_PUBLIC_PEM)
    ),
}
# The relaxation the fixed vectors need, and nothing else: they carry no
# nonce and cover neither @method (B.2.5) nor the query or content-digest.
RFC_VECTOR_POLICY = dict(require_nonce=False, enforce_minimum_components=False, required_components=())


def rfc_request(signature_input: str, signature: str) -> webob.Request:
    request = webob.Request.from_bytes(RFC_TEST_REQUEST)
    request.headers["Signature-Input"] = signature_input
    request.headers["Signature"] = signature
    return request


def verify_rfc(request: webob.Request, **overrides) -> VerifiedSignature:
    kwargs = dict(resolve_key=RFC_KEYS.get, now=RFC_CREATED + 1, **RFC_VECTOR_POLICY)
    kwargs.update(overrides)
    return verify_request(request, **kwargs)


@pytest.mark.parametrize(
    "signature_input, signature, base, keyid, algorithm",
    [
        (B25_SIGNATURE_INPUT, B25_SIGNATURE, B25_BASE, "test-shared-secret", "hmac-sha256"),
        (B26_SIGNATURE_INPUT, B26_SIGNATURE, B26_BASE, "test-key-ed25519", "ed25519"),
    ],
    ids=["B.2.5-hmac-sha256", "B.2.6-ed25519"],
)
def test_rfc9421_examples_verify(signature_input, signature, base, keyid, algorithm):
    request = rfc_request(signature_input, signature)
    parsed = P.parse_signature_headers(signature_input, signature)
    (label,) = parsed
    assert P.signature_base(request, parsed[label]) == base

    result = verify_rfc(request)

    assert (result.label, result.keyid, result.algorithm, result.created) == (label, keyid, algorithm, RFC_CREATED)
    assert result.nonce is None


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


RFC_VECTORS = [(B25_SIGNATURE_INPUT, B25_SIGNATURE), (B26_SIGNATURE_INPUT, B26_SIGNATURE)]


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
        with pytest.raises(P.BadSignature):
            verify_rfc(request)


def test_rfc9421_vectors_still_check_a_present_content_digest():
    request = rfc_request(B25_SIGNATURE_INPUT, B25_SIGNATURE)
    request.body = b'{"hello": "World"}'
    with pytest.raises(P.DigestMismatch) as caught:
        verify_rfc(request)
    assert caught.value.code == "digest_mismatch"


# ---------------------------------------------------------------------------
# RFC 9530 Content-Digest
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        HELLO_SHA256,
        HELLO_SHA512,
        f"{HELLO_SHA256}, {HELLO_SHA512}",
        f"md5=:AAAA:, {HELLO_SHA256}",  # unknown algorithms are ignored
        f"{HELLO_SHA512};p=1",
    ],
)
def test_content_digest_accepts_matching_values(value):
    P.verify_content_digest(value, HELLO)


def test_content_digest_of_our_signer_is_rfc9530():
    assert P.content_digest(HELLO) == HELLO_SHA256
    assert P.content_digest(HELLO, "sha-512") == HELLO_SHA512


@pytest.mark.parametrize(
    "value, code",
    [
        (HELLO_SHA256.replace("X48", "Y48"), "digest_mismatch"),
        (f"{HELLO_SHA256}, sha-512=:AAAA:", "digest_mismatch"),  # every supported one must match
        ("sha-256=:AAAA:", "digest_mismatch"),  # wrong length
        ("md5=:AAAA:", "malformed_digest"),  # nothing supported
        ("sha-256=\"abc\"", "malformed_digest"),
        ("sha-256=(:AAAA:)", "malformed_digest"),
        (f"{HELLO_SHA256}, {HELLO_SHA256}", "malformed_digest"),  # duplicate key
        ("sha-256", "malformed_digest"),
        ("", "malformed_digest"),
        ("garbage!", "malformed_digest"),
        ("sha-256=:" + "A" * 9000 + ":", "malformed_digest"),
        ("sha-256=:é:", "malformed_digest"),
    ],
)
def test_content_digest_refusals(value, code):
    with pytest.raises(P.DigestMismatch) as caught:
        P.verify_content_digest(value, HELLO)
    assert caught.value.code == code


# ---------------------------------------------------------------------------
# Our own signer and verifier
# ---------------------------------------------------------------------------

NOW = 1_700_000_000
URL = "https://api.example.com/v1/charges?currency=eur&limit=10"
BODY = b'{"amount": 10}'
HMAC_SECRET = bytes(range(32, 96))
ED_PRIVATE = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_ED_PRIVATE = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))

OUR_KEYS = [("billing-hmac", HMAC_SECRET, "hmac-sha256"), ("billing-ed", ED_PRIVATE, "ed25519")]
KEYS = {
    "billing-hmac": ServiceKey("billing-hmac", "billing", "hmac-sha256", HMAC_SECRET),
    "billing-ed": ServiceKey("billing-ed", "billing", "ed25519", ED_PRIVATE.public_key()),
}


def webob_request(method: str, url: str, headers: dict, body: bytes) -> webob.Request:
    request = webob.Request.blank(url, method=method, headers=headers)
    request.body = body
    return request


def signed(
    method: str = "POST",
    url: str = URL,
    body: bytes = BODY,
    *,
    keyid: str = "billing-hmac",
    key=HMAC_SECRET,
    algorithm: str = "hmac-sha256",
    **kwargs,
) -> webob.Request:
    headers = {"Content-Type": "application/json"}
    kwargs.setdefault("created", NOW)
    headers.update(sign_request(method, url, headers, body, keyid=keyid, key=key, algorithm=algorithm, **kwargs))
    return webob_request(method, url, headers, body)


def verify(request, **kwargs) -> VerifiedSignature:
    kwargs.setdefault("resolve_key", KEYS.get)
    kwargs.setdefault("now", NOW + 1)
    return verify_request(request, **kwargs)


def refused(request, code: str, **kwargs) -> SignatureError:
    with pytest.raises(SignatureError) as caught:
        verify(request, **kwargs)
    error = caught.value
    assert error.code == code, error
    # The message never echoes the signature or a secret.
    signature = request.headers.get("Signature", "")
    sig_b64 = signature.split(":")[1] if signature.count(":") >= 2 else None
    for secret in (sig_b64, HMAC_SECRET.hex(), base64.b64encode(HMAC_SECRET).decode()):
        if secret:
            assert secret not in str(error)
    return error


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
    assert headers["Content-Digest"] == P.content_digest(BODY)
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


@pytest.mark.parametrize(
    "args",
    [
        ("k", "svc", "rsa-pss-sha512", HMAC_SECRET),
        ("k", "svc", "hmac-sha256", b"too short"),
        ("k", "svc", "hmac-sha256", "a str secret" * 4),
        ("k", "svc", "ed25519", HMAC_SECRET),
        ("k", "svc", "ed25519", ED_PRIVATE),
    ],
)
def test_service_key_checks_its_key_matches_its_algorithm(args):
    with pytest.raises(ValueError):
        ServiceKey(*args)


def test_service_key_repr_hides_the_secret():
    assert HMAC_SECRET.hex() not in repr(KEYS["billing-hmac"]) and "key=" not in repr(KEYS["billing-hmac"])


# ---------------------------------------------------------------------------
# Interoperability: requests-http-signature as the client
# ---------------------------------------------------------------------------


class FixedClockAuth(HTTPSignatureAuth):
    """The peer's auth with ``created`` (and its Date header) pinned to NOW."""

    def get_created(self, request):
        self.add_date(request, timestamp=NOW)
        return datetime.datetime.fromtimestamp(NOW, tz=datetime.timezone.utc)


ED_PRIVATE_PEM = ED_PRIVATE.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
)
PEER_ALGORITHMS = {
    "billing-hmac": (algorithms.HMAC_SHA256, HMAC_SECRET),
    "billing-ed": (algorithms.ED25519, ED_PRIVATE_PEM),
}


def peer_signed(method="POST", url=URL, body=BODY, keyid="billing-hmac", **auth_kwargs) -> webob.Request:
    algorithm, key = PEER_ALGORITHMS[keyid]
    auth_kwargs.setdefault("use_nonce", True)
    auth = FixedClockAuth(signature_algorithm=algorithm, key=key, key_id=keyid, **auth_kwargs)
    headers = {"Content-Type": "application/json"}
    prepared = requests.Request(method, url, data=body or None, headers=headers).prepare()
    prepared = auth(prepared)
    body = prepared.body or b""
    return webob_request(prepared.method, prepared.url, dict(prepared.headers), body)


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


# ---------------------------------------------------------------------------
# Tampering: each refused with its code
# ---------------------------------------------------------------------------


def _set_method(request):
    request.method = "PUT"


def _set_path(request):
    request.path_info = "/v1/refunds"


def _set_query(request):
    request.query_string = "currency=eur&limit=1000"


def _set_authority(request):
    request.host = "evil.example.com"


def _set_body(request):
    request.body = b'{"amount": 99}'


def _drop_digest_header(request):
    del request.headers["Content-Digest"]


def _swap_signature(request):
    other = signed(body=b'{"amount": 11}')
    request.headers["Signature"] = other.headers["Signature"]


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


def _combine(*requests_):
    inputs = ", ".join(r.headers["Signature-Input"] for r in requests_)
    signatures = ", ".join(r.headers["Signature"] for r in requests_)
    request = requests_[0]
    request.headers["Signature-Input"] = inputs
    request.headers["Signature"] = signatures
    return request


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

COVERED = '("@method" "@authority" "@target-uri")'
PARAMS = ';created=1700000000;keyid="billing-hmac";nonce="abc"'
GOOD_INPUT = COVERED + PARAMS
GOOD_SIG = ":" + base64.b64encode(b"\x01" * 32).decode() + ":"
SIG = f"sig1={GOOD_SIG}"


def sig1(covered: str = COVERED, params: str = PARAMS) -> str:
    return f"sig1={covered}{params}"


MALFORMED = [
    # (id, Signature-Input, Signature, code)
    ("empty-both", "", "", "malformed_signature"),
    ("empty-input", "", SIG, "malformed_signature"),
    ("whitespace-input", "   ", SIG, "malformed_signature"),
    ("garbage", "!!!", "???", "malformed_signature"),
    ("not-a-dictionary", GOOD_INPUT, GOOD_SIG, "malformed_signature"),
    ("input-is-item", 'sig1="@method";created=1', SIG, "malformed_signature"),
    ("input-is-token", "sig1=foo", SIG, "malformed_signature"),
    ("input-is-bytes", SIG, SIG, "malformed_signature"),
    ("signature-is-list", sig1(), "sig1=(:AAAA:)", "malformed_signature"),
    ("signature-is-string", sig1(), 'sig1="AAAA"', "malformed_signature"),
    ("signature-is-token", sig1(), "sig1=AAAA", "malformed_signature"),
    ("signature-is-boolean", sig1(), "sig1", "malformed_signature"),
    ("signature-has-params", sig1(), f"{SIG};x=1", "malformed_signature"),
    ("signature-empty-bytes", sig1(), "sig1=::", "malformed_signature"),
    ("signature-not-base64", sig1(), "sig1=:***:", "malformed_signature"),
    ("signature-unterminated", sig1(), "sig1=:AAAA", "malformed_signature"),
    ("label-mismatch", sig1(), f"sig2={GOOD_SIG}", "malformed_signature"),
    ("label-missing-in-signature", f"{sig1()}, sig2={GOOD_INPUT}", SIG, "malformed_signature"),
    ("duplicate-label", f"{sig1()}, {sig1()}", SIG, "malformed_signature"),
    ("duplicate-param", sig1() + ";created=1700000001", SIG, "malformed_signature"),
    ("duplicate-component", sig1('("@method" "@method")'), SIG, "malformed_signature"),
    ("duplicate-component-params", sig1('("a";sf;key="x" "a";key="x";sf)'), SIG, "malformed_signature"),
    ("component-is-token", sig1("(date)"), SIG, "malformed_signature"),
    ("component-is-integer", sig1("(1)"), SIG, "malformed_signature"),
    ("component-uppercase", sig1('("@Method")'), SIG, "malformed_signature"),
    ("component-empty", sig1('("")'), SIG, "malformed_signature"),
    ("signature-params-covered", sig1('("@signature-params")'), SIG, "malformed_signature"),
    ("nested-inner-list", sig1('(("@method"))'), SIG, "malformed_signature"),
    ("unterminated-inner-list", sig1('("@method"'), SIG, "malformed_signature"),
    ("created-string", sig1(params=';created="1700000000";keyid="k"'), SIG, "malformed_signature"),
    ("created-decimal", sig1(params=';created=1700000000.5;keyid="k"'), SIG, "malformed_signature"),
    ("created-boolean", sig1(params=';created;keyid="k"'), SIG, "malformed_signature"),
    ("created-date", sig1(params=';created=@1700000000;keyid="k"'), SIG, "malformed_signature"),
    ("expires-token", sig1(params=';created=1;expires=never;keyid="k"'), SIG, "malformed_signature"),
    ("keyid-token", sig1(params=";created=1;keyid=billing"), SIG, "malformed_signature"),
    ("keyid-integer", sig1(params=";created=1;keyid=7"), SIG, "malformed_signature"),
    ("keyid-bytes", sig1(params=";created=1;keyid=:AAAA:"), SIG, "malformed_signature"),
    ("keyid-empty", sig1(params=';created=1;keyid=""'), SIG, "malformed_signature"),
    ("keyid-too-long", sig1(params=f';created=1;keyid="{"k" * 257}"'), SIG, "malformed_signature"),
    ("nonce-integer", sig1(params=';created=1;keyid="k";nonce=5'), SIG, "malformed_signature"),
    ("alg-token", sig1(params=';created=1;keyid="k";alg=hmac-sha256'), SIG, "malformed_signature"),
    ("display-string", sig1(params=';created=1;keyid=%"k"'), SIG, "malformed_signature"),
    ("missing-keyid", sig1(params=';created=1700000000;nonce="abc"'), SIG, "missing_parameter"),
    ("missing-created", sig1(params=';keyid="billing-hmac";nonce="abc"'), SIG, "missing_parameter"),
    ("unknown-param", sig1() + ";foo=1", SIG, "malformed_signature"),
    ("expires-before-created", sig1() + ";expires=1699999999", SIG, "malformed_signature"),
    ("nonce-empty", sig1(params=PARAMS.replace('"abc"', '""')), SIG, "missing_nonce"),
    ("nonce-bad-characters", sig1(params=PARAMS.replace('"abc"', '"a b:c"')), SIG, "invalid_nonce"),
    ("nonce-too-long", sig1(params=PARAMS.replace("abc", "n" * 129)), SIG, "invalid_nonce"),
    ("non-ascii", sig1(params=PARAMS.replace("abc", "abé")), SIG, "malformed_signature"),
    ("control-character", sig1() + "\x7f", SIG, "malformed_signature"),
    ("too-long-input", sig1() + f';tag="{"t" * 8200}"', SIG, "malformed_signature"),
    ("too-long-signature", sig1(), "sig1=:" + "A" * 8200 + ":", "malformed_signature"),
    (
        "too-many-labels",
        ", ".join(f"s{i}={GOOD_INPUT}" for i in range(9)),
        ", ".join(f"s{i}={GOOD_SIG}" for i in range(9)),
        "malformed_signature",
    ),
    ("too-many-components", sig1("(" + " ".join(f'"h{i}"' for i in range(33)) + ")"), SIG, "malformed_signature"),
    ("trailing-comma", sig1() + ",", SIG, "malformed_signature"),
    ("bad-label", f"Sig1={GOOD_INPUT}", f"Sig1={GOOD_SIG}", "malformed_signature"),
    # Well-formed, but what they cover cannot be resolved or does not verify.
    ("unresolvable-component", sig1(COVERED[:-1] + ' "x-absent")'), SIG, "invalid_signature"),
    ("unknown-derived-component", sig1(COVERED[:-1] + ' "@nonsense")'), SIG, "invalid_signature"),
    ("query-param-name-integer", sig1(COVERED[:-1] + ' "@query-param";name=1)'), SIG, "invalid_signature"),
    ("wrong-signature-length", sig1(), "sig1=:AAAA:", "invalid_signature"),
]


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


def test_forged_host_cannot_move_the_path():
    # Signed for /v1/charges?/admin; replayed to /admin with Host carrying the rest.
    request = signed(url="https://api.example.com/v1/charges?/admin", body=b"")
    request.path_info = "/admin"
    request.query_string = ""
    request.environ["HTTP_HOST"] = "api.example.com/v1/charges?"
    refused(request, "malformed_request")


@pytest.mark.parametrize(
    "host", ["api.example.com/x", "api.example.com?", "user@api.example.com", "api.example.com#f", "a b", ""]
)
def test_request_view_refuses_hosts_that_are_not_host_port(host):
    request = webob_request("GET", URL, {}, b"")
    request.environ["HTTP_HOST"] = host
    with pytest.raises(P.MalformedRequest):
        P.request_view(request)


@pytest.mark.parametrize("host", ["[::1::2]", "[:::]", "[1:2:3:4:5:6:7:8:9]"])
@pytest.mark.parametrize("components", [("@method", "@authority", "@path"), ("@method", "@authority", "@target-uri")])
def test_host_with_an_invalid_ipv6_literal_is_a_malformed_request(host, components):
    # It passes the host[:port] check; urlsplit's ValueError on it used to
    # escape verify_request instead of a SignatureError.
    request = signed(url="https://api.example.com/v1/charges", body=b"", components=components)
    request.environ["HTTP_HOST"] = host
    refused(request, "malformed_request")


def test_request_view_normalises_the_authority():
    view = P.request_view(webob.Request.blank("https://API.Example.COM:443/a?b=1"))
    assert view.url == "https://api.example.com/a?b=1"
    view = P.request_view(webob.Request.blank("http://api.example.com:8080/a"))
    assert view.url == "http://api.example.com:8080/a"


def test_request_view_input_is_accepted_directly():
    request = signed()
    view = P.RequestView("POST", URL, list(request.headers.items()), BODY)
    assert verify(view).keyid == "billing-hmac"


def test_mutated_headers_only_ever_raise_signature_errors():
    # Deterministic fuzzing of a valid pair of headers: whatever comes out,
    # the verifier either accepts it or raises a SignatureError.
    base = signed()
    original = {name: base.headers[name] for name in ("Signature-Input", "Signature", "Content-Digest")}
    alphabet = '"();=:,? *@\\\t-_.~%!abcAZ019/+\x00\x7f\xe9'
    rng = random.Random(9421)
    outcomes = set()
    for _ in range(600):
        name = rng.choice(list(original))
        value = list(original[name])
        for _ in range(rng.randint(1, 3)):
            position = rng.randrange(len(value) + 1)
            action = rng.random()
            if action < 0.4 and position < len(value):
                del value[position]
            elif action < 0.7:
                value.insert(position, rng.choice(alphabet))
            elif position < len(value):
                value[position] = rng.choice(alphabet)
        request = webob_request("POST", URL, dict(base.headers), BODY)
        request.environ["HTTP_" + name.upper().replace("-", "_")] = "".join(value)
        try:
            verify(request)
            outcomes.add("accepted")
        except SignatureError as error:
            outcomes.add(error.code)
    assert {"malformed_signature", "invalid_signature"} <= outcomes


def test_error_codes_form_a_hierarchy():
    codes = {}
    for name in P.__all__:
        obj = getattr(P, name)
        if isinstance(obj, type) and issubclass(obj, SignatureError):
            codes[name] = obj.code
    assert codes["SignatureParseError"] == "malformed_signature"
    assert codes["UnknownKey"] == "unknown_key"
    assert issubclass(P.MalformedDigest, P.DigestMismatch)
    assert len(codes) >= 14


def test_sign_request_keeps_and_covers_a_content_digest_given_by_the_caller():
    given = {"Content-Digest": HELLO_SHA512}
    headers = sign_request(
        "POST", URL, given, HELLO, keyid="billing-hmac", key=HMAC_SECRET, algorithm="hmac-sha256", created=NOW
    )
    assert "Content-Digest" not in headers and '"content-digest"' in headers["Signature-Input"]
    verify(webob_request("POST", URL, {**given, **headers}, HELLO))
    with pytest.raises(ValueError):
        sign_request("POST", URL, given, BODY, keyid="k", key=HMAC_SECRET, algorithm="hmac-sha256", created=NOW)


def _signed_with(extra_headers: dict, components: tuple) -> webob.Request:
    headers = {"Content-Type": "application/json", **extra_headers}
    headers.update(
        sign_request("GET", URL, headers, b"", keyid="billing-hmac", key=HMAC_SECRET, algorithm="hmac-sha256",
                     components=components, created=NOW)
    )
    return webob_request("GET", URL, headers, b"")


def test_a_structured_field_is_parsed_only_up_to_its_bound(monkeypatch):
    from pyramid_authsuite.hmac import protocol as P

    components = ("@method", "@authority", "@target-uri", '"accept";sf')
    # Within the bound: resolved as a structured field, and verified.
    verify(_signed_with({"Accept": "text/plain;q=0.5, application/json"}, components))
    # Past it: refused before the (pure-Python, ~1 us a byte) structured-field parser runs.
    huge = "x" + ", a;b" * (P.MAX_STRUCTURED_FIELD_LENGTH // 5 + 1)
    request = _signed_with({"Accept": huge}, components)

    def must_not_parse(*args):
        raise AssertionError("a structured field past the bound was parsed")

    monkeypatch.setattr(P, "_library_value", must_not_parse)
    refused(request, "invalid_signature")
    dictionary = ", ".join(f"k{i}=1" for i in range(2000))  # about 17 KiB
    refused(_signed_with({"X-D": dictionary}, ("@method", "@authority", "@target-uri", '"x-d";key="k1"')),
            "invalid_signature")


def test_a_header_of_separators_is_refused_before_the_structured_field_parser(monkeypatch):
    from pyramid_authsuite.hmac import protocol as P

    def must_not_parse(*args, **kwargs):
        raise AssertionError("parsed a header past the separator budget")

    many = ("sig1=(" + "a " * 4096)[:8190] + ")"
    monkeypatch.setattr(P.http_sf, "parse", must_not_parse)
    with pytest.raises(P.SignatureParseError, match="too many items or parameters"):
        P._parse_dictionary(many, "Signature-Input", 8192, 8)
    monkeypatch.undo()
    # The most a signature can legitimately hold still parses: every component
    # with every component parameter RFC 9421 defines, and the signature's own.
    component = '"x-h";sf;bs;req;tr;key="k";name="n"'
    members = ", ".join(
        f'sig{i}=(' + " ".join([component] * P.MAX_COMPONENTS) + f');created=1;expires=2;nonce="n";alg="a";keyid="k";tag="t"'
        for i in range(8)
    )
    assert len(P._parse_dictionary(members, "Signature-Input", 20_000, 8)) == 8
