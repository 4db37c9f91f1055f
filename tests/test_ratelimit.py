"""Failure limits an attacker cannot aim (issue 10), through the demo app, on memory+SQLite and Redis+PostgreSQL.

Addresses: A is the attacker, B an address the owner logged in from before,
C an address nobody logged in from.
"""
from __future__ import annotations

import json

import pytest

from tests.apps import basic, make_demo, registry
from tests.challenge.helpers import SETTINGS as CHALLENGE_SETTINGS
from tests.challenge.helpers import answered, get_challenge, header, material, new_keys, problem_code

PASSWORD = "correct horse battery"
A, B, C = "198.51.100.1", "203.0.113.2", "192.0.2.3"


def at(address: str) -> dict[str, str]:
    return {"REMOTE_ADDR": address}


def code_of(response) -> str:
    return json.loads(response.body)["type"].rsplit(":", 1)[1]


@pytest.fixture
def basic_app(backends):
    app = make_demo(backends)
    store = registry(app).authsuite_accounts
    store.create("alice", PASSWORD)
    store.create("bob", PASSWORD)
    yield app
    store.close()
    registry(app).authsuite_cache.close()


def whoami(app, userid, password, address, status):
    return app.get("/whoami", headers=basic(userid, password), extra_environ=at(address), status=status)


# -- Basic ----------------------------------------------------------------------


def test_wrong_passwords_from_elsewhere_do_not_lock_the_owner_out(basic_app):
    whoami(basic_app, "alice", PASSWORD, B, 200)
    for _ in range(5):
        whoami(basic_app, "alice", "wrong-password", A, 401)
    # The owner, at the address it logged in from, is not locked out...
    assert whoami(basic_app, "alice", PASSWORD, B, 200).json["userid"] == "alice"
    # ...an address nobody logged in from is, and so is the attacker.
    assert code_of(whoami(basic_app, "alice", PASSWORD, C, 429)) == "rate_limited"
    whoami(basic_app, "alice", PASSWORD, A, 429)
    # The owner's success did not give the attacker a new set of guesses.
    whoami(basic_app, "alice", "wrong-password", A, 429)
    whoami(basic_app, "alice", PASSWORD, C, 429)


def test_a_known_address_keeps_its_own_limit(basic_app):
    whoami(basic_app, "alice", PASSWORD, B, 200)
    for _ in range(5):
        whoami(basic_app, "alice", "wrong-password", A, 401)
    for _ in range(5):
        whoami(basic_app, "alice", "wrong-password", B, 401)
    response = whoami(basic_app, "alice", PASSWORD, B, 429)
    assert response.headers["Retry-After"] == "300"


def test_known_addresses_are_per_account(basic_app):
    whoami(basic_app, "bob", PASSWORD, B, 200)  # B is known for bob, not for alice
    for _ in range(5):
        whoami(basic_app, "alice", "wrong-password", A, 401)
    whoami(basic_app, "alice", PASSWORD, B, 429)


def test_the_exemption_can_be_turned_off(backends):
    app = make_demo({**backends, "authsuite.known_address_seconds": "0"})
    registry(app).authsuite_accounts.create("alice", PASSWORD)
    whoami(app, "alice", PASSWORD, B, 200)
    for _ in range(5):
        whoami(app, "alice", "wrong-password", A, 401)
    whoami(app, "alice", PASSWORD, B, 429)


def test_the_cache_holds_no_list_of_addresses(backends, redis_url):
    if not backends["authsuite.cache_url"].startswith("redis"):
        pytest.skip("reads the raw keys of a Redis cache")
    import redis

    app = make_demo(backends)
    registry(app).authsuite_accounts.create("alice", PASSWORD)
    whoami(app, "alice", "wrong-password", B, 401)
    whoami(app, "alice", PASSWORD, B, 200)
    registry(app).authsuite_cache.delete("failed:addr:" + B)  # the window ends
    whoami(app, "alice", PASSWORD, B, 200)
    client = redis.Redis.from_url(redis_url)
    try:
        dump = b" ".join(key + b"=" + (client.dump(key) or b"") for key in client.keys("*"))
    finally:
        client.close()
    assert any(key.startswith(b"authsuite:known:") for key in client.keys("*"))
    assert B.encode() not in dump  # only keyed hashes of (account, address)
    assert PASSWORD.encode() not in dump


IPV6_NET = "2001:db8:1:2:"


def test_ipv6_addresses_in_one_prefix_share_the_address_count(basic_app):
    # 20 failures, each from its own address in one /64, for 20 userids.
    for number in range(20):
        whoami(basic_app, f"user{number}", "wrong-password", f"{IPV6_NET}:{number + 1:x}", 401)
    whoami(basic_app, "bob", PASSWORD, f"{IPV6_NET}aaaa:bbbb:cccc:dddd", 429)
    # Another /64 is another address.
    assert whoami(basic_app, "bob", PASSWORD, "2001:db8:1:3::1", 200).json["userid"] == "bob"


def test_the_ipv6_prefix_length_is_a_setting(backends):
    app = make_demo({**backends, "authsuite.ipv6_prefix_length": "128"})
    registry(app).authsuite_accounts.create("bob", PASSWORD)
    for number in range(20):
        whoami(app, f"user{number}", "wrong-password", f"{IPV6_NET}:{number + 1:x}", 401)
    whoami(app, "bob", PASSWORD, f"{IPV6_NET}aaaa:bbbb:cccc:dddd", 200)


def test_ipv4_mapped_addresses_count_as_ipv4(basic_app):
    for number in range(10):
        whoami(basic_app, f"user{number}", "wrong-password", A, 401)
    for number in range(10, 20):
        whoami(basic_app, f"user{number}", "wrong-password", "::ffff:" + A, 401)
    whoami(basic_app, "bob", PASSWORD, A, 429)


@pytest.mark.parametrize("raw,counted", [
    ("192.0.2.1", "192.0.2.1"),
    (" 192.0.2.1 ", "192.0.2.1"),
    ("::ffff:192.0.2.1", "192.0.2.1"),
    ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
    ("[2001:db8:1:2::9]", "2001:db8:1:2::/64"),
    ("fe80::1%eth0", "fe80::/64"),
    ("unknown", "raw:unknown"),
])
def test_normalize_address(raw, counted):
    from pyramid_authsuite.ratelimit import normalize_address

    assert normalize_address(raw) == counted


def test_normalize_address_bounds_what_it_cannot_parse():
    from pyramid_authsuite.ratelimit import normalize_address

    assert normalize_address("2001:db8::1", 48) == "2001:db8::/48"
    odd = normalize_address("x" * 5000 + ":a:b")
    assert odd.startswith("raw:") and len(odd) == 36
    assert normalize_address("a b") != "raw:a b" and " " not in normalize_address("a b")


# -- the counter is shared by the schemes -------------------------------------------


@pytest.fixture(scope="module")
def client_keys():
    return new_keys()


@pytest.fixture
def challenge_app(backends, client_keys):
    app = make_demo({**backends, **CHALLENGE_SETTINGS})
    store = registry(app).authsuite_accounts
    store.create("alice", PASSWORD)
    for kind, key in client_keys.items():
        store.add_key("alice", f"alice-{kind}", kind, material(kind, key))
    yield app
    store.close()
    registry(app).authsuite_cache.close()


def answer(app, client_keys, address, kind="ed25519"):
    return app.get("/whoami", headers=answered(app, kind, client_keys[kind], f"alice-{kind}"),
                   extra_environ=at(address), expect_errors=True)


def test_replayed_answers_count_as_nothing(challenge_app, client_keys):
    assert answer(challenge_app, client_keys, B).status_int == 200
    captured = answered(challenge_app, "ed25519", client_keys["ed25519"], "alice-ed25519")
    challenge_app.get("/whoami", headers=captured, extra_environ=at(B), status=200)
    for _ in range(50):
        response = challenge_app.get("/whoami", headers=captured, extra_environ=at(A), status=401)
        assert problem_code(response) == "replayed_challenge"
    # Neither the owner nor anybody else is locked out by replays.
    assert answer(challenge_app, client_keys, B).status_int == 200
    assert answer(challenge_app, client_keys, C).status_int == 200
    assert answer(challenge_app, client_keys, A).status_int == 200


def test_wrong_answers_from_elsewhere_do_not_lock_the_owner_out(challenge_app, client_keys):
    assert answer(challenge_app, client_keys, B).status_int == 200
    for _ in range(10):
        issued = get_challenge(challenge_app, "alice-ed25519")
        challenge_app.get("/whoami", headers=header(issued["challenge_id"], "alice-ed25519", "A" * 86 + "=="),
                          extra_environ=at(A), status=401)
    assert answer(challenge_app, client_keys, B).status_int == 200
    assert answer(challenge_app, client_keys, C).status_int == 429


def test_one_address_count_for_every_scheme(challenge_app, client_keys):
    registry(challenge_app).authsuite_accounts.create("bob", PASSWORD)
    for number in range(10):
        whoami(challenge_app, f"user{number}", "wrong-password", A, 401)
    for number in range(10):
        challenge_app.get("/whoami", headers=header("A" * 56, f"ghost-{number}", "0" * 64), extra_environ=at(A), status=401)
    # 20 failures from A, across Basic and challenge-response: A is limited in both.
    whoami(challenge_app, "bob", PASSWORD, A, 429)
    assert answer(challenge_app, client_keys, A).status_int == 429
    assert answer(challenge_app, client_keys, C).status_int == 200
