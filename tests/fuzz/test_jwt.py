"""Fuzzing JWT bearer tokens: garbage ``Authorization: Bearer`` values and mutations of PyJWT tokens.

Tokens are made by PyJWT, or assembled here by hand (base64url JSON and an
HMAC-SHA256 computed with the standard library) when a mutation needs a
header or payload PyJWT would not write. Oracle: RFC 6750's ``b64token``
syntax read here, then ``jwt.decode`` by PyJWT with the key, HS256 only,
the policy's leeway and required claims, and an enabled account for ``sub``.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time

import jwt
import pytest

from tests.fuzz.common import (
    DISABLED,
    EXAMPLES,
    JWT_LEEWAY,
    JWT_SECRET,
    PASSWORDS,
    Judge,
    Sent,
    any_scheme_garbage,
    auth_params,
    mutate_text,
    rng_for,
    scheme_spelling,
    text,
    value,
)

pytestmark = [pytest.mark.fuzz, pytest.mark.filterwarnings("ignore::webtest.lint.WSGIWarning")]

B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")  # RFC 6750 section 2.1


def oracle_for(header: str):
    def oracle():
        # A field value's leading and trailing whitespace is not part of it (RFC 9110 section 5.5).
        # Whitespace beside the one space RFC 6750 asks for (tabs, and the app strips any Python
        # whitespace, \x0b and \x0c included) is leniency about the framing, not about the token:
        # the token itself must still be exactly a genuine one.
        scheme, space, token = header.strip(" \t").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not B64TOKEN.fullmatch(token):
            return None
        try:
            claims = jwt.decode(token, JWT_SECRET, algorithms=["HS256"], leeway=JWT_LEEWAY,
                                options={"require": ["exp", "iat", "sub"]})
        except Exception:  # PyJWT refusing, or failing on input it does not expect: not valid either way
            return None
        sub = claims.get("sub")
        return sub if isinstance(sub, str) and sub in PASSWORDS else None
    return oracle


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def assemble(header: bytes | str, payload: bytes | str, key: bytes = JWT_SECRET.encode()) -> str:
    """A compact JWS from raw JSON text, signed with HMAC-SHA256 by the standard library."""
    header = header.encode("utf-8", "surrogatepass") if isinstance(header, str) else header
    payload = payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else payload
    signing_input = b64(header) + "." + b64(payload)
    return signing_input + "." + b64(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())


def claims(rng, userid: str) -> dict:
    now = int(time.time())
    return {"sub": userid, "iat": now - rng.randrange(0, 20), "exp": now + rng.choice((60, 600, 3600))}


def valid_token(rng) -> tuple[str, str]:
    userid = rng.choice(sorted(PASSWORDS))
    return userid, jwt.encode(claims(rng, userid), JWT_SECRET, algorithm="HS256")


def odd_header(rng) -> str:
    """A JOSE header PyJWT would not write: another alg, crit, kid/jku/jwk tricks, duplicates."""
    alg = rng.choice(("HS256", "HS256", "none", "None", "hs256", "HS384", "HS512", "RS256", "ES256", "EdDSA",
                      "PS256", "", "HS256 ", None))
    fields = {"alg": alg, "typ": rng.choice(("JWT", "at+jwt", "jwt", "JWS", None, 1))}
    extra = rng.choice(({}, {"kid": value(rng)}, {"crit": ["exp"]}, {"crit": []}, {"b64": False, "crit": ["b64"]},
                        {"jku": "http://127.0.0.1/jwks"}, {"jwk": {"kty": "oct", "k": b64(b"k" * 32)}},
                        {"x5u": "http://127.0.0.1/x"}, {"cty": "JWT"}, {"zip": "DEF"}))
    fields.update(extra)
    text_header = json.dumps({k: v for k, v in fields.items() if v is not None})
    if rng.random() < 0.1:
        text_header = text_header[:-1] + ', "alg": "none"}'  # a duplicate member
    return text_header


def odd_payload(rng, userid: str) -> str:
    now = int(time.time())
    base = claims(rng, userid)
    choice = rng.randrange(14)
    if choice == 0:
        base["sub"] = rng.choice((1, "", None, ["alice"], {"id": "alice"}, "ALICE", " alice", "alice\x00",
                                  "alice ", "ａｌｉｃｅ", "unknown", *DISABLED))
    elif choice == 1:
        base["exp"] = rng.choice((now - JWT_LEEWAY - 5, now - JWT_LEEWAY + 5, now - 10 ** 6, "9999999999",
                                  str(now + 60), now + 0.5, True, 10 ** 30, -1, None, 1e308, [now + 60]))
    elif choice == 2:
        base["nbf"] = rng.choice((now + JWT_LEEWAY + 60, now + 5, "0", None, 10 ** 30))
    elif choice == 3:
        base["iat"] = rng.choice((now + JWT_LEEWAY + 60, now + 5, "now", None, -1, 1e308))
    elif choice == 4:
        base["aud"] = rng.choice(("api", ["api"], "", []))
    elif choice == 5:
        del base[rng.choice(("sub", "exp", "iat"))]
    elif choice == 6:
        base.update({"role": "admin", "roles": ["admin"], "tenant_id": "acme", "scope": "a b"})
    elif choice == 7:
        text_payload = json.dumps(base)
        return text_payload[:-1] + f', "sub": "{rng.choice(sorted(PASSWORDS))}"}}'  # a duplicate member
    elif choice == 8:
        return rng.choice(("[]", '"alice"', "1", "null", "{", "{}", '{"sub": "alice", "exp": Infinity}',
                           '{"sub":"alice","exp":NaN,"iat":0}', "[" * 5000 + "]" * 5000))
    elif choice == 9:
        base["nested"] = json.loads("[" * 200 + "]" * 200)
    elif choice == 10:
        base["jti"] = text(rng)
    elif choice == 11:
        base["iss"] = value(rng)
    elif choice == 12:
        return json.dumps(base).replace('"sub"', '"s\\u0075b"')  # an escaped member name
    for name in [name for name, val in base.items() if val is None]:
        del base[name]
    return json.dumps(base, ensure_ascii=rng.random() < 0.5)


def mutate_token(rng, token: str, userid: str) -> str:
    segments = token.split(".")
    choice = rng.randrange(12)
    if choice == 0:
        return mutate_text(rng, token)
    if choice == 1:  # one bit of one decoded segment
        index = rng.randrange(3)
        raw = bytearray(base64.urlsafe_b64decode(segments[index] + "=" * (-len(segments[index]) % 4)))
        if raw:
            raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
        segments[index] = b64(bytes(raw))
        return ".".join(segments)
    if choice == 2:  # the segments rearranged, dropped or added
        operation = rng.randrange(4)
        if operation == 0:
            rng.shuffle(segments)
        elif operation == 1:
            del segments[rng.randrange(3)]
        elif operation == 2:
            segments.append(rng.choice(segments))
        else:
            segments[2] = ""
        return ".".join(segments)
    if choice == 3:  # another base64 spelling of the same segments
        spelled = []
        for segment in segments:
            raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
            spelled.append(rng.choice((base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode(),
                                       segment + "=", segment)))
        return ".".join(spelled)
    if choice == 4:  # a hand-made header, rightly signed
        return assemble(odd_header(rng), base64.urlsafe_b64decode(segments[1] + "=" * (-len(segments[1]) % 4)))
    if choice <= 6:  # hand-made claims, rightly signed
        return assemble('{"alg":"HS256","typ":"JWT"}', odd_payload(rng, userid))
    if choice == 7:  # claims from PyJWT, with a wrong key
        return jwt.encode(claims(rng, userid), "another secret that is also long enough!!", algorithm="HS256")
    if choice == 8:  # unsigned
        return assemble('{"alg":"none","typ":"JWT"}', json.dumps(claims(rng, userid))).rsplit(".", 1)[0] + \
            rng.choice((".", "", ". ", ".AA"))
    if choice == 9:  # another user's claims under this signature
        other = jwt.encode(claims(rng, rng.choice(sorted(PASSWORDS))), JWT_SECRET, algorithm="HS256")
        return ".".join((segments[0], other.split(".")[1], segments[2]))
    if choice == 10:  # too long, or just at the limit
        padding = "x" * rng.choice((8192, 8193, 9000, 100_000))
        return assemble('{"alg":"HS256"}', json.dumps({**claims(rng, userid), "pad": padding}))
    return token + rng.choice(("", " ", "\t", ",", ";", "=", "==", " x"))


def bearer(rng, token: str) -> str:
    roll = rng.random()
    if roll < 0.8:
        return "Bearer " + token
    return scheme_spelling(rng, "Bearer") + rng.choice((" ", "  ", "\t", "", ", ")) + token


def test_fuzz_jwt(app):
    rng = rng_for("jwt")
    judge = Judge(app, "jwt")
    while judge.fuzzed < EXAMPLES:
        userid, token = valid_token(rng)
        path = rng.choice(("/whoami", "/whoami", "/admin"))
        if rng.random() < 0.03:
            sent = Sent("GET", path, {"Authorization": "Bearer " + token}, note="valid")
            # The tokens carry no role claim, so /admin answers 403 to everyone.
            judge.expect_accepted(judge.send(sent), sent, userid, admin=False)
        roll = rng.random()
        if roll < 0.1:
            header = auth_params(rng, "Bearer", ("realm", "error", "token", "scope"), {"token": (token,)}) \
                if rng.random() < 0.7 else any_scheme_garbage(rng)
        elif roll < 0.15:
            header = "Bearer " + text(rng)
        else:
            header = bearer(rng, mutate_token(rng, token, userid))
        headers = {"Authorization": header}
        if rng.random() < 0.05:  # other schemes' credentials beside it: they must not lend it anything
            headers.update({"Signature-Input": 'sig1=("@method");created=1;keyid="billing";nonce="n"',
                            "Signature": f"sig1=:{value(rng)}:"})
        sent = Sent("GET", path, headers, note="jwt fuzz")
        judge.fuzz(sent, oracle_for(header))
    print(judge.summary())
    judge.assert_clean()
