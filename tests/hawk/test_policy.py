"""The Hawk policy and /hawk-sessions through the demo app, signed by mohawk (an independent peer).

Runs on memory+SQLite and on Redis+PostgreSQL.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import mohawk
import pytest
from mohawk.bewit import get_bewit
from mohawk.base import Resource

from pyramid_authsuite.hawk import protocol
from pyramid_authsuite.hawk.sessions import INDEX_PREFIX, SESSION_PREFIX, sessions_for
from tests.apps import basic, make_demo, registry

PASSWORD = "correct horse battery"
HOST = "api.example.com"
BASE = f"http://{HOST}"
HAWK_SETTINGS = {
    "authsuite.endpoints": "hawk_sessions",
    "multiauth.policies": "hawk basic",
    "multiauth.policy.hawk.use": "pyramid_authsuite.HawkAuthenticationPolicy",
    "multiauth.policy.hawk.realm": "hawk-test",
    "multiauth.policy.basic.use": "pyramid_authsuite.BasicAuthenticationPolicy",
}


@pytest.fixture
def app(backends):
    app = make_demo({**backends, **HAWK_SETTINGS})
    app.extra_environ = {**app.extra_environ, "HTTP_HOST": HOST}
    store = registry(app).authsuite_accounts
    store.create("alice", PASSWORD, roles=["admin"], tenant="acme")
    store.create("bob", PASSWORD)
    yield app
    store.close()
    registry(app).authsuite_cache.close()


def login(app, userid="alice") -> str:
    response = app.post("/hawk-sessions", headers=basic(userid, PASSWORD), status=201)
    assert response.headers["Hawk-Session-Token"] == response.json["token"]
    return response.json["token"]


def credentials(token: str) -> dict:
    hawk_id, key = protocol.derive_session_credentials(token)
    return {"id": hawk_id, "key": key.decode(), "algorithm": "sha256"}


def signed(token, path, method="GET", body=b"", content_type="", **kwargs) -> dict:
    sender = mohawk.Sender(credentials(token), BASE + path, method, content=body, content_type=content_type, **kwargs)
    return {"Authorization": sender.request_header}


def problem_code(response) -> str:
    assert response.content_type == "application/problem+json"
    return json.loads(response.body)["type"].rsplit(":", 1)[1]


# -- the session flow ----------------------------------------------------------


def test_login_then_signed_requests(app):
    token = login(app)
    body = app.get("/whoami", headers=signed(token, "/whoami")).json
    assert body["userid"] == "alice" and body["scheme"] == "hawk"
    assert {"role:admin", "tenant:acme", "scheme:hawk"} <= set(body["principals"])
    app.get("/admin", headers=signed(token, "/admin"), status=200)


def test_login_response_body(app):
    response = app.post("/hawk-sessions", headers=basic("alice", PASSWORD), status=201)
    assert set(response.json) == {"token", "token_type", "expires_in", "expires_at", "sliding"}
    assert len(response.json["token"]) == 64 and int(response.json["token"], 16) >= 0
    assert response.json["expires_in"] == 60 * 86400
    assert response.headers["Cache-Control"] == "no-store"


def test_replayed_header_is_refused(app):
    token = login(app)
    headers = signed(token, "/whoami")
    app.get("/whoami", headers=headers, status=200)
    response = app.get("/whoami", headers=headers, status=401)
    assert problem_code(response) == "replayed_request"
    assert 'Hawk realm="hawk-test"' in response.headers.getall("WWW-Authenticate")


def test_a_hawk_session_can_open_another_and_close_itself(app):
    first = login(app)
    second = app.post("/hawk-sessions", headers=signed(first, "/hawk-sessions", "POST"), status=201).json["token"]
    assert second != first
    app.delete("/hawk-sessions", headers=signed(second, "/hawk-sessions", "DELETE"), status=204)
    assert problem_code(app.get("/whoami", headers=signed(second, "/whoami"), status=401)) == "invalid_credentials"
    app.get("/whoami", headers=signed(first, "/whoami"), status=200)


def test_delete_needs_the_hawk_session_itself(app):
    response = app.delete("/hawk-sessions", headers=basic("alice", PASSWORD), status=403)
    assert problem_code(response) == "hawk_session_required"
    app.delete("/hawk-sessions", status=401)


def test_login_needs_credentials_and_a_login_scheme(backends):
    app = make_demo({**backends, **HAWK_SETTINGS, "authsuite.login_schemes": "basic"})
    app.extra_environ = {**app.extra_environ, "HTTP_HOST": HOST}
    registry(app).authsuite_accounts.create("alice", PASSWORD)
    anonymous = app.post("/hawk-sessions", status=401)
    assert set(anonymous.headers.getall("WWW-Authenticate")) == {
        'Hawk realm="hawk-test"', 'Basic realm="authsuite-test", charset="UTF-8"'}
    token = login(app)
    refused = app.post("/hawk-sessions", headers=signed(token, "/hawk-sessions", "POST"), status=403)
    assert problem_code(refused) == "login_scheme_not_allowed"


def test_sessions_are_stored_under_a_keyed_hash(app):
    token = login(app)
    hawk_id, key = protocol.derive_session_credentials(token)
    cache = registry(app).authsuite_cache
    sessions = sessions_for(registry(app))
    ref = sessions.ref(hawk_id)
    assert ref != hawk_id and ref != hashlib.sha256(hawk_id.encode()).hexdigest()
    assert cache.get(SESSION_PREFIX + hawk_id) is None
    assert json.loads(cache.get(SESSION_PREFIX + ref))["userid"] == "alice"
    assert cache.members(INDEX_PREFIX + "alice") == {ref}


def test_revoke_all_ends_every_session_of_the_account(app):
    tokens = [login(app) for _ in range(3)]
    bob = login(app, "bob")
    assert sessions_for(registry(app)).revoke_all("alice") == 3
    for token in tokens:
        app.get("/whoami", headers=signed(token, "/whoami"), status=401)
    app.get("/whoami", headers=signed(bob, "/whoami"), status=200)


def test_disabled_account_cannot_log_in_again(app):
    registry(app).authsuite_accounts.update("bob", disabled=True)
    app.post("/hawk-sessions", headers=basic("bob", PASSWORD), status=401)


# -- payloads, tampering, time -----------------------------------------------------


def test_post_with_payload_is_verified(app):
    token = login(app)
    body = json.dumps({"name": "x"}).encode()
    headers = signed(token, "/hawk-sessions", "POST", body, "application/json; charset=utf-8")
    app.post("/hawk-sessions", body, headers={**headers, "Content-Type": "application/json; charset=utf-8"}, status=201)


def test_signature_for_another_path_is_refused(app):
    token = login(app)
    response = app.get("/whoami", headers=signed(token, "/admin"), status=401)
    assert problem_code(response) == "invalid_credentials"


@pytest.mark.parametrize("tamper", ["method", "query", "host", "port", "body", "content_type"])
def test_tampered_requests_are_refused(app, tamper):
    token = login(app)
    body, content_type = b'{"a": 1}', "application/json"
    headers = signed(token, "/hawk-sessions?x=1", "POST", body, content_type)
    request = {"method": "POST", "path": "/hawk-sessions?x=1", "body": body, "content_type": content_type, "host": HOST}
    request.update({
        "method": {"method": "DELETE"},
        "query": {"path": "/hawk-sessions?x=2"},
        "host": {"host": "evil.example.com"},
        "port": {"host": HOST + ":8080"},
        "body": {"body": b'{"a": 2}'},
        "content_type": {"content_type": "text/plain"},
    }[tamper])
    app.extra_environ = {**app.extra_environ, "HTTP_HOST": request["host"]}
    response = app.request(
        request["path"], method=request["method"], body=request["body"],
        headers={**headers, "Content-Type": request["content_type"]}, expect_errors=True,
    )
    assert response.status_int == 401
    assert problem_code(response) in ("invalid_credentials", "invalid_payload")


def test_tampered_mac_and_body_codes(app):
    token = login(app)
    headers = signed(token, "/hawk-sessions", "POST", b"{}", "application/json")
    body_swap = app.post("/hawk-sessions", b"[]", headers={**headers, "Content-Type": "application/json"}, status=401)
    assert problem_code(body_swap) == "invalid_payload"
    forged = signed(token, "/whoami")["Authorization"].replace('mac="', 'mac="A', 1).replace('=",', '",', 1)
    assert problem_code(app.get("/whoami", headers={"Authorization": forged}, status=401)) in (
        "invalid_credentials", "malformed_credentials")


def test_a_body_without_a_payload_hash_is_refused(app):
    token = login(app)
    sender = mohawk.Sender(credentials(token), BASE + "/hawk-sessions", "POST", always_hash_content=False,
                           content=None, content_type=None)
    response = app.post("/hawk-sessions", b"{}", headers={"Authorization": sender.request_header,
                                                          "Content-Type": "application/json"}, status=401)
    assert problem_code(response) == "invalid_payload"


def test_stale_timestamp_challenge_is_signed_with_the_session_key(app):
    token = login(app)
    headers = signed(token, "/whoami", _timestamp=int(time.time()) - 3600)
    response = app.get("/whoami", headers=headers, status=401)
    assert problem_code(response) == "stale_timestamp"
    challenges = response.headers.getall("WWW-Authenticate")
    hawk = [c for c in challenges if c.startswith("Hawk ")][0]
    attributes = dict(part.split("=", 1) for part in hawk[5:].split(", "))
    assert set(attributes) == {"ts", "tsm", "error"}
    assert attributes["error"] == '"Stale timestamp"'
    ts = attributes["ts"].strip('"')
    assert abs(int(ts) - time.time()) < 30
    _, key = protocol.derive_session_credentials(token)
    expected = base64.b64encode(hmac.new(key, f"hawk.1.ts\n{ts}\n".encode(), hashlib.sha256).digest()).decode()
    assert attributes["tsm"].strip('"') == expected


def test_a_stale_request_does_not_burn_its_nonce(app):
    token = login(app)
    app.get("/whoami", headers=signed(token, "/whoami", nonce="n1", _timestamp=int(time.time()) - 3600), status=401)
    app.get("/whoami", headers=signed(token, "/whoami", nonce="n1"), status=200)


def test_sha1_refused_unless_configured(app, backends):
    token = login(app)
    sha1 = {**credentials(token), "algorithm": "sha1"}
    header = mohawk.Sender(sha1, BASE + "/whoami", "GET", content=b"", content_type="").request_header
    app.get("/whoami", headers={"Authorization": header}, status=401)
    lenient = make_demo({**backends, **HAWK_SETTINGS, "multiauth.policy.hawk.algorithms": "sha256 sha1"})
    lenient.extra_environ = {**lenient.extra_environ, "HTTP_HOST": HOST}
    token = login(lenient)
    header = mohawk.Sender({**credentials(token), "algorithm": "sha1"}, BASE + "/whoami", "GET",
                           content=b"", content_type="").request_header
    lenient.get("/whoami", headers={"Authorization": header}, status=200)


# -- responses -----------------------------------------------------------------------


@pytest.mark.parametrize("path, status", [("/whoami", 200), ("/admin", 403)])
def test_responses_are_signed_and_mohawk_accepts_them(app, path, status):
    token = login(app, "alice" if status == 200 else "bob")
    sender = mohawk.Sender(credentials(token), BASE + path, "GET", content=b"", content_type="")
    response = app.get(path, headers={"Authorization": sender.request_header}, status=status)
    sender.accept_response(response.headers["Server-Authorization"], content=response.body,
                           content_type=response.headers["Content-Type"])
    with pytest.raises(mohawk.exc.HawkFail):
        sender.accept_response(response.headers["Server-Authorization"], content=response.body + b" ",
                               content_type=response.headers["Content-Type"])


def test_empty_204_response_is_signed(app):
    token = login(app)
    sender = mohawk.Sender(credentials(token), BASE + "/hawk-sessions", "DELETE", content=b"", content_type="")
    response = app.delete("/hawk-sessions", headers={"Authorization": sender.request_header}, status=204)
    assert response.body == b""
    sender.accept_response(response.headers["Server-Authorization"], content=b"",
                           content_type=response.headers.get("Content-Type", ""))


def test_responses_of_other_schemes_are_not_signed(app):
    assert "Server-Authorization" not in app.get("/whoami", headers=basic("alice", PASSWORD)).headers


def test_signing_can_be_turned_off(backends):
    app = make_demo({**backends, **HAWK_SETTINGS, "multiauth.policy.hawk.sign_responses": "false"})
    app.extra_environ = {**app.extra_environ, "HTTP_HOST": HOST}
    registry(app).authsuite_accounts.create("alice", PASSWORD)
    token = login(app)
    assert "Server-Authorization" not in app.get("/whoami", headers=signed(token, "/whoami")).headers


def test_the_tween_replaces_a_server_authorization_the_view_set():
    from pyramid.response import Response

    from pyramid_authsuite.hawk.policy import SIGNING_KEY, server_authorization_tween_factory

    auth = protocol.parse_authorization(
        'Hawk id="a", ts="1353832234", nonce="n", mac="6R4rV5iE+NPoym+WwjeHzjAGXUtLNIxmo1vpMofpLAE="'
    )
    fields = protocol.request_fields(auth.ts, auth.nonce, "GET", "/x", "example.com", "80")
    allowed = frozenset({"sha256"})

    class FakeRequest:
        environ = {SIGNING_KEY: (b"key", "sha256", auth, fields, allowed)}

    def view(request):
        response = Response(b'{"a": 1}', content_type="application/json")
        response.headerlist.append(("server-authorization", "forged"))
        return response

    response = server_authorization_tween_factory(view, None)(FakeRequest())
    values = [value for name, value in response.headerlist if name.lower() == "server-authorization"]
    assert values == [
        protocol.server_authorization_fields(b"key", "sha256", auth, fields, "application/json", b'{"a": 1}')
    ]
    unsigned = server_authorization_tween_factory(view, None)(type("Anonymous", (), {"environ": {}})())
    assert [v for n, v in unsigned.headerlist if n.lower() == "server-authorization"] == ["forged"]


def test_policy_selected_event_names_the_hawk_policy(app):
    from pyramid_multiauth import MultiAuthPolicySelected

    seen = []
    registry(app).registerHandler(lambda event: seen.append((event.policy_name, event.userid)),
                                  (MultiAuthPolicySelected,))
    token = login(app)
    seen.clear()
    app.get("/whoami", headers=signed(token, "/whoami"), status=200)
    assert seen == [("hawk", "alice")]

# -- bewits -----------------------------------------------------------------------------


def bewit_for(token, path, ttl=300):
    hawk_id, key = protocol.derive_session_credentials(token)
    resource = Resource(credentials=credentials(token), url=BASE + path, method="GET", nonce="",
                        timestamp=int(time.time()) + ttl)
    return get_bewit(resource)


def test_bewit_authenticates_a_get(app):
    token = login(app)
    bewit = bewit_for(token, "/whoami")
    assert app.get(f"/whoami?bewit={bewit}").json["userid"] == "alice"
    app.head(f"/whoami?bewit={bewit}", status=200)


def test_bewit_is_bound_to_its_url_and_time(app):
    token = login(app)
    bewit = bewit_for(token, "/whoami")
    assert problem_code(app.get(f"/admin?bewit={bewit}", status=401)) == "invalid_credentials"
    expired = bewit_for(token, "/whoami", ttl=-10)
    assert problem_code(app.get(f"/whoami?bewit={expired}", status=401)) == "expired_bewit"
    assert problem_code(app.get("/whoami?bewit=%%%", status=401)) == "malformed_credentials"


def test_bewit_of_a_revoked_session_is_refused(app):
    token = login(app)
    bewit = bewit_for(token, "/whoami")
    sessions_for(registry(app)).revoke_all("alice")
    app.get(f"/whoami?bewit={bewit}", status=401)


# -- malformed headers: 401 and problem+json, never a 500 -----------------------------


MALFORMED = [
    "Hawk",
    "Hawk ",
    "Hawk  ",
    'Hawk id="a"',
    'Hawk id="a", ts="1", nonce="n"',
    'Hawk ts="1353832234", nonce="j4h3g2", mac="6R4rV5iE+NPoym+WwjeHzjAGXUtLNIxmo1vpMofpLAE="',
    'Hawk id="a", nonce="j4h3g2", mac="6R4rV5iE+NPoym+WwjeHzjAGXUtLNIxmo1vpMofpLAE="',
    'Hawk id="a", ts="1353832234", mac="6R4rV5iE+NPoym+WwjeHzjAGXUtLNIxmo1vpMofpLAE="',
    'Hawk id="a", ts="1353832234", nonce="j4h3g2"',
    'Hawk id="a", id="b", ts="1", nonce="n", mac="6R4rV5iE+NPoym+WwjeHzjAGXUtLNIxmo1vpMofpLAE="',
    'Hawk id="a", ts="1", nonce="n", mac="6R4rV5iE+NPoym+WwjeHzjAGXUtLNIxmo1vpMofpLAE=", color="red"',
    'Hawk id=a, ts="1", nonce="n", mac="6R4rV5iE+NPoym+WwjeHzjAGXUtLNIxmo1vpMofpLAE="',
    'Hawk id="a, ts="1", nonce="n", mac="6R4rV5iE+NPoym+WwjeHzjAGXUtLNIxmo1vpMofpLAE="',
    'Hawk id="' + "a" * 5000 + '", ts="1", nonce="n", mac="6R4rV5iE+NPoym+WwjeHzjAGXUtLNIxmo1vpMofpLAE="',
    'Hawk id="a", ts="1", nonce="n", mac="!!!!"',
    'Hawk id="a", ts="1", nonce="n", mac="6R4rV5iE"',
    'Hawk id="\u00e9", ts="1", nonce="n", mac="6R4rV5iE+NPoym+WwjeHzjAGXUtLNIxmo1vpMofpLAE="',
    'Hawk id="a\x01", ts="1", nonce="n", mac="6R4rV5iE+NPoym+WwjeHzjAGXUtLNIxmo1vpMofpLAE="',
    'Hawk id="a", ts="99999999999999999999", nonce="n", mac="6R4rV5iE+NPoym+WwjeHzjAGXUtLNIxmo1vpMofpLAE="',
    'Hawk id="a", ts="-5", nonce="n", mac="6R4rV5iE+NPoym+WwjeHzjAGXUtLNIxmo1vpMofpLAE="',
    'Hawk id="a", ts="soon", nonce="n", mac="6R4rV5iE+NPoym+WwjeHzjAGXUtLNIxmo1vpMofpLAE="',
    'Hawk id="", ts="1", nonce="n", mac="6R4rV5iE+NPoym+WwjeHzjAGXUtLNIxmo1vpMofpLAE="',
    'Hawk id="a" ts="1" nonce="n" mac="6R4rV5iE+NPoym+WwjeHzjAGXUtLNIxmo1vpMofpLAE="',
    'Hawk id="a", ts="1", nonce="n", mac="6R4rV5iE+NPoym+WwjeHzjAGXUtLNIxmo1vpMofpLAE=" trailing',
    'Hawk id="a\\"b", ts="1", nonce="n", mac="6R4rV5iE+NPoym+WwjeHzjAGXUtLNIxmo1vpMofpLAE="',
    'Hawk id="a", ts="1", nonce="n", mac="6R4rV5iE+NPoym+WwjeHzjAGXUtLNIxmo1vpMofpLAE=",',
    'Hawk id="a", ts="1", nonce="n", hash="", mac="6R4rV5iE+NPoym+WwjeHzjAGXUtLNIxmo1vpMofpLAE="',
    'hawk id="a", ts="1", nonce="n", mac="6R4rV5iE+NPoym+WwjeHzjAGXUtLNIxmo1vpMofpLAE="',
]


@pytest.mark.parametrize("header", MALFORMED)
def test_malformed_headers_are_401_problem_json(app, header):
    response = app.get("/whoami", headers={"Authorization": header.encode("utf-8").decode("latin-1")}, status=401)
    assert problem_code(response) in ("malformed_credentials", "invalid_credentials", "authentication_required")
    assert response.json["status"] == 401


def test_at_least_25_malformed_cases():
    assert len(MALFORMED) >= 25


# -- configuration ----------------------------------------------------------------------


@pytest.mark.parametrize("settings, message", [
    ({"multiauth.policy.hawk.timestamp_skew_seconds": "60", "multiauth.policy.hawk.nonce_ttl_seconds": "90"},
     "multiauth.policy.hawk.nonce_ttl_seconds: must be at least 120"),
    ({"multiauth.policy.hawk.algorithms": "md5"}, "multiauth.policy.hawk.algorithms"),
    ({"multiauth.policy.hawk.verify_payload": "perhaps"}, "multiauth.policy.hawk.verify_payload"),
    ({"multiauth.policies": "basic"}, "hawk_sessions needs a pyramid_authsuite.HawkAuthenticationPolicy"),
])
def test_bad_hawk_settings(settings, message, tmp_path):
    from pyramid.exceptions import ConfigurationError, ConfigurationExecutionError

    with pytest.raises((ConfigurationError, ConfigurationExecutionError)) as caught:
        make_demo({"authsuite.accounts_url": f"sqlite:///{tmp_path}/a.sqlite", **HAWK_SETTINGS, **settings})
    assert message in str(caught.value)


def test_cors_exposes_the_token_header(backends):
    app = make_demo({**backends, **HAWK_SETTINGS, "authsuite.cors_origins": "https://app.example.com"})
    app.extra_environ = {**app.extra_environ, "HTTP_HOST": HOST}
    registry(app).authsuite_accounts.create("alice", PASSWORD)
    response = app.post("/hawk-sessions", headers={**basic("alice", PASSWORD), "Origin": "https://app.example.com"},
                        status=201)
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "Hawk-Session-Token" in response.headers["Access-Control-Expose-Headers"]


@pytest.mark.parametrize("path", ["/hawk-sessions"])
def test_cors_preflight_allows_authorization(backends, path):
    app = make_demo({**backends, **HAWK_SETTINGS, "authsuite.cors_origins": "https://app.example.com"})
    response = app.options(path, headers={"Origin": "https://app.example.com",
                                          "Access-Control-Request-Method": "POST",
                                          "Access-Control-Request-Headers": "Authorization, Content-Type"})
    assert response.status_int == 200
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    allowed = {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed
    refused = app.options(path, headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"},
                          status=400)
    assert refused.content_type == "application/problem+json"
