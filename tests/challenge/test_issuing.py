"""``POST /challenges`` does the same work for a known key id and an unknown one,
and stores nothing per challenge (issue 10). Checked by recording what each
request asks of the real cache, the real account store and the protocol
functions, on memory+SQLite and Redis+PostgreSQL; no timing is asserted."""
from __future__ import annotations

import pytest

from pyramid_authsuite.challenge import protocol
from tests.apps import make_demo, registry
from tests.challenge.helpers import SETTINGS, material, new_keys

CACHE_OPERATIONS = ("add", "get", "set", "delete", "pop", "touch", "incr", "get_and_add", "start_get_and_add",
                    "add_member", "members", "remove_member")
STORE_OPERATIONS = ("get", "get_key", "authenticate", "list_keys")
PROTOCOL_FUNCTIONS = ("make_challenge_id", "derive_challenge", "new_challenge", "encrypt_challenge", "decoy_kind",
                      "decoy_rsa_public_key", "load_public_key", "challenge_digest")


@pytest.fixture(scope="module")
def client_keys():
    return new_keys()


@pytest.fixture(params=["ed25519", "hmac", "rsa"])
def kind(request):
    return request.param


@pytest.fixture
def app(backends, client_keys, kind):
    # Unknown ids pretend to be the kind the known one is.
    app = make_demo({**backends, **SETTINGS, "multiauth.policy.challenge.decoy_kinds": kind,
                     "multiauth.policy.challenge.decoy_rsa_bits": "2048"})
    store = registry(app).authsuite_accounts
    store.create("alice", None)
    store.add_key("alice", f"alice-{kind}", kind, material(kind, client_keys[kind]))
    yield app
    store.close()
    registry(app).authsuite_cache.close()


def record(app, monkeypatch):
    """Wrap the app's cache and store methods and the protocol functions to log each call's name."""
    calls: list[str] = []

    def wrap(owner, name, label):
        real = getattr(owner, name, None)
        if real is None:
            return

        def wrapper(*args, **kwargs):
            calls.append(f"{label}.{name}")
            return real(*args, **kwargs)

        monkeypatch.setattr(owner, name, wrapper)

    for name in CACHE_OPERATIONS:
        wrap(registry(app).authsuite_cache, name, "cache")
    for name in STORE_OPERATIONS:
        wrap(registry(app).authsuite_accounts, name, "store")
    for name in PROTOCOL_FUNCTIONS:
        wrap(protocol, name, "protocol")
    return calls


def issue(app, key_id):
    return app.post_json("/challenges", {"key_id": key_id}, status=201).json


def test_known_and_unknown_key_ids_take_the_same_steps(app, kind, monkeypatch):
    # Once each first, so per-process memos (parsed keys, decoy keys) are warm
    # on both paths, as they are in a running server.
    issue(app, f"alice-{kind}")
    issue(app, f"nobody-{kind}")
    calls = record(app, monkeypatch)
    known = [issue(app, f"alice-{kind}") for _ in range(2)]
    known_calls = list(calls)
    calls.clear()
    unknown = [issue(app, f"nobody-{kind}") for _ in range(2)]
    assert calls == known_calls
    assert [body["algorithm"] for body in known] == [body["algorithm"] for body in unknown]
    # The cache is asked only to count the requests: no record per challenge,
    # for a known key id or an unknown one.
    assert [call for call in known_calls if call.startswith("cache.")] == ["cache.incr", "cache.incr"] * 2


def test_unknown_key_ids_store_nothing_an_attacker_can_multiply(app, kind, monkeypatch):
    calls = record(app, monkeypatch)
    for number in range(20):
        issue(app, f"ghost-{number}")
    writes = [call for call in calls if call in ("cache.add", "cache.set", "cache.get_and_add", "cache.add_member")]
    assert writes == []
