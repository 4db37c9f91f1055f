"""The security policy: composition, fail-closed outages, configuration errors, warnings."""
from __future__ import annotations

import json
import warnings

import pytest
from pyramid.exceptions import ConfigurationError, ConfigurationExecutionError
from pyramid.interfaces import IAuthenticationPolicy
from zope.interface import implementer

from pyramid_authsuite.policy import AuthSuitePolicy, Refusal, Verdict
from pyramid_authsuite.policy import RANK_NOT_MINE, RANK_PROVEN
from tests.apps import basic, make_demo, registry
from tests.conftest import free_port

PASSWORD = "correct horse battery"


@implementer(IAuthenticationPolicy)
class HeaderTokenPolicy:
    """A foreign (non-authsuite) policy: ``X-Demo-Token: <userid>`` authenticates,
    and every request from 127.0.0.1 gets the ``network:local`` principal."""

    def __init__(self, principal: str = "network:local"):
        self.principal = principal

    def authenticated_userid(self, request):
        return request.headers.get("X-Demo-Token")

    unauthenticated_userid = authenticated_userid

    def effective_principals(self, request):
        principals = ["system.Everyone"]
        if request.remote_addr == "127.0.0.1":
            principals.append(self.principal)
        userid = self.authenticated_userid(request)
        if userid:
            principals += ["system.Authenticated", userid]
        return principals

    def remember(self, request, userid, **kw):
        return []

    def forget(self, request):
        return [("WWW-Authenticate", 'DemoToken realm="test"')]


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path}/accounts.sqlite"


def test_foreign_policy_composes_and_challenges(sqlite_url):
    app = make_demo({
        "authsuite.accounts_url": sqlite_url,
        "multiauth.policies": "basic token",
        "multiauth.policy.basic.use": "pyramid_authsuite.BasicAuthenticationPolicy",
        "multiauth.policy.token.use": "tests.test_security.HeaderTokenPolicy",
        "multiauth.policy.token.principal": "network:loopback",
    })
    registry(app).authsuite_accounts.create("alice", PASSWORD)
    response = app.get("/whoami", status=401)
    assert response.headers.getall("WWW-Authenticate") == [
        'Basic realm="authsuite-test", charset="UTF-8"',
        'DemoToken realm="test"',
    ]
    foreign = app.get("/whoami", headers={"X-Demo-Token": "robot"}).json
    assert foreign["userid"] == "robot"
    assert foreign["scheme"] == "token"
    assert "network:loopback" in foreign["principals"]
    # The first policy in the list wins when both have credentials.
    both = app.get("/whoami", headers={**basic("alice", PASSWORD), "X-Demo-Token": "robot"}).json
    assert both["userid"] == "alice"


def test_groupfinder_adds_principals_and_can_reject(sqlite_url):
    app = make_demo({
        "authsuite.accounts_url": sqlite_url,
        "multiauth.groupfinder": "tests.test_security.groupfinder",
    })
    store = registry(app).authsuite_accounts
    store.create("alice", PASSWORD)
    store.create("mallory", PASSWORD)
    assert "role:admin" in app.get("/whoami", headers=basic("alice", PASSWORD)).json["principals"]
    app.get("/admin", headers=basic("alice", PASSWORD), status=200)
    app.get("/whoami", headers=basic("mallory", PASSWORD), status=401)


def groupfinder(userid, request):
    return None if userid == "mallory" else ["role:admin"]


def test_cache_outage_fails_closed_with_503(throwaway_redis, sqlite_url):
    app = make_demo({"authsuite.cache_url": throwaway_redis.url, "authsuite.accounts_url": sqlite_url,
                     "authsuite.cache_timeout_seconds": "0.5", "authsuite.retry_after_seconds": "7"})
    registry(app).authsuite_accounts.create("alice", PASSWORD)
    app.get("/whoami", headers=basic("alice", PASSWORD), status=200)
    throwaway_redis.stop()
    for path in ("/whoami", "/admin"):
        response = app.get(path, headers=basic("alice", PASSWORD), status=503)
        assert response.content_type == "application/problem+json"
        assert response.headers["Retry-After"] == "7"
        assert json.loads(response.body)["type"].endswith(":unavailable")
        assert PASSWORD not in response.text
    # Public views never ask who the caller is, so they need no backend.
    assert app.get("/").status_int == 200
    assert app.get("/", headers=basic("alice", PASSWORD)).status_int == 200
    # The accounts are untouched by the outage.
    assert registry(app).authsuite_accounts.get("alice") is not None


def test_account_store_outage_fails_closed_with_503():
    app = make_demo({"authsuite.accounts_url": f"postgresql://postgres@127.0.0.1:{free_port()}/test",
                     "authsuite.accounts_connect_timeout_seconds": "1"})
    response = app.get("/whoami", headers=basic("alice", PASSWORD), status=503)
    assert response.headers["Retry-After"] == "5"
    assert json.loads(response.body)["type"].endswith(":unavailable")


@pytest.mark.parametrize("settings, message", [
    ({"multiauth.policy.basic.max_failed_attempts": "many"}, "multiauth.policy.basic.max_failed_attempts"),
    ({"multiauth.policy.basic.lockout_seconds": "0"}, "multiauth.policy.basic.lockout_seconds"),
    ({"multiauth.policy.basic.realm": 'a"b'}, "multiauth.policy.basic.realm"),
    ({"multiauth.policy.basic.colour": "blue"}, "multiauth.policy.basic: "),
    ({"authsuite.cache_url": "memcached://x"}, "authsuite.cache_url"),
    ({"authsuite.retry_after_seconds": "-1"}, "authsuite.retry_after_seconds"),
])
def test_bad_settings_are_configuration_errors_naming_the_key(settings, message, sqlite_url):
    with pytest.raises((ConfigurationError, ConfigurationExecutionError)) as caught:
        make_demo({"authsuite.accounts_url": sqlite_url, **settings})
    assert message in str(caught.value)


def test_no_deprecation_warning_from_our_code(sqlite_url):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        app = make_demo({"authsuite.accounts_url": sqlite_url})
        registry(app).authsuite_accounts.create("alice", PASSWORD)
        app.get("/whoami", headers=basic("alice", PASSWORD))
        app.get("/admin", status=401)
    ours = [w for w in caught if issubclass(w.category, DeprecationWarning) and "pyramid_authsuite" in w.filename]
    assert ours == []
    # Pyramid 2's security policy, not the deprecated MultiAuthenticationPolicy.
    assert type(registry(app).authsuite_security_policy).__name__ == "AuthSuiteSecurityPolicy"


def test_included_twice_builds_one_set_of_backends(sqlite_url):
    app = make_demo({"authsuite.accounts_url": sqlite_url, "pyramid.includes": "pyramid_authsuite"})
    assert [name for name, _ in registry(app).authsuite_security_policy.get_policies()] == ["basic"]


# -- several policies refusing the same request: which refusal, which challenges ----------------


class RefusingPolicy(AuthSuitePolicy):
    """Refuses every request with the refusal its ini settings describe (``rank`` as the security policy reads it)."""

    scheme = "refusing"

    def __init__(self, realm="authsuite", code="refused", status="401", rank=None, auth_scheme="Refusing"):
        super().__init__(realm=realm)
        self.auth_scheme = auth_scheme
        fields = dict(code=code, detail=f"Refused by {code}.", status=int(status),
                      retry_after=7 if int(status) in (429, 503) else None, challenge_params=(("error", code),))
        self.refusal = Refusal(**fields) if rank is None else Refusal(**fields, rank=int(rank))

    def verify(self, request):
        return Verdict(refusal=self.refusal)


def refusing_app(sqlite_url, *policies: dict, foreign: int = 0):
    """The demo with one RefusingPolicy per dict (its settings), then ``foreign`` HeaderTokenPolicy copies."""
    settings = {"authsuite.accounts_url": sqlite_url}
    names = []
    for index, policy in enumerate(policies):
        name = f"p{index}"
        names.append(name)
        settings[f"multiauth.policy.{name}.use"] = "tests.test_security.RefusingPolicy"
        settings.update({f"multiauth.policy.{name}.{key}": value for key, value in policy.items()})
    for index in range(foreign):
        names.append(f"f{index}")
        settings[f"multiauth.policy.f{index}.use"] = "tests.test_security.HeaderTokenPolicy"
    settings["multiauth.policies"] = " ".join(names)
    return make_demo(settings)


def test_the_refusal_of_the_policy_the_credentials_were_meant_for_is_reported(sqlite_url):
    app = refusing_app(sqlite_url, {"code": "not_mine", "rank": RANK_NOT_MINE},
                       {"code": "plain"}, {"code": "proven", "rank": RANK_PROVEN}, {"code": "not_mine_either", "rank": "0"})
    response = app.get("/whoami", status=401)
    assert json.loads(response.body)["type"].endswith(":proven")
    # One protection space (same scheme and realm): one challenge, the reported refusal's.
    assert response.headers.getall("WWW-Authenticate") == ['Refusing realm="authsuite", error="proven"']


def test_equal_ranks_keep_the_status_order_then_the_policy_order(sqlite_url):
    # As before ranks existed: an outage or a rate limit fails closed ahead of a 401.
    outage = refusing_app(sqlite_url, {"code": "first"}, {"code": "down", "status": "503"}, {"code": "slow", "status": "429"})
    response = outage.get("/whoami", status=503)
    assert response.headers["Retry-After"] == "7" and json.loads(response.body)["type"].endswith(":down")
    limited = refusing_app(sqlite_url, {"code": "first"}, {"code": "slow", "status": "429"})
    assert json.loads(limited.get("/whoami", status=429).body)["type"].endswith(":slow")
    plain = refusing_app(sqlite_url, {"code": "first"}, {"code": "second"})
    assert json.loads(plain.get("/whoami", status=401).body)["type"].endswith(":first")
    # Credentials proven to be one policy's: its 401 is the answer, not another policy's outage.
    proven = refusing_app(sqlite_url, {"code": "down", "status": "503"}, {"code": "expired", "rank": RANK_PROVEN})
    assert json.loads(proven.get("/whoami", status=401).body)["type"].endswith(":expired")
    # A policy that holds nothing for the credentials does not mask another's outage.
    not_mine = refusing_app(sqlite_url, {"code": "unknown_key", "rank": RANK_NOT_MINE}, {"code": "down", "status": "503"})
    assert not_mine.get("/whoami", status=503).headers["Retry-After"] == "7"


def test_one_challenge_per_protection_space_where_its_first_policy_stands(sqlite_url):
    app = refusing_app(sqlite_url,
                       {"code": "a", "rank": "0", "realm": "one"},
                       {"code": "b", "rank": "0", "realm": "two"},
                       {"code": "c", "rank": "2", "realm": "one"},
                       {"code": "d", "rank": "1", "realm": "one", "auth_scheme": "Other"},
                       {"code": "e", "rank": "1", "realm": "two"},
                       foreign=2)
    response = app.get("/whoami", status=401)
    assert json.loads(response.body)["type"].endswith(":c")
    assert response.headers.getall("WWW-Authenticate") == [
        'Refusing realm="one", error="c"',
        'Refusing realm="two", error="e"',
        'Other realm="one", error="d"',
        'DemoToken realm="test"',  # two foreign policies with the same challenge: once
    ]
