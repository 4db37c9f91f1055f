"""Fuzzing Hawk: garbage ``Authorization: Hawk`` headers and mutations of requests signed by mohawk.

Sessions come from a real ``POST /hawk-sessions``; the Hawk id and key are
derived from the token by requests-hawk (not by our code) and requests are
signed by mohawk's ``Sender``. Oracle: mohawk's ``Receiver`` with the same
credentials, the request exactly as sent, the server's clock skew, and a
nonce store holding the nonces the app has already accepted, so a nonce is
never accepted twice (per id and timestamp, as the Hawk specification scopes it).
"""
from __future__ import annotations

import json
import time

import mohawk
import mohawk.exc
import pytest
from requests_hawk import HawkAuth

from tests.fuzz.common import (
    BASE,
    EXAMPLES,
    HOST,
    PASSWORDS,
    Judge,
    Sent,
    any_scheme_garbage,
    auth_params,
    mutate_params,
    mutate_text,
    rng_for,
    text,
)

pytestmark = [pytest.mark.fuzz, pytest.mark.filterwarnings("ignore::webtest.lint.WSGIWarning")]

SKEW = 60  # the policy's default timestamp_skew_seconds
NAMES = ("id", "ts", "nonce", "mac", "hash", "ext", "app", "dlg")


def basic_header(userid: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{userid}:{PASSWORDS[userid]}".encode()).decode()


def rfc9110_scheme(header: str) -> str:
    """The scheme as mohawk reads it (``Hawk`` and one space): RFC 9110 section 11.4 makes the
    scheme case-insensitive and allows 1*SP after it, which mohawk's parser does not."""
    scheme, spaces, rest = header.partition(" ")
    if scheme.lower() == "hawk" and spaces:
        return "Hawk " + rest.lstrip(" ")
    return header


class HawkOracle:
    """mohawk's Receiver, remembering the nonces the app accepted."""

    def __init__(self, credentials: dict[str, dict]):
        self.credentials = credentials  # Hawk id -> mohawk credentials (with the userid)
        self.accepted: set[tuple[str, str, str]] = set()

    def __call__(self, sent: Sent):
        def oracle():
            header = rfc9110_scheme(sent.headers.get("Authorization", ""))
            host = sent.headers.get("Host", HOST)
            seen = []

            def seen_nonce(sender_id, nonce, timestamp):
                # Hawk: a nonce is unique "across all requests with the same timestamp and key
                # identifier combination", so (id, ts, nonce) is what may be accepted once.
                seen.append((sender_id, str(timestamp), nonce))
                return (sender_id, str(timestamp), nonce) in self.accepted

            def lookup(hawk_id):
                return {k: v for k, v in self.credentials[hawk_id].items() if k != "userid"}

            try:
                mohawk.Receiver(lookup, header, f"http://{host}{sent.path}", sent.method,
                                content=sent.body, content_type=sent.headers.get("Content-Type", ""),
                                seen_nonce=seen_nonce, timestamp_skew_in_seconds=SKEW)
            except (mohawk.exc.HawkFail, KeyError, ValueError, TypeError):
                return None
            self.accepted.update(seen)
            return self.credentials[seen[0][0]]["userid"]
        return oracle


def request_shape(rng) -> tuple[str, str, bytes, str]:
    """(method, path, body, content type) of a request to sign."""
    roll = rng.random()
    if roll < 0.5:
        return "GET", rng.choice(("/whoami", "/whoami?x=1", "/admin")), b"", ""
    body = json.dumps({"n": rng.randrange(1000), "s": "é" * rng.randrange(3)}).encode()
    return "POST", "/whoami", body, "application/json"


def sign(credentials: dict, method: str, path: str, body: bytes, content_type: str, **extra) -> str:
    mohawk_credentials = {k: v for k, v in credentials.items() if k != "userid"}
    return mohawk.Sender(mohawk_credentials, BASE + path, method, content=body, content_type=content_type,
                         **extra).request_header


def mutate(rng, sent: Sent, credentials: dict, other: dict) -> Sent:
    """One mutation of a validly signed request."""
    header = sent.headers["Authorization"]
    method, path, body = sent.method, sent.path, sent.body
    headers = dict(sent.headers)
    choice = rng.randrange(12)
    if choice == 0:
        headers["Authorization"] = mutate_text(rng, header)
    elif choice <= 2:
        headers["Authorization"] = mutate_params(rng, header)
    elif choice == 3:  # the request the signature covers, changed
        method = rng.choice(("GET", "POST", "HEAD", "DELETE", "get"))
    elif choice == 4:
        path = rng.choice(("/whoami", "/whoami?x=1", "/whoami?x=2", "/admin", "/whoami/", "//whoami",
                           "/whoami?", "/WHOAMI", path + "&y=1" if "?" in path else path + "?y=1"))
    elif choice == 5:
        headers["Host"] = rng.choice(("api.example.com:80", "API.example.com", "api.example.com.", "other.example",
                                      "api.example.com:8080", "api.example.com:443", "", "[::1]", "a b"))
    elif choice == 6:
        body = mutate_text(rng, body.decode() or "{}").encode("utf-8", "surrogatepass")
        if method == "GET" and rng.random() < 0.5:
            method = "POST"
            headers["Content-Type"] = "application/json"
    elif choice == 7:
        headers["Content-Type"] = rng.choice(("application/json; charset=utf-8", "text/plain", "",
                                              "APPLICATION/JSON", "application/json "))
    elif choice == 8:  # another session's id with this MAC, or this session's id with the other's header
        other_header = sign(other, method, path, body, headers.get("Content-Type", ""))
        headers["Authorization"] = _swap(rng, header, other_header)
    elif choice == 9:  # a right MAC at a timestamp outside the window, or a reused nonce
        if rng.random() < 0.5:
            ts = int(time.time()) + rng.choice((-SKEW - 5, SKEW + 5, -10 ** 6, 10 ** 9))
            headers["Authorization"] = sign(credentials, method, path, body, headers.get("Content-Type", ""),
                                            _timestamp=ts)
        else:
            headers["Authorization"] = sign(credentials, method, path, body, headers.get("Content-Type", ""),
                                            nonce=_attribute(header, "nonce"))
    elif choice == 10:  # a right MAC with ext / app / dlg and no payload hash
        extra = rng.choice(({"ext": text(rng, size=rng.randrange(0, 40))}, {"always_hash_content": False},
                            {"app": "app1", "dlg": "dlg1"}))
        try:
            headers["Authorization"] = sign(credentials, method, path, body, headers.get("Content-Type", ""), **extra)
        except (mohawk.exc.HawkFail, ValueError, TypeError):
            headers["Authorization"] = mutate_text(rng, header)
    else:
        headers["Authorization"] = auth_params(rng, "Hawk", NAMES, _pool(header))
    return Sent(method, path, headers, body, note="hawk mutation")


def _attribute(header: str, name: str) -> str:
    import re

    found = re.search(rf'\b{name}="([^"]*)"', header)
    return found.group(1) if found else ""


def _pool(header: str) -> dict[str, tuple[str, ...]]:
    return {name: (_attribute(header, name),) for name in NAMES if _attribute(header, name)}


def _swap(rng, header: str, other_header: str) -> str:
    name = rng.choice(("id", "mac", "nonce", "ts", "hash"))
    mine, theirs = _attribute(header, name), _attribute(other_header, name)
    if not mine or not theirs:
        return other_header
    return header.replace(f'{name}="{mine}"', f'{name}="{theirs}"')


def test_fuzz_hawk(app):
    rng = rng_for("hawk")
    judge = Judge(app, "hawk")
    credentials = {}
    for userid in ("alice", "bob"):
        login = judge.send(Sent("POST", "/hawk-sessions", {"Authorization": basic_header(userid)}, note="login"))
        assert login.status_int == 201, login
        derived = HawkAuth(hawk_session=login.json["token"]).credentials
        hawk_id = derived["id"].decode() if isinstance(derived["id"], bytes) else derived["id"]
        credentials[hawk_id] = {"id": hawk_id, "key": derived["key"], "algorithm": "sha256", "userid": userid}
    oracle = HawkOracle(credentials)
    sessions = list(credentials.values())
    while judge.fuzzed < EXAMPLES:
        mine, other = rng.sample(sessions, 2)
        method, path, body, content_type = request_shape(rng)
        headers = {"Authorization": sign(mine, method, path, body, content_type)}
        if content_type:
            headers["Content-Type"] = content_type
        valid = Sent(method, path, headers, body, note="valid")
        if rng.random() < 0.1:  # pure garbage, of this scheme or any
            header = auth_params(rng, "Hawk", NAMES, _pool(headers["Authorization"])) if rng.random() < 0.8 \
                else any_scheme_garbage(rng)
            garbage = Sent(method, path, {**headers, "Authorization": header}, body, note="hawk garbage")
            judge.fuzz(garbage, oracle(garbage))
            continue
        first = rng.random() < 0.3
        if first:
            # The untouched request is accepted; every mutation after it that keeps its nonce is a replay.
            response = judge.send(valid)
            judge.check(response, valid, oracle(valid))
            judge.expect_accepted(response, valid, mine["userid"])
        for _ in range(rng.randrange(1, 4)):
            mutated = mutate(rng, valid, mine, other)
            judge.fuzz(mutated, oracle(mutated))
        if first or rng.random() < 0.3:
            # A replay of the untouched request (or its first sending, after its mutations).
            judge.fuzz(valid, oracle(valid))
    print(judge.summary())
    judge.assert_clean()
