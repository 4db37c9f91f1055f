"""Keys and the dataclasses: a key's type matches its algorithm; the fast builders make the same instances."""
from __future__ import annotations

import dataclasses

import pytest

from pyramid_authsuite.hmac.model import (
    Component,
    ParsedSignature,
    ServiceKey,
    VerifiedSignature,
    _parsed_signature,
    _verified_signature,
)
from tests.hmac.common import ED_PRIVATE, HMAC_SECRET, KEYS


# ---------------------------------------------------------------------------
# ServiceKey
# ---------------------------------------------------------------------------


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
# The dataclass builders of the fast path
# ---------------------------------------------------------------------------


def test_builders_make_the_same_instances_as_the_constructors():
    components = (Component("@method"),)
    built = _parsed_signature("sig1", components, {"created": 1}, b"x")
    constructed = ParsedSignature("sig1", components, {"created": 1}, b"x")
    assert built == constructed and repr(built) == repr(constructed) and vars(built) == vars(constructed)
    values = ("sig1", "k", "svc", "hmac-sha256", 1, None, "n", None, ("@method",))
    built = _verified_signature(*values)
    constructed = VerifiedSignature(*values)
    assert built == constructed and repr(built) == repr(constructed) and hash(built) == hash(constructed)
    assert list(vars(built).items()) == list(vars(constructed).items())
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.keyid = "other"
