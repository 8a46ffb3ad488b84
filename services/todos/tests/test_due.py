"""The due-soon query (`GET /todos/due`): only the `reminders` client, with its own client-credentials
token, reads it; it sees open todos of every user falling due in the window, and nothing else of theirs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

PROBLEM = "urn:todo-suite:problem:"
DUE_KEYS = {"id", "owner_id", "title", "due_at"}
DAY = 86_400


def assert_problem(response: Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"] == PROBLEM + slug, body
    assert body["status"] == status
    return body


def in_(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


def due_ids(response: Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [todo["id"] for todo in response.json()["data"]]


@pytest.fixture
def due(client: TestClient, reminders):
    def get(**params: Any) -> Response:
        return client.get("/todos/due", headers=reminders, params=params)

    return get


class TestDueSoon:
    def test_valid(self, due, make_todo, alice, bob):
        later = make_todo(alice, "later today", notes="private", due_at=in_(timedelta(hours=20)))
        soon = make_todo(bob, "soon", notes="private too", due_at=in_(timedelta(hours=1)))
        middle = make_todo(alice, "middle", due_at=in_(timedelta(hours=5)))

        response = due()

        # Across users, soonest first.
        assert due_ids(response) == [soon["id"], middle["id"], later["id"]]
        body = response.json()
        assert body["count"] == 3
        for item in body["data"]:
            assert set(item) == DUE_KEYS
        first = body["data"][0]
        assert first["owner_id"] == bob.sub
        assert first["title"] == "soon"
        assert datetime.fromisoformat(first["due_at"]) == datetime.fromisoformat(soon["due_at"])
        assert "private" not in response.text

    def test_empty(self, due):
        assert due().json() == {"data": [], "count": 0}

    def test_excluded(self, due, make_todo, alice, bob, client: TestClient):
        included = make_todo(alice, "open, due soon", due_at=in_(timedelta(hours=2)))
        make_todo(alice, "done, due soon", done=True, due_at=in_(timedelta(hours=2)))
        made_done = make_todo(bob, "done later", due_at=in_(timedelta(hours=3)))
        client.patch(f"/todos/{made_done['id']}", headers=bob, json={"done": True})
        make_todo(alice, "past due", due_at=in_(-timedelta(minutes=5)))
        make_todo(bob, "beyond the window", due_at=in_(timedelta(hours=25)))
        make_todo(bob, "no due time")

        assert due_ids(due()) == [included["id"]]

    def test_within_narrows(self, due, make_todo, alice):
        soon = make_todo(alice, "in one hour", due_at=in_(timedelta(hours=1)))
        make_todo(alice, "in three hours", due_at=in_(timedelta(hours=3)))

        assert due_ids(due(within_seconds=2 * 3600)) == [soon["id"]]

    def test_within_widens(self, due, make_todo, alice):
        tomorrow = make_todo(alice, "in a day and a half", due_at=in_(timedelta(hours=36)))
        today = make_todo(alice, "today", due_at=in_(timedelta(hours=3)))

        assert due_ids(due()) == [today["id"]]
        assert due_ids(due(within_seconds=2 * DAY)) == [today["id"], tomorrow["id"]]

    def test_within_capped(self, due, make_todo, alice):
        # The default cap is 7 days: asking for 30 days still sees only a week ahead.
        six_days = make_todo(alice, "in six days", due_at=in_(timedelta(days=6)))
        make_todo(alice, "in eight days", due_at=in_(timedelta(days=8)))

        assert due_ids(due(within_seconds=30 * DAY)) == [six_days["id"]]

    def test_within_capped_by_setting(self, make_client, reminders, make_todo, alice):
        half_hour = make_todo(alice, "in half an hour", due_at=in_(timedelta(minutes=30)))
        make_todo(alice, "in two hours", due_at=in_(timedelta(hours=2)))
        capped = make_client(due_window_max_seconds=3600)

        assert due_ids(capped.get("/todos/due", headers=reminders)) == [half_hour["id"]]

    def test_within_a_year_is_cut_to_the_setting(self, due, make_todo, alice):
        soon = make_todo(alice, "soon", due_at=in_(timedelta(hours=1)))

        assert due_ids(due(within_seconds=366 * 86_400)) == [soon["id"]]

    @pytest.mark.parametrize("within", [366 * 86_400 + 1, 10**12, 2**64])
    def test_within_past_its_bound(self, due, within):
        body = assert_problem(due(within_seconds=within), 422, "validation-error")
        assert any("within_seconds" in error["loc"] for error in body["errors"])

    @pytest.mark.parametrize("within", ["10", "59", "0", "-60", "soon", "1.5"])
    def test_within_invalid(self, due, within):
        body = assert_problem(due(within_seconds=within), 422, "validation-error")
        assert any("within_seconds" in error["loc"] for error in body["errors"])

    def test_within_minimum(self, due, make_todo, alice):
        make_todo(alice, "in an hour", due_at=in_(timedelta(hours=1)))

        assert due_ids(due(within_seconds=60)) == []


class TestDueSoonRefusals:
    def test_anonymous(self, client: TestClient):
        assert_problem(client.get("/todos/due"), 401, "missing-token")

    def test_user_token(self, client: TestClient, make_caller, make_todo, alice):
        make_todo(alice, "soon", due_at=in_(timedelta(hours=1)))
        # Even with the scope: the query is for a service on its own account, not for a user.
        user = make_caller(alice.sub, scope="todos:read todos:write todos:due:read")

        assert_problem(client.get("/todos/due", headers=user), 403, "wrong-principal-kind")

    def test_admin_user_token(self, client: TestClient, make_caller, carol):
        admin = make_caller(carol.sub, roles=("user", "admin"), scope="todos:read todos:due:read")

        assert_problem(client.get("/todos/due", headers=admin), 403, "wrong-principal-kind")

    def test_delegated_token(self, client: TestClient, delegated, alice):
        # reminders acting for a user is not reminders on its own account.
        for actor in ("reminders", "shares"):
            token = delegated(alice, actor, scope="todos:due:read")
            response = client.get("/todos/due", headers=token)
            assert response.status_code == 403, response.text

    def test_reminders_token_with_act(self, client: TestClient, service_caller):
        # reminders' own token that also claims to act for someone is a delegated call: no operation
        # here allows one.
        acting = service_caller("reminders", act={"sub": "shares"})

        assert_problem(client.get("/todos/due", headers=acting), 403, "delegation-refused")

    def test_other_service(self, client: TestClient, service_caller):
        shares = service_caller("shares", scope="todos:due:read")

        assert_problem(client.get("/todos/due", headers=shares), 403, "wrong-client")

    def test_client_named_by_setting(self, make_client, service_caller, reminders):
        renamed = make_client(due_readers=["reminders-v2"])

        assert renamed.get("/todos/due", headers=service_caller("reminders-v2")).status_code == 200
        assert_problem(renamed.get("/todos/due", headers=reminders), 403, "wrong-client")

    def test_reminders_without_scope(self, client: TestClient, service_caller):
        response = client.get("/todos/due", headers=service_caller("reminders", scope="todos:read"))

        assert_problem(response, 403, "missing-scope")
        assert 'scope="todos:due:read"' in response.headers["WWW-Authenticate"]

    def test_reminders_wrong_audience(self, client: TestClient, service_caller):
        response = client.get("/todos/due", headers=service_caller("reminders", audience="reminders"))

        assert_problem(response, 401, "wrong-audience")

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("GET", "/todos"),
            ("POST", "/todos"),
            ("GET", "/todos/{id}"),
            ("PATCH", "/todos/{id}"),
            ("DELETE", "/todos/{id}"),
            ("GET", "/todos/shared"),
            ("GET", "/todos/audit"),
            ("PUT", "/todos/{id}/grants/someone"),
            ("DELETE", "/todos/{id}/grants/someone"),
        ],
    )
    def test_reminders_on_user_endpoints(
        self, client: TestClient, service_caller, make_todo, alice, db_rows, method, path
    ):
        todo = make_todo(alice, "soon", due_at=in_(timedelta(hours=1)))
        everything = service_caller(
            "reminders", scope="todos:read todos:write todos:share todos:due:read", roles=["admin"]
        )
        kwargs = {"json": {"title": "changed"}} if method in ("POST", "PATCH") else {}

        response = client.request(method, path.format(id=todo["id"]), headers=everything, **kwargs)

        assert_problem(response, 403, "wrong-principal-kind")
        assert db_rows()[0]["title"] == "soon"
        assert len(db_rows()) == 1

    @pytest.mark.parametrize("method", ["POST", "PUT"])
    def test_method_not_allowed(self, client: TestClient, reminders, method):
        response = client.request(method, "/todos/due", headers=reminders)

        assert_problem(response, 405, "method-not-allowed")
        assert response.headers["Allow"] == "GET"

    @pytest.mark.parametrize("method", ["PATCH", "DELETE"])
    def test_no_write_through_todo_id_route(self, client: TestClient, reminders, alice, method):
        # PATCH/DELETE /todos/due fall through to /todos/{todo_id} (FastAPI matches "due" as an id):
        # refused for the service (wrong kind), and a malformed id for a user; never a change.
        assert_problem(client.request(method, "/todos/due", headers=reminders), 403, "wrong-principal-kind")
        assert_problem(client.request(method, "/todos/due", headers=alice), 422, "validation-error")
