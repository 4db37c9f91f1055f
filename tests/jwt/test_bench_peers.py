"""bench/jwt_peers.py builds what it says: every variant answers 200 with its token, and 401 without."""
from __future__ import annotations

import pytest

from bench import harness
from bench.jwt_peers import fresh_token_environs, jwt_variants, pyramid_jwt_variant


def test_jwt_variants_answer_200(tmp_path):
    variants = jwt_variants(str(tmp_path))
    assert [name for name, _, _ in variants][:2] == ["jwt HS256, repeated token", "jwt HS256, first-seen token (cache off)"]
    for name, app, environs in variants:
        harness.run_requests(app, environs * 2)
        anonymous = {key: value for key, value in environs[0].items() if key != "HTTP_AUTHORIZATION"}
        harness.run_requests(app, [anonymous], expect_status="401")
    app = variants[0][1]
    fresh = fresh_token_environs(app)(3)
    assert len({environ["HTTP_AUTHORIZATION"] for environ in fresh}) == 3
    harness.run_requests(app, fresh)


def test_pyramid_jwt_variant_answers_200():
    pytest.importorskip("pyramid_jwt", reason="pyramid_jwt is a bench extra: pip install -e '.[bench]'")
    name, app, environs = pyramid_jwt_variant()
    assert name == "pyramid_jwt HS256"
    harness.run_requests(app, environs * 2)
    forged = dict(environs[0], HTTP_AUTHORIZATION=environs[0]["HTTP_AUTHORIZATION"][:-2] + "xx")
    harness.run_requests(app, [forged], expect_status="403")  # pyramid_jwt has no challenge: plain 403


def test_goal_lines_report_ratio_and_verdict():
    from bench.jwt_peers import goal_lines

    lines = goal_lines(
        {
            "jwt HS256, repeated token": 16.0,
            "jwt HS256, first-seen token (cache off)": 60.0,
            "pyramid_jwt HS256": 120.0,
        },
        "pyramid_jwt HS256",
    )
    assert lines == [
        "jwt HS256, repeated token: 16.0 us (goal <= 25: met), 0.13x pyramid_jwt HS256 (goal <= 0.4: met)",
        "jwt HS256, first-seen token (cache off): 60.0 us (goal <= 90: met), 0.50x pyramid_jwt HS256 (goal <= 0.4: NOT met)",
    ]
