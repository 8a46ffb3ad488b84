"""The background schedule: a scan at start-up and then every interval, surviving a failed run, and
cancelled cleanly when the app shuts down."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from fastapi.testclient import TestClient

from reminders.app import create_app


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_schedule_scans_and_stops_on_shutdown(settings, upstreams, mailbox, alice):
    todo = upstreams.add_due(alice.sub)
    app = create_app(settings.model_copy(update={"interval_seconds": 0.05}), transport=upstreams.transport)

    with TestClient(app) as client:
        scheduler = client.app_state["scheduler"]
        wait_for(lambda: len(upstreams.due_queries) >= 3)  # no request asked for any of these scans
        assert not scheduler.done()

    assert scheduler.cancelled()
    assert mailbox.todo_ids() == [todo["id"]]  # three scans, one mail
    scans = len(upstreams.due_queries)
    time.sleep(0.2)
    assert len(upstreams.due_queries) == scans


def test_a_failed_run_is_logged_and_the_schedule_goes_on(settings, upstreams, mailbox, alice, caplog):
    todo = upstreams.add_due(alice.sub)
    upstreams.todos_fails = 503
    app = create_app(settings.model_copy(update={"interval_seconds": 0.05}), transport=upstreams.transport)

    with caplog.at_level(logging.ERROR, logger="reminders"), TestClient(app):
        wait_for(lambda: any("scan failed" in r.getMessage() for r in caplog.records))
        upstreams.todos_fails = None
        wait_for(lambda: bool(mailbox.messages))

    assert mailbox.todo_ids() == [todo["id"]]
    [failure, *_] = [r for r in caplog.records if "scan failed" in r.getMessage()]
    assert failure.levelno == logging.ERROR
    assert failure.exc_info is not None  # the traceback is in the log, for whoever reads it


def test_no_schedule_when_interval_is_zero(client, upstreams, alice):
    upstreams.add_due(alice.sub)

    time.sleep(0.1)

    assert client.app_state["scheduler"] is None
    assert upstreams.due_queries == []
