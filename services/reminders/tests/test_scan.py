"""The scan, end to end inside the process: todos' due-soon query with reminders' own token, the user
directory, a real SMTP server, and the `sent_reminders` record that makes each reminder go out once."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlmodel import SQLModel

import authz
from reminders.app import create_app
from reminders.models import DueTodo
from reminders.scheduler import Scanner
from reminders.service import claim
from servicekit import make_engine

PROBLEM = "urn:todo-suite:problem:"
#: An owner todos knows and the directory does not (a deleted user, say).
GHOST_SUB = "00000000-dead-4bee-8f00-000000000404"
SECRET = "test-secret-of-reminders"


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, f"{value!r} carries no offset"
    return parsed


class TestSending:
    def test_one_mail_per_due_todo_recorded(self, run, alice, bob, upstreams, mailbox, db_rows, settings):
        dentist = upstreams.add_due(alice.sub, "dentist", due_in=timedelta(hours=3))
        taxes = upstreams.add_due(bob.sub, "taxes", due_in=timedelta(hours=20))

        assert run() == {"found": 2, "sent": 2, "already_sent": 0, "failed": 0}

        by_todo = {m["X-Todo-Id"]: m for m in mailbox.messages}
        assert sorted(by_todo) == sorted([dentist["id"], taxes["id"]])
        mail = by_todo[dentist["id"]]
        assert (mail["To"], mail["From"], mail["Subject"]) == (
            "alice@example.test",
            settings.mail_from,
            "Reminder: dentist",
        )
        due = parse_time(dentist["due_at"])
        assert "dentist" in mail.get_content()
        assert f"{due:%Y-%m-%d %H:%M} UTC" in mail.get_content()
        assert by_todo[taxes["id"]]["To"] == "bob@example.test"
        assert sorted(mailbox.recipients) == [["alice@example.test"], ["bob@example.test"]]
        rows = {str(r["todo_id"]): r for r in db_rows()}
        assert sorted(rows) == sorted([dentist["id"], taxes["id"]])
        row = rows[dentist["id"]]
        assert (row["owner_id"], row["email"], row["title"]) == (alice.sub, "alice@example.test", "dentist")
        assert row["due_at"].replace(tzinfo=due.tzinfo) == due  # SQLite gives it back without a zone, in UTC

    def test_asks_todos_for_the_configured_window(self, run, alice, upstreams):
        run()

        assert upstreams.due_queries == [{"within_seconds": ["86400"]}]

    def test_second_scan_sends_nothing(self, run, alice, bob, upstreams, mailbox, db_rows):
        upstreams.add_due(alice.sub)
        upstreams.add_due(bob.sub)
        run()

        assert run() == {"found": 2, "sent": 0, "already_sent": 2, "failed": 0}
        assert len(mailbox.messages) == 2
        assert len(db_rows()) == 2

    def test_once_across_a_restart(self, client, run, alice, carol, upstreams, mailbox, settings):
        upstreams.add_due(alice.sub)
        run()

        # A new process on the same database: its memory is empty, the record is not.
        with TestClient(create_app(settings, transport=upstreams.transport)) as restarted:
            response = restarted.post("/reminders/run", headers=carol)

        assert response.json() == {"found": 1, "sent": 0, "already_sent": 1, "failed": 0}
        assert len(mailbox.messages) == 1

    def test_a_new_due_time_is_a_new_reminder(self, run, alice, upstreams, mailbox):
        todo = upstreams.add_due(alice.sub, due_in=timedelta(hours=1))
        run()
        todo["due_at"] = (parse_time(todo["due_at"]) + timedelta(hours=5)).isoformat()

        assert run()["sent"] == 1
        assert mailbox.todo_ids() == [todo["id"], todo["id"]]

    def test_failed_mail_leaves_no_record_and_is_retried(self, run, alice, upstreams, mailbox, db_rows):
        todo = upstreams.add_due(alice.sub)
        mailbox.refuse = True

        assert run() == {"found": 1, "sent": 0, "already_sent": 0, "failed": 1}
        assert db_rows() == []

        mailbox.refuse = False
        assert run() == {"found": 1, "sent": 1, "already_sent": 0, "failed": 0}
        assert mailbox.todo_ids() == [todo["id"]]
        assert [str(r["todo_id"]) for r in db_rows()] == [todo["id"]]

    def test_unreachable_mail_server_counts_failed(self, client, carol, alice, upstreams, db_rows, unused_port):
        upstreams.add_due(alice.sub)
        client.app_state["settings"].smtp_port = unused_port

        response = client.post("/reminders/run", headers=carol)

        assert response.json() == {"found": 1, "sent": 0, "already_sent": 0, "failed": 1}
        assert db_rows() == []

    def test_unknown_owner_counts_failed_and_the_scan_goes_on(self, run, alice, upstreams, mailbox, db_rows, caplog):
        ghost = upstreams.add_due(GHOST_SUB, "nobody's")
        mine = upstreams.add_due(alice.sub, "mine")

        assert run() == {"found": 2, "sent": 1, "already_sent": 0, "failed": 1}
        assert mailbox.todo_ids() == [mine["id"]]
        assert [str(r["todo_id"]) for r in db_rows()] == [mine["id"]]
        assert any(ghost["id"] in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)

    def test_title_cannot_add_mail_headers(self, run, alice, upstreams, mailbox):
        upstreams.add_due(alice.sub, "pay rent\r\nBcc: eve@evil.test\nX-Evil: 1")

        assert run()["sent"] == 1
        [mail] = mailbox.messages
        assert mail["Subject"] == "Reminder: pay rent Bcc: eve@evil.test X-Evil: 1"
        assert mail["Bcc"] is None
        assert mail["X-Evil"] is None
        assert mailbox.recipients == [["alice@example.test"]]


class TestOwnIdentity:
    def test_one_token_per_audience_across_scans(self, client, run, alice, bob, carol, upstreams):
        upstreams.add_due(alice.sub)
        upstreams.add_due(alice.sub)
        upstreams.add_due(bob.sub)

        for _ in range(4):
            run()
            upstreams.add_due(carol.sub)  # new todos keep the directory busy

        assert upstreams.issued == {"todos": 1, "identity": 1}
        metrics = client.get("/metrics").text
        assert 'authz_outbound_tokens_fetched_total{grant="client_credentials"} 2' in metrics

    def test_token_for_todos_is_narrow(self, run, alice, upstreams):
        upstreams.add_due(alice.sub)
        run()

        by_audience = {form["audience"]: form for form in upstreams.token_requests}
        assert by_audience["todos"] == {
            "grant_type": "client_credentials",
            "audience": "todos",
            "scope": "todos:due:read",
        }
        assert by_audience["identity"]["scope"] == "users:read"

    def test_directory_asked_once_per_owner_per_scan(self, run, alice, bob, upstreams):
        upstreams.add_due(alice.sub)
        upstreams.add_due(alice.sub)
        upstreams.add_due(bob.sub)

        run()

        assert sorted(upstreams.directory_lookups) == sorted([alice.sub, bob.sub])

    def test_a_refused_token_is_a_502(self, settings, upstreams, carol, alice, mailbox):
        upstreams.add_due(alice.sub)
        wrong = settings.model_copy(update={"client_secret": SecretStr("not-the-secret")})

        with TestClient(create_app(wrong, transport=upstreams.transport)) as client:
            response = client.post("/reminders/run", headers=carol)

        assert response.status_code == 502, response.text
        assert response.json()["type"] == PROBLEM + "upstream-auth-failed"
        assert mailbox.messages == []


class TestUpstreamFailures:
    @pytest.mark.parametrize(
        "failure",
        [503, 500, 404, httpx.ConnectError("connection refused")],
        ids=["503", "500", "no-due-endpoint", "unreachable"],
    )
    def test_todos_failing_is_a_502(self, client, carol, alice, upstreams, mailbox, db_rows, failure):
        upstreams.add_due(alice.sub)
        upstreams.todos_fails = failure

        response = client.post("/reminders/run", headers=carol)

        assert response.status_code == 502, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["type"] == PROBLEM + "upstream-unavailable"
        assert mailbox.messages == []
        assert db_rows() == []

    def test_todos_timeout_is_a_504(self, client, carol, upstreams):
        upstreams.todos_fails = httpx.ReadTimeout("slow")

        response = client.post("/reminders/run", headers=carol)

        assert response.status_code == 504, response.text
        assert response.json()["type"] == PROBLEM + "upstream-timeout"

    def test_todos_answering_nonsense_is_a_502(self, client, carol, upstreams, mailbox):
        upstreams.due.append({"id": "not-a-uuid", "title": "x"})

        response = client.post("/reminders/run", headers=carol)

        assert response.status_code == 502, response.text
        assert mailbox.messages == []

    def test_directory_answering_nonsense_is_a_502(self, client, carol, alice, upstreams, mailbox, db_rows):
        upstreams.add_due(alice.sub)
        upstreams.users[alice.sub] = {"id": alice.sub}  # an answer without the contract's fields

        response = client.post("/reminders/run", headers=carol)

        assert response.status_code == 502, response.text
        assert mailbox.messages == []
        assert db_rows() == []


class TestOnce:
    """The unique constraint, not the in-process lock, is what keeps two processes from both sending."""

    async def test_claim_is_refused_the_second_time(self, settings, upstreams, alice):
        engine = make_engine(settings.database_url)
        SQLModel.metadata.create_all(engine)
        todo = DueTodo.model_validate(upstreams.add_due(alice.sub))

        first = claim(engine, todo, "alice@example.test")
        second = claim(engine, todo, "alice@example.test")

        assert first is not None
        assert second is None
        engine.dispose()

    async def test_two_processes_scanning_at_once_send_each_reminder_once(
        self, settings, upstreams, mailbox, alice, bob
    ):
        for owner in (alice.sub, bob.sub, alice.sub, bob.sub):
            upstreams.add_due(owner)
        engine = make_engine(settings.database_url)
        SQLModel.metadata.create_all(engine)
        async with httpx.AsyncClient(transport=upstreams.transport) as http:
            oauth = authz.OAuthClient(http, settings.authz, client_id="reminders", client_secret=SECRET)
            # Two scanners have two locks: as two replicas would, they run truly side by side.
            one, two = Scanner(engine, http, oauth, settings), Scanner(engine, http, oauth, settings)
            results = await asyncio.gather(one.run(), two.run())
        engine.dispose()

        assert sum(r.sent for r in results) == 4
        assert sum(r.already_sent for r in results) == 4
        assert sorted(mailbox.todo_ids()) == sorted(t["id"] for t in upstreams.due)

    async def test_one_run_at_a_time_in_a_process(self, settings, upstreams, mailbox, alice):
        upstreams.add_due(alice.sub)
        engine = make_engine(settings.database_url)
        SQLModel.metadata.create_all(engine)
        async with httpx.AsyncClient(transport=upstreams.transport) as http:
            oauth = authz.OAuthClient(http, settings.authz, client_id="reminders", client_secret=SECRET)
            scanner = Scanner(engine, http, oauth, settings)
            first, second = await asyncio.gather(scanner.run(), scanner.run())
        engine.dispose()

        # The second run asked todos only after the first had mailed: it waited for the lock.
        assert upstreams.events == ["todos", "mail", "todos"]
        assert (first.sent, second.already_sent) == (1, 1)
