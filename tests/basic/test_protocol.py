import base64

import pytest

from pyramid_authsuite.basic.protocol import MAX_HEADER_LENGTH, BasicParseError, basic_header, is_basic, parse_basic


def encode(raw: bytes) -> str:
    return "Basic " + base64.b64encode(raw).decode()


def test_round_trip_with_colon_and_unicode_in_password():
    assert parse_basic(basic_header("alice", "pa:ss wörd")) == ("alice", "pa:ss wörd")


def test_rfc7617_example():
    # RFC 7617 section 2: user "Aladdin", password "open sesame".
    assert parse_basic("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==") == ("Aladdin", "open sesame")


def test_scheme_is_case_insensitive():
    assert parse_basic("bAsIc QWxhZGRpbjpvcGVuIHNlc2FtZQ==")[0] == "Aladdin"
    assert is_basic("basic x") and is_basic("Basic") and not is_basic("Bearer x") and not is_basic(None)


@pytest.mark.parametrize("header", [
    "Basic",
    "Basic ",
    "Basic !!!!",
    "Basic QWxhZGRpbg",  # bad padding
    encode(b"no-colon"),
    encode(b":password-only"),
    encode(b"user:"),
    encode(b"\xff\xfe:bad-utf8"),
    encode(b"user:pass\nword"),
    encode(b"user:pass\x00"),
    "Basic " + "A" * MAX_HEADER_LENGTH,
    "Bearer abc",
    "Basic QWxh ZGRp",
])
def test_malformed(header):
    with pytest.raises(BasicParseError):
        parse_basic(header)


def test_error_message_never_echoes_the_credential():
    header = encode(b"user-without-colon-secret")
    with pytest.raises(BasicParseError) as caught:
        parse_basic(header)
    assert "secret" not in str(caught.value)
