"""Fuzzing Hawk: garbage ``Authorization: Hawk`` headers and mutations of requests signed by mohawk.

Sessions come from a real ``POST /hawk-sessions``; the Hawk id and key are
derived from the token by requests-hawk (not by our code) and requests are
signed by mohawk's ``Sender``. Oracle: mohawk's ``Receiver`` with the same
credentials, the request exactly as sent, the server's clock skew, and a
nonce store holding the nonces the app has already accepted, so a nonce is
never accepted twice (per id and timestamp, as the Hawk specification scopes it).
"""
from __future__ import annotations

import base64
import binascii
import hmac
import json
import string
import time

import mohawk
import mohawk.exc
import pytest
from mohawk.base import Resource
from mohawk.bewit import get_bewit
from mohawk.util import calculate_mac
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
    value,
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


# -- bewits (?bewit=, Hawk's signed URLs for GET and HEAD) ------------------------------

def bewit_for(credentials: dict, path: str, expires: int, ext: str | None = None) -> str:
    mohawk_credentials = {k: v for k, v in credentials.items() if k != "userid"}
    resource = Resource(credentials=mohawk_credentials, url=BASE + path, method="GET", nonce="", timestamp=expires,
                        ext=ext)
    return get_bewit(resource)


def with_bewit(path: str, bewit: str) -> str:
    return f"{path}{'&' if '?' in path else '?'}bewit={bewit}"


class BewitOracle:
    """The Hawk bewit rules written out here, with mohawk's MAC calculation.

    mohawk's own ``check_bewit`` is not used as is: it decodes the bewit with the
    standard (not URL-safe) alphabet and strips the parameter textually, so it
    refuses some bewits that it made itself.
    """

    def __init__(self, credentials: dict[str, dict]):
        self.credentials = credentials

    def __call__(self, sent: Sent):
        def oracle():
            if sent.method not in ("GET", "HEAD") or "Authorization" in sent.headers:
                return None
            path, _, query = sent.path.partition("?")
            params = query.split("&") if query else []
            bewits = [param for param in params if param.startswith("bewit=")]
            if len(bewits) != 1:
                return None
            rest = [param for param in params if not param.startswith("bewit=")]
            stripped = path + ("?" + "&".join(rest) if rest else "")
            raw = bewits[0][len("bewit="):]
            try:
                inner = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode("ascii")
            except (ValueError, binascii.Error):
                return None
            parts = inner.split("\\")
            if len(parts) != 4 or parts[0] not in self.credentials or not parts[1].isascii() \
                    or not parts[1].isdigit() or int(parts[1]) <= time.time():
                return None
            hawk_id, expires, mac, ext = parts
            found = self.credentials[hawk_id]
            resource = Resource(credentials={k: v for k, v in found.items() if k != "userid"},
                                url=f"http://{sent.headers.get('Host', HOST)}{stripped}", method="GET", nonce="",
                                timestamp=expires, ext=ext)
            expected = calculate_mac("bewit", resource, None)
            expected = expected.decode() if isinstance(expected, bytes) else expected
            return found["userid"] if hmac.compare_digest(expected.encode(), mac.encode()) else None
        return oracle


def mutate_bewit(rng, credentials: dict, other: dict, path: str, expires: int) -> tuple[str, str, dict]:
    """(method, path with its bewit, headers): a valid bewit, bent."""
    bewit = bewit_for(credentials, path, expires)
    headers: dict[str, str] = {}
    method = "GET"
    choice = rng.randrange(10)
    if choice == 0:
        bewit = mutate_text(rng, bewit)
    elif choice == 1:  # the inner fields edited (MAC unchanged), then re-encoded
        parts = base64.urlsafe_b64decode(bewit + "=" * (-len(bewit) % 4)).decode().split("\\")
        index = rng.randrange(4)
        parts[index] = rng.choice((mutate_text(rng, parts[index]), other["id"], str(expires + 1), "", "\\"))
        bewit = base64.urlsafe_b64encode("\\".join(parts).encode("utf-8", "surrogatepass")).decode()
    elif choice == 2:  # another base64 spelling
        inner = base64.urlsafe_b64decode(bewit + "=" * (-len(bewit) % 4))
        bewit = rng.choice((base64.b64encode(inner).decode(), bewit.rstrip("="), bewit + "=",
                            base64.urlsafe_b64encode(inner).decode()))
    elif choice == 3:  # rightly made, but expired or with an ext
        if rng.random() < 0.5:
            bewit = bewit_for(credentials, path, int(time.time()) - rng.choice((1, 60, 10 ** 6)))
        else:
            bewit = bewit_for(credentials, path, expires, ext=text(rng, string.ascii_letters + " -", rng.randrange(1, 30)))
    elif choice == 4:  # another URL than the one signed
        path = rng.choice(("/admin", "/whoami?x=2", "/whoami/", "/WHOAMI", path + ("&y=1" if "?" in path else "?y=1")))
    elif choice == 5:
        method = rng.choice(("POST", "DELETE", "PUT", "HEAD"))
    elif choice == 6:
        headers["Host"] = rng.choice(("other.example", "api.example.com:8080", "API.EXAMPLE.COM"))
    elif choice == 7:  # two bewits
        return method, with_bewit(with_bewit(path, bewit), bewit_for(other, path, expires)), headers
    elif choice == 8:  # a bewit and an Authorization header
        headers["Authorization"] = sign(credentials, "GET", path, b"", "")
    else:
        bewit = value(rng)
    return method, with_bewit(path, bewit), headers


def test_fuzz_hawk_bewits(app):
    rng = rng_for("hawk-bewit")
    judge = Judge(app, "hawk bewit")
    credentials = {}
    for userid in ("alice", "bob"):
        login = judge.send(Sent("POST", "/hawk-sessions", {"Authorization": basic_header(userid)}, note="login"))
        derived = HawkAuth(hawk_session=login.json["token"]).credentials
        hawk_id = derived["id"].decode() if isinstance(derived["id"], bytes) else derived["id"]
        credentials[hawk_id] = {"id": hawk_id, "key": derived["key"], "algorithm": "sha256", "userid": userid}
    oracle = BewitOracle(credentials)
    sessions = list(credentials.values())
    count = max(1, EXAMPLES // 2)
    while judge.fuzzed < count:
        mine, other = rng.sample(sessions, 2)
        path = rng.choice(("/whoami", "/whoami?x=1", "/admin"))
        expires = int(time.time()) + rng.choice((5, 60, 3600))
        if rng.random() < 0.1:
            valid = Sent("GET", with_bewit(path, bewit_for(mine, path, expires)), {}, note="valid bewit")
            judge.expect_accepted(judge.send(valid), valid, mine["userid"])
        method, target, headers = mutate_bewit(rng, mine, other, path, expires)
        sent = Sent(method, target, headers, note="bewit mutation")
        judge.fuzz(sent, oracle(sent))
    print(judge.summary())
    judge.assert_clean(minimum=count)
