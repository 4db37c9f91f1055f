"""Fuzzing Basic (RFC 7617): garbage ``Authorization: Basic`` values and mutations of valid ones.

Oracle: the header is accepted only if some reading of it (any base64
spelling, UTF-8 or latin-1) carries the exact userid and password of an
enabled account, decoded here with the standard library alone.
"""
from __future__ import annotations

import base64
import binascii
import string
import unicodedata

import pytest

from tests.fuzz.common import (
    DISABLED,
    EXAMPLES,
    PASSWORDS,
    Judge,
    Sent,
    any_scheme_garbage,
    auth_params,
    b64_of,
    mutate_text,
    rng_for,
    scheme_spelling,
    text,
)

pytestmark = [pytest.mark.fuzz, pytest.mark.filterwarnings("ignore::webtest.lint.WSGIWarning")]


def readings(header: str) -> list[tuple[str, str]]:
    """Every (userid, password) a lenient reader could take from ``header``."""
    scheme, _, token = header.strip(" \t").partition(" ")
    if scheme.lower() != "basic":
        return []
    token = token.strip(" \t")
    found = []
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        for candidate in (token, token + "=" * (-len(token) % 4)):
            try:
                raw = decode(candidate.encode("ascii"), validate=True) if decode is base64.b64decode \
                    else decode(candidate.encode("ascii"))
            except (binascii.Error, ValueError, UnicodeEncodeError):
                continue
            for encoding in ("utf-8", "latin-1"):
                try:
                    userid, colon, password = raw.decode(encoding).partition(":")
                except UnicodeDecodeError:
                    continue
                if colon:
                    found.append((userid, password))
    return found


def oracle_for(header: str):
    def oracle():
        for userid, password in readings(header):
            if PASSWORDS.get(userid) == password:
                return userid
        return None
    return oracle


def encode(userid: str, password: str, encoding: str = "utf-8") -> str:
    return base64.b64encode(f"{userid}:{password}".encode(encoding, "surrogatepass")).decode()


def valid_header(rng) -> tuple[str, str]:
    userid = rng.choice(sorted(PASSWORDS))
    return userid, "Basic " + encode(userid, PASSWORDS[userid])


def mutated(rng, userid: str) -> str:
    """A mutation of a valid header: of its text, of its base64, or of the credentials inside."""
    password = PASSWORDS[userid]
    choice = rng.randrange(8)
    if choice == 0:
        return mutate_text(rng, "Basic " + encode(userid, password))
    if choice == 1:
        return "Basic " + mutate_text(rng, encode(userid, password))
    if choice == 2:
        return scheme_spelling(rng, "Basic") + rng.choice((" ", "  ", "\t", "")) + encode(userid, password)
    if choice == 3:  # the right bytes in another base64 spelling
        return "Basic " + b64_of(rng, f"{userid}:{password}".encode())
    if choice == 4:  # the credentials changed, then encoded properly
        if rng.random() < 0.5:
            userid = mutate_text(rng, userid)
        else:
            password = mutate_text(rng, password)
        return "Basic " + encode(userid, password)
    if choice == 5:  # another normalisation or encoding of the same text
        form = rng.choice(("NFD", "NFKC", "NFKD"))
        encoding = rng.choice(("utf-8", "latin-1", "utf-16"))
        try:
            return "Basic " + encode(userid, unicodedata.normalize(form, password), encoding)
        except UnicodeEncodeError:
            return "Basic " + encode(userid, unicodedata.normalize(form, password))
    if choice == 6:  # another user's password, a disabled account's right one
        other = rng.choice(sorted(PASSWORDS) + sorted(DISABLED))
        secret = {**PASSWORDS, **DISABLED}[rng.choice(sorted(PASSWORDS))] if rng.random() < 0.5 \
            else {**PASSWORDS, **DISABLED}[other]
        return "Basic " + encode(other, secret)
    separator = rng.choice(("", "::", " : ", ":\x00", "\t:"))
    return "Basic " + base64.b64encode(f"{userid}{separator}{password}".encode()).decode()


def garbage(rng) -> str:
    choice = rng.randrange(6)
    if choice == 0:
        return auth_params(rng, "Basic", ("realm", "charset", "token"), {"charset": ("UTF-8",)})
    if choice == 1:
        return "Basic " + text(rng)
    if choice == 2:
        userid = rng.choice(sorted(PASSWORDS) + [text(rng, string.ascii_letters + "_.-@")])
        return "Basic " + b64_of(rng, f"{userid}:{text(rng)}".encode("utf-8", "surrogatepass"))
    if choice == 3:
        return "Basic " + b64_of(rng, rng.randbytes(rng.randrange(0, 300)))
    if choice == 4:
        return any_scheme_garbage(rng)
    return "Basic " + base64.b64encode(text(rng).encode("utf-8", "surrogatepass")).decode()


def test_fuzz_basic(app):
    rng = rng_for("basic")
    judge = Judge(app, "basic")
    path_choices = ("/whoami", "/whoami", "/whoami", "/admin", "/hawk-sessions")
    while judge.fuzzed < EXAMPLES:
        userid, header = valid_header(rng)
        if rng.random() < 0.03:
            sent = Sent("GET", "/whoami", {"Authorization": header}, note="valid")
            judge.expect_accepted(judge.send(sent), sent, userid)
        header = mutated(rng, userid) if rng.random() < 0.6 else garbage(rng)
        path = rng.choice(path_choices)
        # Logging in for a Hawk session is what Basic is for: a 201 there is an acceptance too.
        method = "POST" if path == "/hawk-sessions" else "GET"
        sent = Sent(method, path, {"Authorization": header}, note="basic fuzz")
        judge.fuzz(sent, oracle_for(header))
    print(judge.summary())
    judge.assert_clean()
