"""`python -m reminders.run_once`: one scan from the environment's settings, the result on stdout, and an
exit status a CronJob can act on."""

from __future__ import annotations

import json

import pytest

from reminders import run_once

CLIENT_SECRET = "test-secret-of-reminders"


@pytest.fixture
def environment(monkeypatch, tmp_path, mailbox):
    """The settings as a CronJob's pod would get them: environment variables only."""
    for name, value in {
        "REMINDERS_DATABASE_URL": f"sqlite:///{tmp_path}/cron.db",
        "REMINDERS_CLIENT_SECRET": CLIENT_SECRET,
        "REMINDERS_TODOS_URL": "http://todos.test",
        "REMINDERS_SMTP_PORT": str(mailbox.port),
        "AUTHZ_ISSUER": "http://identity.test",
        "AUTHZ_AUDIENCE": "reminders",
    }.items():
        monkeypatch.setenv(name, value)


def result(capsys) -> dict[str, int]:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_one_scan_then_exit_0(environment, upstreams, mailbox, alice, bob, capsys):
    upstreams.add_due(alice.sub)
    upstreams.add_due(bob.sub)

    assert run_once.main(transport=upstreams.transport) == 0
    assert result(capsys) == {"found": 2, "sent": 2, "already_sent": 0, "failed": 0}
    assert sorted(m["To"] for m in mailbox.messages) == ["alice@example.test", "bob@example.test"]

    # The next CronJob run is a new process on the same database: nothing is sent twice.
    assert run_once.main(transport=upstreams.transport) == 0
    assert result(capsys) == {"found": 2, "sent": 0, "already_sent": 2, "failed": 0}
    assert len(mailbox.messages) == 2


def test_a_failed_reminder_exits_1(environment, upstreams, mailbox, alice, capsys):
    upstreams.add_due(alice.sub)
    mailbox.refuse = True

    assert run_once.main(transport=upstreams.transport) == 1
    assert result(capsys)["failed"] == 1


def test_todos_down_exits_2(environment, upstreams, alice, capsys):
    upstreams.add_due(alice.sub)
    upstreams.todos_fails = 503

    assert run_once.main(transport=upstreams.transport) == 2
    assert capsys.readouterr().out == ""


def test_missing_secret_exits_2_without_calling_anyone(environment, monkeypatch, upstreams, capsys):
    monkeypatch.delenv("REMINDERS_CLIENT_SECRET")

    assert run_once.main(transport=upstreams.transport) == 2
    assert "client_secret" in capsys.readouterr().err
    assert upstreams.token_requests == []
