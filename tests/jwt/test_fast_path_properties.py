"""The JWT fast path against a general twin built from the standard library (hypothesis).

The fast path (:mod:`pyramid_authsuite.jwt.protocol`) checks the alphabet and
converts base64url to base64 with one ``bytes.translate`` over the whole
token, decodes JSON by calling the C scanner directly and refuses trailing
data itself, remembers checked headers, computes HMACs from precomputed pads
and checks integer NumericDates inline. The twin below does each step the
plain way: ``str.split``, an explicit alphabet check and
``base64.urlsafe_b64decode`` (then encoding again: the canonical spelling only), ``json.loads`` (NaN and Infinity refused; last
duplicate key wins, as in the fast path), ``hmac.new``, and one general
NumericDate check; it never remembers anything.

On every generated input (valid tokens, near-valid ones, garbage) both must
give the same verified token, or the same refusal (description and stage).
The fast path has no "decline" branch here: it answers everything itself,
so agreement is the whole property. The hand-picked tables stay in
``test_protocol.py``.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyramid_authsuite.jwt import protocol
from pyramid_authsuite.jwt.protocol import ClaimRules, TokenError, VerificationKey

# Seeded and bounded: the same examples every run, a few seconds in all.
GENERATED = settings(
    derandomize=True, database=None, deadline=None, max_examples=400,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

NOW = 1_800_000_000
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
MAX_BYTES = 2048
KEYS = {
    None: VerificationKey(None, frozenset({"HS256"}), b"k" * 32),
    "k2": VerificationKey("k2", frozenset({"HS384", "HS512"}), b"q" * 64),
    "other": VerificationKey("other", frozenset({"HS256"}), b"o" * 40),
}
HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
# Allow-lists and rules the tokens are checked under; hashable (tuples), so
# the checked-header memo is used, keyed by them.
ALLOW_LISTS = [("HS256",), ("HS256", "HS384", "HS512"), ("HS256", "HS384", "HS512"), ("HS512",)]
RULES = [
    ClaimRules(required=("exp", "iat", "sub"), leeway=30.0),
    ClaimRules(required=("exp", "iat", "sub"), issuer="https://issuer", audiences=frozenset({"api"}), leeway=0.0),
    ClaimRules(required=("exp",), leeway=5.0, typ="at+jwt"),
]


def find_key(kid: str | None) -> VerificationKey:
    key = KEYS.get(kid)
    if key is None:
        raise TokenError(protocol.UNKNOWN_KEY, protocol.NO_KEY)
    return key


# -- the general twin --------------------------------------------------------------


def general_b64(segment: str) -> bytes:
    """base64url without padding, strictly: the alphabet only, no ``len % 4 == 1``, the canonical
    spelling only (encoding the bytes again gives the segment back); else MALFORMED."""
    if any(character not in ALPHABET for character in segment) or len(segment) % 4 == 1:
        raise TokenError(protocol.MALFORMED)
    try:
        data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except binascii.Error:
        raise TokenError(protocol.MALFORMED) from None
    if base64.urlsafe_b64encode(data).decode("ascii").rstrip("=") != segment:
        raise TokenError(protocol.MALFORMED)
    return data


def _refuse_constant(name: str) -> None:
    raise ValueError(name)


def general_json_object(data: bytes) -> dict[str, Any]:
    """``json.loads`` of strict UTF-8, an object or MALFORMED (NaN/Infinity, trailing data, depth refused)."""
    try:
        value = json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise TokenError(protocol.MALFORMED) from None
    if not isinstance(value, dict):
        raise TokenError(protocol.MALFORMED)
    return value


def general_numeric_date(value: Any, name: str) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (isinstance(value, float) and not math.isfinite(value)):
        raise TokenError(f"The access token has a malformed {name} claim.")
    return value


def general_claims(claims: dict[str, Any], rules: ClaimRules, now: float) -> None:
    for name in rules.required:
        if claims.get(name) is None:
            raise TokenError(protocol.missing_claim(name))
    exp = general_numeric_date(claims.get("exp"), "exp")
    if exp is not None and now - rules.leeway >= exp:
        raise TokenError(protocol.EXPIRED)
    nbf = general_numeric_date(claims.get("nbf"), "nbf")
    if nbf is not None and now + rules.leeway < nbf:
        raise TokenError(protocol.NOT_YET_VALID)
    iat = general_numeric_date(claims.get("iat"), "iat")
    if iat is not None and iat > now + rules.leeway:
        raise TokenError(protocol.ISSUED_IN_FUTURE)
    if rules.issuer is not None and claims.get("iss") != rules.issuer:
        raise TokenError(protocol.WRONG_ISSUER)
    aud = claims.get("aud")
    if rules.audiences:
        values = [aud] if isinstance(aud, str) else aud
        if not isinstance(values, list) or not any(isinstance(v, str) and v in rules.audiences for v in values):
            raise TokenError(protocol.WRONG_AUDIENCE)
    elif aud is not None:
        raise TokenError(protocol.WRONG_AUDIENCE)
    for name in ("sub", "jti", "iss"):
        value = claims.get(name)
        if value is not None and not isinstance(value, str):
            raise TokenError(f"The access token has a malformed {name} claim.")


def general_verify(token: str, allowed: tuple[str, ...], rules: ClaimRules, now: float) -> tuple[Any, ...]:
    """The documented order of checks (protocol's docstring), with general primitives."""
    if len(token) > MAX_BYTES:
        raise TokenError(protocol.TOO_LARGE)
    if any(character not in ALPHABET + "." for character in token):
        raise TokenError(protocol.MALFORMED)
    segments = token.split(".")
    if len(segments) != 3:
        raise TokenError(protocol.ENCRYPTED if len(segments) == 5 else protocol.MALFORMED)
    header_text, payload_text, signature_text = segments
    if not (header_text and payload_text):
        raise TokenError(protocol.MALFORMED)
    if not signature_text:
        try:
            alg = general_json_object(general_b64(header_text)).get("alg")
        except TokenError:
            alg = None
        raise TokenError(protocol.ALG_NONE if isinstance(alg, str) and alg.lower() == "none" else protocol.MALFORMED)
    signature = general_b64(signature_text)
    header = general_json_object(general_b64(header_text))
    alg, kid = protocol.check_header(header, allowed, rules.typ)
    key = find_key(kid)
    if alg not in key.algorithms:
        raise TokenError(protocol.ALG_REFUSED, protocol.NO_KEY)
    signing_input = f"{header_text}.{payload_text}"
    expected = hmac.new(key.key, signing_input.encode("ascii"), HASHES[alg]).digest()
    if not hmac.compare_digest(expected, signature):
        raise TokenError(protocol.BAD_SIGNATURE)
    try:
        claims = general_json_object(general_b64(payload_text))
        general_claims(claims, rules, now)
    except TokenError as error:
        error.stage = protocol.SIGNED
        raise
    return header, claims, kid, alg, signing_input


def outcome(verify, *args) -> tuple[Any, ...]:
    try:
        result = verify(*args)
    except TokenError as error:
        return ("refused", error.description, error.stage)
    except Exception as error:  # any other exception is a finding: never equal to the twin's outcome
        return ("raised", type(error).__name__, str(error))
    if isinstance(result, protocol.VerifiedToken):
        result = (result.header, result.claims, result.kid, result.algorithm, result.signing_input)
    header, claims, kid, alg, signing_input = result
    return ("verified", dict(header), claims, kid, alg, signing_input)


def fast_verify(token: str, allowed: tuple[str, ...], rules: ClaimRules, now: float) -> protocol.VerifiedToken:
    return protocol.verify_token(token, find_key, allowed, rules, now, max_bytes=MAX_BYTES)


# -- generated segments: valid, near-valid, garbage ---------------------------------

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=8)
numeric_dates = st.one_of(
    st.none(), st.integers(NOW - 100, NOW + 100), st.floats(NOW - 100, NOW + 100), st.booleans(),
    st.sampled_from([float("inf"), 10**400, "1800000000", -0.0]),
)
_ordinary_headers = st.fixed_dictionaries(
    {"alg": st.one_of(st.just("HS256"), st.sampled_from(["HS256", "HS384", "HS512", "none", "NoNe", "RS256", "", 256]))},
    optional={
        "kid": st.sampled_from(["k2", "k2", "other", "missing", "", 7, "x" * 300]),
        "typ": st.sampled_from(["at+jwt", "at+jwt", "application/AT+JWT", "JWT", 1]),
        "x": json_values,
    },
)
# A header parameter the verifier refuses, now and then.
header_objects = st.one_of(
    _ordinary_headers, _ordinary_headers, _ordinary_headers,
    st.tuples(_ordinary_headers, st.sampled_from(["crit", "zip", "b64"])).map(lambda pair: {**pair[0], pair[1]: ["exp"]}),
)
# Mostly claims that pass (so the memo and the success path are exercised),
# each claim sometimes missing or odd.
claim_objects = st.fixed_dictionaries(
    {
        "exp": st.one_of(st.just(NOW + 600), numeric_dates),
        "iat": st.one_of(st.just(NOW), numeric_dates),
        "sub": st.one_of(st.just("alice"), st.sampled_from(["", 5, None, ["a"]])),
    },
    optional={
        "nbf": numeric_dates,
        "iss": st.sampled_from(["https://issuer", "https://issuer", "https://other", 1]),
        "aud": st.sampled_from(["api", "api", ["web", "api"], ["web"], 3, []]),
        "jti": st.sampled_from(["j1", 2]),
        "roles": json_values,
    },
)


@st.composite
def json_texts(draw, objects, mutate: bool = True) -> bytes:
    """JSON of a generated object, spelled in various ways, or (``mutate``) a near-miss of it."""
    text = json.dumps(draw(objects), separators=draw(st.sampled_from([(",", ":"), (", ", ": ")])), ensure_ascii=draw(st.booleans()))
    variant = draw(st.integers(0, 9)) if mutate else 0
    if variant == 1:
        text = draw(st.sampled_from([" ", "\n", "\t\r", "\x0c", "\ufeff"])) + text + draw(st.sampled_from(["", " ", "\n"]))
    elif variant == 2:
        text += draw(st.sampled_from(["x", "{}", ",", "\x00", " 1", "]"]))  # trailing data
    elif variant == 3:
        text = text[:-1] + ', "n": ' + draw(st.sampled_from(["NaN", "Infinity", "-Infinity", "nan", "1e999"])) + "}"
    elif variant == 4 and len(text) > 2:
        text = text[:-1] + (", " if text != "{}" else "") + '"alg": "HS512", "alg": "HS256"}'  # duplicate keys
    elif variant == 5:
        depth = draw(st.sampled_from([10, 500, 5000]))
        text = text[:-1] + (", " if text != "{}" else "") + '"d": ' + "[" * depth + "]" * depth + "}"
    elif variant == 6:
        text = draw(st.sampled_from(["[]", '"s"', "1", "null", "", "{", "}"]))  # not an object
    elif variant == 7 and len(text) > 2:
        cut = draw(st.integers(1, len(text) - 1))
        text = text[:cut]
    data = text.encode("utf-8", "surrogatepass")
    if variant == 8:
        data = data.replace(b"}", b"\xff}", 1)  # not UTF-8
    elif variant == 9:
        data = data[:-1] + b', "s": "\xed\xa0\x80"}'  # an encoded lone surrogate
    return data


@st.composite
def b64_spellings(draw, data: bytes, mutate: bool = True) -> str:
    """base64url of ``data`` without padding, or (``mutate``) a near-miss: padding, ``+/``, a blank, a bad length, a non-canonical last character."""
    text = base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")
    variant = draw(st.integers(0, 5)) if mutate else 0
    if variant == 1:
        text += draw(st.sampled_from(["=", "==", "==="]))
    elif variant == 2 and text:
        at = draw(st.integers(0, len(text) - 1))
        text = text[:at] + draw(st.sampled_from(["+", "/", " ", "\n", "é", "~", "!", "\x00"])) + text[at + 1:]
    elif variant == 3 and text:
        text = text[:-1]  # maybe len % 4 == 1
    elif variant == 4 and len(text) % 4:
        # Another spelling of the last character: same bits that matter, others set.
        last = ALPHABET.index(text[-1])
        text = text[:-1] + ALPHABET[last | draw(st.integers(1, 15)) & (15 if len(text) % 4 == 2 else 3)]
    elif variant == 5:
        text += draw(st.sampled_from(ALPHABET))
    return text


# Where a token is changed: nowhere (half the tokens: the JSON values still
# vary), one place, or all of it (garbage).
SITES = ["none"] * 6 + ["header json", "payload json", "header base64", "payload base64", "signature", "key", "shape", "garbage"]


@st.composite
def tokens(draw) -> str:
    site = draw(st.sampled_from(SITES))
    if site == "garbage":
        return draw(st.text(st.sampled_from(list(ALPHABET[:6]) + list("-_.=+/ é\x00")), max_size=60))
    header = draw(json_texts(header_objects, site == "header json"))
    payload = draw(json_texts(claim_objects, site == "payload json"))
    header_text = draw(b64_spellings(header, site == "header base64"))
    payload_text = draw(b64_spellings(payload, site == "payload base64"))
    # Sign with the key and algorithm the header names when it names one we have.
    alg, kid = "HS256", None
    try:
        parsed = json.loads(header)
        if isinstance(parsed, dict):
            alg = parsed.get("alg") if parsed.get("alg") in HASHES else alg
            kid = parsed.get("kid") if parsed.get("kid") in KEYS else None
    except (ValueError, RecursionError):
        pass
    secret = KEYS[kid].key if site != "key" else b"wrong key" * 4
    signature = hmac.new(secret, f"{header_text}.{payload_text}".encode("utf-8"), HASHES[alg]).digest()
    signature_text = draw(b64_spellings(signature, site == "signature"))
    if site == "signature" and draw(st.booleans()):
        signature_text = draw(st.sampled_from(["", base64.urlsafe_b64encode(signature[:-1] + bytes([signature[-1] ^ 1])).decode().rstrip("=")]))
    token = f"{header_text}.{payload_text}.{signature_text}"
    if site == "shape":
        token = draw(st.sampled_from([
            token + ".x.y",  # five segments: a JWE
            token + ".",
            token.replace(".", "", 1),
            "." + token,
            "A" * max(0, MAX_BYTES + 1 - len(token)) + token,  # one byte over the limit
            token[: MAX_BYTES],
        ]))
    return token


# -- the properties -------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fresh_header_memo(monkeypatch):
    """Each test starts with an empty checked-header memo (it fills as examples run)."""
    monkeypatch.setattr(protocol, "_CHECKED_HEADERS", {})


@GENERATED
@given(tokens(), st.sampled_from(range(len(ALLOW_LISTS))), st.sampled_from(range(len(RULES))))
def test_verify_token_agrees_with_the_general_twin(token, allow_index, rules_index):
    allowed, rules = ALLOW_LISTS[allow_index], RULES[rules_index]
    expected = outcome(general_verify, token, allowed, rules, NOW)
    # Twice: the second time a verified header comes from the memo.
    assert outcome(fast_verify, token, allowed, rules, NOW) == expected
    assert outcome(fast_verify, token, allowed, rules, NOW) == expected


@GENERATED
@given(st.lists(st.tuples(tokens(), st.sampled_from(range(len(ALLOW_LISTS))), st.sampled_from(range(len(RULES)))), min_size=2, max_size=6))
def test_the_header_memo_never_changes_an_answer(sequence):
    """Tokens checked one after another under several allow-lists and rules
    (so a header remembered under one is met under another): the same
    answers as the twin, which remembers nothing."""
    for token, allow_index, rules_index in sequence:
        allowed, rules = ALLOW_LISTS[allow_index], RULES[rules_index]
        assert outcome(fast_verify, token, allowed, rules, NOW) == outcome(general_verify, token, allowed, rules, NOW)


def _b64_outcome(decode, segment: str) -> tuple[Any, ...]:
    try:
        return ("decoded", decode(segment))
    except TokenError as error:
        return ("refused", error.description)


def fast_b64(segment: str) -> bytes:
    """The token path for one segment: the translate table, the INVALID test, ``_b64_decode``."""
    if not segment.isascii():
        raise TokenError(protocol.MALFORMED)
    translated = segment.encode("ascii").translate(protocol._TO_BASE64)
    if protocol._INVALID in translated or b"." in translated:
        raise TokenError(protocol.MALFORMED)
    return protocol._b64_decode(translated)


@GENERATED
@given(st.one_of(st.binary(max_size=40).flatmap(b64_spellings), st.text(max_size=12)))
def test_segment_decoding_agrees_with_urlsafe_b64decode(segment):
    assert _b64_outcome(fast_b64, segment) == _b64_outcome(general_b64, segment)
    # The module's one-segment helper is the same decoder, with ValueError.
    try:
        single = ("decoded", protocol.b64url_decode(segment))
    except ValueError:
        single = ("refused", protocol.MALFORMED)
    assert single == _b64_outcome(general_b64, segment)


def _json_outcome(parse, data: bytes) -> tuple[Any, ...]:
    try:
        return ("object", parse(data))
    except TokenError as error:
        return ("refused", error.description)


@GENERATED
@given(st.one_of(json_texts(header_objects), json_texts(claim_objects), st.binary(max_size=20)))
def test_json_object_agrees_with_json_loads(data):
    assert _json_outcome(protocol._json_object, data) == _json_outcome(general_json_object, data)
