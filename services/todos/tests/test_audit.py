"""The audit of service and delegated calls (`GET /todos/audit`, admin role): who called, for whom, what.

A user's own calls are not audited; a service's call on its own account (reminders), a service acting
for a user (shares), and an admin reading another user's todo (`admin_read`) are — each in the same
transaction as what it records.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from todos.models import AuditEntry

PROBLEM = "urn:todo-suite:problem:"
ENTRY_KEYS = {"id", "at", "client_id", "actor", "subject", "operation", "todo_id", "detail"}
WHO_WHAT = ("client_id", "actor", "subject", "operation", "todo_id")


def assert_problem(response: Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"] == PROBLEM + slug, body
    assert body["status"] == status
    return body


def who_what(entry: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(entry[key] for key in WHO_WHAT)


@pytest.fixture
def audit(client: TestClient, carol):
    def get(**params: Any) -> dict[str, Any]:
        response = client.get("/todos/audit", headers=carol, params=params)
        assert response.status_code == 200, response.text
        return response.json()

    return get


@pytest.fixture
def alice_todo(make_todo, alice) -> dict[str, Any]:
    due = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    return make_todo(alice, "alice's plan", due_at=due)


@pytest.fixture
def service_calls(client: TestClient, alice_todo, alice, bob, delegated, reminders) -> list[tuple[Any, ...]]:
    """A delegated grant, read and shared list, and a reminders due query; their expected entries, in order."""
    todo_id = alice_todo["id"]
    assert client.put(f"/todos/{todo_id}/grants/{bob.sub}", headers=delegated(alice)).status_code == 201
    assert client.get(f"/todos/{todo_id}", headers=delegated(bob)).status_code == 200
    assert client.get("/todos/shared", headers=delegated(bob)).status_code == 200
    assert client.get("/todos/due", headers=reminders).status_code == 200
    return [
        ("shares", "shares", alice.sub, "grant", todo_id),
        ("shares", "shares", bob.sub, "read", todo_id),
        ("shares", "shares", bob.sub, "read_shared", None),
        ("reminders", None, "reminders", "read_due", None),
    ]


class TestAudit:
    def test_lists_service_and_delegated_calls(self, audit, service_calls):
        body = audit()

        assert body["count"] == 4
        # Newest first.
        assert [who_what(entry) for entry in body["data"]] == service_calls[::-1]
        for entry in body["data"]:
            assert set(entry) == ENTRY_KEYS
            at = datetime.fromisoformat(entry["at"])
            assert at.tzinfo is not None
            assert abs(datetime.now(UTC) - at) < timedelta(minutes=1)
        times = [datetime.fromisoformat(entry["at"]) for entry in body["data"]]
        assert times == sorted(times, reverse=True)

    def test_details(self, audit, service_calls, bob):
        by_operation = {entry["operation"]: entry for entry in audit()["data"]}

        assert by_operation["grant"]["detail"] == f"to {bob.sub}"
        assert by_operation["read_due"]["detail"].startswith("1 due within")

    def test_matches_the_table(self, audit, service_calls, audit_rows):
        rows = audit_rows()

        assert [(r["client_id"], r["actor"], r["subject"], r["operation"]) for r in rows] == [
            call[:4] for call in service_calls
        ]

    def test_revoke_audited(self, client: TestClient, audit, alice_todo, alice, bob, delegated):
        path = f"/todos/{alice_todo['id']}/grants/{bob.sub}"
        client.put(path, headers=delegated(alice))

        assert client.delete(path, headers=delegated(alice)).status_code == 204

        newest = audit()["data"][0]
        assert who_what(newest) == ("shares", "shares", alice.sub, "revoke", alice_todo["id"])
        assert newest["detail"] == f"from {bob.sub}"

    def test_nested_actor_recorded_as_the_current_one(self, client: TestClient, audit, alice, delegated):
        via_gateway = delegated(alice, act={"sub": "shares", "act": {"sub": "gateway"}})

        assert client.get("/todos/shared", headers=via_gateway).status_code == 200

        [entry] = audit()["data"]
        assert (entry["actor"], entry["subject"], entry["operation"]) == ("shares", alice.sub, "read_shared")

    def test_user_calls_not_audited(
        self, client: TestClient, audit, audit_rows, service_calls, alice, bob, alice_todo, make_todo
    ):
        before = audit()["count"]

        make_todo(alice, "another")
        assert client.get("/todos", headers=alice).status_code == 200
        assert client.get(f"/todos/{alice_todo['id']}", headers=alice).status_code == 200
        assert client.get(f"/todos/{alice_todo['id']}", headers=bob).status_code == 200
        assert client.get("/todos/shared", headers=bob).status_code == 200
        assert client.patch(f"/todos/{alice_todo['id']}", headers=alice, json={"done": True}).status_code == 200
        # (An admin reading another user's todo is audited: TestAdminRead.)

        assert audit()["count"] == before == 4
        assert len(audit_rows()) == 4

    def test_refused_calls_not_audited(self, client: TestClient, audit_rows, alice_todo, alice, dave, delegated):
        client.get(f"/todos/{alice_todo['id']}", headers=delegated(dave))  # 404: dave cannot see it
        client.get("/todos", headers=delegated(alice))  # delegation refused
        client.put(f"/todos/{alice_todo['id']}/grants/{alice.sub}", headers=delegated(alice))  # 422

        assert audit_rows() == []

    def test_empty(self, audit):
        assert audit() == {"data": [], "count": 0}

    def test_paging(self, audit, service_calls):
        everything = audit()["data"]

        page = audit(offset=1, limit=2)

        assert page["count"] == 4
        assert page["data"] == everything[1:3]
        assert audit(offset=4)["data"] == []
        assert audit(offset=4)["count"] == 4

    def test_limit_capped(self, make_client, carol, service_calls):
        small = make_client(page_size_max=2)

        body = small.get("/todos/audit", headers=carol, params={"limit": 50}).json()

        assert len(body["data"]) == 2
        assert body["count"] == 4

    @pytest.mark.parametrize("params", [{"offset": -1}, {"limit": 0}, {"limit": "all"}])
    def test_bad_paging(self, client: TestClient, carol, params):
        assert_problem(client.get("/todos/audit", headers=carol, params=params), 422, "validation-error")


class TestAuditRefusals:
    def test_anonymous(self, client: TestClient):
        assert_problem(client.get("/todos/audit"), 401, "missing-token")

    def test_not_admin(self, client: TestClient, alice, service_calls):
        body = assert_problem(client.get("/todos/audit", headers=alice), 403, "missing-role")

        assert "admin" in body["detail"]

    def test_admin_without_read_scope(self, client: TestClient, make_caller, carol):
        admin = make_caller(carol.sub, roles=("user", "admin"), scope="todos:write")

        assert_problem(client.get("/todos/audit", headers=admin), 403, "missing-scope")

    def test_shares_for_admin(self, client: TestClient, carol, delegated):
        admin = delegated(carol, roles=("user", "admin"))

        assert_problem(client.get("/todos/audit", headers=admin), 403, "delegation-refused")

    def test_service_with_admin_role(self, client: TestClient, service_caller):
        service = service_caller("reminders", scope="todos:read todos:due:read", roles=["admin"])

        assert_problem(client.get("/todos/audit", headers=service), 403, "wrong-principal-kind")


class TestAdminRead:
    """An admin reading another user's todo (the support view) is audited like a delegated read."""

    def test_reading_someone_elses_todo_is_audited(self, client: TestClient, carol, alice, alice_todo, audit_rows):
        response = client.get(f"/todos/{alice_todo['id']}", headers=carol)

        assert response.status_code == 200
        [row] = audit_rows()
        assert (row["actor"], row["subject"], row["operation"], str(row["todo_id"])) == (
            None,
            carol.sub,
            "admin_read",
            alice_todo["id"],
        )
        assert row["detail"] == f"owner {alice.sub}"

    def test_reading_their_own_or_one_shared_with_them_is_not(
        self, client: TestClient, carol, alice, alice_todo, make_todo, delegated, audit_rows
    ):
        own = make_todo(carol, "carol's own")
        grant = client.put(f"/todos/{alice_todo['id']}/grants/{carol.sub}", headers=delegated(alice))
        assert grant.status_code == 201
        before = audit_rows()

        for todo_id in (own["id"], alice_todo["id"]):
            assert client.get(f"/todos/{todo_id}", headers=carol).status_code == 200

        assert audit_rows() == before  # the grant's own entry only: a user's own reads are not audited

    def test_a_user_reading_a_todo_is_not(self, client: TestClient, alice, alice_todo, audit_rows):
        assert client.get(f"/todos/{alice_todo['id']}", headers=alice).status_code == 200

        assert audit_rows() == []


@pytest.fixture
def audit_fails():
    """Every audit entry fails to be written (as if the database refused it) while this is in use."""

    def refuse(session, flush_context, instances) -> None:
        if any(isinstance(obj, AuditEntry) for obj in session.new):
            raise OperationalError("INSERT INTO audit_log", {}, Exception("the audit log refused the entry"))

    event.listen(Session, "before_flush", refuse)
    yield
    event.remove(Session, "before_flush", refuse)


class TestAuditAndActionTogether:
    """The audit entry and what it records commit in one transaction: both, or neither."""

    def test_no_grant_without_its_audit_entry(
        self, client: TestClient, alice, bob, alice_todo, delegated, grant_rows, audit_rows, audit_fails
    ):
        response = client.put(f"/todos/{alice_todo['id']}/grants/{bob.sub}", headers=delegated(alice))

        assert response.status_code >= 500
        assert response.headers["content-type"].startswith("application/problem+json")
        assert grant_rows() == []
        assert audit_rows() == []

    def test_no_revocation_without_its_audit_entry(
        self, client: TestClient, alice, bob, alice_todo, delegated, grant_rows, request
    ):
        assert client.put(f"/todos/{alice_todo['id']}/grants/{bob.sub}", headers=delegated(alice)).status_code == 201
        request.getfixturevalue("audit_fails")

        response = client.delete(f"/todos/{alice_todo['id']}/grants/{bob.sub}", headers=delegated(alice))

        assert response.status_code >= 500
        assert len(grant_rows()) == 1

    def test_no_admin_read_without_its_audit_entry(self, client: TestClient, carol, alice_todo, audit_fails):
        response = client.get(f"/todos/{alice_todo['id']}", headers=carol)

        assert response.status_code >= 500
        assert alice_todo["title"] not in response.text
