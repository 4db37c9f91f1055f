"""The credential endpoints answer problem+json for what is not an authentication
refusal too: 405 for a method they do not have (with ``Allow``), 404 below their
paths. The application's own 404s, elsewhere or on its own routes, stay its own."""
from __future__ import annotations

import json

import pytest
import webtest
from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPNotFound
from pyramid.response import Response

from tests.apps import BASIC_POLICY, CHEAP_HASHING, make_demo

ENDPOINT_SETTINGS = {
    "authsuite.endpoints": "hawk_sessions tokens challenges jwks",
    "multiauth.policies": "hawk jwt challenge basic",
    "multiauth.policy.hawk.use": "pyramid_authsuite.HawkAuthenticationPolicy",
    "multiauth.policy.jwt.use": "pyramid_authsuite.JWTAuthenticationPolicy",
    "multiauth.policy.challenge.use": "pyramid_authsuite.ChallengeAuthenticationPolicy",
}


@pytest.fixture
def app(tmp_path):
    return make_demo({"authsuite.accounts_url": f"sqlite:///{tmp_path}/a.sqlite", **ENDPOINT_SETTINGS})


def problem(response, status: int, code: str) -> dict:
    assert response.status_int == status
    assert response.content_type == "application/problem+json"
    body = json.loads(response.body)
    assert body["status"] == status and body["type"].endswith(f":{code}")
    assert set(body) == {"type", "title", "status", "detail"}
    return body


@pytest.mark.parametrize("method, path, allow", [
    ("GET", "/hawk-sessions", "POST, DELETE"),
    ("PUT", "/hawk-sessions", "POST, DELETE"),
    ("GET", "/tokens", "POST, DELETE"),
    ("GET", "/tokens/current", "POST, DELETE"),
    ("GET", "/challenges", "POST"),
    ("DELETE", "/challenges", "POST"),
    ("POST", "/.well-known/jwks.json", "GET, HEAD, OPTIONS"),
])
@pytest.mark.parametrize("accept", [None, "text/html", "*/*"])
def test_a_method_an_endpoint_lacks_is_405_problem_json_with_allow(app, method, path, allow, accept):
    headers = {"Accept": accept} if accept else {}
    response = app.request(path, method=method, headers=headers, expect_errors=True)
    body = problem(response, 405, "method_not_allowed")
    assert response.headers["Allow"] == allow
    assert method in body["detail"] and allow in body["detail"]


@pytest.mark.parametrize("path", [
    "/hawk-sessions/", "/hawk-sessions/x", "/tokens/x", "/tokens/current/x", "/tokens/", "/challenges/1/answer",
    "/.well-known/jwks.json/x",
])
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_a_path_under_an_endpoint_is_404_problem_json(app, path, method):
    response = app.request(path, method=method, headers={"Accept": "text/html"}, expect_errors=True)
    problem(response, 404, "not_found")


@pytest.mark.parametrize("path", ["/nothing", "/tokensx", "/hawk-sessionsx/y", "/.well-known/other", "/whoami/x"])
def test_the_applications_other_404s_are_unchanged(app, path):
    response = app.get(path, status=404)
    assert response.content_type != "application/problem+json"


def test_head_and_options_without_cors(app):
    head = app.head("/hawk-sessions", status=405)
    assert head.headers["Allow"] == "POST, DELETE" and head.body == b""
    options = app.options("/hawk-sessions", status=405)  # no authsuite.cors_origins: no preflight view
    problem(options, 405, "method_not_allowed")


def test_the_endpoints_still_answer_their_own_methods(app):
    assert isinstance(app.get("/.well-known/jwks.json").json["keys"], list)
    preflight = app.options("/.well-known/jwks.json", headers={"Origin": "https://x.example",
                                                               "Access-Control-Request-Method": "GET"})
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    # The refusals of the policies are unchanged: anonymous POST is a 401 challenge.
    response = app.post("/hawk-sessions", status=401)
    assert response.content_type == "application/problem+json"
    assert "WWW-Authenticate" in response.headers


def _own_not_found(request):
    return Response("the application's own 404", status=404, content_type="text/plain")


def _raises_not_found(request):
    raise HTTPNotFound("no such token in this application")


def test_the_applications_own_routes_and_notfound_view_keep_their_404s(tmp_path):
    settings = {**CHEAP_HASHING, **BASIC_POLICY, **ENDPOINT_SETTINGS,
                "authsuite.accounts_url": f"sqlite:///{tmp_path}/a.sqlite"}
    with Configurator(settings=settings) as config:
        config.include("pyramid_authsuite")
        # A route of the application's own under an endpoint's path, and its
        # own not-found view for everything else.
        config.add_route("token_report", "/tokens/report/{id}")
        config.add_view(_raises_not_found, route_name="token_report")
        config.add_notfound_view(_own_not_found)
        app = webtest.TestApp(config.make_wsgi_app())
    assert app.get("/elsewhere", status=404).text == "the application's own 404"
    own_route = app.get("/tokens/report/7", status=404)
    assert own_route.text == "the application's own 404"  # its view raised; its notfound view answered
    problem(app.get("/tokens/nope", status=404), 404, "not_found")
    problem(app.get("/hawk-sessions", status=405), 405, "method_not_allowed")


def test_under_a_route_prefix(tmp_path):
    settings = {**CHEAP_HASHING, **BASIC_POLICY, **ENDPOINT_SETTINGS,
                "authsuite.accounts_url": f"sqlite:///{tmp_path}/a.sqlite"}
    with Configurator(settings=settings) as config:
        config.include("pyramid_authsuite", route_prefix="/api/v1")
        app = webtest.TestApp(config.make_wsgi_app())
    problem(app.get("/api/v1/hawk-sessions", status=405), 405, "method_not_allowed")
    problem(app.get("/api/v1/tokens/x", status=404), 404, "not_found")
    assert app.get("/tokens/x", status=404).content_type != "application/problem+json"
