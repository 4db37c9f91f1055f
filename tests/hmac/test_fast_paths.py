"""The HMAC verifier's fast paths give exactly what the general paths give.

``protocol`` verifies the usual request through three fast paths, each with
the general code it stands in for kept as the fallback:

* ``_parse_fast`` (regular expressions for the usual Signature-Input and
  Signature shapes) against ``_parse_full`` (``http_sf``, RFC 8941);
* ``_EnvironMessage`` (the environ read once, the common components
  computed directly) against ``_ViewMessage`` (``request_view`` and the
  library's ``HTTPSignatureComponentResolver``);
* ``_hmac_sha256`` (precomputed pads) against ``hmac.digest``.

Each is compared with its general counterpart over many inputs, realistic
and generated, valid and not: same result (types included: ``True`` is not
``1`` here) or the same exception with the same message.  Then the whole of
``verify_request`` is compared with the fast paths switched off.  All inputs
are seeded: nothing depends on timing except a generous hang guard on the
adversarial headers (catastrophic backtracking would never finish).
"""
from __future__ import annotations

import base64
import dataclasses
import hmac
import io
import itertools
import random
from urllib.parse import urlsplit

import pytest
import webob
from http_sf.parameters import ser_params
from pyramid.request import Request as PyramidRequest

from pyramid_authsuite.hmac import protocol as P
from tests.hmac import test_protocol as T

# ---------------------------------------------------------------------------
# Comparing outcomes
# ---------------------------------------------------------------------------


def typed(value):
    """A comparable form that keeps types (``True`` vs ``1``, ``Token`` vs ``str``) and order."""
    if isinstance(value, (P.ParsedSignature, P.VerifiedSignature, P.Component)):
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


# ---------------------------------------------------------------------------
# Parsing: _parse_fast against _parse_full
# ---------------------------------------------------------------------------

NAMES = [
    "@method", "@authority", "@target-uri", "@path", "@query", "@scheme", "@request-target", "@status",
    "@query-param", "@signature-params", "@Method", "date", "content-digest", "content-type", "x-a", "",
    "a)b", "a,b", "a;b", "a b", "a=0",
]
COMPONENT_PARAMS = [
    "", "", "", ";sf", ";bs", ";req", ";tr", ';key="sha-256"', ';name="a"', ";name=1", ";sf=?1", ";sf=?0",
    ";key=tok", ";sf;sf", "; sf", ";sf;key=\"x\"", ";name=01", ';name=""', ";n=-5", ";n=1.5", ";N",
]
PARAMETER_VALUES = {
    "created": ["1700000000", "0", "-0", "-5", "0017", "1700000000.5", '"1700000000"', "1234567890123456", "?1", ""],
    "expires": ["1700000300", "1699999999", "never", "0"],
    "keyid": ['"billing-hmac"', '"k"', '""', "billing", "7", ":AAAA:", '"' + "k" * 257 + '"', '"a;b, c=0"'],
    "nonce": ['"abc"', '"n-1_2.3~4+5/6="', '""', "5", '"a b"', '"a\\"b"', '"' + "n" * 129 + '"'],
    "alg": ['"hmac-sha256"', '"ed25519"', "hmac-sha256", '"rsa-pss-sha512"'],
    "tag": ['"app"', '"=0"', '"; x"', "?0"],
    "foo": ["1", "", '"x"'],
}
LABELS = ["sig1", "sig2", "sig-b25", "*x", "a.b_c", "Sig1", "1sig", "s"]
SEPARATORS = [", ", ",", " , ", "\t,\t", ",  ", ", \t"]
SIGNATURE_VALUES = [
    ":" + base64.b64encode(bytes(range(32))).decode() + ":",
    ":" + base64.b64encode(b"\x01" * 32).decode().rstrip("=") + ":",
    ":" + base64.b64encode(b"\x02" * 31).decode() + ":",
    ":" + base64.b64encode(b"\x03" * 64).decode() + ":",
    ":AAAA:", ":AA==:", ":AA:", ":A:", ":A===:", "::", ":***:", ":AB=C:", ":AAAA", ":AAAA:;x=1", '"AAAA"',
    "(:AAAA:)", "AAAA", "?1", ":AAAA=:",
]


def random_component(rng: random.Random) -> str:
    name = rng.choice(NAMES)
    quoted = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if rng.random() < 0.03:
        quoted = rng.choice(['"a\\"b"', '"a\\\\b"', "date", "1", '"é"', '("a")'])
    return quoted + (rng.choice(COMPONENT_PARAMS) if rng.random() < 0.4 else "")


def random_member(rng: random.Random, label: str) -> str:
    count = rng.choice([0, 1, 2, 3, 3, 3, 4, 5, 33])
    components = [random_component(rng) for _ in range(count)]
    if rng.random() < 0.1 and components:
        components.append(components[0])  # a component twice
    separator = rng.choice([" ", " ", " ", "  "])
    inner = "(" + rng.choice(["", "", "", " "]) + separator.join(components) + rng.choice(["", "", "", " "]) + ")"
    if rng.random() < 0.03:
        inner = rng.choice(['"@method"', "(", "((\"a\"))", "tok", ":AAAA:"])
    names = [name for name in PARAMETER_VALUES if rng.random() < (0.85 if name in ("created", "keyid") else 0.4)]
    if rng.random() < 0.7:
        # The library's signer order, most of the time.
        order = ["created", "keyid", "alg", "expires", "nonce", "tag", "foo"]
        names.sort(key=order.index)
    else:
        rng.shuffle(names)
    if rng.random() < 0.05 and names:
        names.append(names[0])  # a parameter twice
    params = ""
    for name in names:
        value = rng.choice(PARAMETER_VALUES[name]) if rng.random() < 0.5 else PARAMETER_VALUES[name][0]
        params += ";" + (" " if rng.random() < 0.05 else "") + name + (f"={value}" if value else "")
    return f"{label}={inner}{params}"


def random_headers(rng: random.Random) -> tuple[str, str]:
    labels = [rng.choice(LABELS) for _ in range(rng.choice([1, 1, 1, 1, 2, 3, 9]))]
    inputs = [random_member(rng, label) for label in labels]
    signature_labels = list(labels)
    if rng.random() < 0.1:
        signature_labels = list(reversed(signature_labels))
    if rng.random() < 0.05:
        signature_labels = signature_labels[:-1] or ["other"]
    values = [rng.choice(SIGNATURE_VALUES) if rng.random() < 0.3 else SIGNATURE_VALUES[0] for _ in signature_labels]
    signature_input = inputs[0] + "".join(rng.choice(SEPARATORS) + member for member in inputs[1:])
    signature = ", ".join(f"{label}={value}" for label, value in zip(signature_labels, values))
    if rng.random() < 0.05:
        signature_input = rng.choice([" ", "\t", ""]) + signature_input + rng.choice([" ", "\t", ",", ""])
    if rng.random() < 0.05:
        signature = rng.choice([" ", ""]) + signature + rng.choice([" ", "\t", ",", ""])
    return signature_input, signature


def our_signer_headers() -> list[tuple[str, str]]:
    headers = []
    rng = random.Random(3)
    component_sets = [
        None,
        ("@method", "@authority", "@path", "@query"),
        ("@method", "@authority", "@target-uri", "content-type", "date"),
        ("@method", "@authority", "@target-uri", '"content-digest";sf', '"@query-param";name="currency"'),
        ("@method", "@authority", "@request-target", "@scheme", '"content-type";bs'),
    ]
    for components, include_alg, label in itertools.product(component_sets, (True, False), ("sig1", "sig-x")):
        signed = P.sign_request(
            "POST",
            T.URL,
            {"Content-Type": "application/json", "Date": "Tue, 20 Apr 2021 02:07:55 GMT"},
            T.BODY,
            keyid=rng.choice(["billing-hmac", "k", "a" * 256]),
            key=T.HMAC_SECRET,
            algorithm="hmac-sha256",
            created=rng.choice([T.NOW, 0, 1]),
            components=components,
            label=label,
            include_alg=include_alg,
        )
        headers.append((signed["Signature-Input"], signed["Signature"]))
    return headers


def peer_headers() -> list[tuple[str, str]]:
    headers = []
    for keyid in ("billing-hmac", "billing-ed"):
        for kwargs in (
            {},
            {"use_nonce": False},
            {"covered_component_ids": ("@method", "@authority", "@path", "@query")},
            {"expires_in": T.datetime.timedelta(seconds=10)},
            {"label": "pyhttpsig"},
        ):
            request = T.peer_signed(keyid=keyid, **kwargs)
            headers.append((request.headers["Signature-Input"], request.headers["Signature"]))
    return headers


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


def header_cases() -> list[tuple[str, str]]:
    cases = [(signature_input, signature) for _, signature_input, signature, _ in T.MALFORMED]
    cases += T.RFC_VECTORS + our_signer_headers() + peer_headers()
    rng = random.Random(8941)
    cases += [random_headers(rng) for _ in range(3000)]
    valid = our_signer_headers()[:4] + peer_headers()[:2] + T.RFC_VECTORS
    for signature_input, signature in valid:
        cases += [(mutated, signature) for mutated in mutations(rng, signature_input, 150)]
        cases += [(signature_input, mutated) for mutated in mutations(rng, signature, 40)]
    return cases


HEADER_CASES = header_cases()


def check_parse(signature_input: str, signature: str, max_header_length: int = 8192, max_signatures: int = 8):
    """The public parser (fast path first) and the general one agree; returns whether the fast path answered."""
    general = outcome(P._parse_full, signature_input, signature, max_header_length, max_signatures)
    public = outcome(
        P.parse_signature_headers,
        signature_input,
        signature,
        max_header_length=max_header_length,
        max_signatures=max_signatures,
    )
    assert public == general, (signature_input, signature)
    try:
        fast = P._parse_fast(signature_input, signature, max_header_length, max_signatures)
    except P.SignatureError:
        return True  # raised by the checks after parsing, the same as general (compared above)
    if fast is None:
        return False
    parsed, extras = fast
    assert ("ok", typed(parsed)) == general
    for label, (covered, serialised) in extras.items():
        signature_ = parsed[label]
        assert covered.components is signature_.components
        if serialised is not None:
            assert serialised == ser_params(dict(signature_.params))
        fresh = P._Covered(signature_.components)
        assert covered.identities() == fresh.identities()
        assert covered.whole_digest() is fresh.whole_digest()
        assert covered.identifiers() == tuple(c.identifier for c in signature_.components)
        assert covered.inner_list() == fresh.inner_list()
        assert covered.specs() == tuple(c.spec for c in signature_.components)
    return True


def test_fast_parser_agrees_with_http_sf_on_every_header():
    answered = sum(check_parse(signature_input, signature) for signature_input, signature in HEADER_CASES)
    # The comparison means something only if both paths ran often.
    assert 500 < answered < len(HEADER_CASES) - 500


@pytest.mark.parametrize("max_header_length", [0, 60, 110, 8192])
@pytest.mark.parametrize("max_signatures", [0, 1, 2])
def test_fast_parser_agrees_under_other_limits(max_header_length, max_signatures):
    for signature_input, signature in HEADER_CASES[::7]:
        check_parse(signature_input, signature, max_header_length, max_signatures)


def test_fast_parser_takes_what_signers_send():
    for signature_input, signature in our_signer_headers() + peer_headers() + T.RFC_VECTORS:
        fast = P._parse_fast(signature_input, signature, 8192, 8)
        assert fast is not None, signature_input
    # Our signer's and the peer's parameters are written in the library's
    # order, so they are taken as received for @signature-params.
    for signature_input, signature in our_signer_headers() + peer_headers():
        parsed, extras = P._parse_fast(signature_input, signature, 8192, 8)
        ((label, (_, serialised)),) = extras.items()
        assert serialised is not None and signature_input.endswith(serialised)


def test_fast_parser_takes_parameters_in_any_order():
    for params in [
        ';keyid="k";created=1;nonce="n"',
        ';created=1;keyid="k";foo=1',
        ';created=1;keyid="k";nonce="n";alg="hmac-sha256"',
        ';created=1;keyid="k", sig2=("@method");created=2;keyid="j"',
        ';created=1;keyid="k";foo=1, sig2=("@method");created=2;keyid="j"',
        "; created=1",
        ";created=007",
        "",
    ]:
        signature = T.SIG + (", sig2=:AAAA:" if "sig2" in params else "")
        assert P._parse_fast(T.sig1(params=params), signature, 8192, 8) is not None, params
        check_parse(T.sig1(params=params), signature)


def test_fast_parser_refuses_what_it_does_not_parse_itself():
    # Each is valid RFC 8941 that the fast grammar leaves to http_sf, which
    # then gives the result (checked equal by check_parse).
    for signature_input, signature in [
        (" " + T.sig1(), T.SIG),
        (T.sig1() + "\t", T.SIG),
        (T.sig1('("a\\"b")'), T.SIG),
        (T.sig1('("a";x=?1)'), T.SIG),
        (T.sig1(params=';created=1;keyid="k";tag=tok'), T.SIG),
        (T.sig1(), T.SIG + ";x"),
        (T.sig1(), "sig1=:AAAA:, sig1=:AAAA:"),
    ]:
        assert P._parse_fast(signature_input, signature, 8192, 8) is None
        check_parse(signature_input, signature)


ADVERSARIAL = [
    "sig1=(" + '"a" ' * 2000,
    'sig1=("a"' + ";b" * 4000,
    "sig1=(" + " " * 8000,
    'sig1=("' + "a" * 8000,
    'sig1=();a="' + "x" * 8000,
    "sig1=()" + ";created=1" * 800,
    "a=()," * 1600,
    "a=(), " * 1300 + "a",
    "sig1=(" + '"a";b="c" ' * 700 + ")x",
    "sig1=()" + ";a=" + "1" * 8000,
    "sig1=(" + '"a";b;b' * 1000 + ")",
    "sig1=()" + ";" + "a" * 8000 + "=",
    "sig1=(" + '"a"  ' * 1500 + '"b""',
]


def _finishes(function, seconds=30.0):
    """Whether ``function()`` returns within ``seconds``: a hang guard, not a speed check.

    The cases below take milliseconds; catastrophic backtracking would not
    finish at all. The bound is generous so a busy machine never fails it.
    """
    import concurrent.futures

    executor = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        executor.submit(function).result(timeout=seconds)
        return True
    except concurrent.futures.TimeoutError:
        return False
    finally:
        executor.shutdown(wait=False)


@pytest.mark.parametrize("value", ADVERSARIAL, ids=range(len(ADVERSARIAL)))
def test_fast_expressions_finish_on_adversarial_headers(value):
    signature = "sig1=:" + "A" * 8000 + ":"

    def parse_all():
        P._parse_fast(value, signature, 8192, 10_000)
        P._parse_fast(T.sig1(), value, 8192, 10_000)
        P._scan_members(value, P._FAST_SIGNATURE_MEMBER_RE, 10_000)

    assert _finishes(parse_all)
    check_parse(value, T.SIG)


@pytest.mark.parametrize(
    "value",
    ["sig1=(" + " " * 8000, 'sig1=("a"' + " " * 8000, 'sig1=("a"  "b");created=1;keyid="k"', 'sig1=("a")  , sig2=()'],
)
def test_runs_of_spaces_never_reach_the_fast_expressions(monkeypatch, value):
    # The inner-list expression's optional spaces on both sides of its items
    # backtrack over a run of spaces in quadratic time (8000 spaces: ~85 ms
    # a header): such values go to the general parser, which is linear.
    def must_not_run(*args):
        raise AssertionError("a run of spaces reached the fast expressions")

    monkeypatch.setattr(P, "_scan_members", must_not_run)
    assert P._fast_inputs(value, 10_000) is None
    monkeypatch.undo()
    check_parse(value, T.SIG)


def test_covered_memo_is_bounded():
    for i in range(P._COVERED_LIMIT * 2 + 10):
        P.parse_signature_headers(T.sig1(f'("@method" "x-{i}")'), T.SIG)
        assert len(P._COVERED) <= P._COVERED_LIMIT


# ---------------------------------------------------------------------------
# Content-Digest: the fast shape against http_sf
# ---------------------------------------------------------------------------


def digest_cases() -> list[str]:
    cases = [T.HELLO_SHA256, T.HELLO_SHA512, f"{T.HELLO_SHA256}, {T.HELLO_SHA512}", f"md5=:AAAA:, {T.HELLO_SHA256}"]
    cases += [
        f"{T.HELLO_SHA512};p=1", "sha-256=:AAAA:", "md5=:AAAA:", 'sha-256="abc"', "sha-256=(:AAAA:)",
        f"{T.HELLO_SHA256}, {T.HELLO_SHA256}", "sha-256", "", "garbage!", "sha-256=:é:", "sha-256=::",
        T.HELLO_SHA256.rstrip(":").rstrip("=") + ":", f"{T.HELLO_SHA256},{T.HELLO_SHA512}", " " + T.HELLO_SHA256,
    ]
    rng = random.Random(9530)
    for value in list(cases[:4]):
        cases += mutations(rng, value, 100)
    return cases


def test_content_digest_fast_path_agrees_with_http_sf():
    def general(value, body, max_length=8192):
        saved = P._fast_signatures
        P._fast_signatures = lambda value, max_members: None
        try:
            return P.verify_content_digest(value, body, max_length=max_length)
        finally:
            P._fast_signatures = saved

    for value in digest_cases():
        for body in (T.HELLO, b"other"):
            assert outcome(P.verify_content_digest, value, body) == outcome(general, value, body), value
            assert outcome(P.verify_content_digest, value, body, max_length=60) == outcome(
                general, value, body, max_length=60
            )


# ---------------------------------------------------------------------------
# Requests: _EnvironMessage against request_view and the library's resolver
# ---------------------------------------------------------------------------

HOSTS = [
    ("https", "api.example.com"),
    ("https", "API.Example.COM:443"),
    ("https", "api.example.com:0443"),
    ("https", "api.example.com:8443"),
    ("http", "api.example.com:80"),
    ("http", "api.example.com:00080"),
    ("http", "127.0.0.1:8080"),
    ("http", "a.b-c_d~e:0"),
    ("https", "localhost:65535"),
]
PATHS = [("", "/v1/charges"), ("", "/"), ("", ""), ("/app", "/v1/x"), ("/app", ""), ("", "/a;b=c/@:~!$&'()*+,-._")]
QUERIES = ["", "currency=eur&limit=10", "a=%20b&c=%2F", "a?b=/c", "x", "=&", "q=%7e"]
METHODS = ["GET", "POST", "OPTIONS", "CONNECT", "DELETE"]
HEADERS = {
    "HTTP_DATE": "Tue, 20 Apr 2021 02:07:55 GMT",
    "HTTP_X_SPACED": " \t value with spaces \t ",
    "HTTP_X_FOLDED": "first\r\n  second",
    "HTTP_X_BARE_LF": "a\nb",
    "HTTP_X_EMPTY": "",
    "HTTP_DICTIONARY": 'a=1, b="x";p, c=:AAAA:',
    "HTTP_CONTENT_DIGEST": T.HELLO_SHA256,
    "HTTP_SET_COOKIE": "a=1",
    "CONTENT_TYPE": "application/json",
    "HTTP_CONTENT_TYPE": "text/plain",  # a second line for content-type
}
COMPONENTS = [
    P.Component(name) for name in (
        "@method", "@authority", "@target-uri", "@path", "@query", "@scheme", "@request-target", "@status",
        "@nonsense", "@Method", "date", "x-spaced", "x-folded", "x-bare-lf", "x-empty", "content-type",
        "content-length", "x-absent", "Date", "DATE", "set-cookie", "host", "", "dictionary", "content-digest",
    )
] + [
    P.Component("@query-param", (("name", "currency"),)),
    P.Component("@query-param", (("name", "a"),)),
    P.Component("@query-param", (("name", 1),)),
    P.Component("@method", (("x", True),)),
    P.Component("@method", (("req", True),)),
    P.Component("content-type", (("bs", True),)),
    P.Component("dictionary", (("sf", True),)),
    P.Component("dictionary", (("key", "b"),)),
    P.Component("dictionary", (("key", "z"),)),
    P.Component("content-digest", (("sf", True),)),
    P.Component("content-digest", (("key", "sha-256"),)),
    P.Component("date", (("tr", True),)),
    P.Component("date", (("sf", 1),)),
]


def environ_request(method: str, scheme: str, host: str, script_name: str, path_info: str, query: str,
                    headers: dict, body: bytes = b"", cls=webob.Request) -> webob.Request:
    request = cls.blank("/", method=method)
    environ = request.environ
    for key in ("HTTP_HOST", "SERVER_NAME", "SERVER_PORT"):
        environ.pop(key, None)
    environ.update(
        {"wsgi.url_scheme": scheme, "HTTP_HOST": host, "SCRIPT_NAME": script_name, "PATH_INFO": path_info,
         "QUERY_STRING": query, "SERVER_NAME": "server", "SERVER_PORT": "80"}
    )
    environ.update(headers)
    if body:
        request.body = body
    return request


def request_cases() -> list[webob.Request]:
    rng = random.Random(9421)
    cases = []
    for (scheme, host), (script_name, path_info), query in itertools.product(HOSTS, PATHS, QUERIES):
        method = rng.choice(METHODS)
        headers = dict(rng.sample(sorted(HEADERS.items()), rng.randint(0, len(HEADERS))))
        cases.append(environ_request(method, scheme, host, script_name, path_info, query, headers,
                                     rng.choice([b"", b"", T.BODY])))
    return cases


def general_message(request) -> P._ViewMessage:
    return P._ViewMessage(P.request_view(request))


def opened_value(message, component):
    message.open()
    return message.value(component)


def test_environ_message_agrees_with_the_library_resolver():
    fast_paths = 0
    for request in request_cases():
        fast = P._environ_message(request)
        assert fast is not None, request.environ
        fast_paths += 1
        general = general_message(request)
        assert fast.body == general.body
        assert fast.has_query() == bool(urlsplit(general.view.url).query)
        for name in ("signature-input", "signature", "content-digest", "content-type", "date", "x-empty", "host"):
            assert fast.header(name) == general.header(name)
        for component in COMPONENTS:
            assert outcome(opened_value, P._environ_message(request), component) == outcome(
                opened_value, general_message(request), component
            ), (request.environ, component)
    assert fast_paths == len(HOSTS) * len(PATHS) * len(QUERIES)


def test_environ_message_agrees_on_multiple_field_lines():
    # A WSGI environ holds one value per header name, so several lines of one
    # field reach the fast path only through CONTENT_TYPE and HTTP_CONTENT_TYPE;
    # build messages with several lines directly.
    fields = {
        "set-cookie": ["a=1", "b=2"],
        "x-multi": [" one ", "two\r\n three", ""],
        "dictionary": ["a=1", "b=2"],
        "content-type": ["x"],
    }
    for method, (scheme, host), query in itertools.product(["GET", "OPTIONS", "get"], HOSTS[:4], QUERIES[:3]):
        message = P._EnvironMessage()
        name, _, port = host.lower().partition(":")
        message.method, message.body, message.fields, message.scheme = method, b"", fields, scheme
        message.host = name
        message.port = port if port and port != P._DEFAULT_PORTS[scheme] else None
        message.path, message.query, message._library = "/p", query or None, None
        authority = P._normalise_authority(scheme, host)
        url = f"{scheme}://{authority}/p" + (f"?{query}" if query else "")
        pairs = [(field, value) for field, values in fields.items() for value in values]
        view = P.RequestView(method, url, pairs)
        for component in COMPONENTS + [P.Component(n) for n in ("x-multi", "set-cookie")] + [
            P.Component("set-cookie", (("bs", True),)),
            P.Component("x-multi", (("bs", True),)),
            P.Component("dictionary", (("sf", True),)),
        ]:
            assert outcome(opened_value, message, component) == outcome(
                opened_value, P._ViewMessage(view), component
            ), (method, host, query, component)
            message._library = None


class OverridingRequest(webob.Request):
    @property
    def host(self):
        return "elsewhere.example.com"


@pytest.mark.parametrize(
    "change",
    [
        {"HTTP_HOST": "[::1]:8080"},
        {"HTTP_HOST": "[::1::2]"},
        {"HTTP_HOST": "user@api.example.com"},
        {"HTTP_HOST": "api.example.com:123456"},
        {"HTTP_HOST": "api.example.com:"},
        {"HTTP_HOST": "ápi.example.com"},
        {"HTTP_HOST": None},
        {"wsgi.url_scheme": "ftp"},
        {"PATH_INFO": "/a b"},
        {"PATH_INFO": "/a%2Fb"},
        {"PATH_INFO": "/\xc3\xa9"},
        {"PATH_INFO": "a"},
        {"PATH_INFO": "/a?b"},
        {"SCRIPT_NAME": "/é"},
        {"QUERY_STRING": "a b"},
        {"QUERY_STRING": "a=%zz"},
        {"QUERY_STRING": "a#b"},
        {"QUERY_STRING": "é"},
        {"webob.url_encoding": "latin-1"},
        {"HTTP_\xe9": "x"},
        {"HTTP_X_BYTES": b"x"},
        {"CONTENT_TYPE": 5},
        {7: "x"},
    ],
)
def test_environ_message_leaves_unusual_requests_to_the_general_path(change):
    request = T.signed()
    for key, value in change.items():
        if value is None:
            request.environ.pop(key, None)
        else:
            request.environ[key] = value
    assert P._environ_message(request) is None
    assert_same_verification(request)


@pytest.mark.parametrize(
    "change",
    [
        {"HTTP_X-ODD": "x"},
        {"HTTP_x_lower": "x"},
        {"HTTP_SIGNATURE-INPUT": T.sig1()},  # a second line of Signature-Input, after the first
        {"HTTP_Signature": T.SIG},
        {"HTTP_content_type": "text/plain"},  # a second line of a covered field
        {"CONTENT_LENGTH": ""},
        {"CONTENT_TYPE": ""},
        {"HTTP_CONTENT_LENGTH": "14"},
        {"HTTP_X_EMPTY": ""},
    ],
)
def test_environ_message_reads_unusual_header_keys_as_request_view_does(change):
    request = T.signed(components=("@method", "@authority", "@target-uri", "content-type"))
    request.environ.update(change)
    message = P._environ_message(request)
    assert message is not None
    view = P.request_view(clone(request))
    lines: dict[str, list[str]] = {}
    for name, value in view.headers:
        lines.setdefault(name, []).append(value)
    assert message.fields == lines
    for name in {*lines, "content-type", "content-length", "x-empty"}:
        assert message.header(name) == view.header(name)
    assert_same_verification(request)


def test_environ_message_takes_plain_webob_and_pyramid_requests_only():
    assert P._plain_request_class(webob.Request) and P._plain_request_class(PyramidRequest)
    assert not P._plain_request_class(OverridingRequest)
    request = environ_request("GET", "https", "api.example.com", "", "/x", "", {}, cls=OverridingRequest)
    assert P._environ_message(request) is None
    assert P._environ_message(T.signed().environ) is None  # not a request at all


def test_environ_message_reads_the_body_as_webob_does():
    def make(length, flags):
        request = webob.Request.blank("https://api.example.com/")
        request.environ.update(flags)
        request.environ["wsgi.input"] = io.BytesIO(b"abc")
        request.environ.pop("CONTENT_LENGTH", None)
        if length is not None:
            request.environ["CONTENT_LENGTH"] = length
        return request

    for length, flags, body in [
        (None, {}, b""),
        ("", {}, b""),
        ("0", {}, b""),
        ("00", {}, b""),
        (None, {"wsgi.input_terminated": True}, b"abc"),
        (None, {"webob.is_body_readable": True}, b"abc"),
        ("", {"wsgi.input_terminated": True}, b"abc"),
        ("0", {"wsgi.input_terminated": True}, b""),
        ("3", {}, b"abc"),
    ]:
        assert make(length, flags).body == body  # what WebOb says
        assert P._environ_message(make(length, flags)).body == body


def test_header_plans_are_bounded():
    for i in range(P._PLANS_LIMIT * 2 + 10):
        request = webob.Request.blank("/", headers={f"X-Header-{i}": "v"})
        assert P._environ_fields(request.environ) is not None
        assert len(P._PLANS) <= P._PLANS_LIMIT


# ---------------------------------------------------------------------------
# HMAC-SHA256 and the dataclass builders
# ---------------------------------------------------------------------------


def test_hmac_sha256_is_hmac_digest():
    rng = random.Random(2104)
    for length in (32, 33, 63, 64, 65, 100, 128, 200):
        key = bytes(rng.randrange(256) for _ in range(length))
        for size in (0, 1, 55, 56, 63, 64, 65, 150, 1000):
            message = bytes(rng.randrange(256) for _ in range(size))
            for _ in range(2):  # the second time from the memo
                assert P._hmac_sha256(key, message) == hmac.digest(key, message, "sha256")
    for i in range(P._HMAC_STATES_LIMIT * 2):
        P._hmac_sha256(i.to_bytes(32, "big"), b"x")
        assert len(P._HMAC_STATES) <= P._HMAC_STATES_LIMIT


def test_hmac_signature_must_match_every_byte():
    request = T.signed(method="GET", body=b"")
    label, value = request.headers["Signature"].split("=", 1)
    signature = base64.b64decode(value.strip(":"))
    for wrong in (signature[:-1] + bytes([signature[-1] ^ 1]), bytes([signature[0] ^ 0x80]) + signature[1:],
                  signature + b"\0", signature[:-1], b""):
        request.headers["Signature"] = f"{label}=:{base64.b64encode(wrong).decode()}:"
        expected = "malformed_signature" if not wrong else "invalid_signature"
        T.refused(request, expected)


@pytest.mark.parametrize("value", ["a\rb", "a\nb", "a\r\nb"])
def test_covered_values_with_a_line_break_are_refused(value):
    # Signed over a plain value, then a line break put in it: the line would
    # let one line of the signature base pose as two.
    headers = {"X-Note": "ab"}
    signed = P.sign_request("GET", T.URL, headers, b"", keyid="billing-hmac", key=T.HMAC_SECRET,
                            algorithm="hmac-sha256", created=T.NOW,
                            components=("@method", "@authority", "@target-uri", "x-note"))
    request = T.webob_request("GET", T.URL, {**headers, **signed}, b"")
    assert T.verify(request).keyid == "billing-hmac"
    request.environ["HTTP_X_NOTE"] = value
    error = T.refused(request, "invalid_signature")
    assert error.message == "a covered component has a value that cannot be signed"
    assert_same_verification(request)


def test_builders_make_the_same_instances_as_the_constructors():
    components = (P.Component("@method"),)
    built = P._parsed_signature("sig1", components, {"created": 1}, b"x")
    constructed = P.ParsedSignature("sig1", components, {"created": 1}, b"x")
    assert built == constructed and repr(built) == repr(constructed) and vars(built) == vars(constructed)
    values = ("sig1", "k", "svc", "hmac-sha256", 1, None, "n", None, ("@method",))
    built = P._verified_signature(*values)
    constructed = P.VerifiedSignature(*values)
    assert built == constructed and repr(built) == repr(constructed) and hash(built) == hash(constructed)
    assert list(vars(built).items()) == list(vars(constructed).items())
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.keyid = "other"


# ---------------------------------------------------------------------------
# verify_request: with the fast paths, and without
# ---------------------------------------------------------------------------


def verify_general(request, **kwargs):
    """verify_request with the fast paths switched off: the code as it was."""
    saved = P._environ_message, P._parse_fast
    P._environ_message = lambda request: None
    P._parse_fast = lambda *args: None
    try:
        return T.verify(request, **kwargs)
    finally:
        P._environ_message, P._parse_fast = saved


def clone(request: webob.Request) -> webob.Request:
    """An independent request with the same environ and body."""
    body = request.body
    environ = dict(request.environ)
    environ["wsgi.input"] = io.BytesIO(body)
    return type(request)(environ)


def assert_same_verification(request, **kwargs) -> tuple:
    general = outcome(verify_general, clone(request), **kwargs)
    fast = outcome(T.verify, clone(request), **kwargs)
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
        T.URL,
        "https://api.example.com/v1/charges",
        "http://127.0.0.1:8080/a/b?x=%20y",
        "https://api.example.com:8443/",
    ]
    for (keyid, key, algorithm), components, url, body in itertools.product(
        T.OUR_KEYS, component_sets, urls, (b"", T.BODY)
    ):
        headers = {"Content-Type": "application/json", "Date": "Tue, 20 Apr 2021 02:07:55 GMT"}
        try:
            signed = P.sign_request("POST", url, headers, body, keyid=keyid, key=key, algorithm=algorithm,
                                    created=T.NOW, components=components, nonce="nonce-1")
        except ValueError:  # a content-digest member without a body
            continue
        cases.append((T.webob_request("POST", url, {**headers, **signed}, body), {}))
    for _, signature_input, signature, _ in T.MALFORMED:
        request = T.webob_request("GET", T.URL, {}, b"")
        request.environ["HTTP_SIGNATURE_INPUT"] = signature_input
        request.environ["HTTP_SIGNATURE"] = signature
        cases.append((request, {}))
    for tamper in (T._set_method, T._set_path, T._set_query, T._set_authority, T._set_body, T._drop_digest_header,
                   T._swap_signature):
        request = T.signed()
        tamper(request)
        cases.append((request, {}))
    cases.append((T.peer_signed(), {}))
    path_query = ("@method", "@authority", "@path", "@query")
    cases.append((T.peer_signed(keyid="billing-ed", covered_component_ids=path_query), {}))
    cases.append((T.signed(), {"required_components": ("content-type",)}))
    cases.append((T.signed(), {"required_components": ["content-type"]}))
    cases.append((T.signed(), {"max_header_length": 50}))
    cases.append((T.signed(), {"now": T.NOW + 1000}))
    for signature_input, signature in T.RFC_VECTORS:
        cases.append((T.rfc_request(signature_input, signature),
                      {"resolve_key": T.RFC_KEYS.get, "now": T.RFC_CREATED + 1, **T.RFC_VECTOR_POLICY}))
    rng = random.Random(1)
    base = T.signed()
    for _ in range(300):
        request = clone(base)
        name = rng.choice(["HTTP_SIGNATURE_INPUT", "HTTP_SIGNATURE", "HTTP_CONTENT_DIGEST", "HTTP_HOST", "PATH_INFO",
                           "QUERY_STRING", "REQUEST_METHOD"])
        (request.environ[name],) = mutations(rng, request.environ.get(name, ""), 1)
        cases.append((request, {}))
    return cases


def test_verify_request_agrees_with_the_general_path():
    accepted = 0
    for request, kwargs in verification_cases():
        accepted += assert_same_verification(request, **kwargs)[0] == "ok"
    assert accepted > 50


def test_signature_base_agrees_with_the_general_path():
    for request, _ in verification_cases()[:120]:
        try:
            parsed = P.parse_signature_headers(request.headers["Signature-Input"], request.headers["Signature"])
        except (P.SignatureError, KeyError):
            continue
        for signature in parsed.values():
            covered = P._Covered(signature.components)
            general = outcome(lambda: P._base(general_message(clone(request)), signature, covered))
            assert outcome(P.signature_base, clone(request), signature) == general


def test_bench_requests_take_every_fast_path():
    # The shape the bench and real clients send: our signer, a WebOb request.
    request = T.signed(method="GET", body=b"")
    message = P._environ_message(request)
    assert message is not None
    fast = P._parse_fast(request.headers["Signature-Input"], request.headers["Signature"], 8192, 8)
    assert fast is not None and fast[1]["sig1"][1] is not None
    assert T.verify(request).keyid == "billing-hmac"
