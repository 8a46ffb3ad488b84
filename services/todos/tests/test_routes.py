"""The todos HTTP API, through the real verifier: who may do what, validation, and behaviour."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from authz.testing import FakeIssuer
from todos.app import create_app
from todos.models import TITLE_MAX
from todos.routes import NOT_FOUND

PROBLEM = "urn:todo-suite:problem:"
CHALLENGE_PREFIX = 'Bearer realm="todos"'
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
    assert response.headers["WWW-Authenticate"].startswith(CHALLENGE_PREFIX)


def assert_insufficient_scope(response: Response, scope: str) -> None:
    assert_problem(response, 403, "missing-scope")
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith(CHALLENGE_PREFIX)
    assert 'error="insufficient_scope"' in challenge
    assert f'scope="{scope}"' in challenge


def assert_validation_error(response: Response, field: str | None = None) -> list[dict[str, Any]]:
    body = assert_problem(response, 422, "validation-error")
    errors = body["errors"]
    assert isinstance(errors, list)
    assert errors
    if field is not None:
        assert any(field in error["loc"] for error in errors), errors
    return errors


def without_instance(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "instance"}


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, f"{value!r} carries no offset"
    return parsed


def is_utc_text(value: str) -> bool:
    return value.endswith(("Z", "+00:00"))


def ids(response: Response) -> list[str]:
    return [todo["id"] for todo in response.json()["data"]]


@pytest.fixture
def alice_todo(make_todo, alice) -> dict[str, Any]:
    return make_todo(alice, "alice's secret plan", notes="do not tell bob", due_at="2026-12-01T09:00:00Z")


class TestReadTodos:
    def test_anonymous(self, client: TestClient):
        assert_anonymous_refused(client.get("/todos"))

    def test_missing_scope(self, client: TestClient, alice_write_only):
        assert_insufficient_scope(client.get("/todos", headers=alice_write_only), "todos:read")

    def test_not_accessible(self, client: TestClient, alice_todo, bob, make_todo):
        own = make_todo(bob, "bob's")

        response = client.get("/todos", headers=bob)

        assert response.status_code == 200
        assert ids(response) == [own["id"]]
        assert response.json()["count"] == 1
        assert alice_todo["id"] not in response.text

    def test_not_accessible_even_for_admin_list(self, client: TestClient, alice_todo, carol):
        # The admin role opens the support view of one todo by id, not alice's list mixed into carol's.
        response = client.get("/todos", headers=carol)

        assert response.status_code == 200
        assert response.json() == {"data": [], "count": 0}

    def test_valid(self, client: TestClient, alice, alice_todo):
        response = client.get("/todos", headers=alice)

        assert response.status_code == 200
        assert response.json() == {"data": [alice_todo], "count": 1}

    def test_valid_empty(self, client: TestClient, alice):
        response = client.get("/todos", headers=alice)

        assert response.status_code == 200
        assert response.json() == {"data": [], "count": 0}


class TestCreateTodo:
    def test_anonymous(self, client: TestClient, db_rows):
        assert_anonymous_refused(client.post("/todos", json={"title": "x"}))
        assert db_rows() == []

    def test_missing_scope(self, client: TestClient, alice_read_only, db_rows):
        assert_insufficient_scope(client.post("/todos", headers=alice_read_only, json={"title": "x"}), "todos:write")
        assert db_rows() == []

    def test_valid(self, client: TestClient, alice, db_rows):
        response = client.post("/todos", headers=alice, json={"title": "  buy milk  ", "notes": "2 litres"})

        assert response.status_code == 201, response.text
        todo = response.json()
        assert response.headers["Location"] == f"/todos/{todo['id']}"
        assert uuid.UUID(todo["id"])
        assert todo["owner_id"] == alice.sub
        assert todo["title"] == "buy milk"
        assert todo["notes"] == "2 litres"
        assert todo["done"] is False
        assert todo["due_at"] is None
        created, updated = parse_time(todo["created_at"]), parse_time(todo["updated_at"])
        assert abs(datetime.now(UTC) - created) < timedelta(minutes=1)
        assert updated >= created
        [row] = db_rows()
        assert str(row["id"]) == todo["id"]
        assert row["owner_id"] == alice.sub

    def test_location_resolves(self, client: TestClient, alice):
        response = client.post("/todos", headers=alice, json={"title": "x"})

        fetched = client.get(response.headers["Location"], headers=alice)

        assert fetched.status_code == 200
        assert fetched.json() == response.json()

    def test_title_at_max_length(self, client: TestClient, alice):
        response = client.post("/todos", headers=alice, json={"title": "t" * TITLE_MAX})

        assert response.status_code == 201, response.text
        assert response.json()["title"] == "t" * TITLE_MAX

    def test_due_at_round_trips_as_utc(self, client: TestClient, alice):
        response = client.post("/todos", headers=alice, json={"title": "x", "due_at": "2026-12-01T11:00:00+02:00"})

        assert response.status_code == 201, response.text
        sent_back = response.json()["due_at"]
        assert is_utc_text(sent_back), sent_back
        assert parse_time(sent_back) == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
        stored = client.get(response.headers["Location"], headers=alice).json()["due_at"]
        assert is_utc_text(stored), stored
        assert parse_time(stored) == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class TestReadTodo:
    def test_anonymous(self, client: TestClient, alice_todo):
        assert_anonymous_refused(client.get(f"/todos/{alice_todo['id']}"))

    def test_missing_scope(self, client: TestClient, alice_todo, alice_write_only):
        response = client.get(f"/todos/{alice_todo['id']}", headers=alice_write_only)

        assert_insufficient_scope(response, "todos:read")

    def test_not_existing(self, client: TestClient, alice):
        missing = uuid.uuid4()

        body = assert_problem(client.get(f"/todos/{missing}", headers=alice), 404, "not-found")

        assert body["detail"] == NOT_FOUND
        assert body["instance"] == f"/todos/{missing}"

    def test_not_accessible(self, client: TestClient, alice_todo, bob):
        refused = client.get(f"/todos/{alice_todo['id']}", headers=bob)
        missing = client.get(f"/todos/{uuid.uuid4()}", headers=bob)

        assert refused.status_code != 200, f"bob read alice's todo instead of a 404: {refused.text}"
        assert_problem(refused, 404, "not-found")
        assert_problem(missing, 404, "not-found")
        assert without_instance(refused.json()) == without_instance(missing.json())
        assert refused.headers.get("content-type") == missing.headers.get("content-type")
        assert "alice" not in refused.text

    def test_valid(self, client: TestClient, alice, alice_todo):
        response = client.get(f"/todos/{alice_todo['id']}", headers=alice)

        assert response.status_code == 200
        assert response.json() == alice_todo

    def test_admin_reads_anyones(self, client: TestClient, alice_todo, carol):
        response = client.get(f"/todos/{alice_todo['id']}", headers=carol)

        assert response.status_code == 200
        assert response.json() == alice_todo


class TestUpdateTodo:
    def test_anonymous(self, client: TestClient, alice_todo, db_rows):
        before = db_rows()

        assert_anonymous_refused(client.patch(f"/todos/{alice_todo['id']}", json={"done": True}))

        assert db_rows() == before

    def test_missing_scope(self, client: TestClient, alice_todo, alice_read_only, db_rows):
        before = db_rows()

        response = client.patch(f"/todos/{alice_todo['id']}", headers=alice_read_only, json={"done": True})

        assert_insufficient_scope(response, "todos:write")
        assert db_rows() == before

    def test_not_existing(self, client: TestClient, alice):
        body = assert_problem(
            client.patch(f"/todos/{uuid.uuid4()}", headers=alice, json={"done": True}), 404, "not-found"
        )

        assert body["detail"] == NOT_FOUND

    def test_not_accessible(self, client: TestClient, alice, alice_todo, bob, db_rows):
        before = db_rows()

        refused = client.patch(f"/todos/{alice_todo['id']}", headers=bob, json={"title": "pwned", "done": True})
        missing = client.patch(f"/todos/{uuid.uuid4()}", headers=bob, json={"title": "pwned", "done": True})

        assert_problem(refused, 404, "not-found")
        assert without_instance(refused.json()) == without_instance(missing.json())
        assert db_rows() == before
        assert client.get(f"/todos/{alice_todo['id']}", headers=alice).json() == alice_todo

    def test_admin_sees_but_may_not_change(self, client: TestClient, alice, alice_todo, carol, db_rows):
        before = db_rows()

        response = client.patch(f"/todos/{alice_todo['id']}", headers=carol, json={"title": "moderated"})

        body = assert_problem(response, 403, "forbidden")
        assert "not change" in body["detail"]
        assert db_rows() == before
        assert client.get(f"/todos/{alice_todo['id']}", headers=alice).json() == alice_todo

    def test_valid(self, client: TestClient, alice, alice_todo, db_rows):
        response = client.patch(f"/todos/{alice_todo['id']}", headers=alice, json={"done": True})

        assert response.status_code == 200, response.text
        todo = response.json()
        unchanged = {k: v for k, v in alice_todo.items() if k not in {"done", "updated_at"}}
        assert {k: v for k, v in todo.items() if k not in {"done", "updated_at"}} == unchanged
        assert todo["done"] is True
        assert parse_time(todo["updated_at"]) > parse_time(alice_todo["updated_at"])
        assert todo["created_at"] == alice_todo["created_at"]
        assert client.get(f"/todos/{alice_todo['id']}", headers=alice).json() == todo
        [row] = db_rows()
        assert row["done"] is True
        assert row["title"] == alice_todo["title"]

    def test_changes_several_fields(self, client: TestClient, alice, alice_todo):
        response = client.patch(
            f"/todos/{alice_todo['id']}",
            headers=alice,
            json={"title": "  new title ", "notes": "", "due_at": "2027-01-01T00:30:00-01:00"},
        )

        assert response.status_code == 200, response.text
        todo = response.json()
        assert todo["title"] == "new title"
        assert todo["notes"] == ""
        assert is_utc_text(todo["due_at"])
        assert parse_time(todo["due_at"]) == datetime(2027, 1, 1, 1, 30, tzinfo=UTC)
        assert todo["done"] is alice_todo["done"]

    def test_due_at_null_clears_it(self, client: TestClient, alice, alice_todo):
        response = client.patch(f"/todos/{alice_todo['id']}", headers=alice, json={"due_at": None})

        assert response.status_code == 200, response.text
        assert response.json()["due_at"] is None
        assert client.get(f"/todos/{alice_todo['id']}", headers=alice).json()["due_at"] is None

    def test_empty_body_changes_nothing(self, client: TestClient, alice, alice_todo, db_rows):
        fields = ("id", "owner_id", "title", "notes", "due_at", "done", "created_at")
        before = {k: v for k, v in db_rows()[0].items() if k in fields}

        response = client.patch(f"/todos/{alice_todo['id']}", headers=alice, json={})

        assert response.status_code == 200, response.text
        assert {k: response.json()[k] for k in fields} == {k: alice_todo[k] for k in fields}
        assert {k: v for k, v in db_rows()[0].items() if k in fields} == before


class TestDeleteTodo:
    def test_anonymous(self, client: TestClient, alice_todo, db_rows):
        before = db_rows()

        assert_anonymous_refused(client.delete(f"/todos/{alice_todo['id']}"))

        assert db_rows() == before

    def test_missing_scope(self, client: TestClient, alice_todo, alice_read_only, db_rows):
        before = db_rows()

        assert_insufficient_scope(client.delete(f"/todos/{alice_todo['id']}", headers=alice_read_only), "todos:write")

        assert db_rows() == before

    def test_not_existing(self, client: TestClient, alice, alice_todo, db_rows):
        before = db_rows()

        body = assert_problem(client.delete(f"/todos/{uuid.uuid4()}", headers=alice), 404, "not-found")

        assert body["detail"] == NOT_FOUND
        assert db_rows() == before

    def test_not_accessible(self, client: TestClient, alice, alice_todo, bob, db_rows):
        before = db_rows()

        refused = client.delete(f"/todos/{alice_todo['id']}", headers=bob)
        missing = client.delete(f"/todos/{uuid.uuid4()}", headers=bob)

        assert_problem(refused, 404, "not-found")
        assert without_instance(refused.json()) == without_instance(missing.json())
        assert db_rows() == before
        assert client.get(f"/todos/{alice_todo['id']}", headers=alice).json() == alice_todo

    def test_admin_sees_but_may_not_delete(self, client: TestClient, alice, alice_todo, carol, db_rows):
        before = db_rows()

        assert_problem(client.delete(f"/todos/{alice_todo['id']}", headers=carol), 403, "forbidden")

        assert db_rows() == before
        assert client.get(f"/todos/{alice_todo['id']}", headers=alice).status_code == 200

    def test_valid(self, client: TestClient, alice, alice_todo, db_rows):
        response = client.delete(f"/todos/{alice_todo['id']}", headers=alice)

        assert response.status_code == 204
        assert response.content == b""
        assert_problem(client.get(f"/todos/{alice_todo['id']}", headers=alice), 404, "not-found")
        assert_problem(client.delete(f"/todos/{alice_todo['id']}", headers=alice), 404, "not-found")
        assert db_rows() == []

    def test_deletes_only_that_todo(self, client: TestClient, alice, alice_todo, make_todo, bob):
        kept = make_todo(alice, "kept")
        bobs = make_todo(bob, "bob's")

        assert client.delete(f"/todos/{alice_todo['id']}", headers=alice).status_code == 204

        assert ids(client.get("/todos", headers=alice)) == [kept["id"]]
        assert ids(client.get("/todos", headers=bob)) == [bobs["id"]]


USER_ENDPOINTS = [
    ("GET", "/todos"),
    ("POST", "/todos"),
    ("GET", "/todos/{id}"),
    ("PATCH", "/todos/{id}"),
    ("DELETE", "/todos/{id}"),
]


class TestServiceCaller:
    @pytest.mark.parametrize(("method", "path"), USER_ENDPOINTS)
    def test_service_token_refused_on_user_endpoints(
        self, client: TestClient, reminders, alice_todo, db_rows, method: str, path: str
    ):
        before = db_rows()
        body = {"title": "from a service"} if method in {"POST", "PATCH"} else None

        response = client.request(method, path.format(id=alice_todo["id"]), headers=reminders, json=body)

        assert_problem(response, 403, "wrong-principal-kind")
        assert "WWW-Authenticate" not in response.headers
        assert db_rows() == before

    @pytest.mark.parametrize(("method", "path"), USER_ENDPOINTS)
    def test_service_token_refused_even_with_user_scopes(
        self, client: TestClient, issuer: FakeIssuer, alice_todo, method: str, path: str
    ):
        # A client-credentials token is not a user, whatever scopes it was granted.
        token = issuer.token(sub="reminders", client_id="reminders", scope="todos:read todos:write")
        body = {"title": "from a service"} if method in {"POST", "PATCH"} else None

        response = client.request(
            method, path.format(id=alice_todo["id"]), headers={"Authorization": f"Bearer {token}"}, json=body
        )

        assert response.status_code >= 400, f"reminders' token did {method} {path} instead of a 403: {response.text}"
        assert_problem(response, 403, "wrong-principal-kind")


class TestValidation:
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            pytest.param({"title": ""}, "title", id="empty-title"),
            pytest.param({"title": "   \t "}, "title", id="whitespace-title"),
            pytest.param({"title": "t" * (TITLE_MAX + 1)}, "title", id="title-201-chars"),
            pytest.param({"title": "a\x00b"}, "title", id="nul-in-title"),  # PostgreSQL cannot store it
            pytest.param({"title": "x", "notes": "\x00"}, "notes", id="nul-in-notes"),
            pytest.param({}, "title", id="no-title"),
            pytest.param({"title": None}, "title", id="null-title"),
            pytest.param({"title": "x", "id": str(uuid.uuid4())}, "id", id="client-chosen-id"),
            pytest.param({"title": "x", "created_at": "2020-01-01T00:00:00Z"}, "created_at", id="created-at"),
            pytest.param({"title": "x", "due_at": "2026-12-01T09:00:00"}, "due_at", id="naive-due-at"),
            pytest.param({"title": "x", "due_at": "next tuesday"}, "due_at", id="garbage-due-at"),
            pytest.param({"title": "x", "notes": "n" * 4001}, "notes", id="notes-too-long"),
            pytest.param({"title": "x", "done": "perhaps"}, "done", id="done-not-bool"),
        ],
    )
    def test_create_refused(self, client: TestClient, bob, alice, db_rows, body: dict[str, Any], field: str):
        response = client.post("/todos", headers=bob, json=body)

        assert_validation_error(response, field)
        assert db_rows() == []
        assert client.get("/todos", headers=alice).json()["count"] == 0

    def test_create_error_does_not_echo_input(self, client: TestClient, alice):
        secret = "hunter2-" + "x" * TITLE_MAX

        response = client.post("/todos", headers=alice, json={"title": secret})

        assert_validation_error(response, "title")
        assert secret not in response.text

    def test_owner_cannot_be_chosen_by_client(self, client: TestClient, bob, alice, db_rows):
        response = client.post("/todos", headers=bob, json={"title": "planted", "owner_id": alice.sub})

        assert_validation_error(response, "owner_id")
        assert db_rows() == []

    def test_create_non_json_body(self, client: TestClient, alice, db_rows):
        response = client.post(
            "/todos", headers={**alice, "Content-Type": "application/json"}, content=b"title=buy milk"
        )

        assert_validation_error(response)
        assert db_rows() == []

    def test_create_json_not_an_object(self, client: TestClient, alice, db_rows):
        assert_validation_error(client.post("/todos", headers=alice, json=["buy milk"]))
        assert db_rows() == []

    @pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
    @pytest.mark.parametrize("todo_id", ["not-a-uuid", "12345", "3f2b8c1e-7a4d-4e5f-9b60"])
    def test_malformed_uuid_in_path(self, client: TestClient, alice, alice_todo, db_rows, method: str, todo_id: str):
        before = db_rows()

        response = client.request(method, f"/todos/{todo_id}", headers=alice, json={} if method == "PATCH" else None)

        assert_validation_error(response, "todo_id")
        assert db_rows() == before

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            pytest.param({"title": None}, "title", id="null-title"),
            pytest.param({"done": None}, "done", id="null-done"),
            pytest.param({"notes": None}, "notes", id="null-notes"),
            pytest.param({"title": ""}, "title", id="empty-title"),
            pytest.param({"title": "  "}, "title", id="whitespace-title"),
            pytest.param({"title": "t" * (TITLE_MAX + 1)}, "title", id="title-201-chars"),
            pytest.param({"notes": "a\x00b"}, "notes", id="nul-in-notes"),
            pytest.param({"owner_id": "8d9e0f1a-2b3c-4d5e-8f70-b0b000000002"}, "owner_id", id="owner"),
            pytest.param({"id": "00000000-0000-0000-0000-000000000000"}, "id", id="id"),
            pytest.param({"due_at": "2026-12-01T09:00:00"}, "due_at", id="naive-due-at"),
            pytest.param({"done": True, "title": ""}, "title", id="one-bad-field-refuses-all"),
        ],
    )
    def test_update_refused(self, client: TestClient, alice, alice_todo, db_rows, body: dict[str, Any], field: str):
        before = db_rows()

        response = client.patch(f"/todos/{alice_todo['id']}", headers=alice, json=body)

        assert_validation_error(response, field)
        assert db_rows() == before
        assert client.get(f"/todos/{alice_todo['id']}", headers=alice).json() == alice_todo

    def test_update_non_json_body(self, client: TestClient, alice, alice_todo, db_rows):
        before = db_rows()

        response = client.patch(
            f"/todos/{alice_todo['id']}", headers={**alice, "Content-Type": "application/json"}, content=b"{done: yes"
        )

        assert_validation_error(response)
        assert db_rows() == before

    @pytest.mark.parametrize(
        "query",
        [
            {"limit": 0},
            {"limit": -1},
            {"offset": -1},
            {"limit": "ten"},
            {"done": "perhaps"},
            {"due_before": "tomorrow"},
            {"due_after": "soon"},
        ],
    )
    def test_list_query_refused(self, client: TestClient, alice, query: dict[str, Any]):
        assert_validation_error(client.get("/todos", headers=alice, params=query), next(iter(query)))


class TestListing:
    def test_newest_first(self, client: TestClient, alice, make_todo):
        made = [make_todo(alice, f"todo {i}")["id"] for i in range(4)]

        response = client.get("/todos", headers=alice)

        assert ids(response) == made[::-1]

    def test_filter_done(self, client: TestClient, alice, make_todo):
        open_ = make_todo(alice, "open")
        closed = make_todo(alice, "closed", done=True)
        reopened = make_todo(alice, "reopened")
        client.patch(f"/todos/{reopened['id']}", headers=alice, json={"done": True})
        client.patch(f"/todos/{reopened['id']}", headers=alice, json={"done": False})

        done = client.get("/todos", headers=alice, params={"done": "true"}).json()
        not_done = client.get("/todos", headers=alice, params={"done": "false"}).json()

        assert [t["id"] for t in done["data"]] == [closed["id"]]
        assert done["count"] == 1
        assert [t["id"] for t in not_done["data"]] == [reopened["id"], open_["id"]]
        assert not_done["count"] == 2

    def test_filter_due(self, client: TestClient, alice, make_todo):
        early = make_todo(alice, "early", due_at="2026-12-01T08:00:00Z")
        nine = make_todo(alice, "nine", due_at="2026-12-01T09:00:00Z")
        late = make_todo(alice, "late", due_at="2026-12-01T11:00:00Z")
        make_todo(alice, "whenever")

        def query(**params: str) -> list[str]:
            response = client.get("/todos", headers=alice, params=params)
            assert response.status_code == 200, response.text
            assert response.json()["count"] == len(response.json()["data"])
            return ids(response)

        # due_before is exclusive, due_after inclusive; todos without a due time match neither.
        assert query(due_before="2026-12-01T09:00:00Z") == [early["id"]]
        assert query(due_after="2026-12-01T09:00:00Z") == [late["id"], nine["id"]]
        assert query(due_after="2026-12-01T08:30:00Z", due_before="2026-12-01T10:00:00Z") == [nine["id"]]
        assert query(due_before="2026-12-01T08:00:00Z") == []

    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            # 12:00+02:00 is 10:00Z: only the 09:00Z todo is due before it.
            pytest.param({"due_before": "2026-12-01T12:00:00+02:00"}, ["nine"], id="due-before-east"),
            # 11:30+02:00 is 09:30Z: only the 10:30Z todo is due after it.
            pytest.param({"due_after": "2026-12-01T11:30:00+02:00"}, ["ten-thirty"], id="due-after-east"),
            # 05:30-04:00 is 09:30Z: only the 09:00Z todo is due before it.
            pytest.param({"due_before": "2026-12-01T05:30:00-04:00"}, ["nine"], id="due-before-west"),
        ],
    )
    def test_filter_due_with_offset(self, client: TestClient, alice, make_todo, params, expected: list[str]):
        made = {
            "nine": make_todo(alice, "nine", due_at="2026-12-01T09:00:00Z")["id"],
            "ten-thirty": make_todo(alice, "ten-thirty", due_at="2026-12-01T10:30:00Z")["id"],
        }

        response = client.get("/todos", headers=alice, params=params)

        assert response.status_code == 200, response.text
        assert ids(response) == [made[name] for name in expected]

    def test_paging(self, client: TestClient, alice, bob, make_todo):
        made = [make_todo(alice, f"todo {i}")["id"] for i in range(5)][::-1]  # newest first
        make_todo(bob, "not alice's")

        def page(offset: int, limit: int) -> dict[str, Any]:
            response = client.get("/todos", headers=alice, params={"offset": offset, "limit": limit})
            assert response.status_code == 200, response.text
            return response.json()

        assert [t["id"] for t in page(0, 2)["data"]] == made[0:2]
        assert [t["id"] for t in page(2, 2)["data"]] == made[2:4]
        assert [t["id"] for t in page(4, 2)["data"]] == made[4:]
        assert page(5, 2)["data"] == []
        assert {page(o, 2)["count"] for o in (0, 2, 4, 5, 50)} == {5}

    def test_count_is_of_matches_not_of_page(self, client: TestClient, alice, make_todo):
        for i in range(3):
            make_todo(alice, f"done {i}", done=True)
        make_todo(alice, "open")

        body = client.get("/todos", headers=alice, params={"done": "true", "limit": 1}).json()

        assert len(body["data"]) == 1
        assert body["count"] == 3

    def test_limit_capped_at_page_size_max(self, settings, issuer: FakeIssuer, alice):
        app = create_app(settings.model_copy(update={"page_size_max": 3}), transport=issuer.transport)
        with TestClient(app, raise_server_exceptions=False) as client:
            for i in range(5):
                assert client.post("/todos", headers=alice, json={"title": f"t{i}"}).status_code == 201

            asked_too_many = client.get("/todos", headers=alice, params={"limit": 1000}).json()
            default = client.get("/todos", headers=alice).json()

        assert len(asked_too_many["data"]) == 3
        assert asked_too_many["count"] == 5
        assert len(default["data"]) == 3

    def test_default_page_is_fifty(self, client: TestClient, alice, make_todo):
        for i in range(51):
            make_todo(alice, f"t{i}")

        body = client.get("/todos", headers=alice).json()

        assert len(body["data"]) == 50
        assert body["count"] == 51


class TestWhoami:
    def test_anonymous(self, client: TestClient):
        assert_anonymous_refused(client.get("/todos/whoami"))

    def test_user(self, client: TestClient, alice):
        response = client.get("/todos/whoami", headers=alice)

        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == WHOAMI_KEYS
        assert body["service"] == "todos"
        assert body["subject"] == alice.sub
        assert body["username"] == "alice"
        assert body["kind"] == "user"
        assert body["client_id"] == "todo-cli"
        assert body["roles"] == ["user"]
        assert body["scopes"] == ["todos:read", "todos:write"]
        assert body["audience"] == ["todos", "shares", "reminders"]
        assert body["actor"] == []
        assert body["mode"] == "passthrough"
        assert body["source"] == "verified_token"
        assert alice.token not in response.text

    def test_admin_roles(self, client: TestClient, carol):
        body = client.get("/todos/whoami", headers=carol).json()

        assert body["roles"] == ["admin", "user"]
        assert body["subject"] == carol.sub

    def test_service(self, client: TestClient, reminders):
        response = client.get("/todos/whoami", headers=reminders)

        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == WHOAMI_KEYS
        assert body["kind"] == "service"
        assert body["subject"] == "reminders"
        assert body["client_id"] == "reminders"
        assert body["username"] is None
        assert body["scopes"] == ["todos:due:read"]
        assert reminders.token not in response.text

    def test_token_without_todos_scopes(self, client: TestClient, make_caller):
        caller = make_caller(scope="openid")

        response = client.get("/todos/whoami", headers=caller)

        assert response.status_code == 200
        assert response.json()["scopes"] == ["openid"]

    def test_delegated_actor_chain(self, client: TestClient, make_caller):
        caller = make_caller(act={"sub": "reminders", "act": {"sub": "gateway"}})

        body = client.get("/todos/whoami", headers=caller).json()

        assert body["actor"] == ["reminders", "gateway"]
        assert body["kind"] == "user"

    def test_token_not_in_body_or_headers(self, client: TestClient, alice):
        response = client.get("/todos/whoami", headers=alice)

        assert alice.token not in response.text
        assert all(alice.token not in value for value in response.headers.values())


class TestTokenChecks:
    def test_wrong_audience(self, client: TestClient, make_caller):
        caller = make_caller(audience="shares")

        response = client.get("/todos", headers=caller)

        assert_problem(response, 401, "wrong-audience")
        challenge = response.headers["WWW-Authenticate"]
        assert challenge.startswith(CHALLENGE_PREFIX)
        assert 'error="invalid_token"' in challenge

    def test_wrong_audience_on_whoami(self, client: TestClient, make_caller):
        assert_problem(client.get("/todos/whoami", headers=make_caller(audience=["shares"])), 401, "wrong-audience")

    def test_expired(self, client: TestClient, alice_expired):
        response = client.get("/todos", headers=alice_expired)

        assert_problem(response, 401, "expired-token")
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]

    def test_expired_on_write(self, client: TestClient, alice_expired, db_rows):
        assert_problem(client.post("/todos", headers=alice_expired, json={"title": "x"}), 401, "expired-token")
        assert db_rows() == []

    def test_other_issuer_unknown_kid(self, client: TestClient, make_caller):
        forger = FakeIssuer("http://identity.test")

        response = client.get("/todos", headers=make_caller(token_issuer=forger))

        assert_problem(response, 401, "unknown-key")
        assert response.headers["WWW-Authenticate"].startswith(CHALLENGE_PREFIX)

    def test_other_issuer_same_kid(self, client: TestClient, make_caller, issuer: FakeIssuer):
        forger = FakeIssuer("http://identity.test")
        forger.add_key(issuer.kid)

        response = client.get("/todos", headers=make_caller(token_issuer=forger))

        assert_problem(response, 401, "invalid-signature")

    def test_wrong_issuer_claim(self, client: TestClient, make_caller):
        response = client.get("/todos", headers=make_caller(iss="http://evil.test"))

        assert_problem(response, 401, "wrong-issuer")

    def test_not_a_bearer_token(self, client: TestClient, alice):
        response = client.get("/todos", headers={"Authorization": f"Basic {alice.token}"})

        assert_anonymous_refused(response)

    def test_garbage_token(self, client: TestClient):
        response = client.get("/todos", headers={"Authorization": "Bearer not.a.jwt"})

        assert_problem(response, 401, "malformed-token")


class TestProbes:
    def test_healthz(self, client: TestClient):
        response = client.get("/healthz")

        assert response.status_code == 200
        assert response.json() == {"status": "ok"}

    def test_readyz(self, client: TestClient):
        response = client.get("/readyz")

        assert response.status_code == 200
        assert response.json() == {"status": "ready"}

    def test_readyz_database_unreachable(self, client: TestClient, tmp_path):
        # Take the database away under the running app: its files are replaced by a directory of the
        # same name (which SQLite cannot open), and the pooled connections are closed.
        for path in tmp_path.glob("todos.db*"):
            path.unlink()
        (tmp_path / "todos.db").mkdir()
        client.app_state["engine"].dispose()

        response = client.get("/readyz")

        body = assert_problem(response, 503, "not-ready")
        assert body["detail"] == "the database is not reachable"
        assert client.get("/healthz").status_code == 200

    def test_database_unreachable_is_503_with_retry_after(self, client: TestClient, tmp_path, alice):
        # As above; an API request then fails at the database: unavailable (503), not a crash (500).
        for path in tmp_path.glob("todos.db*"):
            path.unlink()
        (tmp_path / "todos.db").mkdir()
        client.app_state["engine"].dispose()

        for method, kwargs in (("GET", {}), ("POST", {"json": {"title": "x"}})):
            response = client.request(method, "/todos", headers=alice, **kwargs)

            body = assert_problem(response, 503, "database-unavailable")
            assert response.headers["retry-after"].isdigit()
            assert "todos.db" not in body["detail"]

    def test_metrics_fetch_jwks_once(self, client: TestClient, issuer: FakeIssuer, alice, bob, carol, reminders):
        for caller in (alice, bob, carol, reminders, alice, bob):
            assert client.get("/todos/whoami", headers=caller).status_code == 200
        assert client.post("/todos", headers=alice, json={"title": "x"}).status_code == 201

        response = client.get("/metrics")

        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        metrics = dict(line.split(" ") for line in response.text.splitlines())
        assert metrics["authz_jwks_fetches_total"] == "1"
        assert issuer.jwks_requests == 1
        assert float(metrics["authz_token_cache_entries"]) == 4
