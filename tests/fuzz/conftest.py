"""Fixtures of the fuzz modules: one app with every scheme per module."""
from __future__ import annotations

import pytest

from tests.fuzz.common import build_app, close_app


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "fuzz: generated-request fuzzing (runs in the normal suite; AUTHSUITE_FUZZ_EXAMPLES for more)"
    )


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    app = build_app(tmp_path_factory.mktemp("fuzz"))
    yield app
    close_app(app)
