"""Tests of :mod:`pyramid_authsuite.hawk.bewit` (README "Single URI Authorization")."""
from __future__ import annotations

import base64
import random

import pytest

from pyramid_authsuite.hawk import protocol as P
from pyramid_authsuite.hawk.protocol import (
    HawkAlgorithmError,
    HawkBewitExpired,
    HawkBewitMethodError,
    HawkMACError,
    HawkParseError,
)
from tests.hawk.vectors import (
    GOOD_MAC,
    README_GET_MAC,
)


# --------------------------------------------------------------------------
# Bewits
# --------------------------------------------------------------------------

STRIP_CASES = [
    ("/resource/4?a=1&b=2&bewit=XYZ", ("/resource/4?a=1&b=2", "XYZ")),  # last parameter
    ("/resource/4?bewit=XYZ&a=1&b=2", ("/resource/4?a=1&b=2", "XYZ")),  # first parameter
    ("/resource/4?a=1&bewit=XYZ&b=2", ("/resource/4?a=1&b=2", "XYZ")),  # middle
    ("/resource/4?bewit=XYZ", ("/resource/4", "XYZ")),  # only parameter
    ("/?bewit=XYZ", ("/", "XYZ")),
    ("/r?bewit=A&bewit=B", ("/r?bewit=A", "B")),  # the last one, as the greedy regex does
    ("/r?bewit=A&bewit=B&", ("/r?bewit=B&", "A")),  # "&" then nothing: backtracks to A
    ("/r?a=1&xbewit=A", ("/r?a=1&xbewit=A", None)),  # not a "bewit" parameter
    ("/bewit=A", ("/bewit=A", None)),  # in the path, no ? or & before it
    ("/r?a=1", ("/r?a=1", None)),
    ("r?bewit=A", ("r?bewit=A", None)),  # not an origin-form target
    ("/r?bewit=A$B", ("/r?bewit=A$B", None)),  # '$' is outside [^&$]
]


@pytest.mark.parametrize(("resource", "expected"), STRIP_CASES)
def test_strip_bewit(resource, expected):
    assert P.strip_bewit(resource) == expected


@pytest.mark.parametrize(
    "resource", ["/r?bewit=", "/r?a=1&bewit=&b=2", "/r\n?bewit=A", "/" + "a" * 4096 + "?bewit=A"]
)
def test_strip_bewit_refusals(resource):
    with pytest.raises(HawkParseError):
        P.strip_bewit(resource)


def _b64url(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode("latin-1")).rstrip(b"=").decode()


MALFORMED_BEWITS = {
    "empty": "",
    "star": "*",
    "standard-alphabet": base64.b64encode(b"a\\1\\" + GOOD_MAC.encode() + b"\\??>").decode(),
    "three-padding": "YWJj===",
    "impossible-length": "YWJjZ",
    "three-parts": _b64url(f"id\\1\\{GOOD_MAC}"),
    "five-parts": _b64url(f"id\\1\\{GOOD_MAC}\\e\\x"),
    "empty-id": _b64url(f"\\1\\{GOOD_MAC}\\"),
    "quote-in-id": _b64url(f'i"d\\1\\{GOOD_MAC}\\'),
    "non-digit-exp": _b64url(f"id\\1e9\\{GOOD_MAC}\\"),
    "huge-exp": _b64url(f"id\\{'9' * 11}\\{GOOD_MAC}\\"),
    "empty-exp": _b64url(f"id\\\\{GOOD_MAC}\\"),
    "bad-mac": _b64url("id\\1\\not-a-mac\\"),
    "control-in-ext": _b64url(f"id\\1\\{GOOD_MAC}\\a\nb"),
    "non-ascii": _b64url(f"id\u00e9\\1\\{GOOD_MAC}\\"),
    "too-long": "A" * (P.MAX_BEWIT_LENGTH + 4),
    "reference-empty-attribute": "YVxcY1xk",  # "a\\\\c\\d": the reference's own bad example
}


@pytest.mark.parametrize("name", sorted(MALFORMED_BEWITS))
def test_malformed_bewits(name):
    with pytest.raises(HawkParseError):
        P.parse_bewit(MALFORMED_BEWITS[name])


BEWIT_KEY = b"bewit key"
BEWIT_REQUEST = dict(resource="/files/report.pdf?v=2", host="files.example.com", port=443)


def make_test_bewit(**overrides) -> P.Bewit:
    args = dict(expiry=2_000_000_000, ext="shared with carol", **BEWIT_REQUEST)
    args.update(overrides)
    return P.parse_bewit(P.make_bewit("issuer-1", BEWIT_KEY, "sha256", **args))


def test_bewit_round_trip_through_a_url():
    value = P.make_bewit("issuer-1", BEWIT_KEY, "sha256", expiry=2_000_000_000, **BEWIT_REQUEST)
    assert "=" not in value
    stripped, found = P.strip_bewit("/files/report.pdf?bewit=" + value + "&v=2")
    assert (stripped, found) == ("/files/report.pdf?v=2", value)
    P.verify_bewit(P.parse_bewit(found), key=BEWIT_KEY, algorithm="sha256", method="HEAD",
                   now=1_999_999_999.5, **{**BEWIT_REQUEST, "resource": stripped})


BEWIT_TAMPERING = {
    "resource": dict(resource="/files/report.pdf?v=3"),
    "host": dict(host="files.example.org"),
    "port": dict(port=8443),
    "key": dict(key=b"bewit kez"),
}


@pytest.mark.parametrize("name", sorted(BEWIT_TAMPERING))
def test_bewit_tampering_fails_mac(name):
    args = dict(key=BEWIT_KEY, algorithm="sha256", method="GET", now=0, **BEWIT_REQUEST)
    args.update(BEWIT_TAMPERING[name])
    with pytest.raises(HawkMACError):
        P.verify_bewit(make_test_bewit(), **args)


def test_bewit_forged_fields_fail_mac():
    # (The id is not in the MAC: it only selects the key, as in the spec.)
    good = make_test_bewit()
    for forged in (good._replace(exp=good.exp + 1), good._replace(ext="shared with dave"),
                   good._replace(mac=README_GET_MAC)):
        with pytest.raises(HawkMACError):
            P.verify_bewit(forged, key=BEWIT_KEY, algorithm="sha256", method="GET", now=0, **BEWIT_REQUEST)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "get", "OPTIONS"])
def test_bewit_wrong_method(method):
    with pytest.raises(HawkBewitMethodError):
        P.verify_bewit(
            make_test_bewit(), key=BEWIT_KEY, algorithm="sha256", method=method, now=0, **BEWIT_REQUEST
        )


def test_bewit_expiry_and_check_order():
    bewit = make_test_bewit(expiry=1000)
    args = dict(key=BEWIT_KEY, algorithm="sha256", method="GET", **BEWIT_REQUEST)
    P.verify_bewit(bewit, now=999.9, **args)
    with pytest.raises(HawkBewitExpired):
        P.verify_bewit(bewit, now=1000, **args)
    with pytest.raises(HawkMACError):  # an expired forgery is reported as a forgery
        P.verify_bewit(bewit, now=5000, **{**args, "key": b"other"})
    with pytest.raises(HawkAlgorithmError):
        P.verify_bewit(bewit, now=0, **{**args, "algorithm": "sha1"})


@pytest.mark.parametrize(
    "overrides",
    [dict(method="POST"), dict(ext="back\\slash"), dict(ext='quo"te'), dict(expiry=0),
     dict(expiry=10**10), dict(expiry=True), dict(expiry=1.5)],
)
def test_make_bewit_refuses_bad_input(overrides):
    args = dict(expiry=2_000_000_000, **BEWIT_REQUEST)
    args.update(overrides)
    with pytest.raises(ValueError):
        P.make_bewit("issuer-1", BEWIT_KEY, "sha256", **args)


@pytest.mark.parametrize("bad_id", ["", "bad\\id", 'quo"te', "caf\u00e9"])
def test_make_bewit_refuses_bad_ids(bad_id):
    with pytest.raises(ValueError):
        P.make_bewit(bad_id, BEWIT_KEY, "sha256", expiry=2_000_000_000, **BEWIT_REQUEST)


def test_mutated_bewits_never_crash():
    rng = random.Random(7)
    value = P.make_bewit("issuer-1", BEWIT_KEY, "sha256", expiry=2_000_000_000, ext="e", **BEWIT_REQUEST)
    alphabet = "AZaz09-_=+/*\\\u00e9 "
    outcomes = set()
    for _ in range(2000):
        chars = list(value)
        for _ in range(rng.randint(1, 3)):
            chars[rng.randrange(len(chars))] = rng.choice(alphabet)
        try:
            P.parse_bewit("".join(chars))
            outcomes.add("parsed")
        except HawkParseError:
            outcomes.add("refused")
    assert outcomes == {"parsed", "refused"}
