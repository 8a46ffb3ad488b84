"""`reminders`, with its own client-credentials token, reads what falls due in 24 h at todos — and may do
nothing else there — and mails each owner once, through the mail sink, however often it runs."""

from __future__ import annotations

import json
import mailbox
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from tests.e2e.infra.client import SuiteClient


def _mails_for(suite: SuiteClient, todo_id: str) -> list[mailbox.MaildirMessage]:
    box = mailbox.Maildir(suite.processes.config.maildir, create=False)
    return [message for message in box if message["X-Todo-Id"] == todo_id]


def _in(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


def test_due_todo_is_mailed_once_across_runs(suite: SuiteClient) -> None:
    alice, bob, carol = (suite.password_token(u) for u in ("alice", "bob", "carol"))
    due = suite.todos("POST", token=alice, json={"title": "renew passport", "due_at": _in(2)}).json()["id"]
    later = suite.todos("POST", token=alice, json={"title": "next week", "due_at": _in(24 * 3)}).json()["id"]
    issued_before = suite.issued("reminders", "client_credentials")

    first = suite.reminders("POST", "/run", token=carol)
    assert first.status_code == 200, first.text
    assert first.json()["sent"] >= 1
    issued_after_first = suite.issued("reminders", "client_credentials")
    for _ in range(3):
        again = suite.reminders("POST", "/run", token=carol)
        assert again.status_code == 200, again.text
        assert again.json()["already_sent"] >= 1

    mails = _mails_for(suite, due)
    assert len(mails) == 1  # once, not four times
    assert mails[0]["To"] == "alice@example.test"
    assert "renew passport" in mails[0]["Subject"]
    assert _mails_for(suite, later) == []
    # One token per audience it calls (todos, identity's directory), reused across every run.
    assert issued_after_first - issued_before <= 2
    assert suite.issued("reminders", "client_credentials") == issued_after_first

    listed = suite.reminders("GET", token=alice).json()["data"]
    assert due in [r["todo_id"] for r in listed]
    assert due not in [r["todo_id"] for r in suite.reminders("GET", token=bob).json()["data"]]


def test_run_once_command_sends_nothing_twice(suite: SuiteClient) -> None:
    alice = suite.password_token("alice")
    due = suite.todos("POST", token=alice, json={"title": "water plants", "due_at": _in(1)}).json()["id"]
    env = {**os.environ, **next(s.env for s in suite.processes.specs if s.name == "reminders")}
    for run in range(2):
        done = subprocess.run(
            [sys.executable, "-m", "reminders.run_once"], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout.strip().splitlines()[-1])
        assert result["failed"] == 0
        if run == 1:
            assert result["already_sent"] >= 1
    assert len(_mails_for(suite, due)) == 1


def test_reminders_own_token_reads_due_and_nothing_else(suite: SuiteClient) -> None:
    token = suite.client_token("reminders", audience="todos", scope="todos:due:read")
    alice = suite.password_token("alice")
    todo_id = suite.todos("POST", token=alice, json={"title": "dentist", "due_at": _in(3)}).json()["id"]

    due = suite.todos("GET", "/due", token=token)
    assert due.status_code == 200
    item = next(i for i in due.json()["data"] if i["id"] == todo_id)
    assert set(item) == {"id", "owner_id", "title", "due_at"}  # only what a reminder needs

    for method, path, kwargs in (
        ("GET", "", {}), ("GET", f"/{todo_id}", {}), ("GET", "/shared", {}),
        ("POST", "", {"json": {"title": "x"}}), ("PATCH", f"/{todo_id}", {"json": {"done": True}}),
        ("DELETE", f"/{todo_id}", {}), ("PUT", f"/{todo_id}/grants/someone", {}),
    ):  # fmt: skip
        response = suite.todos(method, path, token=token, **kwargs)
        assert response.status_code == 403, (method, path, response.text)
    assert suite.todos("POST", "/due", token=token).status_code == 405
    assert suite.todos("GET", f"/{todo_id}", token=alice).json()["done"] is False


def test_run_on_demand_is_for_admins(suite: SuiteClient) -> None:
    response = suite.reminders("POST", "/run", token=suite.password_token("alice"))
    assert response.status_code == 403
    assert suite.reminders("POST", "/run").status_code == 401
