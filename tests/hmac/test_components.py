"""Message components (RFC 9421 section 2): ``request_view`` and the environ fast view side by side.

``_EnvironMessage`` (the environ read once, the common components computed
directly) is compared with ``_ViewMessage`` (``request_view`` and the
library's ``HTTPSignatureComponentResolver``) over hand-picked tables and
over generated requests (hypothesis): the same value or the same error for
every component, or the fast view declines (``_environ_message`` returns
None) and the general one answers.
"""
from __future__ import annotations

import io
import itertools
import random
from urllib.parse import urlsplit

import pytest
import webob
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyramid.request import Request as PyramidRequest

from pyramid_authsuite.hmac.base import _base
from pyramid_authsuite.hmac.components import (
    _DEFAULT_PORTS,
    _EnvironMessage,
    _PLANS,
    _PLANS_LIMIT,
    _ViewMessage,
    _environ_fields,
    _environ_message,
    _normalise_authority,
    _plain_request_class,
    request_view,
)
from pyramid_authsuite.hmac.errors import MalformedRequest
from pyramid_authsuite.hmac.model import Component, ParsedSignature, RequestView
from pyramid_authsuite.hmac.structured import _Covered
from tests.hmac.common import (
    BODY,
    HELLO_SHA256,
    SIG,
    URL,
    assert_same_verification,
    clone,
    general_message,
    opened_value,
    outcome,
    refused,
    sig1,
    signed,
    verify,
    webob_request,
)


# ---------------------------------------------------------------------------
# request_view: the Host check and the rebuilt URL
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["api.example.com/x", "api.example.com?", "user@api.example.com", "api.example.com#f", "a b", ""]
)
def test_request_view_refuses_hosts_that_are_not_host_port(host):
    request = webob_request("GET", URL, {}, b"")
    request.environ["HTTP_HOST"] = host
    with pytest.raises(MalformedRequest):
        request_view(request)


def test_forged_host_cannot_move_the_path():
    # Signed for /v1/charges?/admin; replayed to /admin with Host carrying the rest.
    request = signed(url="https://api.example.com/v1/charges?/admin", body=b"")
    request.path_info = "/admin"
    request.query_string = ""
    request.environ["HTTP_HOST"] = "api.example.com/v1/charges?"
    refused(request, "malformed_request")


@pytest.mark.parametrize("host", ["[::1::2]", "[:::]", "[1:2:3:4:5:6:7:8:9]"])
@pytest.mark.parametrize("components", [("@method", "@authority", "@path"), ("@method", "@authority", "@target-uri")])
def test_host_with_an_invalid_ipv6_literal_is_a_malformed_request(host, components):
    # It passes the host[:port] check; urlsplit's ValueError on it used to
    # escape verify_request instead of a SignatureError.
    request = signed(url="https://api.example.com/v1/charges", body=b"", components=components)
    request.environ["HTTP_HOST"] = host
    refused(request, "malformed_request")


def test_request_view_normalises_the_authority():
    view = request_view(webob.Request.blank("https://API.Example.COM:443/a?b=1"))
    assert view.url == "https://api.example.com/a?b=1"
    view = request_view(webob.Request.blank("http://api.example.com:8080/a"))
    assert view.url == "http://api.example.com:8080/a"


def test_request_view_input_is_accepted_directly():
    request = signed()
    view = RequestView("POST", URL, list(request.headers.items()), BODY)
    assert verify(view).keyid == "billing-hmac"


# ---------------------------------------------------------------------------
# _EnvironMessage against request_view and the library's resolver: tables
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
    "HTTP_CONTENT_DIGEST": HELLO_SHA256,
    "HTTP_SET_COOKIE": "a=1",
    "CONTENT_TYPE": "application/json",
    "HTTP_CONTENT_TYPE": "text/plain",  # a second line for content-type
}


COMPONENTS = [
    Component(name) for name in (
        "@method", "@authority", "@target-uri", "@path", "@query", "@scheme", "@request-target", "@status",
        "@nonsense", "@Method", "date", "x-spaced", "x-folded", "x-bare-lf", "x-empty", "content-type",
        "content-length", "x-absent", "Date", "DATE", "set-cookie", "host", "", "dictionary", "content-digest",
    )
] + [
    Component("@query-param", (("name", "currency"),)),
    Component("@query-param", (("name", "a"),)),
    Component("@query-param", (("name", 1),)),
    Component("@method", (("x", True),)),
    Component("@method", (("req", True),)),
    Component("content-type", (("bs", True),)),
    Component("dictionary", (("sf", True),)),
    Component("dictionary", (("key", "b"),)),
    Component("dictionary", (("key", "z"),)),
    Component("content-digest", (("sf", True),)),
    Component("content-digest", (("key", "sha-256"),)),
    Component("date", (("tr", True),)),
    Component("date", (("sf", 1),)),
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
                                     rng.choice([b"", b"", BODY])))
    return cases


def test_environ_message_agrees_with_the_library_resolver():
    fast_paths = 0
    for request in request_cases():
        fast = _environ_message(request)
        assert fast is not None, request.environ
        fast_paths += 1
        general = general_message(request)
        assert fast.body == general.body
        assert fast.has_query() == bool(urlsplit(general.view.url).query)
        for name in ("signature-input", "signature", "content-digest", "content-type", "date", "x-empty", "host"):
            assert fast.header(name) == general.header(name)
        for component in COMPONENTS:
            assert outcome(opened_value, _environ_message(request), component) == outcome(
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
        message = _EnvironMessage()
        name, _, port = host.lower().partition(":")
        message.method, message.body, message.fields, message.scheme = method, b"", fields, scheme
        message.host = name
        message.port = port if port and port != _DEFAULT_PORTS[scheme] else None
        message.path, message.query, message._library = "/p", query or None, None
        authority = _normalise_authority(scheme, host)
        url = f"{scheme}://{authority}/p" + (f"?{query}" if query else "")
        pairs = [(field, value) for field, values in fields.items() for value in values]
        view = RequestView(method, url, pairs)
        for component in COMPONENTS + [Component(n) for n in ("x-multi", "set-cookie")] + [
            Component("set-cookie", (("bs", True),)),
            Component("x-multi", (("bs", True),)),
            Component("dictionary", (("sf", True),)),
        ]:
            assert outcome(opened_value, message, component) == outcome(
                opened_value, _ViewMessage(view), component
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
    request = signed()
    for key, value in change.items():
        if value is None:
            request.environ.pop(key, None)
        else:
            request.environ[key] = value
    assert _environ_message(request) is None
    assert_same_verification(request)


@pytest.mark.parametrize(
    "change",
    [
        {"HTTP_X-ODD": "x"},
        {"HTTP_x_lower": "x"},
        {"HTTP_SIGNATURE-INPUT": sig1()},  # a second line of Signature-Input, after the first
        {"HTTP_Signature": SIG},
        {"HTTP_content_type": "text/plain"},  # a second line of a covered field
        {"CONTENT_LENGTH": ""},
        {"CONTENT_TYPE": ""},
        {"HTTP_CONTENT_LENGTH": "14"},
        {"HTTP_X_EMPTY": ""},
    ],
)
def test_environ_message_reads_unusual_header_keys_as_request_view_does(change):
    request = signed(components=("@method", "@authority", "@target-uri", "content-type"))
    request.environ.update(change)
    message = _environ_message(request)
    assert message is not None
    view = request_view(clone(request))
    lines: dict[str, list[str]] = {}
    for name, value in view.headers:
        lines.setdefault(name, []).append(value)
    assert message.fields == lines
    for name in {*lines, "content-type", "content-length", "x-empty"}:
        assert message.header(name) == view.header(name)
    assert_same_verification(request)


def test_environ_message_takes_plain_webob_and_pyramid_requests_only():
    assert _plain_request_class(webob.Request) and _plain_request_class(PyramidRequest)
    assert not _plain_request_class(OverridingRequest)
    request = environ_request("GET", "https", "api.example.com", "", "/x", "", {}, cls=OverridingRequest)
    assert _environ_message(request) is None
    assert _environ_message(signed().environ) is None  # not a request at all


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
        assert _environ_message(make(length, flags)).body == body


def test_header_plans_are_bounded():
    for i in range(_PLANS_LIMIT * 2 + 10):
        request = webob.Request.blank("/", headers={f"X-Header-{i}": "v"})
        assert _environ_fields(request.environ) is not None
        assert len(_PLANS) <= _PLANS_LIMIT


# ---------------------------------------------------------------------------
# _EnvironMessage against request_view and the library's resolver: generated requests (hypothesis)
# ---------------------------------------------------------------------------

# Seeded (derandomize) and bounded, so the run is the same every time and
# takes a few seconds; no example database, no deadline (a busy machine).
GENERATED = settings(
    derandomize=True, database=None, deadline=None, max_examples=150,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def mostly(usual, unusual, odds: int = 5):
    """``usual``, and about one time in ``odds`` ``unusual`` (hypothesis favours 0, so 0 is ``usual``)."""
    return st.integers(0, odds - 1).flatmap(lambda n: unusual if n == odds - 1 else usual)


ALPHANUMERIC = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
PLAIN_METHODS = st.sampled_from(["GET", "POST", "OPTIONS", "CONNECT", "DELETE", "PATCH", "HEAD"])
PLAIN_SCHEMES = st.sampled_from(["https", "http"])
PLAIN_HOST_NAMES = st.sampled_from(["api.example.com", "API.Example.COM", "127.0.0.1", "localhost"]) | st.text(
    st.sampled_from(ALPHANUMERIC + "._~-"), min_size=1, max_size=12
)
PLAIN_PORTS = st.none() | st.sampled_from(["80", "443", "0443", "00080", "8080", "0", "65535"]) | st.text(
    st.sampled_from("0123456789"), min_size=1, max_size=5
)
PATH_CHARACTERS = ALPHANUMERIC + "_.~-/!$&'()*+,;=:@"
PLAIN_PATHS = st.sampled_from(["", "/", "/v1/charges", "/a;b=c/@:~!$&'()*+,-._"]) | st.text(
    st.sampled_from(PATH_CHARACTERS), max_size=16
).map(lambda text: "/" + text)
QUERY_PARTS = [*ALPHANUMERIC[::5], *"._~-!$&'()*+,;=:@/?", "%20", "%2F", "%7e", "%41"]
PLAIN_QUERIES = st.sampled_from(["", "currency=eur&limit=10", "a?b=/c"]) | st.lists(
    st.sampled_from(QUERY_PARTS), max_size=10
).map("".join)
HEADER_KEYS = st.sampled_from([
    "HTTP_DATE", "HTTP_X_A", "HTTP_X_SPACED", "HTTP_CONTENT_DIGEST", "HTTP_DICTIONARY", "HTTP_SET_COOKIE",
    "CONTENT_TYPE", "HTTP_CONTENT_TYPE", "HTTP_SIGNATURE", "HTTP_ACCEPT",
])
HEADER_VALUES = st.sampled_from([
    "Tue, 20 Apr 2021 02:07:55 GMT", " \t value with spaces \t ", "first\r\n  second", "a\nb", "a\rb", "",
    'a=1, b="x";p, c=:AAAA:', "a=1;b", "text/plain;q=0.5, application/json", HELLO_SHA256, "x" * 40,
]) | st.text(st.sampled_from(list(ALPHANUMERIC[::7]) + list(' \t,;="():?\\\r\n')), max_size=12)
PLAIN_HEADERS = st.dictionaries(HEADER_KEYS, HEADER_VALUES, max_size=5)
BODIES = mostly(st.just(b""), st.binary(min_size=1, max_size=20), 3)

# And what the fast view declines, or should: unusual methods, schemes,
# hosts, ports, paths, queries and header keys.
ANY_METHODS = mostly(PLAIN_METHODS, st.sampled_from(["get", "Get", "M-SEARCH", "X Y", ""]))
ANY_SCHEMES = mostly(PLAIN_SCHEMES, st.sampled_from(["ftp", "HTTP", ""]), 10)
ANY_HOST_NAMES = mostly(PLAIN_HOST_NAMES, st.sampled_from(["[::1]", "[::1::2]", "user@h", "h/x", "é.com", "", "a b"]))
ANY_PORTS = mostly(PLAIN_PORTS, st.sampled_from(["", "123456", "8a", " 80", "-1"]))
ANY_PATHS = mostly(PLAIN_PATHS, st.lists(
    st.sampled_from(list(PATH_CHARACTERS[::3]) + ["%2F", " ", "\xc3\xa9", "?", "#", "%"]), max_size=10
).map("".join))
ANY_QUERIES = mostly(PLAIN_QUERIES, st.lists(st.sampled_from(QUERY_PARTS + ["%zz", " ", "é", "#", "%", "[", '"']), max_size=8).map("".join))
ANY_HEADERS = st.dictionaries(
    mostly(HEADER_KEYS, st.sampled_from(["HTTP_X-ODD", "HTTP_x_lower", "HTTP_\xe9", "HTTP_Signature"]), 6),
    HEADER_VALUES, max_size=5,
)
GENERATED_COMPONENTS = st.lists(
    st.sampled_from(COMPONENTS) | st.builds(
        Component,
        st.sampled_from(["date", "x-a", "x-spaced", "dictionary", "content-type", "set-cookie", "accept", "signature"]),
        st.sampled_from([(), (("sf", True),), (("bs", True),), (("key", "a"),), (("key", "c"),), (("tr", True),)]),
    ),
    min_size=1, max_size=6,
)
SIGNATURE_PARAMS = st.sampled_from([{}, {"created": 1, "keyid": "k"}, {"created": 1, "keyid": "k", "nonce": "n", "tag": 'a"b'}])


def host_header(name: str, port: str | None) -> str:
    return name if port is None else f"{name}:{port}"


def assert_same_components(request, components, params) -> bool:
    """The fast view gives what the general one gives; False if it declined."""
    fast = _environ_message(request)
    if fast is None:
        return False
    general = general_message(request)  # the fast view answers only when request_view would succeed
    assert fast.body == general.body
    assert fast.has_query() == bool(urlsplit(general.view.url).query)
    for name in ("signature", "content-type", "date", "x-a", "dictionary", "set-cookie", "host"):
        assert fast.header(name) == general.header(name), name
    for component in components:
        assert outcome(opened_value, _environ_message(request), component) == outcome(
            opened_value, general_message(request), component
        ), component
    # The signature base over all of them (RFC 9421 section 2.5).
    parsed = ParsedSignature("sig1", tuple(components), params, b"x")
    covered = _Covered(parsed.components)
    assert outcome(_base, _environ_message(request), parsed, covered) == outcome(
        _base, general_message(request), parsed, covered
    )
    return True


@GENERATED
@given(PLAIN_METHODS, PLAIN_SCHEMES, PLAIN_HOST_NAMES, PLAIN_PORTS, st.sampled_from(["", "/app"]), PLAIN_PATHS,
       PLAIN_QUERIES, PLAIN_HEADERS, BODIES, GENERATED_COMPONENTS, SIGNATURE_PARAMS)
def test_generated_plain_requests_take_the_fast_view_and_agree(
    method, scheme, name, port, script_name, path, query, headers, body, components, params
):
    request = environ_request(method, scheme, host_header(name, port), script_name, path, query, headers, body)
    assert assert_same_components(request, components, params), request.environ


@GENERATED
@given(ANY_METHODS, ANY_SCHEMES, ANY_HOST_NAMES, ANY_PORTS, st.sampled_from(["", "/app", "/\xc3\xa9", "app"]), ANY_PATHS,
       ANY_QUERIES, ANY_HEADERS, BODIES, GENERATED_COMPONENTS, SIGNATURE_PARAMS)
def test_generated_requests_fast_view_agrees_or_declines(
    method, scheme, name, port, script_name, path, query, headers, body, components, params
):
    request = environ_request(method, scheme, host_header(name, port), script_name, path, query, headers, body)
    assert_same_components(request, components, params)
