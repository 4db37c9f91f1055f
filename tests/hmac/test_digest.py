"""RFC 9530 ``Content-Digest``: the RFC's values, refusals, and the fast shape against ``http_sf``."""
from __future__ import annotations

import random

import pytest

from pyramid_authsuite.hmac import digest
from pyramid_authsuite.hmac.digest import content_digest, verify_content_digest
from pyramid_authsuite.hmac.errors import DigestMismatch
from tests.hmac.common import HELLO, HELLO_SHA256, HELLO_SHA512, mutations, outcome


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
    verify_content_digest(value, HELLO)


def test_content_digest_of_our_signer_is_rfc9530():
    assert content_digest(HELLO) == HELLO_SHA256
    assert content_digest(HELLO, "sha-512") == HELLO_SHA512


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
    with pytest.raises(DigestMismatch) as caught:
        verify_content_digest(value, HELLO)
    assert caught.value.code == code


# ---------------------------------------------------------------------------
# The fast shape against http_sf
# ---------------------------------------------------------------------------


def digest_cases() -> list[str]:
    cases = [HELLO_SHA256, HELLO_SHA512, f"{HELLO_SHA256}, {HELLO_SHA512}", f"md5=:AAAA:, {HELLO_SHA256}"]
    cases += [
        f"{HELLO_SHA512};p=1", "sha-256=:AAAA:", "md5=:AAAA:", 'sha-256="abc"', "sha-256=(:AAAA:)",
        f"{HELLO_SHA256}, {HELLO_SHA256}", "sha-256", "", "garbage!", "sha-256=:é:", "sha-256=::",
        HELLO_SHA256.rstrip(":").rstrip("=") + ":", f"{HELLO_SHA256},{HELLO_SHA512}", " " + HELLO_SHA256,
    ]
    rng = random.Random(9530)
    for value in list(cases[:4]):
        cases += mutations(rng, value, 100)
    return cases


def test_content_digest_fast_path_agrees_with_http_sf():
    def general(value, body, max_length=8192):
        saved = digest._fast_signatures
        digest._fast_signatures = lambda value, max_members: None
        try:
            return verify_content_digest(value, body, max_length=max_length)
        finally:
            digest._fast_signatures = saved

    for value in digest_cases():
        for body in (HELLO, b"other"):
            assert outcome(verify_content_digest, value, body) == outcome(general, value, body), value
            assert outcome(verify_content_digest, value, body, max_length=60) == outcome(
                general, value, body, max_length=60
            )
