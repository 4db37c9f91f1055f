"""Fuzz tests: generated credentials for every scheme, sent through the demo app.

Each module drives one scheme with at least ``AUTHSUITE_FUZZ_EXAMPLES``
(default 10,000) generated requests, seeded by ``AUTHSUITE_FUZZ_SEED``, and
checks every answer with :func:`tests.fuzz.common.Judge.check`: no 5xx, every
refusal ``application/problem+json`` (401s with ``WWW-Authenticate``), and a
2xx only where an oracle that does not use our code (a peer library, or the
unmodified credentials) says the request was genuinely valid, never twice for
one nonce or challenge.

Run more locally::

    AUTHSUITE_FUZZ_EXAMPLES=100000 AUTHSUITE_FUZZ_SEED=7 pytest -q tests/fuzz
"""
