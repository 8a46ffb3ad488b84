"""A PostgreSQL restart under write load through the gateway: 503s with Retry-After, no 500, nothing lost.

The suite runs on a private PostgreSQL cluster of this test's own (never the shared server on :5432, which
other tests use). Writers keep creating todos through the gateway while the cluster restarts — `pg_ctl
stop -m fast`, then `start` (what `pg_ctl restart -m fast` does, in two steps so the test can look at the
services' readiness while the database is down), then `pg_ctl restart -m fast` itself.
docs/reliability.md describes the behaviour.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from devstack.ports import free_block
from devstack.postgres import PrivateCluster
from tests.e2e.infra.client import SuiteClient

WRITERS = 4
#: How long the database stays down (long enough that writes certainly arrive meanwhile).
DOWN_SECONDS = 1.0
#: Readiness must be back this soon after the database accepts connections again.
READY_WITHIN_SECONDS = 5.0


@pytest.fixture(scope="module")
def cluster() -> Iterator[PrivateCluster]:
    # Under /tmp, not pytest's tmp_path: as root the server runs as `postgres`, which must reach its directory.
    datadir = Path(tempfile.mkdtemp(prefix="todo-suite-drill-"))
    cluster = PrivateCluster(datadir, free_block(1, low=20000, high=32767))
    cluster.init()
    cluster.pg_ctl("start")
    try:
        yield cluster
    finally:
        cluster.pg_ctl("stop", "-m", "immediate")
        shutil.rmtree(datadir, ignore_errors=True)


@dataclass
class Writes:
    """What the writers saw: the todos acknowledged (201), and every other answer."""

    acknowledged: list[str] = field(default_factory=list)
    others: list[tuple[int, str | None, str]] = field(default_factory=list)  # status, Retry-After, body
    lock: threading.Lock = field(default_factory=threading.Lock)


def _writer(suite: SuiteClient, token: str, stop: threading.Event, writes: Writes) -> None:
    with httpx.Client(timeout=10) as http:
        while not stop.is_set():
            response = http.post(
                f"{suite.gateway_url}/api/todos",
                json={"title": f"drill {uuid.uuid4().hex[:8]}"},
                headers={"Authorization": f"Bearer {token}"},
            )
            with writes.lock:
                if response.status_code == 201:
                    writes.acknowledged.append(response.json()["id"])
                else:
                    writes.others.append((response.status_code, response.headers.get("retry-after"), response.text))


def _until(check: Callable[[], bool], within: float) -> float | None:
    """Seconds until `check()` held, or None if it did not within `within` seconds."""
    start = time.monotonic()
    while time.monotonic() - start < within:
        if check():
            return time.monotonic() - start
        time.sleep(0.05)
    return None


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_restart_under_write_load(cluster: PrivateCluster, own_suite: Callable[..., SuiteClient]) -> None:
    # `cluster` first: it must outlive the suite (whose databases are dropped at the end).
    suite = own_suite("postgres", pg_admin_url=cluster.admin_url)
    alice = suite.password_token("alice")
    writes, stop = Writes(), threading.Event()
    writers = [threading.Thread(target=_writer, args=(suite, alice, stop, writes)) for _ in range(WRITERS)]
    for writer in writers:
        writer.start()
    try:
        time.sleep(1.0)
        cluster.pg_ctl("stop", "-m", "fast")
        time.sleep(DOWN_SECONDS / 2)
        not_ready = {name: httpx.get(f"{url}/readyz", timeout=5) for name, url in
                     (("todos", suite.todos_url), ("identity", suite.identity_url))}  # fmt: skip
        time.sleep(DOWN_SECONDS / 2)
        cluster.pg_ctl("start")
        ready_after = _until(lambda: _ready(suite.todos_url) and _ready(suite.identity_url), READY_WITHIN_SECONDS)
        acknowledged_before = len(writes.acknowledged)
        written_after = _until(lambda: len(writes.acknowledged) > acknowledged_before + WRITERS, 10.0)
        # And the one-step form, as an operator types it: the load goes on.
        cluster.pg_ctl("restart", "-m", "fast")
        ready_after_restart = _until(lambda: _ready(suite.todos_url), READY_WITHIN_SECONDS)
        acknowledged_before = len(writes.acknowledged)
        written_after_restart = _until(lambda: len(writes.acknowledged) > acknowledged_before + WRITERS, 10.0)
    finally:
        stop.set()
        for writer in writers:
            writer.join(timeout=15)

    for name, response in not_ready.items():
        assert response.status_code == 503, (name, response.text)
    assert ready_after is not None, f"not ready {READY_WITHIN_SECONDS}s after the database was back"
    assert written_after is not None, "no write succeeded after the restart"
    assert ready_after_restart is not None, f"not ready {READY_WITHIN_SECONDS}s after `pg_ctl restart`"
    assert written_after_restart is not None, "no write succeeded after `pg_ctl restart`"
    statuses = {status for status, _, _ in writes.others}
    assert statuses == {503}, writes.others[:5]  # the outage was felt, and only as 503
    for status, retry_after, body in writes.others:
        assert retry_after is not None, (status, body)
        assert retry_after.isdigit(), (status, body)
        assert "database-unavailable" in body
    assert len(writes.acknowledged) > 4 * WRITERS

    # Every write that was acknowledged is there (read back in pages through the gateway).
    stored: set[str] = set()
    while True:
        page = suite.gateway("GET", f"/todos?offset={len(stored)}&limit=1000", alice)
        assert page.status_code == 200, page.text
        ids = {item["id"] for item in page.json()["data"]}
        if not ids:
            break
        stored |= ids
    assert set(writes.acknowledged) <= stored
    # Nor any error after a response had gone out (a dropped connection, then a 502 for someone else).
    for name in ("identity", "todos", "shares", "reminders", "gateway"):
        assert "unhandled error" not in suite.processes.log_path(name).read_text(), name
    print(
        f"\n{len(writes.acknowledged)} writes acknowledged, {len(writes.others)} answered 503 (Retry-After), "
        f"0 lost; ready {ready_after:.2f}s after the database was back, "
        f"{ready_after_restart:.2f}s after `pg_ctl restart`"
    )
