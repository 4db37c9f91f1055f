"""The signature base (RFC 9421 section 2.5): the RFC's own bases, line breaks, bounded structured fields,
and the same base through the fast message view as through the general one."""
from __future__ import annotations

import pytest
import webob

from pyramid_authsuite.hmac import components as components_module
from pyramid_authsuite.hmac.base import MAX_STRUCTURED_FIELD_LENGTH, _base, signature_base
from pyramid_authsuite.hmac.errors import SignatureError
from pyramid_authsuite.hmac.sign import sign_request
from pyramid_authsuite.hmac.structured import _Covered, parse_signature_headers
from tests.hmac.common import (
    B25_BASE,
    B25_SIGNATURE,
    B25_SIGNATURE_INPUT,
    B26_BASE,
    B26_SIGNATURE,
    B26_SIGNATURE_INPUT,
    HMAC_SECRET,
    NOW,
    RFC_CREATED,
    URL,
    assert_same_verification,
    clone,
    general_message,
    outcome,
    refused,
    rfc_request,
    signed,
    verification_cases,
    verify,
    verify_rfc,
    webob_request,
)


# ---------------------------------------------------------------------------
# RFC 9421 Appendix B
# ---------------------------------------------------------------------------


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
    parsed = parse_signature_headers(signature_input, signature)
    (label,) = parsed
    assert signature_base(request, parsed[label]) == base

    result = verify_rfc(request)

    assert (result.label, result.keyid, result.algorithm, result.created) == (label, keyid, algorithm, RFC_CREATED)
    assert result.nonce is None


# ---------------------------------------------------------------------------
# Covered values
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["a\rb", "a\nb", "a\r\nb"])
def test_covered_values_with_a_line_break_are_refused(value):
    # Signed over a plain value, then a line break put in it: the line would
    # let one line of the signature base pose as two.
    headers = {"X-Note": "ab"}
    signed = sign_request("GET", URL, headers, b"", keyid="billing-hmac", key=HMAC_SECRET,
                            algorithm="hmac-sha256", created=NOW,
                            components=("@method", "@authority", "@target-uri", "x-note"))
    request = webob_request("GET", URL, {**headers, **signed}, b"")
    assert verify(request).keyid == "billing-hmac"
    request.environ["HTTP_X_NOTE"] = value
    error = refused(request, "invalid_signature")
    assert error.message == "a covered component has a value that cannot be signed"
    assert_same_verification(request)


def _signed_with(extra_headers: dict, components: tuple) -> webob.Request:
    headers = {"Content-Type": "application/json", **extra_headers}
    headers.update(
        sign_request("GET", URL, headers, b"", keyid="billing-hmac", key=HMAC_SECRET, algorithm="hmac-sha256",
                     components=components, created=NOW)
    )
    return webob_request("GET", URL, headers, b"")


def test_a_structured_field_is_parsed_only_up_to_its_bound(monkeypatch):
    components = ("@method", "@authority", "@target-uri", '"accept";sf')
    # Within the bound: resolved as a structured field, and verified.
    verify(_signed_with({"Accept": "text/plain;q=0.5, application/json"}, components))
    # Past it: refused before the (pure-Python, ~1 us a byte) structured-field parser runs.
    huge = "x" + ", a;b" * (MAX_STRUCTURED_FIELD_LENGTH // 5 + 1)
    request = _signed_with({"Accept": huge}, components)

    def must_not_parse(*args):
        raise AssertionError("a structured field past the bound was parsed")

    monkeypatch.setattr(components_module, "_library_value", must_not_parse)
    refused(request, "invalid_signature")
    dictionary = ", ".join(f"k{i}=1" for i in range(2000))  # about 17 KiB
    refused(_signed_with({"X-D": dictionary}, ("@method", "@authority", "@target-uri", '"x-d";key="k1"')),
            "invalid_signature")


# ---------------------------------------------------------------------------
# The fast message view and the general one give the same base
# ---------------------------------------------------------------------------


def test_signature_base_agrees_with_the_general_path():
    for request, _ in verification_cases()[:120]:
        try:
            parsed = parse_signature_headers(request.headers["Signature-Input"], request.headers["Signature"])
        except (SignatureError, KeyError):
            continue
        for signature in parsed.values():
            covered = _Covered(signature.components)
            general = outcome(lambda: _base(general_message(clone(request)), signature, covered))
            assert outcome(signature_base, clone(request), signature) == general
