"""The judge itself can fail: apps that misbehave in each way it checks are caught.

Without this, a judge that never complained would let every fuzz module pass.
"""
from __future__ import annotations

import json

import pytest
import webtest

from tests.fuzz import test_basic
from tests.fuzz.common import Judge, Sent, rng_for


def app_answering(status: str, content_type: str, body: dict, headers: tuple = ()) -> webtest.TestApp:
    def wsgi(environ, start_response):
        start_response(status, [("Content-Type", content_type), *headers])
        return [json.dumps(body).encode()]
    return webtest.TestApp(wsgi)


def fuzz_basic(app: webtest.TestApp, count: int = 200) -> Judge:
    rng = rng_for("judge")
    judge = Judge(app, "judge")
    for _ in range(count):
        userid, header = test_basic.valid_header(rng)
        header = test_basic.mutated(rng, userid)
        judge.fuzz(Sent("GET", "/whoami", {"Authorization": header}), test_basic.oracle_for(header))
    return judge


PROBLEM_401 = {"type": "tag:x:invalid_credentials", "title": "Unauthorized", "status": 401}


@pytest.mark.parametrize("app, kind", [
    (app_answering("200 OK", "application/json", {"userid": "alice"}), "accepted but not valid"),
    (app_answering("403 Forbidden", "application/problem+json",
                   {"type": "tag:x:forbidden", "title": "Forbidden", "status": 403}), "accepted but not valid"),
    (app_answering("500 Internal Server Error", "text/plain", {}), "5xx"),
    (app_answering("401 Unauthorized", "text/html", PROBLEM_401, (("WWW-Authenticate", "Basic"),)),
     "refusal not problem+json"),
    (app_answering("401 Unauthorized", "application/problem+json", PROBLEM_401), "401 without WWW-Authenticate"),
    (app_answering("429 Too Many Requests", "application/problem+json", {**PROBLEM_401, "status": 429}),
     "429 without Retry-After"),
    (app_answering("401 Unauthorized", "application/problem+json", {"status": 401}, (("WWW-Authenticate", "B"),)),
     "problem+json incomplete"),
], ids=["wrong-acceptance", "forbidden-is-acceptance", "5xx", "not-problem", "no-challenge", "no-retry-after",
        "incomplete-problem"])
def test_the_judge_catches(app, kind):
    judge = fuzz_basic(app)
    assert kind in {found for found, _, _ in judge.findings}
    with pytest.raises(AssertionError):
        judge.assert_clean(minimum=1)


def test_the_judge_catches_a_valid_request_refused():
    judge = Judge(app_answering("401 Unauthorized", "application/problem+json", PROBLEM_401,
                                (("WWW-Authenticate", "Basic"),)), "judge")
    sent = Sent("GET", "/whoami", {})
    judge.expect_accepted(judge.send(sent), sent, "alice")
    assert [kind for kind, _, _ in judge.findings] == ["valid request refused"]


def test_the_judge_catches_someone_else():
    judge = Judge(app_answering("200 OK", "application/json", {"userid": "bob"}), "judge")
    sent = Sent("GET", "/whoami", {})
    judge.fuzz(sent, lambda: "alice")
    assert [kind for kind, _, _ in judge.findings] == ["accepted as someone else"]
