"""The admin API over a real HTTP server (pserve + waitress), with real threads.

"Two PATCHes with the same If-Match sent at once: exactly one 200, the other
412"; merges of custom claims sent at once all kept; walking 1,000 accounts
in pages of 37 (following ``Link``) while another thread creates and deletes
accounts: every account present throughout seen exactly once. On memory +
SQLite and on Redis + PostgreSQL.
"""
from __future__ import annotations

import threading

import pytest
import requests

from tests.admin.common import ADMIN_SETTINGS, PASSWORD, admin_app, close, seed
from tests.apps import CHEAP_HASHING
from tests.servers import PserveServers, call_bounded

ROUNDS = 5


def write_ini(path, backends: dict[str, str], **extra: str):
    settings = {**CHEAP_HASHING, **ADMIN_SETTINGS, **backends, **extra}
    lines = ["[app:main]", "use = egg:pyramid_authsuite#demo"]
    # ConfigParser interpolates %: the PostgreSQL URL's %3D must be written %%3D.
    lines += [f"{name} = {value.replace('%', '%%')}" for name, value in settings.items()]
    lines += ["", "[server:main]", "use = egg:waitress#main", "listen = 127.0.0.1:%(http_port)s", "threads = 8", ""]
    path.write_text("\n".join(lines))
    return path


@pytest.fixture
def server(tmp_path, backends):
    seeded = admin_app(backends)
    seed(seeded)
    close(seeded)
    servers = PserveServers(write_ini(tmp_path / "admin.ini", backends))
    try:
        yield servers.start()
    finally:
        servers.stop()


def race(functions) -> list:
    """Call each function on its own thread, all released together; their results, in order."""
    barrier = threading.Barrier(len(functions))
    results: list = [None] * len(functions)

    def run(index: int) -> None:
        barrier.wait()
        results[index] = functions[index]()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(functions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_two_patches_with_one_if_match_exactly_one_wins(server):
    auth = ("root", PASSWORD)
    url = server + "/admin/users/alice"
    for round_ in range(ROUNDS):
        current = requests.get(url, auth=auth, timeout=60)
        assert current.status_code == 200
        tag = current.headers["ETag"]

        def patch(name=f"round {round_}") -> requests.Response:
            with requests.Session() as session:  # one connection per thread
                return session.patch(
                    url, data=f'{{"display_name": "{name} by {threading.get_ident()}"}}',
                    headers={"Content-Type": "application/merge-patch+json", "If-Match": tag},
                    auth=auth, timeout=60,
                )

        responses = call_bounded(lambda: race([patch, patch]), 180)
        statuses = sorted(response.status_code for response in responses)
        assert statuses == [200, 412], [response.text for response in responses]
        winner = next(response for response in responses if response.status_code == 200)
        loser = next(response for response in responses if response.status_code == 412)
        assert loser.headers["Content-Type"] == "application/problem+json"
        assert loser.json()["type"].endswith(":precondition_failed")
        after = requests.get(url, auth=auth, timeout=60)
        # The winner's write is the one kept, one version on.
        assert after.json() == winner.json() and after.headers["ETag"] == winner.headers["ETag"]
        assert after.json()["version"] == current.json()["version"] + 1


def test_concurrent_claim_merges_without_if_match_lose_nothing(server):
    """Merges sent at once without If-Match are each applied over the others' results."""
    auth = ("root", PASSWORD)
    url = server + "/admin/users/alice"

    def merge(name: str):
        return lambda: requests.patch(
            url, data=f'{{"custom_claims": {{"{name}": true}}}}',
            headers={"Content-Type": "application/merge-patch+json"}, auth=auth, timeout=60,
        )

    names = [f"claim{index}" for index in range(4)]
    responses = call_bounded(lambda: race([merge(name) for name in names]), 180)
    assert [response.status_code for response in responses] == [200] * len(names), [r.text for r in responses]
    claims = requests.get(url, auth=auth, timeout=60).json()["custom_claims"]
    assert set(claims) == set(names)


@pytest.fixture
def paging_server(tmp_path, backends):
    seeded = admin_app(backends)
    seed(seeded)
    accounts = seeded.app.registry.authsuite_accounts
    for index in range(1000):
        accounts.create(f"p{index:04d}", None, tenant="paged")
    close(seeded)
    ini = write_ini(tmp_path / "paging.ini", backends, **{"authsuite.admin_write_limit": "100000"})
    servers = PserveServers(ini)
    try:
        yield servers.start()
    finally:
        servers.stop()


def test_paging_sees_every_account_present_throughout_exactly_once(paging_server):
    """Walk 1,000 accounts in pages of 37 (following Link) while another thread creates and deletes others."""
    auth = ("root", PASSWORD)
    stop, started = threading.Event(), threading.Event()
    churned: list[int] = []
    failures: list[str] = []

    def churn() -> None:
        index = 0
        with requests.Session() as session:
            while not stop.is_set():
                # Between the accounts walked (p0123 < p0123x < p0124); every other one deleted again.
                userid = f"p{(index * 7919) % 1000:04d}x"
                created = session.post(paging_server + "/admin/users", json={"userid": userid, "tenant": "paged"},
                                       auth=auth, timeout=60)
                deleted = (session.delete(paging_server + f"/admin/users/{userid}", auth=auth, timeout=60)
                           if index % 2 else None)
                if created.status_code != 201 or (deleted is not None and deleted.status_code != 204):
                    failures.append(created.text)
                    return
                churned.append(index)
                started.set()
                index += 1

    worker = threading.Thread(target=churn, daemon=True)
    worker.start()
    assert started.wait(120), failures
    seen: list[str] = []
    url = paging_server + "/admin/users?tenant=paged&limit=37"
    pages = 0
    with requests.Session() as session:
        while url:
            page = session.get(url, auth=auth, timeout=60)
            assert page.status_code == 200, page.text
            seen += [user["userid"] for user in page.json()["users"]]
            assert len(page.json()["users"]) <= 37
            pages += 1
            link = page.headers.get("Link")
            assert (link is None) == (page.json()["next"] is None)
            url = link[1:link.index(">")] if link else None
    stop.set()
    call_bounded(worker.join, 180)
    assert failures == [] and len(churned) > 1
    walked = [userid for userid in seen if not userid.endswith("x")]
    assert walked == [f"p{index:04d}" for index in range(1000)]  # each exactly once, in order
    assert len(seen) == len(set(seen)) and pages >= 1000 // 37
