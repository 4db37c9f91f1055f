"""The error classes: one per code, all of them ``SignatureError`` and re-exported by ``protocol``."""
from __future__ import annotations

from pyramid_authsuite.hmac import errors
from pyramid_authsuite.hmac import protocol as P
from pyramid_authsuite.hmac.errors import SignatureError


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


def test_every_error_class_is_exported_by_protocol():
    classes = {
        name for name, obj in vars(errors).items() if isinstance(obj, type) and issubclass(obj, SignatureError)
    }
    assert classes == set(errors.__all__)
    assert classes <= set(P.__all__)
    assert all(getattr(P, name) is getattr(errors, name) for name in classes)
