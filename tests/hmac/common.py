"""What the HMAC tests share: RFC vectors, keys, a signer and a verifier with fixed clocks, a peer, tables.

Fixed vectors, from the RFCs' own text:

* RFC 9421 Appendix B.2 (the ``test-request`` message), B.1.4 (the
  ``test-key-ed25519`` key), B.1.5 (the ``test-shared-secret``), B.2.5
  (hmac-sha256) and B.2.6 (ed25519), signature bases included.  The RFC
  wraps long lines with ``\\`` per RFC 8792; they are unwrapped here.
* RFC 9530 (Content-Digest): ``{"hello": "world"}`` digests, sha-256 and
  sha-512 (the latter is also the ``Content-Digest`` of RFC 9421 B.2).

Peer: ``requests_http_signature.HTTPSignatureAuth`` applied to a prepared
``requests`` request in-process (no network), then replayed as a WebOb
request.  All clocks are fixed numbers: nothing here depends on timing.

The comparison helpers (``outcome``, ``verify_general``, ...) hold each fast
path to its general twin: same result (types included: ``True`` is not ``1``
here) or the same exception with the same message.
"""
from __future__ import annotations

import base64
import dataclasses
import datetime
import io
import itertools
import random

import pytest
import requests
import webob
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from requests_http_signature import HTTPSignatureAuth, algorithms

from pyramid_authsuite.hmac import components
from pyramid_authsuite.hmac import structured
from pyramid_authsuite.hmac.components import _ViewMessage, request_view
from pyramid_authsuite.hmac.errors import SignatureError
from pyramid_authsuite.hmac.model import Component, ParsedSignature, ServiceKey, VerifiedSignature
from pyramid_authsuite.hmac.sign import sign_request
from pyramid_authsuite.hmac.verify import verify_request


# ---------------------------------------------------------------------------
# RFC 9421 Appendix B
# ---------------------------------------------------------------------------


# B.2: the test request, as given in the RFC.
RFC_TEST_REQUEST = b"""\
POST /foo?param=Value&Pet=dog HTTP/1.1
Host: example.com
Date: Tue, 20 Apr 2021 02:07:55 GMT
Content-Type: application/json
Content-Digest: sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:
Content-Length: 18

{"hello": "world"}"""


# B.1.5: test-shared-secret.
RFC_SHARED_SECRET = base64.b64decode(
    "uzvJfB4u3N0Jy4T7NZ75MDVcr8zSTInedJtkgcu46YW4XByzNJjxBdtjUkdJPBtbmHhIDi6pcl8jsasjlTMtDQ=="
)


# B.1.4: test-key-ed25519.
RFC_ED25519_PUBLIC_PEM = b"""\
-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=
-----END PUBLIC KEY-----
"""


RFC_ED25519_PRIVATE_PEM = b"""\
-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF
-----END PRIVATE KEY-----
"""


RFC_CREATED = 1618884473


# B.2.5: Signing a Request Using hmac-sha256.
B25_BASE = (
    b'"date": Tue, 20 Apr 2021 02:07:55 GMT\n'
    b'"@authority": example.com\n'
    b'"content-type": application/json\n'
    b'"@signature-params": ("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"'
)


B25_SIGNATURE_INPUT = 'sig-b25=("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"'


B25_SIGNATURE = "sig-b25=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:"


# B.2.6: Signing a Request Using ed25519.
B26_BASE = (
    b'"date": Tue, 20 Apr 2021 02:07:55 GMT\n'
    b'"@method": POST\n'
    b'"@path": /foo\n'
    b'"@authority": example.com\n'
    b'"content-type": application/json\n'
    b'"content-length": 18\n'
    b'"@signature-params": ("date" "@method" "@path" "@authority" "content-type" "content-length")'
    b';created=1618884473;keyid="test-key-ed25519"'
)


B26_SIGNATURE_INPUT = (
    'sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length")'
    ';created=1618884473;keyid="test-key-ed25519"'
)


B26_SIGNATURE = (
    "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:"
)


# RFC 9530: digests of {"hello": "world"}.
HELLO = b'{"hello": "world"}'


HELLO_SHA256 = "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"


HELLO_SHA512 = "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:"


RFC_KEYS = {
    "test-shared-secret": ServiceKey("test-shared-secret", "rfc", "hmac-sha256", RFC_SHARED_SECRET),
    "test-key-ed25519": ServiceKey(
        "test-key-ed25519", "rfc", "ed25519", serialization.load_pem_public_key(RFC_ED25519_PUBLIC_PEM)
    ),
}


# The relaxation the fixed vectors need, and nothing else: they carry no
# nonce and cover neither @method (B.2.5) nor the query or content-digest.
RFC_VECTOR_POLICY = dict(require_nonce=False, enforce_minimum_components=False, required_components=())


def rfc_request(signature_input: str, signature: str) -> webob.Request:
    request = webob.Request.from_bytes(RFC_TEST_REQUEST)
    request.headers["Signature-Input"] = signature_input
    request.headers["Signature"] = signature
    return request


def verify_rfc(request: webob.Request, **overrides) -> VerifiedSignature:
    kwargs = dict(resolve_key=RFC_KEYS.get, now=RFC_CREATED + 1, **RFC_VECTOR_POLICY)
    kwargs.update(overrides)
    return verify_request(request, **kwargs)


RFC_VECTORS = [(B25_SIGNATURE_INPUT, B25_SIGNATURE), (B26_SIGNATURE_INPUT, B26_SIGNATURE)]


# ---------------------------------------------------------------------------
# Our own signer and verifier
# ---------------------------------------------------------------------------


NOW = 1_700_000_000


URL = "https://api.example.com/v1/charges?currency=eur&limit=10"


BODY = b'{"amount": 10}'


HMAC_SECRET = bytes(range(32, 96))


ED_PRIVATE = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


OTHER_ED_PRIVATE = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))


OUR_KEYS = [("billing-hmac", HMAC_SECRET, "hmac-sha256"), ("billing-ed", ED_PRIVATE, "ed25519")]


KEYS = {
    "billing-hmac": ServiceKey("billing-hmac", "billing", "hmac-sha256", HMAC_SECRET),
    "billing-ed": ServiceKey("billing-ed", "billing", "ed25519", ED_PRIVATE.public_key()),
}


def webob_request(method: str, url: str, headers: dict, body: bytes) -> webob.Request:
    request = webob.Request.blank(url, method=method, headers=headers)
    request.body = body
    return request


def signed(
    method: str = "POST",
    url: str = URL,
    body: bytes = BODY,
    *,
    keyid: str = "billing-hmac",
    key=HMAC_SECRET,
    algorithm: str = "hmac-sha256",
    **kwargs,
) -> webob.Request:
    headers = {"Content-Type": "application/json"}
    kwargs.setdefault("created", NOW)
    headers.update(sign_request(method, url, headers, body, keyid=keyid, key=key, algorithm=algorithm, **kwargs))
    return webob_request(method, url, headers, body)


def verify(request, **kwargs) -> VerifiedSignature:
    kwargs.setdefault("resolve_key", KEYS.get)
    kwargs.setdefault("now", NOW + 1)
    return verify_request(request, **kwargs)


def refused(request, code: str, **kwargs) -> SignatureError:
    with pytest.raises(SignatureError) as caught:
        verify(request, **kwargs)
    error = caught.value
    assert error.code == code, error
    # The message never echoes the signature or a secret.
    signature = request.headers.get("Signature", "")
    sig_b64 = signature.split(":")[1] if signature.count(":") >= 2 else None
    for secret in (sig_b64, HMAC_SECRET.hex(), base64.b64encode(HMAC_SECRET).decode()):
        if secret:
            assert secret not in str(error)
    return error


# ---------------------------------------------------------------------------
# Interoperability: requests-http-signature as the client
# ---------------------------------------------------------------------------


class FixedClockAuth(HTTPSignatureAuth):
    """The peer's auth with ``created`` (and its Date header) pinned to NOW."""

    def get_created(self, request):
        self.add_date(request, timestamp=NOW)
        return datetime.datetime.fromtimestamp(NOW, tz=datetime.timezone.utc)


ED_PRIVATE_PEM = ED_PRIVATE.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
)


PEER_ALGORITHMS = {
    "billing-hmac": (algorithms.HMAC_SHA256, HMAC_SECRET),
    "billing-ed": (algorithms.ED25519, ED_PRIVATE_PEM),
}


def peer_signed(method="POST", url=URL, body=BODY, keyid="billing-hmac", **auth_kwargs) -> webob.Request:
    algorithm, key = PEER_ALGORITHMS[keyid]
    auth_kwargs.setdefault("use_nonce", True)
    auth = FixedClockAuth(signature_algorithm=algorithm, key=key, key_id=keyid, **auth_kwargs)
    headers = {"Content-Type": "application/json"}
    prepared = requests.Request(method, url, data=body or None, headers=headers).prepare()
    prepared = auth(prepared)
    body = prepared.body or b""
    return webob_request(prepared.method, prepared.url, dict(prepared.headers), body)


# ---------------------------------------------------------------------------
# Tampering, several signatures, malformed headers
# ---------------------------------------------------------------------------


def _set_method(request):
    request.method = "PUT"


def _set_path(request):
    request.path_info = "/v1/refunds"


def _set_query(request):
    request.query_string = "currency=eur&limit=1000"


def _set_authority(request):
    request.host = "evil.example.com"


def _set_body(request):
    request.body = b'{"amount": 99}'


def _drop_digest_header(request):
    del request.headers["Content-Digest"]


def _swap_signature(request):
    other = signed(body=b'{"amount": 11}')
    request.headers["Signature"] = other.headers["Signature"]


def _combine(*requests_):
    inputs = ", ".join(r.headers["Signature-Input"] for r in requests_)
    signatures = ", ".join(r.headers["Signature"] for r in requests_)
    request = requests_[0]
    request.headers["Signature-Input"] = inputs
    request.headers["Signature"] = signatures
    return request


COVERED = '("@method" "@authority" "@target-uri")'


PARAMS = ';created=1700000000;keyid="billing-hmac";nonce="abc"'


GOOD_INPUT = COVERED + PARAMS


GOOD_SIG = ":" + base64.b64encode(b"\x01" * 32).decode() + ":"


SIG = f"sig1={GOOD_SIG}"


def sig1(covered: str = COVERED, params: str = PARAMS) -> str:
    return f"sig1={covered}{params}"


MALFORMED = [
    # (id, Signature-Input, Signature, code)
    ("empty-both", "", "", "malformed_signature"),
    ("empty-input", "", SIG, "malformed_signature"),
    ("whitespace-input", "   ", SIG, "malformed_signature"),
    ("garbage", "!!!", "???", "malformed_signature"),
    ("not-a-dictionary", GOOD_INPUT, GOOD_SIG, "malformed_signature"),
    ("input-is-item", 'sig1="@method";created=1', SIG, "malformed_signature"),
    ("input-is-token", "sig1=foo", SIG, "malformed_signature"),
    ("input-is-bytes", SIG, SIG, "malformed_signature"),
    ("signature-is-list", sig1(), "sig1=(:AAAA:)", "malformed_signature"),
    ("signature-is-string", sig1(), 'sig1="AAAA"', "malformed_signature"),
    ("signature-is-token", sig1(), "sig1=AAAA", "malformed_signature"),
    ("signature-is-boolean", sig1(), "sig1", "malformed_signature"),
    ("signature-has-params", sig1(), f"{SIG};x=1", "malformed_signature"),
    ("signature-empty-bytes", sig1(), "sig1=::", "malformed_signature"),
    ("signature-not-base64", sig1(), "sig1=:***:", "malformed_signature"),
    ("signature-unterminated", sig1(), "sig1=:AAAA", "malformed_signature"),
    ("label-mismatch", sig1(), f"sig2={GOOD_SIG}", "malformed_signature"),
    ("label-missing-in-signature", f"{sig1()}, sig2={GOOD_INPUT}", SIG, "malformed_signature"),
    ("duplicate-label", f"{sig1()}, {sig1()}", SIG, "malformed_signature"),
    ("duplicate-param", sig1() + ";created=1700000001", SIG, "malformed_signature"),
    ("duplicate-component", sig1('("@method" "@method")'), SIG, "malformed_signature"),
    ("duplicate-component-params", sig1('("a";sf;key="x" "a";key="x";sf)'), SIG, "malformed_signature"),
    ("component-is-token", sig1("(date)"), SIG, "malformed_signature"),
    ("component-is-integer", sig1("(1)"), SIG, "malformed_signature"),
    ("component-uppercase", sig1('("@Method")'), SIG, "malformed_signature"),
    ("component-empty", sig1('("")'), SIG, "malformed_signature"),
    ("signature-params-covered", sig1('("@signature-params")'), SIG, "malformed_signature"),
    ("nested-inner-list", sig1('(("@method"))'), SIG, "malformed_signature"),
    ("unterminated-inner-list", sig1('("@method"'), SIG, "malformed_signature"),
    ("created-string", sig1(params=';created="1700000000";keyid="k"'), SIG, "malformed_signature"),
    ("created-decimal", sig1(params=';created=1700000000.5;keyid="k"'), SIG, "malformed_signature"),
    ("created-boolean", sig1(params=';created;keyid="k"'), SIG, "malformed_signature"),
    ("created-date", sig1(params=';created=@1700000000;keyid="k"'), SIG, "malformed_signature"),
    ("expires-token", sig1(params=';created=1;expires=never;keyid="k"'), SIG, "malformed_signature"),
    ("keyid-token", sig1(params=";created=1;keyid=billing"), SIG, "malformed_signature"),
    ("keyid-integer", sig1(params=";created=1;keyid=7"), SIG, "malformed_signature"),
    ("keyid-bytes", sig1(params=";created=1;keyid=:AAAA:"), SIG, "malformed_signature"),
    ("keyid-empty", sig1(params=';created=1;keyid=""'), SIG, "malformed_signature"),
    ("keyid-too-long", sig1(params=f';created=1;keyid="{"k" * 257}"'), SIG, "malformed_signature"),
    ("nonce-integer", sig1(params=';created=1;keyid="k";nonce=5'), SIG, "malformed_signature"),
    ("alg-token", sig1(params=';created=1;keyid="k";alg=hmac-sha256'), SIG, "malformed_signature"),
    ("display-string", sig1(params=';created=1;keyid=%"k"'), SIG, "malformed_signature"),
    ("missing-keyid", sig1(params=';created=1700000000;nonce="abc"'), SIG, "missing_parameter"),
    ("missing-created", sig1(params=';keyid="billing-hmac";nonce="abc"'), SIG, "missing_parameter"),
    ("unknown-param", sig1() + ";foo=1", SIG, "malformed_signature"),
    ("expires-before-created", sig1() + ";expires=1699999999", SIG, "malformed_signature"),
    ("nonce-empty", sig1(params=PARAMS.replace('"abc"', '""')), SIG, "missing_nonce"),
    ("nonce-bad-characters", sig1(params=PARAMS.replace('"abc"', '"a b:c"')), SIG, "invalid_nonce"),
    ("nonce-too-long", sig1(params=PARAMS.replace("abc", "n" * 129)), SIG, "invalid_nonce"),
    ("non-ascii", sig1(params=PARAMS.replace("abc", "abé")), SIG, "malformed_signature"),
    ("control-character", sig1() + "\x7f", SIG, "malformed_signature"),
    ("too-long-input", sig1() + f';tag="{"t" * 8200}"', SIG, "malformed_signature"),
    ("too-long-signature", sig1(), "sig1=:" + "A" * 8200 + ":", "malformed_signature"),
    (
        "too-many-labels",
        ", ".join(f"s{i}={GOOD_INPUT}" for i in range(9)),
        ", ".join(f"s{i}={GOOD_SIG}" for i in range(9)),
        "malformed_signature",
    ),
    ("too-many-components", sig1("(" + " ".join(f'"h{i}"' for i in range(33)) + ")"), SIG, "malformed_signature"),
    ("trailing-comma", sig1() + ",", SIG, "malformed_signature"),
    ("bad-label", f"Sig1={GOOD_INPUT}", f"Sig1={GOOD_SIG}", "malformed_signature"),
    # Well-formed, but what they cover cannot be resolved or does not verify.
    ("unresolvable-component", sig1(COVERED[:-1] + ' "x-absent")'), SIG, "invalid_signature"),
    ("unknown-derived-component", sig1(COVERED[:-1] + ' "@nonsense")'), SIG, "invalid_signature"),
    ("query-param-name-integer", sig1(COVERED[:-1] + ' "@query-param";name=1)'), SIG, "invalid_signature"),
    ("wrong-signature-length", sig1(), "sig1=:AAAA:", "invalid_signature"),
]


# ---------------------------------------------------------------------------
# Comparing a fast path with its general twin
# ---------------------------------------------------------------------------


def typed(value):
    """A comparable form that keeps types (``True`` vs ``1``, ``Token`` vs ``str``) and order."""
    if isinstance(value, (ParsedSignature, VerifiedSignature, Component)):
        return (type(value).__name__,) + tuple(typed(getattr(value, f.name)) for f in dataclasses.fields(value))
    if isinstance(value, dict):
        return ("dict", tuple((typed(k), typed(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(typed(item) for item in value))
    return (type(value).__name__, repr(value))


def outcome(function, *args, **kwargs):
    try:
        return ("ok", typed(function(*args, **kwargs)))
    except Exception as error:  # compared, whatever it is
        return ("error", type(error).__name__, str(error), getattr(error, "code", None))


def mutations(rng: random.Random, value: str, count: int) -> list[str]:
    alphabet = '"();=:,? *@\\\t-_.~%!abcAZ019/+\x00\x7f\xe9'
    mutated = []
    for _ in range(count):
        chars = list(value)
        for _ in range(rng.randint(1, 3)):
            position = rng.randrange(len(chars) + 1)
            action = rng.random()
            if action < 0.4 and position < len(chars):
                del chars[position]
            elif action < 0.7:
                chars.insert(position, rng.choice(alphabet))
            elif position < len(chars):
                chars[position] = rng.choice(alphabet)
        mutated.append("".join(chars))
    return mutated


def general_message(request) -> _ViewMessage:
    return _ViewMessage(request_view(request))


def opened_value(message, component):
    message.open()
    return message.value(component)


def verify_general(request, **kwargs):
    """verify_request with the fast paths switched off: the code as it was."""
    saved = components._environ_message, structured._parse_fast
    components._environ_message = lambda request: None
    structured._parse_fast = lambda *args: None
    try:
        return verify(request, **kwargs)
    finally:
        components._environ_message, structured._parse_fast = saved


def clone(request: webob.Request) -> webob.Request:
    """An independent request with the same environ and body."""
    body = request.body
    environ = dict(request.environ)
    environ["wsgi.input"] = io.BytesIO(body)
    return type(request)(environ)


def assert_same_verification(request, **kwargs) -> tuple:
    general = outcome(verify_general, clone(request), **kwargs)
    fast = outcome(verify, clone(request), **kwargs)
    assert fast == general, (getattr(request, "environ", request), kwargs)
    return fast


def verification_cases() -> list[tuple[webob.Request, dict]]:
    cases = []
    component_sets = [
        None,
        ("@method", "@authority", "@path", "@query"),
        ("@method", "@authority", "@target-uri", "content-type", "date"),
        ("@method", "@authority", "@target-uri", '"content-digest";sf', '"@query-param";name="currency"'),
        ("@method", "@authority", "@request-target", "@scheme", "@target-uri", '"content-type";bs'),
        ("@method", "@authority", "@target-uri", '"content-digest";key="sha-256"'),
    ]
    urls = [
        URL,
        "https://api.example.com/v1/charges",
        "http://127.0.0.1:8080/a/b?x=%20y",
        "https://api.example.com:8443/",
    ]
    for (keyid, key, algorithm), components, url, body in itertools.product(
        OUR_KEYS, component_sets, urls, (b"", BODY)
    ):
        headers = {"Content-Type": "application/json", "Date": "Tue, 20 Apr 2021 02:07:55 GMT"}
        try:
            added = sign_request("POST", url, headers, body, keyid=keyid, key=key, algorithm=algorithm,
                                    created=NOW, components=components, nonce="nonce-1")
        except ValueError:  # a content-digest member without a body
            continue
        cases.append((webob_request("POST", url, {**headers, **added}, body), {}))
    for _, signature_input, signature, _ in MALFORMED:
        request = webob_request("GET", URL, {}, b"")
        request.environ["HTTP_SIGNATURE_INPUT"] = signature_input
        request.environ["HTTP_SIGNATURE"] = signature
        cases.append((request, {}))
    for tamper in (_set_method, _set_path, _set_query, _set_authority, _set_body, _drop_digest_header,
                   _swap_signature):
        request = signed()
        tamper(request)
        cases.append((request, {}))
    cases.append((peer_signed(), {}))
    path_query = ("@method", "@authority", "@path", "@query")
    cases.append((peer_signed(keyid="billing-ed", covered_component_ids=path_query), {}))
    cases.append((signed(), {"required_components": ("content-type",)}))
    cases.append((signed(), {"required_components": ["content-type"]}))
    cases.append((signed(), {"max_header_length": 50}))
    cases.append((signed(), {"now": NOW + 1000}))
    for signature_input, signature in RFC_VECTORS:
        cases.append((rfc_request(signature_input, signature),
                      {"resolve_key": RFC_KEYS.get, "now": RFC_CREATED + 1, **RFC_VECTOR_POLICY}))
    rng = random.Random(1)
    base = signed()
    for _ in range(300):
        request = clone(base)
        name = rng.choice(["HTTP_SIGNATURE_INPUT", "HTTP_SIGNATURE", "HTTP_CONTENT_DIGEST", "HTTP_HOST", "PATH_INFO",
                           "QUERY_STRING", "REQUEST_METHOD"])
        (request.environ[name],) = mutations(rng, request.environ.get(name, ""), 1)
        cases.append((request, {}))
    return cases
