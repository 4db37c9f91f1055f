"""The plumbing the clients share (``pyramid_authsuite.client``).

The challenge parser against RFC 9110's examples and against what the demo
app really sends (built as ``tests/apps.py`` builds it, with five policies,
served by ``wsgiref`` on a free loopback port and read with ``requests``);
the problem+json reader against the server's refusals and against bodies
that are not problem documents (a second tiny ``wsgiref`` app serves them),
each read from a ``requests`` and from an ``httpx`` response;
UTF-8 Basic against a real login with a non-ASCII password.
"""
from __future__ import annotations

import json
import threading
import time
import wsgiref.simple_server

import httpx
import pytest
import requests

from pyramid_authsuite import client
from pyramid_authsuite.challenge.client import ChallengeAuth, ChallengeRequestError
from pyramid_authsuite.client import (
    MAX_HEADER_LENGTH,
    Challenge,
    NoAuth,
    ServerRefusedError,
    UTF8BasicAuth,
    basic_authorization,
    parse_challenges,
    read_problem,
    request_body,
    response_challenges,
)
from pyramid_authsuite.demo import main as demo_main
from pyramid_authsuite.hawk.client import HawkSessionAuth, HawkSessionError, login, logout
from pyramid_authsuite.hmac.client import ServiceAuth
from pyramid_authsuite.security import PROBLEM_TYPE_PREFIX
from tests.apps import BASIC_POLICY, CHEAP_HASHING
from tests.test_endpoints import ENDPOINT_SETTINGS

# A non-ASCII password (user-ids are ASCII): Latin-1 and UTF-8 encode it differently.
USERID = "zoe"
PASSWORD = "pässwörd-ünïcode-€"
SERVICE_SECRET = "billing-secret-0123456789abcdefgh"


class _QuietHandler(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, *args):  # keep pytest's output clean
        pass


@pytest.fixture(params=["requests", "httpx"])
def get(request):
    """GET with either client: the response readers take both kinds of response."""
    if request.param == "requests":
        return lambda url, **kwargs: requests.get(url, timeout=30, **kwargs)
    return lambda url, **kwargs: httpx.get(url, timeout=30, **kwargs)


def _serve(app):
    server = wsgiref.simple_server.make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


def _stop(server, thread) -> None:
    server.shutdown()
    server.server_close()
    thread.join(timeout=30)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory):
    """The demo app with hawk, hmac, jwt, challenge and basic, and the endpoints that log in."""
    directory = tmp_path_factory.mktemp("client")
    patch = pytest.MonkeyPatch()
    patch.setenv("TEST_CLIENT_SERVICE_SECRET", SERVICE_SECRET)
    # The endpoint tests' policies and endpoints, with service keys added.
    settings = {**CHEAP_HASHING, **BASIC_POLICY, **ENDPOINT_SETTINGS}
    settings.update({
        "authsuite.accounts_url": f"sqlite:///{directory}/accounts.sqlite",
        "multiauth.policies": "hawk hmac jwt challenge basic",
        "multiauth.policy.hmac.use": "pyramid_authsuite.HMACAuthenticationPolicy",
        "multiauth.policy.hmac.keys": "billing:hmac-sha256:env:TEST_CLIENT_SERVICE_SECRET",
    })
    app = demo_main({}, **settings)
    app.registry.authsuite_accounts.create(USERID, PASSWORD)
    server, thread = _serve(app)
    yield f"http://127.0.0.1:{server.server_port}"
    _stop(server, thread)
    patch.undo()


# --------------------------------------------------------------------------
# WWW-Authenticate: RFC 9110 section 11.6.1 and its neighbours' examples
# --------------------------------------------------------------------------


def test_rfc9110_example_two_challenges_in_one_value():
    # RFC 9110 11.6.1, both orders it discusses; a quoted-pair inside title.
    value = r'Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple"'
    assert parse_challenges(value) == [
        ("Newauth", {"realm": "apps", "type": "1", "title": 'Login to "apps"'}),
        ("Basic", {"realm": "simple"}),
    ]
    value = r'Basic realm="simple", Newauth realm="apps", type=1, title="Login to \"apps\""'
    assert [challenge.scheme for challenge in parse_challenges(value)] == ["Basic", "Newauth"]


@pytest.mark.parametrize("value, expected", [
    # RFC 7617 section 2.1.
    ('Basic realm="foo", charset="UTF-8"', [("Basic", {"realm": "foo", "charset": "UTF-8"}, None)]),
    # RFC 6750 section 3.
    ('Bearer realm="example", error="invalid_token", error_description="The access token expired"',
     [("Bearer", {"realm": "example", "error": "invalid_token",
                  "error_description": "The access token expired"}, None)]),
    # RFC 4559 section 5: a token68 alone; then a token68 with padding and more challenges.
    ("Negotiate", [("Negotiate", {}, None)]),
    ("Negotiate a87421000492aa874209af8bc028", [("Negotiate", {}, "a87421000492aa874209af8bc028")]),
    ("Negotiate abc==, Bearer xyz=, Basic realm=x, Hawk",
     [("Negotiate", {}, "abc=="), ("Bearer", {}, "xyz="), ("Basic", {"realm": "x"}, None), ("Hawk", {}, None)]),
    # A token68 without padding is still one, not a scheme of its own.
    ("Negotiate abc, Basic", [("Negotiate", {}, "abc"), ("Basic", {}, None)]),
    # Names are case-insensitive (lower-cased), schemes kept as sent; BWS around "=";
    # empty list elements (RFC 9110 5.6.1) are skipped.
    (' , HAWK  Realm = "r" ,, TS=1 ,', [("HAWK", {"realm": "r", "ts": "1"}, None)]),
    # Commas and escaped quotes inside a quoted-string do not split.
    (r'Hawk ext="a, b=\"c\"", mac=x', [("Hawk", {"ext": 'a, b="c"', "mac": "x"}, None)]),
    ("", []),
])
def test_challenges(value, expected):
    parsed = parse_challenges(value)
    assert [(c.scheme, c.params, c.token68) for c in parsed] == expected
    # A Challenge is the pair (scheme, params): code that unpacks or compares pairs keeps working.
    assert parsed == [(scheme, params) for scheme, params, _ in expected]
    assert all(isinstance(challenge, Challenge) for challenge in parsed)


@pytest.mark.parametrize("value", [
    'realm="x"',                       # a param with no challenge before it
    'Negotiate abc==, realm="x"',      # a param after a token68
    'Hawk a="1", A="2"',               # a param twice (names are case-insensitive)
    'Hawk a="unterminated',
    'Hawk a="ctl\x01"',                # a control character in a quoted-string
    "Hawk a=@",
    'Hawk a="1" b="2"',                # no comma between params
    'Hawk"x"',                         # scheme glued to what follows
    "Hawk a=1, =2",
    "Hawk abc==def",
    "@Hawk",
])
def test_malformed_challenges_are_refused(value):
    with pytest.raises(ValueError) as raised:
        parse_challenges(value)
    # The message never echoes the header (it may carry a server's secrets).
    assert value not in str(raised.value) or value == ""


def test_oversized_values_are_refused_before_parsing():
    fits = "Basic realm=" + "r" * (MAX_HEADER_LENGTH - len("Basic realm="))
    assert parse_challenges(fits) == [("Basic", {"realm": "r" * (MAX_HEADER_LENGTH - 12)})]
    with pytest.raises(ValueError, match="too long"):
        parse_challenges(fits + "r")
    # Many small challenges within the bound are fine; the bound, not their count, limits the work.
    many = ", ".join(["Basic"] * (MAX_HEADER_LENGTH // 7))
    assert len(parse_challenges(many)) == MAX_HEADER_LENGTH // 7


def test_the_demo_apps_challenges_parse(base_url):
    response = requests.get(base_url + "/whoami", timeout=30)
    assert response.status_code == 401
    assert client.header_values(response, "WWW-Authenticate") == [
        'Hawk realm="authsuite"', 'Signature realm="authsuite"', 'Bearer realm="authsuite"',
        'Challenge realm="authsuite"', 'Basic realm="authsuite-test", charset="UTF-8"',
    ]
    expected = [
        ("Hawk", {"realm": "authsuite"}), ("Signature", {"realm": "authsuite"}),
        ("Bearer", {"realm": "authsuite"}), ("Challenge", {"realm": "authsuite"}),
        ("Basic", {"realm": "authsuite-test", "charset": "UTF-8"}),
    ]
    assert response_challenges(response) == expected
    # requests folds the fields into one value with ", ": the parser reads that too.
    assert parse_challenges(response.headers["WWW-Authenticate"]) == expected


def test_the_demo_apps_bearer_error_challenge_parses(base_url):
    response = requests.get(base_url + "/whoami", headers={"Authorization": "Bearer abc.def.ghi"}, timeout=30)
    bearer = [c for c in response_challenges(response) if c.scheme == "Bearer"]
    assert bearer == [("Bearer", {"realm": "authsuite", "error": "invalid_token",
                                  "error_description": "The access token is malformed."})]


def test_the_demo_apps_stale_hawk_challenge_parses(base_url):
    token = login(base_url, USERID, PASSWORD, timeout=30)
    try:
        auth = HawkSessionAuth(token, clock_offset=-3600)
        auth.handle_response = lambda response, **kwargs: response  # see the 401 itself, no retry
        before = int(time.time())
        response = requests.get(base_url + "/whoami", auth=auth, timeout=30)
        assert response.status_code == 401
        hawk = [c for c in response_challenges(response) if c.scheme == "Hawk"]
        assert len(hawk) == 1 and set(hawk[0].params) == {"ts", "tsm", "error"}
        assert hawk[0].params["error"] == "Stale timestamp"
        assert int(hawk[0].params["ts"]) >= before
        assert auth.stale_timestamp(response) == int(hawk[0].params["ts"])
    finally:
        logout(base_url, token, timeout=30)


def _canned(headers: list[tuple[str, str]], body: bytes = b"", status: str = "401 Unauthorized"):
    def app(environ, start_response):
        start_response(status, headers)
        return [body]
    return app


def test_a_malformed_field_is_skipped_and_its_neighbours_kept(get):
    server, thread = _serve(_canned([
        ("WWW-Authenticate", 'Basic realm="a"'),
        ("WWW-Authenticate", 'Broken a="1" b="2"'),
        ("WWW-Authenticate", "Negotiate abc=="),
    ]))
    try:
        response = get(f"http://127.0.0.1:{server.server_port}/")
    finally:
        _stop(server, thread)
    assert response_challenges(response) == [("Basic", {"realm": "a"}), ("Negotiate", {})]
    assert response_challenges(response)[1].token68 == "abc=="


# --------------------------------------------------------------------------
# problem+json (RFC 9457)
# --------------------------------------------------------------------------


def test_prefix_is_the_servers():
    assert client.PROBLEM_TYPE_PREFIX == PROBLEM_TYPE_PREFIX


def test_the_servers_refusal_is_read(base_url, get):
    response = get(base_url + "/whoami", headers={"Authorization": "Bearer abc.def.ghi"})
    problem = read_problem(response)
    assert problem is not None
    assert (problem.type, problem.title, problem.status, problem.code) == (
        PROBLEM_TYPE_PREFIX + "invalid_token", "Unauthorized", 401, "invalid_token")
    assert problem.detail == "The access token is malformed."
    assert problem.document == response.json()


@pytest.mark.parametrize("content_type, body", [
    ("text/html; charset=utf-8", b"<html><body>502 Bad Gateway</body></html>"),
    ("text/plain", b'{"type": "about:blank"}'),       # JSON, but not said to be
    ("application/problem+json", b"<html>oops</html>"),  # said to be, but is not JSON
    ("application/problem+json", b""),
    ("application/problem+json", b"\xff\xfe not UTF-8"),
    ("application/problem+json", b'["a", "list"]'),
    ("application/json", b"42"),
])
def test_what_is_not_a_problem_document_is_none(content_type, body, get):
    server, thread = _serve(_canned([("Content-Type", content_type)], body, "502 Bad Gateway"))
    try:
        response = get(f"http://127.0.0.1:{server.server_port}/")
    finally:
        _stop(server, thread)
    assert read_problem(response) is None
    if isinstance(response, httpx.Response):
        return  # ServerRefusedError is the requests clients' error
    refused = ServerRefusedError("it failed", response=response)
    assert (refused.status_code, refused.problem, refused.code, refused.detail) == (502, None, None, "Bad Gateway")
    assert str(refused) == "it failed: HTTP 502: Bad Gateway"


def test_another_servers_problem_and_members_of_the_wrong_type(get):
    document = {"type": "https://example.com/probs/out-of-credit", "title": 7, "status": True,
                "detail": "Your balance is 30.", "balance": 30}
    server, thread = _serve(_canned([("Content-Type", "application/problem+json")],
                                    json.dumps(document).encode(), "403 Forbidden"))
    try:
        response = get(f"http://127.0.0.1:{server.server_port}/")
    finally:
        _stop(server, thread)
    problem = read_problem(response)
    assert problem is not None
    assert (problem.type, problem.title, problem.status, problem.detail, problem.code) == (
        "https://example.com/probs/out-of-credit", None, None, "Your balance is 30.", None)
    assert problem.document["balance"] == 30
    if isinstance(response, httpx.Response):
        return  # ServerRefusedError is the requests clients' error
    refused = ServerRefusedError("it failed", response=response)
    assert (refused.status_code, refused.detail, refused.problem) == (403, "Your balance is 30.", document)


def test_clients_raise_the_shared_error_with_the_servers_code(base_url):
    with pytest.raises(HawkSessionError) as raised:
        login(base_url, USERID, PASSWORD + "x", timeout=30)
    assert isinstance(raised.value, ServerRefusedError)
    assert (raised.value.status_code, raised.value.code) == (401, "invalid_credentials")
    with pytest.raises(ChallengeRequestError) as raised:
        requests.get(base_url + "/whoami", auth=ChallengeAuth(base_url + "/nowhere", "dev-1", b"s" * 32), timeout=30)
    assert isinstance(raised.value, ServerRefusedError)
    assert raised.value.status == raised.value.status_code == 404
    assert "HTTP 404" in str(raised.value)


# --------------------------------------------------------------------------
# UTF-8 Basic (RFC 7617 with charset="UTF-8")
# --------------------------------------------------------------------------


def test_basic_authorization_is_utf8():
    # RFC 7617 section 2.1's own example: "test" / "123£" in UTF-8.
    assert basic_authorization("test", "123\u00a3") == "Basic dGVzdDoxMjPCow=="
    with pytest.raises(ValueError, match="':'"):
        basic_authorization("a:b", "pw")
    with pytest.raises(ValueError):
        UTF8BasicAuth("a:b", "pw")
    assert PASSWORD not in repr(UTF8BasicAuth(USERID, PASSWORD))


def test_utf8_basic_logs_in_where_requests_latin1_basic_fails(base_url):
    response = requests.get(base_url + "/whoami", auth=UTF8BasicAuth(USERID, PASSWORD), timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["userid"] == USERID
    created = requests.post(base_url + "/hawk-sessions", auth=UTF8BasicAuth(USERID, PASSWORD), timeout=30)
    assert created.status_code == 201
    logout(base_url, created.json()["token"], timeout=30)
    # requests' HTTPBasicAuth sends the same str as Latin-1 bytes: another password.
    latin1 = requests.get(base_url + "/whoami", auth=(USERID, "pässwörd"), timeout=30)
    assert latin1.status_code == 401
    assert read_problem(latin1).code in ("invalid_credentials", "malformed_credentials")


def test_no_auth_overrides_the_sessions_auth(base_url):
    with requests.Session() as session:
        session.auth = UTF8BasicAuth(USERID, PASSWORD)
        assert session.get(base_url + "/whoami", timeout=30).status_code == 200
        anonymous = session.get(base_url + "/whoami", auth=NoAuth(), timeout=30)
    assert anonymous.status_code == 401
    assert "Authorization" not in anonymous.request.headers


# --------------------------------------------------------------------------
# The body an auth class signs
# --------------------------------------------------------------------------


def test_request_body_is_the_bytes_on_the_wire():
    prepared = requests.Request("POST", "http://api.example.com/", data="é€").prepare()
    prepared.headers["Content-Length"] = "2"
    assert request_body(prepared, "X", "the hash") == "é€".encode("utf-8")
    assert prepared.body == "é€".encode("utf-8") and prepared.headers["Content-Length"] == "5"
    assert request_body(requests.Request("GET", "http://api.example.com/").prepare(), "X", "the hash") == b""
    prepared = requests.Request("POST", "http://api.example.com/", data=b"ab").prepare()
    prepared.body = bytearray(b"ab")
    assert request_body(prepared, "X", "the hash") == b"ab" and prepared.body == b"ab"
    prepared.body = (chunk for chunk in [b"a"])
    with pytest.raises(TypeError, match="X cannot sign a generator body: the hash covers the whole body"):
        request_body(prepared, "X", "the hash")


def test_signed_str_bodies_reach_the_server_as_signed(base_url):
    # A str body with non-ASCII text: what the digest or payload hash covers is what is sent.
    body = '{"note": "café €"}'
    headers = {"Content-Type": "application/json"}
    signed = requests.post(base_url + "/whoami", data=body, headers=headers,
                           auth=ServiceAuth("billing", SERVICE_SECRET), timeout=30)
    assert signed.status_code == 200, signed.text
    assert signed.json()["userid"] == "service:billing"
    token = login(base_url, USERID, PASSWORD, timeout=30)
    try:
        hawk = requests.post(base_url + "/whoami", data=body, headers=headers,
                             auth=HawkSessionAuth(token, verify_response=True), timeout=30)
        assert hawk.status_code == 200, hawk.text
        assert hawk.json()["userid"] == USERID
    finally:
        logout(base_url, token, timeout=30)
