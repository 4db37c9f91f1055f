"""In-process benchmark harness: time pre-built requests through a WSGI app.

Each variant is a WSGI app plus a list of pre-built WSGI environs. The harness
sends them through the app ``number`` times per repeat, takes the median of
``repeats`` repeats (the machines are shared and noisy: medians, not means),
and reports microseconds per request and the cost added over a baseline run
in the same process, so ratios between variants are meaningful even when the
absolute figures move from one run to the next.
"""
from __future__ import annotations

import gc
import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable


@dataclass
class Result:
    name: str
    per_request_us: float
    added_us: float | None = None
    note: str = ""


def _start_response(status: str, headers: list, exc_info: Any = None) -> None:
    _start_response.status = status  # type: ignore[attr-defined]


def run_requests(app: Callable, environs: list[dict], expect_status: str = "200") -> None:
    """Send each environ once (a fresh copy: WSGI apps may mutate environs)."""
    for environ in environs:
        body = app(dict(environ), _start_response)
        for _ in body:
            pass
        if hasattr(body, "close"):
            body.close()
        if not _start_response.status.startswith(expect_status):  # type: ignore[attr-defined]
            raise RuntimeError(f"benchmark request answered {_start_response.status}, expected {expect_status}")


def measure_timings(
    app: Callable,
    environs: list[dict] | None = None,
    *,
    fresh_environs: Callable[[int], list[dict]] | None = None,
    number: int = 2000,
    repeats: int = 7,
    expect_status: str = "200",
) -> list[float]:
    """µs per request of each of ``repeats`` runs of ``number`` requests.

    Either ``environs``, a list cycled through (requests that may be sent
    again and again), or ``fresh_environs(count)``, called before each run,
    outside the timed loop, for ``count`` environs that are each sent once:
    for schemes that refuse a replayed request (Hawk's nonces). What it
    builds must stay valid for the whole run (Hawk's timestamp skew).
    """
    if (environs is None) == (fresh_environs is None):
        raise TypeError("pass either environs or fresh_environs")
    warmup = min(200, number)
    if fresh_environs is None:
        cycle = (environs * (number // len(environs) + 1))[:number]

        def batch(count: int) -> list[dict]:
            return cycle[:count]

    else:

        def batch(count: int) -> list[dict]:
            built = fresh_environs(count)
            if len(built) < count:
                raise RuntimeError(f"fresh_environs({count}) built only {len(built)} environs")
            return built

    run_requests(app, batch(warmup), expect_status)  # warm up caches and code paths
    timings = []
    for _ in range(repeats):
        requests = batch(number)
        gc.collect()
        start = time.perf_counter()
        run_requests(app, requests, expect_status)
        timings.append((time.perf_counter() - start) / number * 1e6)
        del requests
    return timings


def measure(
    app: Callable,
    environs: list[dict] | None = None,
    *,
    fresh_environs: Callable[[int], list[dict]] | None = None,
    number: int = 2000,
    repeats: int = 7,
    expect_status: str = "200",
) -> float:
    """Median µs per request over ``repeats`` runs of ``number`` requests (see :func:`measure_timings`)."""
    return statistics.median(
        measure_timings(
            app,
            environs,
            fresh_environs=fresh_environs,
            number=number,
            repeats=repeats,
            expect_status=expect_status,
        )
    )


def measure_callable(function: Callable[[], Any], *, number: int = 20, repeats: int = 5) -> float:
    """Median µs per call of a function (for costs outside the request path, like Argon2)."""
    function()
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            function()
        timings.append((time.perf_counter() - start) / number * 1e6)
    return statistics.median(timings)


def report(results: Iterable[Result], baseline_us: float) -> str:
    """A plain-text table: µs/request, µs added over the baseline, and notes."""
    lines = [f"{'variant':44} {'us/request':>11} {'added us':>9}  note", "-" * 80]
    lines.append(f"{'no auth (baseline)':44} {baseline_us:11.1f} {'':>9}")
    for result in results:
        added = f"{result.added_us:9.1f}" if result.added_us is not None else " " * 9
        lines.append(f"{result.name:44} {result.per_request_us:11.1f} {added}  {result.note}")
    return "\n".join(lines)


def environ_for(path: str, headers: dict[str, str] | None = None, method: str = "GET") -> dict:
    """A minimal WSGI environ for a request to 127.0.0.1."""
    from webob import Request

    request = Request.blank(path, method=method, headers=headers or {}, remote_addr="127.0.0.1")
    return dict(request.environ)
