"""The Hawk client helper (``pyramid_authsuite.hawk.client``).

Against the real demo server, served by pserve/waitress on a free 127.0.0.1
port (memory cache, SQLite accounts in a temporary directory, the user made
by ``authsuite create-user``), as ``tests/test_end_to_end.py`` does; plus a
tiny wsgiref server signing its own responses (to tamper with them) and
hand-built ``requests.Response`` objects for the verification corner cases.
"""
from __future__ import annotations

import threading
import time
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
import requests
import requests_hawk
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

from pyramid_authsuite.client import parse_challenges as _parse_challenges
from pyramid_authsuite.hawk import protocol
from pyramid_authsuite.hawk.client import (
    HawkResponseError,
    HawkSessionAuth,
    HawkSessionError,
    login,
    logout,
)
from tests.hawk.conftest import PASSWORD

TOKEN = "0123456789abcdef" * 4


class CountingAdapter(HTTPAdapter):
    """Counts what is really sent (a stale-timestamp retry goes through ``send`` too)."""

    def __init__(self):
        super().__init__()
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request, *args, **kwargs):
        self.sent.append(request)
        return super().send(request, *args, **kwargs)


def counting_session() -> tuple[requests.Session, CountingAdapter]:
    session = requests.Session()
    adapter = CountingAdapter()
    session.mount("http://", adapter)
    return session, adapter


# --------------------------------------------------------------------------
# Against the real server
# --------------------------------------------------------------------------


def test_login_then_whoami_with_verified_response(base, token):
    assert len(token) == 64 and int(token, 16) >= 0
    response = requests.get(base + "/whoami", auth=HawkSessionAuth(token, verify_response=True), timeout=10)
    assert response.status_code == 200
    assert response.json()["userid"] == "alice"
    assert "role:admin" in response.json()["principals"]
    assert response.headers["Server-Authorization"].startswith('Hawk mac="')
    sent = protocol.parse_authorization(response.request.headers["Authorization"])
    assert sent.hash is None  # no body, no hash (the server accepts that)


def test_query_string_is_part_of_the_signed_resource(base, token):
    auth = HawkSessionAuth(token, verify_response=True, ext="some-app-data")
    response = requests.get(base + "/whoami", params={"a": "b c", "x": "é/?&"}, auth=auth, timeout=10)
    assert response.status_code == 200, response.text
    assert "?" in response.request.path_url


def test_signed_post_with_a_json_body_creates_a_second_session(base, token):
    response = requests.post(
        base + "/hawk-sessions", json={"client": "test", "n": 1},
        auth=HawkSessionAuth(token, verify_response=True), timeout=10,
    )
    assert response.status_code == 201, response.text
    sent = protocol.parse_authorization(response.request.headers["Authorization"])
    assert sent.hash == protocol.payload_hash("sha256", "application/json", response.request.body)
    assert "Server-Authorization" in response.headers  # and verify_response checked it
    second = response.json()["token"]
    assert second != token
    whoami = requests.get(base + "/whoami", auth=HawkSessionAuth(second, verify_response=True), timeout=10)
    assert whoami.status_code == 200 and whoami.json()["userid"] == "alice"


def test_signed_post_with_a_non_ascii_str_body(base, token):
    response = requests.post(
        base + "/hawk-sessions", data="héllo wörld ✓", headers={"Content-Type": "text/plain; charset=UTF-8"},
        auth=HawkSessionAuth(token, verify_response=True), timeout=10,
    )
    assert response.status_code == 201, response.text
    assert response.request.body == "héllo wörld ✓".encode("utf-8")


def test_signed_post_with_a_form_body(base, token):
    response = requests.post(
        base + "/hawk-sessions", data={"a": "1", "b": "ü"},
        auth=HawkSessionAuth(token, verify_response=True), timeout=10,
    )
    assert response.status_code == 201, response.text


def test_a_body_that_does_not_match_the_hash_is_refused_by_the_server(base, token):
    auth = HawkSessionAuth(token)
    prepared = requests.Request("POST", base + "/hawk-sessions", json={"a": 1}, auth=auth).prepare()
    prepared.body = b'{"a": 2}'
    response = requests.Session().send(prepared, timeout=10)
    assert response.status_code == 401
    assert response.json()["type"].endswith(":invalid_payload")


def test_requests_hawk_works_against_the_server(base, token):
    # Without a body, mohawk signs only with always_hash_content=False (see the module docstring).
    bodiless = requests_hawk.HawkAuth(hawk_session=token, always_hash_content=False)
    whoami = requests.get(base + "/whoami", params={"q": "1"}, auth=bodiless, timeout=10)
    assert whoami.status_code == 200 and whoami.json()["userid"] == "alice"
    created = requests.post(
        base + "/hawk-sessions", json={"x": 1}, auth=requests_hawk.HawkAuth(hawk_session=token), timeout=10
    )
    assert created.status_code == 201
    # Our client verifies what the server signed for requests-hawk's token too.
    ours = HawkSessionAuth(created.json()["token"], verify_response=True)
    assert requests.get(base + "/whoami", auth=ours, timeout=10).status_code == 200


def test_clock_skew_is_corrected_once_and_the_request_retried(base, token):
    session, adapter = counting_session()
    seen = []
    session.hooks["response"].append(lambda response, **kwargs: seen.append(response.status_code))
    auth = HawkSessionAuth(token, verify_response=True, clock_offset=-3600)

    response = session.get(base + "/whoami", auth=auth, timeout=10)

    assert response.status_code == 200 and response.json()["userid"] == "alice"
    assert len(adapter.sent) == 2  # the stale one and the retry
    first, retry = adapter.sent
    assert protocol.parse_authorization(first.headers["Authorization"]).nonce != protocol.parse_authorization(
        retry.headers["Authorization"]
    ).nonce
    [stale] = response.history
    assert stale.status_code == 401 and stale.json()["type"].endswith(":stale_timestamp")
    assert 'tsm="' in stale.headers["WWW-Authenticate"]
    assert seen == [200]  # the session hook saw the final response only
    assert abs(auth.clock_offset) < 60  # same machine: the server's clock is ours

    # The corrected offset sticks: the next request needs no retry.
    assert session.get(base + "/whoami", auth=auth, timeout=10).status_code == 200
    assert len(adapter.sent) == 3


def test_clock_skew_is_corrected_without_verify_response_too(base, token):
    session, adapter = counting_session()
    auth = HawkSessionAuth(token, clock_offset=3600)
    response = session.post(base + "/hawk-sessions", json={"skewed": True}, auth=auth, timeout=10)
    assert response.status_code == 201, response.text
    assert len(adapter.sent) == 2 and [r.status_code for r in response.history] == [401]


def test_a_stale_challenge_for_another_session_is_not_trusted(base, token):
    # Another session's tsm does not verify with our key: no retry, no change.
    other = login(base, "alice", PASSWORD)
    retried = requests.get(base + "/whoami", auth=HawkSessionAuth(other, clock_offset=-3600), timeout=10)
    [stale] = retried.history
    assert stale.status_code == 401
    auth = HawkSessionAuth(token, clock_offset=-3600)
    assert auth.stale_timestamp(stale) is None
    assert auth.handle_response(stale) is stale  # not signed by us: left alone
    assert auth.clock_offset == -3600
    assert HawkSessionAuth(other).stale_timestamp(stale) is not None


def test_logout_ends_the_session(base):
    token = login(base, "alice", PASSWORD)
    auth = HawkSessionAuth(token)
    assert requests.get(base + "/whoami", auth=auth, timeout=10).status_code == 200
    assert logout(base, token, verify_response=True) is None
    after = requests.get(base + "/whoami", auth=HawkSessionAuth(token), timeout=10)
    assert after.status_code == 401
    assert after.json()["type"].endswith(":invalid_credentials")
    with pytest.raises(HawkSessionError) as raised:
        logout(base, token)
    assert raised.value.status_code == 401 and "session" in raised.value.detail.lower()


def test_login_and_logout_use_the_given_session(base):
    session, adapter = counting_session()
    session.auth = ("nobody", "nothing")  # must not replace login's or logout's own auth
    token = login(base + "/", "alice", PASSWORD, session=session)
    logout(base, token, session=session)
    assert [r.method for r in adapter.sent] == ["POST", "DELETE"]


def test_login_with_a_wrong_password_raises_with_the_problem_detail(base):
    with pytest.raises(HawkSessionError) as raised:
        login(base, "alice", "not the password")
    error = raised.value
    assert isinstance(error, requests.RequestException)
    assert error.status_code == 401
    assert error.problem["status"] == 401 and error.problem["type"].endswith(":invalid_credentials")
    assert error.detail and error.detail in str(error)
    assert error.response is not None


# --------------------------------------------------------------------------
# A tiny independent server signing (and tampering with) its responses
# --------------------------------------------------------------------------


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def signing_server():
    """A wsgiref server that signs responses with protocol.server_authorization; ``mode`` tampers."""
    _, key = protocol.derive_session_credentials(TOKEN)
    state = {"mode": "honest", "requests": 0}

    def app(environ, start_response):
        state["requests"] += 1
        if state["mode"] == "always-stale":
            challenge = protocol.timestamp_challenge(key, "sha256", int(time.time()) + 5000)
            start_response("401 Unauthorized", [("WWW-Authenticate", challenge), ("Content-Length", "0")])
            return [b""]
        body = b'{"hello": "world"}'
        content_type = "application/json"
        auth = protocol.parse_authorization(environ["HTTP_AUTHORIZATION"])
        query = environ.get("QUERY_STRING")
        resource = environ["PATH_INFO"] + (f"?{query}" if query else "")
        host, _, port = environ["HTTP_HOST"].partition(":")
        header = protocol.server_authorization(
            key, "sha256", auth, method=environ["REQUEST_METHOD"], resource=resource, host=host, port=port,
            content_type=content_type, body=body,
        )
        mode = state["mode"]
        if mode == "mac":
            mac = header.split('mac="', 1)[1][:44]
            header = header.replace(mac, ("A" if mac[0] != "A" else "B") + mac[1:])
        elif mode == "body":
            body = b'{"hello": "w0rld"}'
        elif mode == "content-type":
            content_type = "text/plain"
        headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        if mode != "missing":
            headers.append(("Server-Authorization", header))
        start_response("200 OK", headers)
        return [body]

    server = make_server("127.0.0.1", 0, app, handler_class=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_an_honestly_signed_response_verifies(signing_server):
    url, state = signing_server
    response = requests.get(url + "/thing?q=1", auth=HawkSessionAuth(TOKEN, verify_response=True), timeout=10)
    assert response.status_code == 200 and response.json() == {"hello": "world"}


@pytest.mark.parametrize("mode", ["mac", "body", "content-type", "missing"])
def test_a_tampered_response_raises(signing_server, mode):
    url, state = signing_server
    state["mode"] = mode
    with pytest.raises(HawkResponseError) as raised:
        requests.get(url + "/thing", auth=HawkSessionAuth(TOKEN, verify_response=True), timeout=10)
    assert isinstance(raised.value, requests.RequestException)
    assert raised.value.response is not None and raised.value.request is not None
    # Without verification the same response is simply returned.
    assert requests.get(url + "/thing", auth=HawkSessionAuth(TOKEN), timeout=10).status_code == 200


def test_a_stale_timestamp_is_retried_once_only(signing_server):
    url, state = signing_server
    state["mode"] = "always-stale"
    auth = HawkSessionAuth(TOKEN, verify_response=True)
    response = requests.get(url + "/thing", auth=auth, timeout=10)
    assert response.status_code == 401
    assert state["requests"] == 2
    assert len(response.history) == 1
    assert auth.clock_offset > 4000


# --------------------------------------------------------------------------
# Hand-built requests and responses
# --------------------------------------------------------------------------


def signed(method="GET", url="http://api.example.com/r?a=1", auth=None, **kwargs) -> requests.PreparedRequest:
    return requests.Request(method, url, auth=auth or HawkSessionAuth(TOKEN, verify_response=True), **kwargs).prepare()


def response_to(
    request: requests.PreparedRequest,
    *,
    status: int = 200,
    body: bytes = b"ok",
    content_type: str = "text/plain",
    server_authorization: str | None = "sign",
    headers: dict[str, str] | None = None,
) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.request = request
    response._content = body
    response.headers = CaseInsensitiveDict({"Content-Type": content_type, **(headers or {})})
    if server_authorization == "sign":
        _, key = protocol.derive_session_credentials(TOKEN)
        auth = protocol.parse_authorization(request.headers["Authorization"])
        from urllib.parse import urlsplit

        parts = urlsplit(request.url)
        server_authorization = protocol.server_authorization(
            key, "sha256", auth, method=request.method, resource=request.path_url, host=parts.hostname,
            port=parts.port or (443 if parts.scheme == "https" else 80), content_type=content_type, body=body,
        )
    if server_authorization is not None:
        response.headers["Server-Authorization"] = server_authorization
    return response


def hook(request: requests.PreparedRequest):
    [handler] = request.hooks["response"]
    return handler


def test_the_authorization_header_verifies_with_the_protocol_module():
    id_, key = protocol.derive_session_credentials(TOKEN)
    auth = HawkSessionAuth(TOKEN, ext="app data")
    request = signed("PUT", "https://API.example.com/a/b?c=d&e", auth=auth, data=b"payload",
                     headers={"Content-Type": "Text/Plain; charset=x"})
    parsed = protocol.parse_authorization(request.headers["Authorization"])
    assert parsed.id == id_ and parsed.ext == "app data"
    assert parsed.hash == protocol.payload_hash("sha256", "text/plain", b"payload")
    protocol.verify_request(
        parsed, key=key, algorithm="sha256", method="PUT", resource="/a/b?c=d&e", host="api.example.com",
        port=443, now=time.time(), skew_seconds=60, content_type="text/plain", body=b"payload",
    )


def test_host_header_and_ipv6_literals_are_signed_as_the_server_sees_them():
    _, key = protocol.derive_session_credentials(TOKEN)
    for url, headers, host, port in [
        ("http://10.0.0.1:8080/x", {"Host": "api.example.com"}, "api.example.com", 80),
        ("http://10.0.0.1/x", {"Host": "api.example.com:81"}, "api.example.com", "81"),
        ("http://[::1]:8080/x", {}, "[::1]", 8080),
        ("https://[::1]/x", {}, "[::1]", 443),
    ]:
        request = signed(url=url, headers=headers, auth=HawkSessionAuth(TOKEN))
        parsed = protocol.parse_authorization(request.headers["Authorization"])
        protocol.verify_request(
            parsed, key=key, algorithm="sha256", method="GET", resource="/x", host=host, port=port,
            now=time.time(), skew_seconds=60,
        )


def test_sha1_signs_with_sha1():
    request = signed(auth=HawkSessionAuth(TOKEN, algorithm="sha1"), method="POST", data=b"x")
    parsed = protocol.parse_authorization(request.headers["Authorization"])
    assert len(parsed.mac) == 28 and len(parsed.hash) == 28


def test_each_request_gets_a_fresh_nonce_and_the_clock_offset():
    auth = HawkSessionAuth(TOKEN, clock_offset=-7200)
    first = protocol.parse_authorization(signed(auth=auth).headers["Authorization"])
    second = protocol.parse_authorization(signed(auth=auth).headers["Authorization"])
    assert first.nonce != second.nonce
    assert first.ts < time.time() - 7000


def test_generators_and_files_are_refused(tmp_path):
    with pytest.raises(TypeError, match="payload hash"):
        signed("POST", data=(chunk for chunk in [b"a", b"b"]))
    path = tmp_path / "upload"
    path.write_bytes(b"content")
    with open(path, "rb") as upload, pytest.raises(TypeError, match="bytes or str"):
        signed("POST", data=upload)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        HawkSessionAuth("not a token")
    with pytest.raises(ValueError):
        HawkSessionAuth(TOKEN, algorithm="md5")
    with pytest.raises(ValueError):
        HawkSessionAuth(TOKEN, ext='say "hi"')
    assert "key" not in repr(HawkSessionAuth(TOKEN)).lower()


def test_a_valid_server_authorization_passes():
    request = signed()
    response = response_to(request)
    assert hook(request)(response) is response


def test_tampered_server_authorization_mac_raises():
    request = signed()
    response = response_to(request)
    header = response.headers["Server-Authorization"]
    mac = header.split('mac="', 1)[1][:44]
    response.headers["Server-Authorization"] = header.replace(mac, mac[::-1])
    with pytest.raises(HawkResponseError, match="MAC"):
        hook(request)(response)


def test_tampered_response_body_raises():
    request = signed()
    response = response_to(request)
    response._content = b"ko"
    with pytest.raises(HawkResponseError, match="payload hash"):
        hook(request)(response)


def test_server_authorization_signed_for_another_request_raises():
    response = response_to(signed())
    with pytest.raises(HawkResponseError):
        HawkSessionAuth(TOKEN, verify_response=True).verify_response_header(
            response_to(signed(), server_authorization=response.headers["Server-Authorization"])
        )


@pytest.mark.parametrize(
    "value",
    ['Hawk hash="x"', "Basic abc", 'Hawk mac="x", mac="y"', 'Hawk mac="x", id="y"', "Hawk", "", '"', "x" * 5000],
)
def test_malformed_server_authorization_raises(value):
    request = signed()
    with pytest.raises(HawkResponseError):
        hook(request)(response_to(request, server_authorization=value))


def test_missing_server_authorization_raises_on_2xx_only():
    request = signed()
    with pytest.raises(HawkResponseError, match="no Server-Authorization"):
        hook(request)(response_to(request, status=204, body=b"", server_authorization=None))
    refused = response_to(request, status=401, server_authorization=None)
    assert hook(request)(refused) is refused


def test_a_body_without_payload_hash_raises():
    request = signed()
    _, key = protocol.derive_session_credentials(TOKEN)
    auth = protocol.parse_authorization(request.headers["Authorization"])
    no_hash = protocol.server_authorization(
        key, "sha256", auth, method="GET", resource="/r?a=1", host="api.example.com", port=80,
        content_type="text/plain", body=None,
    )
    with pytest.raises(HawkResponseError, match="no payload hash"):
        hook(request)(response_to(request, server_authorization=no_hash))
    empty = response_to(request, body=b"", server_authorization=no_hash)
    assert hook(request)(empty) is empty


def test_head_responses_check_the_mac_but_not_the_absent_body():
    request = signed("HEAD")
    response = response_to(request, body=b"the body the server hashed")
    response._content = b""
    assert hook(request)(response) is response


def test_responses_to_requests_not_signed_by_this_auth_are_not_checked():
    auth = HawkSessionAuth(TOKEN, verify_response=True)
    unsigned = requests.Request("GET", "http://api.example.com/").prepare()
    response = response_to(unsigned, server_authorization=None)
    response.request = unsigned
    assert auth.handle_response(response) is response
    other = signed(auth=HawkSessionAuth("f" * 64))
    assert auth.handle_response(response_to(other, server_authorization=None)).request is other


def stale_challenge(now: int, key: bytes) -> str:
    return protocol.timestamp_challenge(key, "sha256", now)


def test_a_verified_stale_challenge_sets_the_clock_offset(monkeypatch):
    _, key = protocol.derive_session_credentials(TOKEN)
    auth = HawkSessionAuth(TOKEN, clock_offset=-3600)
    request = signed(auth=auth)
    monkeypatch.setattr(time, "time", lambda: 1_700_000_000.25)
    server_time = 1_700_001_000
    # Folded with another scheme's challenge, as requests does with two headers.
    challenge = f'Basic realm="authsuite", charset="UTF-8", {stale_challenge(server_time, key)}'
    response = response_to(request, status=401, server_authorization=None, headers={"WWW-Authenticate": challenge})
    assert auth.stale_timestamp(response) == server_time
    # Built by hand: no adapter to resend with, so the 401 comes back; the offset is learned.
    assert hook(request)(response) is response
    assert auth.clock_offset == 999.75


def test_a_forged_stale_challenge_is_ignored():
    auth = HawkSessionAuth(TOKEN, clock_offset=-3600)
    request = signed(auth=auth)
    _, other_key = protocol.derive_session_credentials("a" * 64)
    for challenge in [
        stale_challenge(int(time.time()), other_key),
        'Hawk ts="1700000000", error="Stale timestamp"',
        'Hawk ts="017", tsm="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="',
        "Hawk ts=",
    ]:
        response = response_to(request, status=401, server_authorization=None, headers={"WWW-Authenticate": challenge})
        assert auth.stale_timestamp(response) is None
        assert hook(request)(response) is response
        assert auth.clock_offset == -3600


def test_challenge_parser():
    assert _parse_challenges('Hawk ts="1", tsm="a=", error="Stale timestamp", Basic realm="r", charset="UTF-8"') == [
        ("Hawk", {"ts": "1", "tsm": "a=", "error": "Stale timestamp"}),
        ("Basic", {"realm": "r", "charset": "UTF-8"}),
    ]
    assert _parse_challenges('Negotiate abc==, Bearer xyz=, Basic realm=x, Hawk') == [
        ("Negotiate", {}), ("Bearer", {}), ("Basic", {"realm": "x"}), ("Hawk", {}),
    ]
    assert _parse_challenges(r'Hawk ext="a\"b"') == [("Hawk", {"ext": 'a"b'})]
    for bad in ['realm="x"', 'Hawk a="1", a="2"', 'Hawk a="unterminated', "Hawk a=@"]:
        with pytest.raises(ValueError):
            _parse_challenges(bad)
