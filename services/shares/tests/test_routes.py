"""The shares HTTP API through the real verifier, with identity and todos faked on the network: who may do
what, the sharing workflow (pending, grant on behalf of the user, active — or nothing left behind), and
the delegated tokens shares sends to todos."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlmodel import Session

from authz.pytest_plugin import ALICE_SUB, BOB_SUB, CAROL_SUB
from shares.app import create_app
from shares.models import Share

PROBLEM = "urn:todo-suite:problem:"
CHALLENGE_PREFIX = 'Bearer realm="shares"'
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
GRANT_SCOPE = "todos:read todos:share"
SHARE_KEYS = {"id", "todo_id", "owner_id", "grantee_id", "grantee_username", "note", "status", "created_at"}


def assert_problem(response: Response, status: int, slug: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    if slug is not None:
        assert body["type"] == PROBLEM + slug
    return body


def token_of(request: httpx.Request) -> str:
    scheme, _, token = request.headers["authorization"].partition(" ")
    assert scheme == "Bearer"
    return token


def claims_of(request: httpx.Request) -> dict[str, Any]:
    return jwt.decode(token_of(request), options={"verify_signature": False})


def without_instance(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "instance"}


def share_body(todo: dict[str, Any], username: str = "bob", note: str = "") -> dict[str, Any]:
    return {"todo_id": todo["id"], "username": username, "note": note}


# (method, path, scope it needs); `{share}` is replaced by the id of a share alice sent.
ENDPOINTS = [
    ("POST", "/shares", "shares:write"),
    ("GET", "/shares/sent", "shares:read"),
    ("GET", "/shares/received", "shares:read"),
    ("DELETE", "/shares/{share}", "shares:write"),
]
ENDPOINT_IDS = [f"{method} {path}" for method, path, _ in ENDPOINTS]


class TestRefusals:
    """Every endpoint refuses, before any outbound call and any write, a caller it is not for."""

    @pytest.fixture
    def send(self, client: TestClient, alice, alice_todo, make_share, todos, identity, db_rows):
        existing = make_share(alice, alice_todo, "carol")
        calls_before = (len(todos.requests), len(identity.token_requests), len(identity.directory_requests))
        rows_before = db_rows()

        def send(method: str, path: str, headers: dict[str, str] | None = None) -> Response:
            url = path.replace("{share}", existing["id"])
            json = share_body(alice_todo) if method == "POST" else None
            response = client.request(method, url, headers=headers, json=json)
            assert (len(todos.requests), len(identity.token_requests), len(identity.directory_requests)) == (
                calls_before
            )
            assert db_rows() == rows_before
            return response

        return send

    @pytest.mark.parametrize(("method", "path", "scope"), ENDPOINTS, ids=ENDPOINT_IDS)
    def test_anonymous(self, send, method, path, scope):
        response = send(method, path)

        assert_problem(response, 401, "missing-token")
        assert response.headers["WWW-Authenticate"] == CHALLENGE_PREFIX

    @pytest.mark.parametrize(("method", "path", "scope"), ENDPOINTS, ids=ENDPOINT_IDS)
    def test_missing_scope(self, send, make_caller, method, path, scope):
        others = {"todos:read", "todos:share", "shares:read", "shares:write"} - {scope}
        caller = make_caller(ALICE_SUB, scope=" ".join(sorted(others)))

        response = send(method, path, caller)

        assert_problem(response, 403, "missing-scope")
        challenge = response.headers["WWW-Authenticate"]
        assert challenge.startswith(CHALLENGE_PREFIX)
        assert 'error="insufficient_scope"' in challenge
        assert f'scope="{scope}"' in challenge

    @pytest.mark.parametrize(("method", "path", "scope"), ENDPOINTS, ids=ENDPOINT_IDS)
    def test_service_token(self, send, service_caller, method, path, scope):
        # A service's own token (sub == client_id) has no user behind it: nothing to act on behalf of.
        assert_problem(send(method, path, service_caller), 403, "wrong-principal-kind")

    @pytest.mark.parametrize(("method", "path", "scope"), ENDPOINTS, ids=ENDPOINT_IDS)
    def test_delegated_token(self, send, make_caller, method, path, scope):
        # Another service acting for alice: shares has no delegation table, so no actor may use it.
        caller = make_caller(ALICE_SUB, audience="shares", act={"sub": "gateway"})

        assert_problem(send(method, path, caller), 403, "delegation-refused")

    @pytest.mark.parametrize(("method", "path", "scope"), ENDPOINTS, ids=ENDPOINT_IDS)
    def test_token_for_another_audience(self, send, make_caller, method, path, scope):
        caller = make_caller(ALICE_SUB, audience="todos")

        assert_problem(send(method, path, caller), 401, "wrong-audience")


class TestCreateShare:
    def test_valid(self, client: TestClient, alice, alice_todo, todos, db_rows):
        response = client.post("/shares", headers=alice, json=share_body(alice_todo, "bob", "your call"))

        assert response.status_code == 201, response.text
        share = response.json()
        assert set(share) == SHARE_KEYS
        assert response.headers["Location"] == f"/shares/{share['id']}"
        assert (share["todo_id"], share["owner_id"], share["grantee_id"]) == (alice_todo["id"], ALICE_SUB, BOB_SUB)
        assert (share["grantee_username"], share["note"], share["status"]) == ("bob", "your call", "active")
        assert share["created_at"].endswith(("Z", "+00:00"))
        [row] = db_rows()
        assert (str(row["id"]), row["status"], row["note"]) == (share["id"], "active", "your call")
        assert todos.grants == {(alice_todo["id"], BOB_SUB)}

    def test_grant_is_asked_for_alice_with_an_exchanged_token(
        self, client: TestClient, alice, alice_todo, todos, identity
    ):
        assert client.post("/shares", headers=alice, json=share_body(alice_todo)).status_code == 201

        [put] = todos.calls()
        assert put.method == "PUT"
        assert put.url.path == f"/todos/{alice_todo['id']}/grants/{BOB_SUB}"
        assert token_of(put) != alice.token
        claims = claims_of(put)
        assert (claims["sub"], claims["act"], claims["aud"]) == (ALICE_SUB, {"sub": "shares"}, "todos")
        assert claims["scope"] == GRANT_SCOPE
        [exchange] = identity.exchanges
        assert exchange["subject_token"] == alice.token
        assert exchange["subject_token_type"] == ACCESS_TOKEN
        assert (exchange["audience"], exchange["scope"]) == ("todos", GRANT_SCOPE)

    def test_directory_is_asked_with_shares_own_token(self, client: TestClient, alice, alice_todo, identity):
        assert client.post("/shares", headers=alice, json=share_body(alice_todo, "  carol ")).json()["grantee_id"] == (
            CAROL_SUB
        )

        [lookup] = identity.directory_requests
        assert lookup.url.params["username"] == "carol"
        claims = claims_of(lookup)
        assert (claims["sub"], claims["aud"], claims["scope"]) == ("shares", "identity", "users:read")
        assert "act" not in claims

    def test_record_is_pending_and_committed_while_todos_is_asked(
        self, client: TestClient, alice, alice_todo, todos, db_rows, free_event_loop
    ):
        seen: list[list[dict[str, Any]]] = []

        def peek(request: Any) -> None:
            with free_event_loop.paused():  # the test peeks from the app's loop; not the app's doing
                seen.append(db_rows())

        todos.on_request = peek

        assert client.post("/shares", headers=alice, json=share_body(alice_todo)).status_code == 201

        [[row]] = seen
        assert (row["status"], row["grantee_id"]) == ("pending", BOB_SUB)
        assert [r["status"] for r in db_rows()] == ["active"]

    def test_unknown_grantee(self, client: TestClient, alice, alice_todo, todos, db_rows):
        body = assert_problem(client.post("/shares", headers=alice, json=share_body(alice_todo, "mallory")), 422)

        assert body["detail"] == "no user named 'mallory'"
        assert db_rows() == []
        assert todos.requests == []

    def test_self_by_username(self, client: TestClient, alice, alice_todo, todos, identity, db_rows):
        body = assert_problem(client.post("/shares", headers=alice, json=share_body(alice_todo, "alice")), 422)

        assert body["detail"] == "you cannot share with yourself"
        assert db_rows() == []
        assert todos.requests == []

    def test_self_by_id(self, client: TestClient, make_caller, alice_todo, todos, identity, db_rows):
        # A token without a username still cannot share with the directory entry that is its own sub.
        caller = make_caller(ALICE_SUB, username=None)

        body = assert_problem(client.post("/shares", headers=caller, json=share_body(alice_todo, "alice")), 422)

        assert body["detail"] == "you cannot share with yourself"
        assert len(identity.directory_requests) == 1
        assert db_rows() == []
        assert todos.requests == []

    def test_duplicate(self, client: TestClient, alice, alice_todo, make_share, todos, db_rows):
        make_share(alice, alice_todo, "bob", "first")

        body = assert_problem(client.post("/shares", headers=alice, json=share_body(alice_todo, "bob", "again")), 409)

        assert body["detail"] == "this todo is already shared with this user"
        assert [(r["note"], r["status"]) for r in db_rows()] == [("first", "active")]
        assert [call.method for call in todos.requests] == ["PUT"]

    def test_duplicate_of_someone_elses_share_is_404_for_a_stranger(
        self, client: TestClient, alice, carol, alice_todo, make_share, todos, db_rows
    ):
        # A 409 would tell carol that alice's todo exists and that it is shared with bob.
        make_share(alice, alice_todo, "bob")
        rows = db_rows()

        duplicate = client.post("/shares", headers=carol, json=share_body(alice_todo, "bob"))
        missing = client.post("/shares", headers=carol, json={"todo_id": str(uuid.uuid4()), "username": "bob"})

        assert without_instance(assert_problem(duplicate, 404)) == without_instance(assert_problem(missing, 404))
        assert db_rows() == rows
        assert [call.method for call in todos.requests] == ["PUT", "GET", "PUT"]

    def test_duplicate_of_someone_elses_share_is_403_for_a_grantee(
        self, client: TestClient, alice, bob, alice_todo, make_share, todos, db_rows
    ):
        make_share(alice, alice_todo, "bob")
        make_share(alice, alice_todo, "carol")
        rows = db_rows()

        body = assert_problem(client.post("/shares", headers=bob, json=share_body(alice_todo, "carol")), 403)

        assert body["detail"] == "you may see this todo but not share it: only its owner can"
        assert db_rows() == rows
        [read] = todos.requests[2:]
        assert (read.method, read.url.path) == ("GET", f"/todos/{alice_todo['id']}")
        assert (claims_of(read)["sub"], claims_of(read)["scope"]) == (BOB_SUB, "todos:read")

    def test_same_todo_with_another_user(self, alice, alice_todo, make_share, todos, db_rows):
        make_share(alice, alice_todo, "bob")
        make_share(alice, alice_todo, "carol")

        assert sorted(r["grantee_id"] for r in db_rows()) == sorted([BOB_SUB, CAROL_SUB])
        assert todos.grants == {(alice_todo["id"], BOB_SUB), (alice_todo["id"], CAROL_SUB)}

    @pytest.mark.parametrize(
        ("answer", "status", "slug"),
        [
            (404, 404, "not-found"),
            (403, 403, "forbidden"),
            (422, 422, None),
            (500, 502, "bad-gateway"),
            (httpx.ConnectError("connection refused"), 502, "upstream-unavailable"),
            (httpx.ReadTimeout("no answer"), 504, "upstream-timeout"),
        ],
        ids=["404", "403", "422", "500", "unreachable", "timeout"],
    )
    def test_todos_refuses_or_fails_and_no_record_is_left(
        self, client: TestClient, alice, alice_todo, todos, db_rows, answer, status, slug, free_event_loop
    ):
        seen: list[list[dict[str, Any]]] = []

        def peek(request: Any) -> None:
            with free_event_loop.paused():  # the test peeks from the app's loop; not the app's doing
                seen.append(db_rows())

        todos.on_request = peek
        todos.answer = answer

        response = client.post("/shares", headers=alice, json=share_body(alice_todo))

        assert_problem(response, status, slug)
        assert [[r["status"] for r in rows] for rows in seen] == [["pending"]]  # it was written, then removed
        assert db_rows() == []

    def test_someone_elses_todo_is_404_like_a_missing_one(self, client: TestClient, alice, todos, db_rows):
        bobs = todos.add_todo(BOB_SUB, "bob's secret")

        hidden = client.post("/shares", headers=alice, json=share_body(bobs, "carol"))
        missing = client.post("/shares", headers=alice, json={"todo_id": str(uuid.uuid4()), "username": "carol"})

        assert without_instance(assert_problem(hidden, 404)) == without_instance(assert_problem(missing, 404))
        assert "bob's secret" not in hidden.text
        assert db_rows() == []
        assert todos.grants == set()

    def test_grantee_cannot_reshare(self, client: TestClient, alice, bob, alice_todo, make_share, todos, db_rows):
        make_share(alice, alice_todo, "bob")

        body = assert_problem(client.post("/shares", headers=bob, json=share_body(alice_todo, "carol")), 403)

        assert body["detail"] == "you may see this todo but not share it: only its owner can"
        assert [r["owner_id"] for r in db_rows()] == [ALICE_SUB]
        assert todos.grants == {(alice_todo["id"], BOB_SUB)}

    def test_exchange_refused(self, client: TestClient, alice, alice_todo, identity, todos, db_rows):
        identity.refuse_exchange = "invalid_scope"

        assert_problem(client.post("/shares", headers=alice, json=share_body(alice_todo)), 502, "upstream-auth-failed")

        assert len(identity.exchanges) == 1
        assert todos.requests == []
        assert db_rows() == []

    def test_directory_fails(self, client: TestClient, alice, alice_todo, identity, todos, db_rows):
        identity.directory_status = 500

        assert_problem(client.post("/shares", headers=alice, json=share_body(alice_todo)), 502, "bad-gateway")

        assert todos.requests == []
        assert db_rows() == []

    def test_grant_already_in_todos_is_recorded(self, client: TestClient, alice, alice_todo, todos, db_rows):
        # A grant made before, whose answer was lost: todos answers 200 and the record is written now.
        todos.grants.add((alice_todo["id"], BOB_SUB))

        response = client.post("/shares", headers=alice, json=share_body(alice_todo))

        assert response.status_code == 201, response.text
        assert [r["status"] for r in db_rows()] == ["active"]

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"username": "bob"}, "todo_id"),
            ({"todo_id": "not-a-uuid", "username": "bob"}, "todo_id"),
            ({"todo_id": "{todo}"}, "username"),
            ({"todo_id": "{todo}", "username": ""}, "username"),
            ({"todo_id": "{todo}", "username": "   "}, "username"),
            ({"todo_id": "{todo}", "username": "b" * 101}, "username"),
            ({"todo_id": "{todo}", "username": "bob", "note": "n" * 501}, "note"),
            ({"todo_id": "{todo}", "username": "bob", "note": "a\x00b"}, "note"),
            ({"todo_id": "{todo}", "username": "b\x00ob"}, "username"),
            ({"todo_id": "{todo}", "username": "bob", "owner_id": ALICE_SUB}, "owner_id"),
            ({"todo_id": "{todo}", "username": "bob", "status": "active"}, "status"),
        ],
        ids=[
            "no todo",
            "bad todo id",
            "no username",
            "empty",
            "blank",
            "too long",
            "long note",
            "nul in note",
            "nul in username",
            "owner",
            "status",
        ],
    )
    def test_invalid_body(self, client: TestClient, alice, alice_todo, todos, identity, db_rows, body, field):
        body = {k: alice_todo["id"] if v == "{todo}" else v for k, v in body.items()}

        problem = assert_problem(client.post("/shares", headers=alice, json=body), 422, "validation-error")

        assert any(field in error["loc"] for error in problem["errors"]), problem["errors"]
        assert "n" * 501 not in str(problem)
        assert db_rows() == []
        assert (todos.requests, identity.token_requests) == ([], [])

    def test_note_limit_is_a_setting(self, settings, network, alice, alice_todo, todos):
        app = create_app(settings.model_copy(update={"note_max": 5}), transport=network)
        with TestClient(app, raise_server_exceptions=False) as client:
            refused = client.post("/shares", headers=alice, json=share_body(alice_todo, "bob", "123456"))
            accepted = client.post("/shares", headers=alice, json=share_body(alice_todo, "bob", "12345"))

        assert_problem(refused, 422, "validation-error")
        assert accepted.status_code == 201, accepted.text
        assert len(todos.calls("PUT")) == 1

    def test_exchanged_token_is_cached_per_user_token(
        self, client: TestClient, alice, make_caller, alice_todo, todos, identity
    ):
        other = todos.add_todo(ALICE_SUB, "another")
        assert client.post("/shares", headers=alice, json=share_body(alice_todo, "bob")).status_code == 201
        assert client.post("/shares", headers=alice, json=share_body(alice_todo, "carol")).status_code == 201

        assert len(identity.exchanges) == 1
        first, second = todos.calls("PUT")
        assert token_of(first) == token_of(second)
        assert len(identity.requests_for("client_credentials")) == 1  # the directory token is cached too

        alice_again = make_caller(ALICE_SUB)  # a new token of the same user is a new subject token
        assert client.post("/shares", headers=alice_again, json=share_body(other, "bob")).status_code == 201
        assert [e["subject_token"] for e in identity.exchanges] == [alice.token, alice_again.token]

    def test_metrics_count_outbound_tokens(self, client: TestClient, alice, alice_todo, make_share):
        make_share(alice, alice_todo, "bob")
        make_share(alice, alice_todo, "carol")

        metrics = dict(line.rsplit(" ", 1) for line in client.get("/metrics").text.splitlines())

        assert metrics[f'authz_outbound_tokens_fetched_total{{grant="{EXCHANGE}"}}'] == "1"
        assert metrics['authz_outbound_tokens_fetched_total{grant="client_credentials"}'] == "1"


class TestReadSent:
    def test_only_own_newest_first(self, client: TestClient, alice, bob, alice_todo, make_share, todos):
        first = make_share(alice, alice_todo, "bob", "one")
        second = make_share(alice, todos.add_todo(ALICE_SUB, "two"), "carol", "two")
        bobs = make_share(bob, todos.add_todo(BOB_SUB, "bob's"), "alice")

        mine = client.get("/shares/sent", headers=alice)
        his = client.get("/shares/sent", headers=bob)

        assert mine.status_code == 200, mine.text
        assert mine.json() == {"data": [second, first], "count": 2}
        assert his.json() == {"data": [bobs], "count": 1}

    def test_paging(self, client: TestClient, alice, alice_todo, make_share):
        first = make_share(alice, alice_todo, "bob")
        make_share(alice, alice_todo, "carol")

        page = client.get("/shares/sent", headers=alice, params={"offset": 1, "limit": 1}).json()

        assert page == {"data": [first], "count": 2}

    @pytest.mark.parametrize("params", [{"offset": -1}, {"limit": 0}], ids=["offset", "limit"])
    def test_bad_paging(self, client: TestClient, alice, params):
        assert_problem(client.get("/shares/sent", headers=alice, params=params), 422, "validation-error")

    def test_empty(self, client: TestClient, carol, alice, alice_todo, make_share):
        make_share(alice, alice_todo, "carol")

        assert client.get("/shares/sent", headers=carol).json() == {"data": [], "count": 0}

    def test_makes_no_outbound_call(self, client: TestClient, alice, todos, identity):
        assert client.get("/shares/sent", headers=alice).status_code == 200
        assert (todos.requests, identity.token_requests) == ([], [])


class TestReadReceived:
    def test_joins_notes(self, client: TestClient, alice, bob, alice_todo, make_share, todos):
        share = make_share(alice, alice_todo, "bob", "your call")
        carols = todos.add_todo(CAROL_SUB, "carol's, shared without a record")
        todos.grants.add((carols["id"], BOB_SUB))

        response = client.get("/shares/received", headers=bob)

        assert response.status_code == 200, response.text
        assert response.json() == {
            "data": [{"todo": alice_todo, "share": share}, {"todo": carols, "share": None}],
            "count": 2,
        }

    def test_asks_todos_for_bob_with_a_read_only_exchanged_token(self, client: TestClient, bob, todos, identity):
        assert client.get("/shares/received", headers=bob, params={"offset": 3, "limit": 7}).status_code == 200

        [call] = todos.calls()
        assert (call.method, call.url.path) == ("GET", "/todos/shared")
        assert (call.url.params["offset"], call.url.params["limit"]) == ("3", "7")
        claims = claims_of(call)
        assert (claims["sub"], claims["act"], claims["scope"]) == (BOB_SUB, {"sub": "shares"}, "todos:read")
        assert token_of(call) != bob.token
        assert [e["subject_token"] for e in identity.exchanges] == [bob.token]

    def test_count_is_todos_count(self, client: TestClient, bob, todos):
        for i in range(3):
            todos.grants.add((todos.add_todo(ALICE_SUB, f"t{i}")["id"], BOB_SUB))

        page = client.get("/shares/received", headers=bob, params={"limit": 2}).json()

        assert len(page["data"]) == 2
        assert page["count"] == 3

    def test_not_accessible(self, client: TestClient, alice, carol, alice_todo, make_share):
        make_share(alice, alice_todo, "bob", "for bob only")

        response = client.get("/shares/received", headers=carol)

        assert response.json() == {"data": [], "count": 0}
        assert "for bob only" not in response.text

    def test_the_senders_own_shares_are_not_received(self, client: TestClient, alice, alice_todo, make_share):
        make_share(alice, alice_todo, "bob")

        assert client.get("/shares/received", headers=alice).json() == {"data": [], "count": 0}

    def test_only_the_owners_record_is_joined(self, client: TestClient, bob, alice_todo, todos, db_rows):
        # A record whose sender is not the todo's owner (it cannot arise through the API) adds no note.
        todos.grants.add((alice_todo["id"], BOB_SUB))
        with Session(client.app_state["engine"]) as session:
            session.add(
                Share(
                    todo_id=uuid.UUID(alice_todo["id"]),
                    owner_id=CAROL_SUB,
                    grantee_id=BOB_SUB,
                    grantee_username="bob",
                    note="forged note",
                    status="active",
                )
            )
            session.commit()

        response = client.get("/shares/received", headers=bob)

        assert response.json() == {"data": [{"todo": alice_todo, "share": None}], "count": 1}

    @pytest.mark.parametrize(
        ("answer", "status"),
        [(500, 502), (403, 502), (httpx.ConnectError("connection refused"), 502)],
        ids=["500", "403", "unreachable"],
    )
    def test_todos_fails(self, client: TestClient, bob, todos, answer, status):
        todos.answer = answer

        assert_problem(client.get("/shares/received", headers=bob), status)

    def test_todos_answers_garbage(self, client: TestClient, bob, todos):
        todos.answer = 200  # a 200 whose body is not a page of todos

        assert_problem(client.get("/shares/received", headers=bob), 502, "bad-gateway")


class TestDeleteShare:
    def test_valid(self, client: TestClient, alice, alice_todo, make_share, todos, db_rows):
        share = make_share(alice, alice_todo, "bob")

        response = client.delete(f"/shares/{share['id']}", headers=alice)

        assert response.status_code == 204, response.text
        assert response.content == b""
        assert db_rows() == []
        assert todos.grants == set()
        delete = todos.calls("DELETE")[0]
        assert delete.url.path == f"/todos/{alice_todo['id']}/grants/{BOB_SUB}"
        assert token_of(delete) != alice.token
        claims = claims_of(delete)
        assert (claims["sub"], claims["act"], claims["scope"]) == (ALICE_SUB, {"sub": "shares"}, GRANT_SCOPE)

    @pytest.mark.parametrize("who", ["bob", "carol"])
    def test_not_accessible(self, client: TestClient, request, alice, alice_todo, make_share, todos, db_rows, who):
        # The grantee and a stranger alike: a share someone else sent is 404, as if it did not exist.
        share = make_share(alice, alice_todo, "bob")
        missing = client.delete(f"/shares/{uuid.uuid4()}", headers=request.getfixturevalue(who))

        response = client.delete(f"/shares/{share['id']}", headers=request.getfixturevalue(who))

        assert without_instance(assert_problem(response, 404)) == without_instance(assert_problem(missing, 404))
        assert len(db_rows()) == 1
        assert todos.calls("DELETE") == []
        assert todos.grants == {(alice_todo["id"], BOB_SUB)}

    def test_not_existing(self, client: TestClient, alice, todos):
        assert_problem(client.delete(f"/shares/{uuid.uuid4()}", headers=alice), 404)
        assert todos.requests == []

    def test_bad_id(self, client: TestClient, alice):
        assert_problem(client.delete("/shares/not-a-uuid", headers=alice), 422, "validation-error")

    def test_grant_already_gone(self, client: TestClient, alice, alice_todo, make_share, todos, db_rows):
        share = make_share(alice, alice_todo, "bob")
        todos.grants.clear()

        assert client.delete(f"/shares/{share['id']}", headers=alice).status_code == 204

        assert [call.method for call in todos.requests] == ["PUT", "DELETE"]
        assert db_rows() == []

    @pytest.mark.parametrize(
        ("answer", "status"),
        [(403, 403), (500, 502), (401, 502), (httpx.ConnectError("connection refused"), 502)],
        ids=["403", "500", "401", "unreachable"],
    )
    def test_todos_refuses_or_fails_and_the_record_stays(
        self, client: TestClient, alice, alice_todo, make_share, todos, db_rows, answer, status
    ):
        share = make_share(alice, alice_todo, "bob")
        todos.answer = answer

        assert_problem(client.delete(f"/shares/{share['id']}", headers=alice), status)

        assert [(str(r["id"]), r["status"]) for r in db_rows()] == [(share["id"], "active")]

    def test_revoked_share_can_be_made_again(self, client: TestClient, alice, bob, alice_todo, make_share, todos):
        first = make_share(alice, alice_todo, "bob")
        assert client.delete(f"/shares/{first['id']}", headers=alice).status_code == 204
        assert client.get("/shares/received", headers=bob).json()["count"] == 0

        second = make_share(alice, alice_todo, "bob", "again")

        assert second["id"] != first["id"]
        assert client.get("/shares/received", headers=bob).json()["data"][0]["share"]["note"] == "again"


class TestWhoami:
    def test_anonymous(self, client: TestClient):
        response = client.get("/shares/whoami")

        assert_problem(response, 401, "missing-token")
        assert response.headers["WWW-Authenticate"] == CHALLENGE_PREFIX

    def test_user(self, client: TestClient, alice):
        response = client.get("/shares/whoami", headers=alice)

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["service"] == "shares"
        assert (body["subject"], body["username"], body["kind"]) == (ALICE_SUB, "alice", "user")
        assert body["scopes"] == sorted(["todos:read", "todos:share", "shares:read", "shares:write"])
        assert body["actor"] == []
        assert alice.token not in response.text

    def test_service(self, client: TestClient, service_caller):
        body = client.get("/shares/whoami", headers=service_caller).json()

        assert (body["subject"], body["kind"], body["client_id"]) == ("reminders", "service", "reminders")
