"""The reminders HTTP API, through the real verifier: who may do what, and what each endpoint answers."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

PROBLEM = "urn:todo-suite:problem:"
CHALLENGE_PREFIX = 'Bearer realm="reminders"'
WHOAMI_KEYS = {
    "service",
    "subject",
    "username",
    "kind",
    "client_id",
    "roles",
    "scopes",
    "actor",
    "audience",
    "mesh_peer",
    "mode",
    "source",
}


def assert_problem(response: Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"] == PROBLEM + slug
    assert body["status"] == status
    return body


def assert_anonymous_refused(response: Response) -> None:
    assert_problem(response, 401, "missing-token")
    assert response.headers["WWW-Authenticate"] == CHALLENGE_PREFIX


def assert_insufficient_scope(response: Response, scope: str) -> None:
    assert_problem(response, 403, "missing-scope")
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith(CHALLENGE_PREFIX)
    assert 'error="insufficient_scope"' in challenge
    assert f'scope="{scope}"' in challenge


@pytest.fixture
def sent_to_alice_and_bob(upstreams, run, alice, bob) -> dict[str, dict[str, Any]]:
    """One reminder sent to alice and one to bob, through a real scan."""
    todos = {"alice": upstreams.add_due(alice.sub, "alice's dentist"), "bob": upstreams.add_due(bob.sub, "bob's taxes")}
    assert run()["sent"] == 2
    return todos


class TestReadReminders:
    def test_anonymous(self, client: TestClient):
        assert_anonymous_refused(client.get("/reminders"))

    def test_missing_scope(self, client: TestClient, make_caller):
        run_only = make_caller(scope="reminders:run")

        assert_insufficient_scope(client.get("/reminders", headers=run_only), "reminders:read")

    def test_service_token_refused(self, client: TestClient, a_service):
        # A service has no reminders of its own: this endpoint is about the user in the token.
        assert_problem(client.get("/reminders", headers=a_service), 403, "wrong-principal-kind")

    def test_valid(self, client: TestClient, alice, sent_to_alice_and_bob):
        todo = sent_to_alice_and_bob["alice"]

        response = client.get("/reminders", headers=alice)

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["count"] == 1
        [reminder] = body["data"]
        assert set(reminder) == {"id", "todo_id", "title", "due_at", "sent_at"}
        assert (reminder["todo_id"], reminder["title"]) == (todo["id"], "alice's dentist")
        assert reminder["due_at"].replace("+00:00", "Z") == todo["due_at"]
        assert reminder["sent_at"].endswith(("Z", "+00:00"))

    def test_not_accessible(self, client: TestClient, alice, bob, sent_to_alice_and_bob):
        bobs = client.get("/reminders", headers=bob).json()
        alices = client.get("/reminders", headers=alice).json()

        assert [r["todo_id"] for r in bobs["data"]] == [sent_to_alice_and_bob["bob"]["id"]]
        assert sent_to_alice_and_bob["bob"]["id"] not in str(alices)
        assert "bob's taxes" not in str(alices)

    def test_not_accessible_even_for_admin(self, client: TestClient, carol, sent_to_alice_and_bob):
        # carol is an admin: she may run scans, but the list is still only the caller's own reminders.
        assert client.get("/reminders", headers=carol).json() == {"data": [], "count": 0}

    def test_newest_first_and_paged(self, client: TestClient, alice, upstreams, run):
        first = upstreams.add_due(alice.sub, "first")
        run()
        second = upstreams.add_due(alice.sub, "second")
        run()

        page1 = client.get("/reminders", headers=alice, params={"limit": 1}).json()
        page2 = client.get("/reminders", headers=alice, params={"limit": 1, "offset": 1}).json()

        assert [r["todo_id"] for r in page1["data"]] == [second["id"]]
        assert [r["todo_id"] for r in page2["data"]] == [first["id"]]
        assert page1["count"] == page2["count"] == 2


class TestRun:
    def test_anonymous(self, client: TestClient, alice, upstreams, mailbox):
        upstreams.add_due(alice.sub)

        assert_anonymous_refused(client.post("/reminders/run"))
        assert mailbox.messages == []
        assert upstreams.issued.total() == 0

    def test_missing_scope(self, client: TestClient, carol, make_caller, upstreams, mailbox):
        admin_read_only = make_caller(carol.sub, username="carol", roles=("user", "admin"), scope="reminders:read")
        upstreams.add_due(carol.sub)

        assert_insufficient_scope(client.post("/reminders/run", headers=admin_read_only), "reminders:run")
        assert mailbox.messages == []

    def test_not_an_admin(self, client: TestClient, alice, upstreams, mailbox):
        # alice holds the scope (her CLI token names every reminders scope) but not the role.
        upstreams.add_due(alice.sub)

        response = client.post("/reminders/run", headers=alice)

        assert_problem(response, 403, "missing-role")
        assert "WWW-Authenticate" not in response.headers  # the token is fine; the user lacks a role
        assert mailbox.messages == []

    def test_service_token_refused(self, client: TestClient, a_service, alice, upstreams, mailbox):
        upstreams.add_due(alice.sub)

        assert_problem(client.post("/reminders/run", headers=a_service), 403, "wrong-principal-kind")
        assert mailbox.messages == []

    def test_valid(self, client: TestClient, carol, alice, bob, upstreams, mailbox):
        upstreams.add_due(alice.sub)
        upstreams.add_due(bob.sub)

        response = client.post("/reminders/run", headers=carol)

        assert response.status_code == 200, response.text
        assert response.json() == {"found": 2, "sent": 2, "already_sent": 0, "failed": 0}
        assert len(mailbox.messages) == 2


class TestWhoami:
    def test_anonymous(self, client: TestClient):
        assert_anonymous_refused(client.get("/reminders/whoami"))

    def test_user(self, client: TestClient, alice):
        response = client.get("/reminders/whoami", headers=alice)

        assert response.status_code == 200
        body = response.json()
        assert set(body) == WHOAMI_KEYS
        assert (body["service"], body["subject"], body["username"], body["kind"]) == (
            "reminders",
            alice.sub,
            "alice",
            "user",
        )
        assert alice.token not in response.text

    def test_service(self, client: TestClient, a_service):
        body = client.get("/reminders/whoami", headers=a_service).json()

        assert (body["kind"], body["subject"], body["client_id"]) == ("service", "shares", "shares")

    def test_token_for_another_audience(self, client: TestClient, issuer):
        # The kind of token reminders itself sends to todos is no key to reminders.
        token = issuer.token(sub="reminders", client_id="reminders", roles=(), scope="todos:due:read")

        response = client.get("/reminders/whoami", headers={"Authorization": f"Bearer {token}"})

        assert_problem(response, 401, "wrong-audience")
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
