"""Fixtures shared by the JWT tests."""
from __future__ import annotations

import pytest

from tests.apps import make_demo, registry
from tests.jwt.helpers import PASSWORD, jwt_settings


@pytest.fixture
def build(backends):
    """``build(**policy_settings)``: the demo with alice (admin, tenant acme) and bob."""
    built = []

    def factory(**policy):
        app = make_demo({**backends, **jwt_settings(**policy)})
        store = registry(app).authsuite_accounts
        if store.get("alice") is None:
            store.create("alice", PASSWORD, roles=["admin"], tenant="acme", email="alice@example.com")
            store.create("bob", PASSWORD)
        built.append(app)
        return app

    yield factory
    for app in built:
        registry(app).authsuite_accounts.close()
        registry(app).authsuite_cache.close()
