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
from pyramid.request import Request as PyramidRequest

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
from pyramid_authsuite.hmac.model import Component, RequestView
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
