"""Smoke test of the challenge-response benchmark: every memory row is measured and reported.

No timing is asserted: this proves each timed request was answered as
expected (201 for creation, 200 for each answer, every challenge used once).
"""
from __future__ import annotations

import re


def test_quick_challenge_bench_runs(capsys):
    from bench.challenge_bench import main

    assert main(["--quick", "--only", "memory"]) == 0
    out = capsys.readouterr().out
    assert "no auth (baseline)" in out
    names = []
    for label in ("memory", "memory+memo"):
        names += [f"create, {kind} key ({label})" for kind in ("hmac", "ed25519", "rsa")]
        names += [f"create, unknown id ({label})"]
        names += [f"answer, {kind} ({label})" for kind in ("hmac", "ed25519", "rsa")]
    for name in names:
        assert re.search(rf"^{re.escape(name)} +[0-9.]+ +-?[0-9.]+", out, re.MULTILINE), f"no row for {name}:\n{out}"
    for kind in ("hmac", "ed25519", "rsa"):
        assert f"one authenticated call, {kind} (memory): " in out
        assert f"one authenticated call, {kind} (memory+memo): " in out
    assert re.search(r"^account store \(SQLite\): get_key [0-9.]+ us, get \(account\) [0-9.]+ us$", out, re.MULTILINE)
    assert "(Redis)" not in out
    assert re.search(r"^create, known vs unknown ed25519 key id \(memory, memoized, 5 alternating rounds\): known [0-9.]+ us, "
                     r"unknown [0-9.]+ us, median difference [-+][0-9.]+ us \([-+][0-9.]+ %\)$", out, re.MULTILINE), out
