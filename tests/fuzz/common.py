"""The app every fuzz module drives, the judge of its answers, and shared generators.

The app is the demo with every scheme configured (Basic, Hawk, RFC 9421
service keys, JWT, challenge-response) on the memory cache and SQLite, with
Argon2id at its cheapest and the failure limits raised out of the way: a
lockout (429) is a correct answer to fuzzing, but it would also refuse the
valid requests that show the fuzzer is not just hitting a wall.

Counts and seeds come from the environment so a developer can run more:
``AUTHSUITE_FUZZ_EXAMPLES`` (default 10,000 per scheme) and
``AUTHSUITE_FUZZ_SEED`` (default fixed, so CI runs are reproducible).
"""
from __future__ import annotations

import base64
import collections
import json
import os
import random
import string
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import webtest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from pyramid_authsuite.demo import main as demo_main

EXAMPLES = int(os.environ.get("AUTHSUITE_FUZZ_EXAMPLES", "10000"))
SEED = int(os.environ.get("AUTHSUITE_FUZZ_SEED", "20261204"))
HOST = "api.example.com"
BASE = f"http://{HOST}"
PROBLEM = "application/problem+json"
# Raised so that fuzzing does not lock the valid callers out (see the module docstring).
NO_LIMIT = "1000000000"

# Accounts: a plain password, one with non-ASCII characters (UTF-8 per RFC 7617),
# one with a colon in it, and a disabled account whose password is right.
PASSWORDS = {
    "alice": "correct horse battery",
    "bob": "pässwörd ☃ ünïcode",
    "carol": "colon:inside:password",
}
DISABLED = {"dave": "disabled but right"}
ADMIN = "alice"  # the only one with role:admin, so the only one /admin answers 200

HMAC_KEYID = "billing"
HMAC_SECRET = b"fuzz-billing-secret-0123456789-abcdefghij"
ED25519_KEYID = "reports"
JWT_SECRET = "fuzz HS256 secret that is longer than thirty-two bytes"
JWT_LEEWAY = 30


def rng_for(name: str, seed: int | None = None) -> random.Random:
    """A generator seeded from the run's seed and a name, so modules do not share a stream."""
    return random.Random(f"{SEED if seed is None else seed}:{name}")


def reports_key() -> ed25519.Ed25519PrivateKey:
    """The Ed25519 service key, derived from the seed so runs are reproducible."""
    return ed25519.Ed25519PrivateKey.from_private_bytes(rng_for("ed25519").randbytes(32))


def settings(tmp_path: Any) -> dict[str, str]:
    public = base64.b64encode(reports_key().public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()
    limits = {f"multiauth.policy.basic.{name}": NO_LIMIT
              for name in ("max_failed_attempts", "max_failed_attempts_per_address")}
    limits.update({f"multiauth.policy.challenge.{name}": NO_LIMIT for name in (
        "max_challenges_per_key", "max_challenges_per_address", "max_failed_answers",
        "max_failed_answers_per_address")})
    return {
        "authsuite.cache_url": "memory://",
        # Every accepted nonce and issued challenge stays until its TTL, and a full cache refuses
        # (503): room for a large local run (AUTHSUITE_FUZZ_EXAMPLES) on top of the default.
        "authsuite.cache_max_entries": str(max(100_000, 10 * EXAMPLES)),
        "authsuite.accounts_url": f"sqlite:///{tmp_path}/fuzz.sqlite",
        "authsuite.password_time_cost": "1",
        "authsuite.password_memory_cost": "8",
        "authsuite.endpoints": "hawk_sessions challenges",
        "multiauth.policies": "hawk hmac jwt challenge basic",
        "multiauth.policy.hawk.use": "pyramid_authsuite.HawkAuthenticationPolicy",
        "multiauth.policy.hawk.realm": "fuzz",
        "multiauth.policy.hmac.use": "pyramid_authsuite.HMACAuthenticationPolicy",
        "multiauth.policy.hmac.keys": (f"{HMAC_KEYID}:hmac-sha256:{HMAC_SECRET.decode()} "
                                       f"{ED25519_KEYID}:ed25519:{public}"),
        "multiauth.policy.jwt.use": "pyramid_authsuite.JWTAuthenticationPolicy",
        "multiauth.policy.jwt.secret": JWT_SECRET,
        "multiauth.policy.jwt.algorithm": "HS256",
        "multiauth.policy.challenge.use": "pyramid_authsuite.ChallengeAuthenticationPolicy",
        "multiauth.policy.basic.use": "pyramid_authsuite.BasicAuthenticationPolicy",
        "multiauth.policy.basic.realm": "fuzz",
        "demo.internal_services": f"{HMAC_KEYID} {ED25519_KEYID}",
        **limits,
    }


def build_app(tmp_path: Any) -> webtest.TestApp:
    """The demo app with every scheme, and the accounts of :data:`PASSWORDS` and :data:`DISABLED`."""
    app = webtest.TestApp(demo_main({}, **settings(tmp_path)))
    store = app.app.registry.authsuite_accounts
    for userid, password in PASSWORDS.items():
        store.create(userid, password, roles=["admin"] if userid == ADMIN else [])
    for userid, password in DISABLED.items():
        store.create(userid, password)
        store.update(userid, disabled=True)
    return app


def close_app(app: webtest.TestApp) -> None:
    app.app.registry.authsuite_accounts.close()
    app.app.registry.authsuite_cache.close()


def _problem_code(response: webtest.TestResponse) -> str:
    try:
        return str(json.loads(response.body)["type"]).rsplit(":", 1)[-1]
    except (ValueError, KeyError, TypeError):
        return ""


def wire(value: str) -> str:
    """A header value as a WSGI server hands it over: the UTF-8 bytes read as latin-1."""
    return value.encode("utf-8", "surrogatepass").decode("latin-1")


# --------------------------------------------------------------------------
# Sending and judging
# --------------------------------------------------------------------------


@dataclass
class Sent:
    """One request exactly as it was sent (what a reproduction needs)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""
    note: str = ""

    def __repr__(self) -> str:
        body = self.body if len(self.body) < 200 else self.body[:200] + b"..."
        headers = {name: (value if len(value) < 400 else value[:400] + f"...({len(value)} chars)")
                   for name, value in self.headers.items()}
        return f"<{self.note}: {self.method} {self.path} headers={headers!r} body={body!r}>"


# An oracle is called only when the app accepted a request (2xx, or 403
# "forbidden"): it returns the userid the request genuinely authenticates (or
# the set of them, when several signatures are valid and the app may pick
# any), so the app must have answered for it; or None when the request is not
# valid and must not have been accepted.
Oracle = Callable[[], "str | set[str] | None"]


@dataclass
class Judge:
    """Sends requests and checks every answer; collects findings instead of stopping at the first."""

    app: webtest.TestApp
    scheme: str
    findings: list[tuple[str, Sent, str]] = field(default_factory=list)
    statuses: collections.Counter = field(default_factory=collections.Counter)
    problem_types: collections.Counter = field(default_factory=collections.Counter)
    fuzzed: int = 0
    remote_addr: str = "127.0.0.1"

    def send(self, sent: Sent) -> webtest.TestResponse:
        headers = {name: wire(value) for name, value in sent.headers.items()}
        headers.setdefault("Host", HOST)
        request = webtest.TestRequest.blank(
            sent.path, method=sent.method, headers=headers,
            environ={"REMOTE_ADDR": self.remote_addr, "HTTP_HOST": headers["Host"]},
        )
        if sent.body or sent.method in ("POST", "PUT", "PATCH"):
            request.body = sent.body
        return self.app.do_request(request, status=None, expect_errors=True)

    def fuzz(self, sent: Sent, oracle: Oracle | None) -> webtest.TestResponse:
        """Send a generated request and check the answer (counted toward the scheme's examples).

        ``oracle`` None: a public endpoint (``POST /challenges``), whose 2xx says nothing about
        authentication; its answers are still held to no 5xx and problem+json refusals.
        """
        self.fuzzed += 1
        response = self.send(sent)
        self.check(response, sent, oracle)
        return response

    def check(self, response: webtest.TestResponse, sent: Sent, oracle: Oracle | None) -> None:
        status = response.status_int
        self.statuses[status] += 1
        if status >= 500:
            self.finding("5xx", sent, f"{response.status}: {response.body[:300]!r}")
            return
        if 400 <= status < 500 and status not in (404, 405):
            # 404/405 come from routing (a mutated method or path), not from authentication.
            self._check_problem(response, sent)
        authenticated = 200 <= status < 300 or (status == 403 and _problem_code(response) == "forbidden")
        if authenticated and oracle is not None:
            # A 403 "forbidden" says the identity is known (DESIGN: Errors): the credentials were accepted.
            try:
                userid = oracle()
            except Exception as error:  # the oracle is test code: its crash is a bug in the test
                self.finding("oracle crashed", sent, repr(error))
                return
            if userid is None:
                self.finding("accepted but not valid", sent, f"{response.status}: {response.body[:300]!r}")
            elif response.body and response.content_type == "application/json" and isinstance(response.json, dict) \
                    and ({"userid", "service"} & set(response.json)):
                got = response.json.get("userid", response.json.get("service"))
                if got not in (userid if isinstance(userid, (set, frozenset)) else {userid}):
                    self.finding("accepted as someone else", sent, f"expected {userid!r}, answered {got!r}")

    def _check_problem(self, response: webtest.TestResponse, sent: Sent) -> None:
        status = response.status_int
        if response.content_type != PROBLEM:
            self.finding("refusal not problem+json", sent, f"{response.status} {response.content_type}: "
                                                           f"{response.body[:200]!r}")
            return
        if sent.method == "HEAD":
            return  # no body to read (RFC 9110 section 9.3.2)
        try:
            body = json.loads(response.body)
        except ValueError:
            self.finding("problem+json not JSON", sent, repr(response.body[:200]))
            return
        if not isinstance(body, dict) or body.get("status") != status or not {"type", "title"} <= set(body):
            self.finding("problem+json incomplete", sent, repr(body))
            return
        self.problem_types[f"{status} {str(body['type']).rsplit(':', 1)[-1]}"] += 1
        if status == 401 and not response.headers.getall("WWW-Authenticate"):
            self.finding("401 without WWW-Authenticate", sent, repr(body))
        if status in (429, 503) and "Retry-After" not in response.headers:
            self.finding(f"{status} without Retry-After", sent, repr(body))

    def expect_accepted(self, response: webtest.TestResponse, sent: Sent, userid: str,
                        admin: bool | None = None) -> None:
        """A request the test knows to be valid (unmodified, fresh) must be accepted for ``userid``.

        Without this the fuzzer could pass by refusing everything. ``admin``: whether the
        identity has ``role:admin`` (default: it is the account :data:`ADMIN`), so ``/admin``
        answers 200 rather than 403.
        """
        admin = userid == ADMIN if admin is None else admin
        expected = 403 if sent.path.startswith("/admin") and not admin else 200
        if sent.path == "/hawk-sessions":
            expected = 201  # a login
        if response.status_int != expected:
            self.finding("valid request refused", sent, f"{response.status}: {response.body[:300]!r}")
        elif expected == 200 and response.body and response.json.get("userid", response.json.get("service")) != userid:
            self.finding("accepted as someone else", sent, f"expected {userid!r}: {response.body[:300]!r}")

    def finding(self, kind: str, sent: Sent, detail: str) -> None:
        self.findings.append((kind, sent, detail))

    def summary(self) -> str:
        kinds = collections.Counter(kind for kind, _, _ in self.findings)
        lines = [f"{self.scheme}: {self.fuzzed} fuzzed requests (seed {SEED}); statuses {dict(self.statuses)}",
                 f"findings: {dict(kinds)}"]
        seen: set[str] = set()
        for kind, sent, detail in self.findings:
            if kind in seen:
                continue
            seen.add(kind)
            lines.append(f"- {kind}: {sent!r}\n    -> {detail}")
        return "\n".join(lines)

    def assert_clean(self, minimum: int = EXAMPLES) -> None:
        """Fail with the first example of each kind of finding."""
        assert self.fuzzed >= minimum, f"only {self.fuzzed} fuzzed requests, {minimum} required"
        assert not self.findings, self.summary()


# --------------------------------------------------------------------------
# Generators of structure-aware garbage
# --------------------------------------------------------------------------

B64 = string.ascii_letters + string.digits + "+/"
B64URL = string.ascii_letters + string.digits + "-_"
HEX = "0123456789abcdefABCDEF"
PRINTABLE = "".join(chr(c) for c in range(0x20, 0x7F))
# What a real server may hand over in a header value: no CR, LF or NUL (RFC 9110
# section 5.5; waitress refuses them), everything else may come.
CONTROLS = "".join(chr(c) for c in range(1, 0x20) if chr(c) not in "\r\n") + "\x7f"
UNICODE = ("é", "ü", "☃", "😀", "\u200b", "\u202e", "\ufeff", "１", "٣", "Ａ", "ǅ", "ß", "İ", "K", "ﬀ")
BOUNDARY_LENGTHS = (0, 1, 2, 7, 8, 15, 16, 31, 32, 33, 43, 44, 56, 63, 64, 65, 127, 128, 255, 256, 257,
                    511, 512, 1023, 1024, 2047, 2048, 4095, 4096, 4097, 8191, 8192, 8193, 16384)
NUMBERS = ("0", "-1", "1", "-0", "00", "01", "+1", "1.5", "1e3", "1_000", " 1", "1 ", "0x10", "NaN", "inf",
           "2147483647", "2147483648", "4294967296", "9223372036854775807", "9223372036854775808",
           "99999999999999999999999999", "-99999999999999999999", "１２３", "٣", "1\u200b")


def length(rng: random.Random) -> int:
    if rng.random() < 0.5:
        return max(0, rng.choice(BOUNDARY_LENGTHS) + rng.choice((-1, 0, 0, 0, 1)))
    return rng.randrange(0, 80)


def text(rng: random.Random, alphabet: str | None = None, size: int | None = None) -> str:
    """Random text from one of the interesting alphabets, at an interesting length."""
    size = max(0, length(rng) if size is None else size)
    if alphabet is None:
        alphabet = rng.choice((B64, B64URL, HEX, PRINTABLE, PRINTABLE + CONTROLS, "".join(UNICODE) + "ab",
                               string.ascii_lowercase, string.digits, '"\\,= ;\t'))
    return "".join(rng.choices(alphabet, k=size))


def b64_of(rng: random.Random, data: bytes) -> str:
    """``data`` in one of the base64 spellings, right or subtly wrong."""
    encoded = base64.b64encode(data).decode()
    choice = rng.randrange(7)
    if choice == 0:
        return encoded.rstrip("=")
    if choice == 1:
        return base64.urlsafe_b64encode(data).decode()
    if choice == 2:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")
    if choice == 3:
        return encoded + "="
    if choice == 4 and encoded:
        cut = rng.randrange(len(encoded))
        return encoded[:cut] + rng.choice((" ", "\t", "=", "!", "é")) + encoded[cut:]
    return encoded


def value(rng: random.Random, pool: Iterable[str] = ()) -> str:
    """An attribute value: near-valid (from ``pool``), a number near a bound, base64 of something, or noise."""
    pool = tuple(pool)
    choice = rng.randrange(10)
    if choice <= 2 and pool:
        picked = rng.choice(pool)
        return mutate_text(rng, picked) if rng.random() < 0.5 else picked
    if choice == 3:
        return rng.choice(NUMBERS)
    if choice == 4:
        return b64_of(rng, rng.randbytes(length(rng)))
    if choice == 5:
        return rng.choice(("", " ", '"', "\\", '\\"', "''", "null", "true", "[]", "{}", "%00", "%", "=", ","))
    return text(rng)


def mutate_text(rng: random.Random, original: str) -> str:
    """One random edit of ``original``: a flip, an insertion, a deletion, a truncation, a repeat..."""
    if not original:
        return text(rng, size=rng.randrange(1, 4))
    position = rng.randrange(len(original))
    choice = rng.randrange(11)
    if choice == 0:  # replace one character with a neighbour in the same alphabet
        replacement = rng.choice(B64 if original[position] in B64 else PRINTABLE)
        return original[:position] + replacement + original[position + 1:]
    if choice == 1:  # flip one bit of one character (stays in the 0..0x10FFFF range)
        code = ord(original[position]) ^ (1 << rng.randrange(7))
        return original[:position] + chr(code or 1) + original[position + 1:]
    if choice == 2:
        return original[:position]
    if choice == 3:
        return original[position:]
    if choice == 4:
        return original[:position] + text(rng, size=rng.randrange(1, 5)) + original[position:]
    if choice == 5:
        return original[:position] + original[position + 1:]
    if choice == 6:
        return original + original[position:]
    if choice == 7:
        return original.swapcase() if rng.random() < 0.5 else original.upper()
    if choice == 8:
        return original[:position] + rng.choice(UNICODE + tuple(CONTROLS)) + original[position:]
    if choice == 9:
        return original * rng.choice((2, 3, 100))
    return rng.choice((" ", "\t", "  ")) + original + rng.choice(("", " ", "\t", ","))


def scheme_spelling(rng: random.Random, scheme: str) -> str:
    choice = rng.randrange(8)
    if choice == 0:
        return scheme.lower()
    if choice == 1:
        return scheme.upper()
    if choice == 2:
        return "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in scheme)
    if choice == 3:
        return mutate_text(rng, scheme)
    return scheme


def quoted(rng: random.Random, raw: str) -> str:
    choice = rng.randrange(9)
    if choice == 0:
        return raw  # a token instead of a quoted-string
    if choice == 1:
        return '"' + raw  # unterminated
    if choice == 2:
        return "'" + raw + "'"
    if choice == 3:
        return '"' + raw.replace("\\", "\\\\").replace('"', '\\"') + '"'  # escaped
    return '"' + raw + '"'


def auth_params(rng: random.Random, scheme: str, names: tuple[str, ...], pool: dict[str, tuple[str, ...]]) -> str:
    """``Scheme name="value", ...`` with its structure bent: names known and unknown,
    repeated or missing, values near-valid or noise, quoting and separators varied."""
    count = rng.choice((0, 1, 2, len(names), len(names), len(names), len(names) + 1, len(names) * 2, 40))
    parts = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.75:
            name = rng.choice(names)
        elif roll < 0.85:
            name = text(rng, string.ascii_lowercase + "_-", rng.randrange(0, 12))
        else:
            name = mutate_text(rng, rng.choice(names))
        raw = value(rng, pool.get(name, ()))
        separator = rng.choice(("=", "=", "=", " = ", "", "=="))
        parts.append(name + separator + quoted(rng, raw))
    joiner = rng.choice((", ", ", ", ",", " ", ";", ",,", " ,\t"))
    between = rng.choice((" ", " ", " ", "", "  ", "\t", ","))
    header = scheme_spelling(rng, scheme) + between + joiner.join(parts)
    if rng.random() < 0.05:
        header += text(rng)
    return header


def mutate_params(rng: random.Random, header: str) -> str:
    """A structural mutation of a valid ``Scheme a="x", b="y"`` header: swap values, drop,
    duplicate or rename an attribute, re-quote one, reorder, or change one value."""
    import re

    scheme, _, rest = header.partition(" ")
    pairs = re.findall(r'([A-Za-z0-9_-]+)="([^"]*)"', rest)
    if not pairs:
        return mutate_text(rng, header)
    pairs = [list(pair) for pair in pairs]
    choice = rng.randrange(10)
    index = rng.randrange(len(pairs))
    if choice == 0 and len(pairs) > 1:
        other = rng.randrange(len(pairs))
        pairs[index][1], pairs[other][1] = pairs[other][1], pairs[index][1]
    elif choice == 1:
        del pairs[index]
    elif choice == 2:
        pairs.insert(rng.randrange(len(pairs) + 1), [pairs[index][0], mutate_text(rng, pairs[index][1])])
    elif choice == 3:
        pairs.insert(rng.randrange(len(pairs) + 1), list(pairs[index]))
    elif choice == 4:
        pairs[index][0] = mutate_text(rng, pairs[index][0])
    elif choice == 5:
        rng.shuffle(pairs)
    elif choice == 6:
        pairs.append([text(rng, string.ascii_lowercase, rng.randrange(1, 8)), value(rng)])
    else:
        pairs[index][1] = mutate_text(rng, pairs[index][1])
    quote = '"' if rng.random() < 0.9 else ""
    return scheme + " " + rng.choice((", ", ",", ", ")).join(f'{name}={quote}{raw}{quote}' for name, raw in pairs)


def any_scheme_garbage(rng: random.Random) -> str:
    """An Authorization value of any scheme, for the cross-scheme noise every module mixes in."""
    scheme = rng.choice(("Basic", "Hawk", "Bearer", "Challenge", "Signature", "Digest", "Negotiate", "", "\t",
                         text(rng, string.ascii_letters, rng.randrange(1, 12))))
    return auth_params(rng, scheme, ("id", "ts", "nonce", "mac", "hash", "ext", "key_id", "response",
                                     "realm", "token"), {})
