"""Fuzzing RFC 9421 service keys: garbage ``Signature-Input``/``Signature`` and mutations of signed requests.

Requests are signed by requests-http-signature (the http-message-signatures
library) and by our ``ServiceAuth``, with an HMAC-SHA256 key and an Ed25519
key. Oracle: http-message-signatures' own ``HTTPMessageVerifier`` over the
request exactly as sent (method, ``http://<Host><path>``, headers, body with
its ``Content-Digest``), with the policy's age window, and a nonce store
holding the nonces the app has already accepted.
"""
from __future__ import annotations

import base64
import datetime
import json
import re
import time
import warnings

import pytest
import requests
from http_message_signatures import HTTPMessageVerifier, algorithms
from http_message_signatures.exceptions import HTTPMessageSignaturesException
from http_message_signatures.resolvers import HTTPSignatureKeyResolver
from requests_http_signature import HTTPSignatureAuth
from requests_http_signature import algorithms as rhs_algorithms

from pyramid_authsuite.hmac.client import ServiceAuth
from tests.fuzz.common import (
    BASE,
    ED25519_KEYID,
    EXAMPLES,
    HMAC_KEYID,
    HMAC_SECRET,
    HOST,
    Judge,
    Sent,
    any_scheme_garbage,
    mutate_text,
    reports_key,
    rng_for,
    text,
    value,
)

pytestmark = [pytest.mark.fuzz, pytest.mark.filterwarnings("ignore::webtest.lint.WSGIWarning")]

MAX_AGE = 300  # the policy's default max_age_seconds
PARAMS = ("created", "expires", "nonce", "keyid", "alg", "tag", "context")
COMPONENTS = ('"@method"', '"@authority"', '"@target-uri"', '"@path"', '"@query"', '"content-digest"',
              '"@scheme"', '"@request-target"', '"content-type"', '"@query-param";name="x"', '"host"')


class Keys(HTTPSignatureKeyResolver):
    def __init__(self, keys: dict):
        self.keys = keys

    def resolve_public_key(self, key_id: str):
        return self.keys.get(key_id)

    def resolve_private_key(self, key_id: str):
        return self.keys[key_id]


def verifier(algorithm, keys: dict) -> HTTPMessageVerifier:
    verifying = HTTPMessageVerifier(signature_algorithm=algorithm, key_resolver=Keys(keys))
    verifying.allow_label_only_selection = True  # we try every label, as the app picks one
    return verifying


def normal_authority(host: str) -> str:
    """``@authority`` normalised as RFC 9421 section 2.2.3 requires (RFC 9110 section 4.2.3: the host
    lowercased, the scheme's default port omitted), which the peer library leaves to its caller."""
    host = host.lower()
    return host[:-3] if host.endswith(":80") else host


class HMACOracle:
    def __init__(self):
        self.verifiers = (
            verifier(algorithms.HMAC_SHA256, {HMAC_KEYID: HMAC_SECRET}),
            verifier(algorithms.ED25519, {ED25519_KEYID: reports_key().public_key()}),
        )
        self.accepted: set[tuple[str, str]] = set()

    def __call__(self, sent: Sent):
        def oracle():
            host = sent.headers.get("Host", HOST)
            # A field value's leading and trailing whitespace is not part of it (RFC 9110 section 5.5).
            headers = {name: value.strip(" \t") for name, value in sent.headers.items() if name != "Host"}
            message = requests.Request(sent.method, f"http://{normal_authority(host)}{sent.path}", headers=headers,
                                       data=sent.body or None).prepare()
            labels = re.findall(r"(?:^|,)\s*([a-z*][a-z0-9_.*-]*)=", headers.get("Signature-Input", ""))
            services = set()
            for verifying in self.verifiers:
                for label in dict.fromkeys(labels):
                    try:
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            results = verifying.verify(message, expect_label=label, body=sent.body,
                                                       max_age=datetime.timedelta(seconds=MAX_AGE))
                    except (HTTPMessageSignaturesException, ValueError, TypeError, KeyError):
                        continue
                    keyid, nonce = results[0].parameters.get("keyid"), results[0].nonce
                    if (keyid, nonce) not in self.accepted:
                        # Any valid label may be the one the app chose; each is spent from now on.
                        self.accepted.add((keyid, nonce))
                        services.add(f"service:{keyid}")
            return services or None
        return oracle


def request_shape(rng) -> tuple[str, str, bytes]:
    roll = rng.random()
    if roll < 0.4:
        return "GET", rng.choice(("/whoami", "/internal/ping", "/whoami?x=1&y=%C3%A9")), b""
    if roll < 0.5:
        return "GET", "/internal/ping?z=2", b""
    return "POST", "/whoami", json.dumps({"n": rng.randrange(1000)}).encode()


def sign(rng, method: str, path: str, body: bytes, signer: str | None = None) -> dict[str, str]:
    """Headers of a request signed by one of the signers."""
    signer = signer or rng.choice(("peer", "ours", "ed25519"))
    headers = {"Content-Type": "application/json"} if body else {}
    prepared = requests.Request(method, BASE + path, data=body or None, headers=headers).prepare()
    if signer == "peer":
        components = ("@method", "@authority", "@target-uri") + (("content-digest",) if body else ())
        auth = HTTPSignatureAuth(signature_algorithm=rhs_algorithms.HMAC_SHA256, key=HMAC_SECRET, key_id=HMAC_KEYID,
                                 covered_component_ids=components, use_nonce=True,
                                 expires_in=rng.choice((None, datetime.timedelta(seconds=60))))
    elif signer == "ours":
        auth = ServiceAuth(HMAC_KEYID, HMAC_SECRET)
    else:
        auth = ServiceAuth(ED25519_KEYID, reports_key(), algorithm="ed25519")
    prepared = auth(prepared)
    return {name: value for name, value in prepared.headers.items() if name.lower() != "content-length"}


def _flip_signature(rng, signature: str) -> str:
    found = re.search(r":([A-Za-z0-9+/=]*):", signature)
    if not found:
        return mutate_text(rng, signature)
    raw = bytearray(base64.b64decode(found.group(1) + "==="))
    if raw:
        raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
    encoded = base64.b64encode(bytes(raw)).decode()
    return signature[:found.start(1)] + encoded + signature[found.end(1):]


def _change_param(rng, signature_input: str) -> str:
    name = rng.choice(PARAMS)
    now = int(time.time())
    replacement = {
        "created": str(rng.choice((now - MAX_AGE - 10, now + 60, now + 10 ** 9, -1, 0, now))),
        "expires": str(rng.choice((now - 10, now + 10, 0))),
        "nonce": '"' + rng.choice(("", "x", text(rng, size=rng.randrange(1, 80)).replace('"', "")))  + '"',
        "keyid": '"' + rng.choice((HMAC_KEYID, ED25519_KEYID, "unknown", "", "billing ")) + '"',
        "alg": '"' + rng.choice(("hmac-sha256", "ed25519", "rsa-pss-sha512", "none", "")) + '"',
        "tag": '"' + text(rng, size=rng.randrange(0, 10)).replace('"', "") + '"',
        "context": "?1",
    }[name]
    if f";{name}=" in signature_input:
        return re.sub(rf";{name}=(\"[^\"]*\"|[^;,]*)", lambda _: f";{name}={replacement}", signature_input,
                      count=1)
    return signature_input + f";{name}={replacement}"


def _change_components(rng, signature_input: str) -> str:
    found = re.search(r"\(([^)]*)\)", signature_input)
    if not found:
        return mutate_text(rng, signature_input)
    components = found.group(1).split(" ") if found.group(1) else []
    choice = rng.randrange(4)
    if choice == 0 and components:
        del components[rng.randrange(len(components))]
    elif choice == 1:
        components.insert(rng.randrange(len(components) + 1), rng.choice(COMPONENTS))
    elif choice == 2:
        rng.shuffle(components)
    elif components:
        components.append(rng.choice(components))
    return signature_input[:found.start(1)] + " ".join(components) + signature_input[found.end(1):]


def mutate(rng, sent: Sent) -> Sent:
    method, path, body, headers = sent.method, sent.path, sent.body, dict(sent.headers)
    choice = rng.randrange(14)
    if choice == 0:
        headers["Signature"] = mutate_text(rng, headers["Signature"])
    elif choice == 1:
        headers["Signature"] = _flip_signature(rng, headers["Signature"])
    elif choice == 2:
        headers["Signature-Input"] = mutate_text(rng, headers["Signature-Input"])
    elif choice == 3:
        headers["Signature-Input"] = _change_param(rng, headers["Signature-Input"])
    elif choice == 4:
        headers["Signature-Input"] = _change_components(rng, headers["Signature-Input"])
    elif choice == 5:  # another label, or a second signature beside the first
        label = rng.choice(("sig2", "a", "*", "", "SIG1", "sig1"))
        if rng.random() < 0.5:
            headers["Signature-Input"] = re.sub(r"^[^=]*=", f"{label}=", headers["Signature-Input"])
        else:
            other = sign(rng, method, path, body)
            headers["Signature-Input"] += ", " + re.sub(r"^[^=]*=", f"{label}=", other["Signature-Input"])
            headers["Signature"] += ", " + re.sub(r"^[^=]*=", f"{label}=", other["Signature"])
    elif choice == 6:
        method = rng.choice(("GET", "POST", "HEAD", "PUT", "get"))
    elif choice == 7:
        path = rng.choice(("/whoami", "/internal/ping", "/whoami?x=1", "/whoami?x=1&y=%C3%A9", "/whoami/",
                           "/admin", "/internal/ping?z=3", "//whoami", path + ("&q=1" if "?" in path else "?q=1")))
    elif choice == 8:
        headers["Host"] = rng.choice(("api.example.com:80", "API.EXAMPLE.COM", "api.example.com.", "evil.example",
                                      "api.example.com:8080", "", "api.example.com/x", "api.example.com@evil"))
    elif choice == 9:
        body = mutate_text(rng, body.decode() or "{}").encode("utf-8", "surrogatepass")
        if method == "GET":
            method = "POST"
            headers["Content-Type"] = "application/json"
    elif choice == 10:
        digest = headers.get("Content-Digest", "sha-256=:" + base64.b64encode(b"x" * 32).decode() + ":")
        headers["Content-Digest"] = rng.choice((mutate_text(rng, digest), "", "sha-512=:AAAA:", "md5=:AAAA:",
                                                digest + ", sha-512=:AAAA:", "unknown=:AAAA:, " + digest))
    elif choice == 11:  # the right structure signed with a wrong secret under the right keyid
        forged = sign(rng, method, path, body, signer="peer")
        components = ("@method", "@authority", "@target-uri") + (("content-digest",) if body else ())
        wrong = HTTPSignatureAuth(signature_algorithm=rhs_algorithms.HMAC_SHA256, key=b"w" * 40,
                                  key_id=HMAC_KEYID, covered_component_ids=components, use_nonce=True)
        prepared = wrong(requests.Request(method, BASE + path, data=body or None,
                                          headers={k: v for k, v in forged.items()
                                                   if not k.startswith(("Signature", "Content-Digest"))}).prepare())
        headers.update({k: v for k, v in prepared.headers.items() if k.startswith("Signature")})
    elif choice == 12:
        names = ("Signature", "Signature-Input")
        headers[rng.choice(names)] = ", ".join(
            f"{text(rng, 'abcsig12', rng.randrange(0, 6))}={value(rng)}" for _ in range(rng.randrange(0, 5)))
    else:
        headers.pop(rng.choice(("Signature", "Signature-Input", "Content-Digest", "Content-Type")), None)
    return Sent(method, path, headers, body, note="hmac mutation")


def garbage(rng, sent: Sent) -> Sent:
    headers = dict(sent.headers)
    roll = rng.random()
    if roll < 0.4:
        components = " ".join(rng.choice(COMPONENTS) for _ in range(rng.randrange(0, 6)))
        params = "".join(f";{rng.choice(PARAMS)}={value(rng)}" for _ in range(rng.randrange(0, 7)))
        headers["Signature-Input"] = f"{text(rng, 'sig1', rng.randrange(0, 5))}=({components}){params}"
        headers["Signature"] = f"sig1=:{value(rng)}:"
    elif roll < 0.7:
        headers["Signature-Input"] = text(rng)
        headers["Signature"] = text(rng)
    elif roll < 0.9:
        headers["Signature"] = "sig1=:" + base64.b64encode(rng.randbytes(rng.choice((0, 31, 32, 33, 64)))).decode() + ":"
    else:
        headers["Authorization"] = any_scheme_garbage(rng)
    return Sent(sent.method, sent.path, headers, sent.body, note="hmac garbage")


def test_fuzz_hmac(app):
    rng = rng_for("hmac")
    judge = Judge(app, "hmac")
    oracle = HMACOracle()
    while judge.fuzzed < EXAMPLES:
        method, path, body = request_shape(rng)
        signer = rng.choice(("peer", "ours", "ed25519"))
        valid = Sent(method, path, sign(rng, method, path, body, signer), body, note=f"valid ({signer})")
        if rng.random() < 0.1:
            sent = garbage(rng, valid)
            judge.fuzz(sent, oracle(sent))
            continue
        first = rng.random() < 0.3
        if first:
            response = judge.send(valid)
            judge.check(response, valid, oracle(valid))
            judge.expect_accepted(response, valid, "service:" + (ED25519_KEYID if signer == "ed25519" else HMAC_KEYID))
        for _ in range(rng.randrange(1, 4)):
            mutated = mutate(rng, valid)
            judge.fuzz(mutated, oracle(mutated))
        if first or rng.random() < 0.3:
            judge.fuzz(valid, oracle(valid))
    print(judge.summary())
    judge.assert_clean()
