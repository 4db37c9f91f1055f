"""Issue 10 (audit): Hawk checks the MAC before it says anything, and signs every verified request's response.

- A stale timestamp is answered with the signed server time (``ts``, ``tsm``)
  only after the MAC verified; an unknown session and a wrong MAC, stale or
  not, get one and the same refusal, so a Hawk id seen in a log tells nobody
  whether its session is live.
- Every response to a request whose Hawk header verifies carries
  ``Server-Authorization``: public views (the demo's ``GET /``) and 404s too,
  checked by our own ``HawkSessionAuth(verify_response=True)`` and by
  mohawk's ``accept_response`` over real HTTP; an absent, invalid or replayed
  header gets none.
"""
from __future__ import annotations

import secrets
import time

import mohawk
import pytest
import requests
from mohawk.base import Resource
from mohawk.bewit import get_bewit

from pyramid_authsuite.hawk import protocol
from pyramid_authsuite.hawk.client import HawkSessionAuth
from tests.apps import make_demo, registry
from tests.hawk.test_policy import BASE, HAWK_SETTINGS, HOST, credentials, login, problem_code, signed

PASSWORD = "correct horse battery"
MISSING = "/no-such-page"


@pytest.fixture
def app(backends):
    app = make_demo({**backends, **HAWK_SETTINGS})
    app.extra_environ = {**app.extra_environ, "HTTP_HOST": HOST}
    store = registry(app).authsuite_accounts
    store.create("alice", PASSWORD, roles=["admin"])
    yield app
    store.close()
    registry(app).authsuite_cache.close()


def forged(token: str, path: str, **kwargs) -> dict:
    """A header naming ``token``'s live session, signed with another key."""
    wrong = {**credentials(token), "key": secrets.token_hex(32)}
    return {"Authorization": mohawk.Sender(wrong, BASE + path, "GET", content=b"", content_type="", **kwargs).request_header}


def hawk_challenges(response) -> list[str]:
    return [value for value in response.headers.getall("WWW-Authenticate") if value.startswith("Hawk ")]


# -- the MAC before anything else ----------------------------------------------------------


def test_a_stale_request_with_a_wrong_mac_gets_no_server_time(app):
    token = login(app)
    response = app.get("/whoami", headers=forged(token, "/whoami", _timestamp=int(time.time()) - 3600), status=401)
    assert problem_code(response) == "invalid_credentials"
    assert hawk_challenges(response) == ['Hawk realm="hawk-test"']
    assert "tsm" not in str(response.headers) and "Stale" not in response.text


def test_a_stale_request_with_the_right_mac_still_gets_the_signed_server_time(app):
    token = login(app)
    response = app.get("/whoami", headers=signed(token, "/whoami", _timestamp=int(time.time()) - 3600), status=401)
    assert problem_code(response) == "stale_timestamp"
    [challenge] = hawk_challenges(response)
    assert 'tsm="' in challenge and 'ts="' in challenge


def test_unknown_session_and_wrong_mac_get_the_same_refusal_stale_or_not(app):
    token = login(app)
    unknown = secrets.token_hex(32)  # a well-formed session token the server never issued
    stale = int(time.time()) - 3600
    answers = [
        app.get("/whoami", headers=headers, status=401)
        for headers in (
            signed(unknown, "/whoami"),
            forged(token, "/whoami"),
            signed(unknown, "/whoami", _timestamp=stale),
            forged(token, "/whoami", _timestamp=stale),
        )
    ]
    first = answers[0]
    assert problem_code(first) == "invalid_credentials"
    for other in answers[1:]:
        assert (other.status, sorted(other.headerlist), other.body) == (first.status, sorted(first.headerlist), first.body)


def test_unknown_session_and_wrong_mac_get_the_same_refusal_for_bewits(app):
    token = login(app)

    def bewit(creds: dict, exp_offset: int = 300) -> str:
        resource = Resource(credentials=creds, url=BASE + "/whoami", method="GET", nonce="",
                            timestamp=int(time.time()) + exp_offset)
        return get_bewit(resource)

    unknown = credentials(secrets.token_hex(32))
    wrong = {**credentials(token), "key": secrets.token_hex(32)}
    for make in (lambda creds: bewit(creds), lambda creds: bewit(creds, exp_offset=-60)):
        answers = [app.get(f"/whoami?bewit={make(creds)}", status=401) for creds in (unknown, wrong)]
        assert problem_code(answers[0]) == "invalid_credentials"
        assert (answers[0].headerlist, answers[0].body) == (answers[1].headerlist, answers[1].body)
    # Methods a bewit cannot authorize are refused alike too, session or not.
    posts = [app.post(f"/whoami?bewit={bewit(creds)}", status=401) for creds in (unknown, credentials(token))]
    assert (posts[0].headerlist, posts[0].body) == (posts[1].headerlist, posts[1].body)


@pytest.mark.parametrize("stale", [False, True])
def test_a_wrong_mac_leaves_its_nonce_unrecorded(app, stale):
    token = login(app)
    ts = int(time.time()) - (3600 if stale else 0)
    app.get("/whoami", headers=forged(token, "/whoami", nonce="n1", _timestamp=ts), status=401)
    if stale:
        ts = int(time.time())
        app.get("/whoami", headers=forged(token, "/whoami", nonce="n1", _timestamp=ts), status=401)
    app.get("/whoami", headers=signed(token, "/whoami", nonce="n1", _timestamp=ts), status=200)


# -- Server-Authorization on every verified request's response (in process, both backends) ---------


@pytest.mark.parametrize("path, status", [("/", 200), (MISSING, 404)])
def test_public_and_not_found_responses_are_signed(app, path, status):
    token = login(app)
    sender = mohawk.Sender(credentials(token), BASE + path, "GET", content=b"", content_type="")
    response = app.get(path, headers={"Authorization": sender.request_header}, status=status)
    sender.accept_response(response.headers["Server-Authorization"], content=response.body,
                           content_type=response.headers["Content-Type"])
    # Single use: the same signed request again is a replay, and is not signed.
    again = app.get(path, headers={"Authorization": sender.request_header}, status=status)
    assert "Server-Authorization" not in again.headers


@pytest.mark.parametrize("path, status", [("/", 200), (MISSING, 404)])
def test_unverified_requests_get_no_server_authorization(app, path, status):
    token = login(app)
    for headers in ({}, forged(token, path), signed(secrets.token_hex(32), path),
                    signed(token, path, _timestamp=int(time.time()) - 3600)):
        assert "Server-Authorization" not in app.get(path, headers=headers, status=status).headers


def test_no_signing_no_verification_outside_the_views(backends):
    app = make_demo({**backends, **HAWK_SETTINGS, "multiauth.policy.hawk.sign_responses": "false"})
    app.extra_environ = {**app.extra_environ, "HTTP_HOST": HOST}
    registry(app).authsuite_accounts.create("alice", PASSWORD)
    token = login(app)
    headers = signed(token, "/")
    for _ in range(2):  # nothing asked for the identity: the header is neither checked nor spent
        assert "Server-Authorization" not in app.get("/", headers=headers, status=200).headers


# -- over real HTTP, with our client and with mohawk -------------------------------------------------


@pytest.mark.parametrize("path, status", [("/", 200), (MISSING, 404)])
def test_our_client_verifies_public_and_not_found_responses(base, token, path, status):
    auth = HawkSessionAuth(token, verify_response=True)
    response = requests.get(base + path, auth=auth, timeout=10)  # raises HawkResponseError if unsigned on a 2xx
    assert response.status_code == status
    # A 404 without the header would pass the client's check: require it here.
    assert response.headers["Server-Authorization"].startswith('Hawk mac="')
    auth.verify_response_header(response)
    response._content = response.content + b" "
    with pytest.raises(requests.RequestException):
        auth.verify_response_header(response)


@pytest.mark.parametrize("path, status, accept", [
    ("/", 200, "*/*"), (MISSING, 404, "*/*"), (MISSING, 404, "application/json"), (MISSING, 404, "text/html"),
])
def test_mohawk_accepts_public_and_not_found_responses(base, token, path, status, accept):
    hawk_id, key = protocol.derive_session_credentials(token)
    sender = mohawk.Sender({"id": hawk_id, "key": key.decode(), "algorithm": "sha256"}, base + path, "GET",
                           content=b"", content_type="")
    response = requests.get(base + path, headers={"Authorization": sender.request_header, "Accept": accept},
                            timeout=10)
    assert response.status_code == status and response.content
    sender.accept_response(response.headers["Server-Authorization"], content=response.content,
                           content_type=response.headers["Content-Type"])
    with pytest.raises(mohawk.exc.HawkFail):
        sender.accept_response(response.headers["Server-Authorization"], content=response.content + b" ",
                               content_type=response.headers["Content-Type"])


def test_over_http_an_invalid_header_gets_no_server_authorization(base, token):
    hawk_id, _ = protocol.derive_session_credentials(token)
    wrong = {"id": hawk_id, "key": secrets.token_hex(32), "algorithm": "sha256"}
    for path, status in (("/", 200), (MISSING, 404)):
        header = mohawk.Sender(wrong, base + path, "GET", content=b"", content_type="").request_header
        response = requests.get(base + path, headers={"Authorization": header}, timeout=10)
        assert response.status_code == status and "Server-Authorization" not in response.headers


def test_a_signed_post_to_a_missing_page_is_verified_with_its_body(app):
    token = login(app)
    body, content_type = b'{"a": 1}', "application/json"
    sender = mohawk.Sender(credentials(token), BASE + MISSING, "POST", content=body, content_type=content_type)
    headers = {"Authorization": sender.request_header, "Content-Type": content_type}
    swapped = app.post(MISSING, b'{"a": 2}', headers=headers, status=404)
    assert "Server-Authorization" not in swapped.headers  # the payload hash does not match: not verified
    response = app.post(MISSING, body, headers=headers, status=404)
    sender.accept_response(response.headers["Server-Authorization"], content=response.body,
                           content_type=response.headers["Content-Type"])
