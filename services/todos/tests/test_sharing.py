"""Sharing a todo: grants (only `shares`, acting for the owner), the shared-with-me list, and the
delegation table that says which actor may do which operation for a user.

`shares_for(user)` below is `shares` acting for that user: a delegated token (RFC 8693 `act`) whose
`sub` is the user. todos is the one authority over access; these tests hold it to that.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

PROBLEM = "urn:todo-suite:problem:"
GRANT_KEYS = {"todo_id", "grantee_id", "granted_by", "created_at"}


def assert_problem(response: Response, status: int, slug: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    if slug is not None:
        assert body["type"] == PROBLEM + slug, body
    assert body["status"] == status
    return body


def ids(response: Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [todo["id"] for todo in response.json()["data"]]


def grants_path(todo_id: str, grantee: str) -> str:
    return f"/todos/{todo_id}/grants/{grantee}"


@pytest.fixture
def shares_for(delegated):
    """`shares` acting for a user, with `todos:read todos:share`."""
    return delegated


@pytest.fixture
def alice_todo(make_todo, alice) -> dict[str, Any]:
    return make_todo(alice, "alice's plan", notes="for bob's eyes only", due_at="2026-12-01T09:00:00Z")


@pytest.fixture
def share(client: TestClient, shares_for, alice):
    """Share one of alice's todos with someone, as `shares` for alice (asserting it worked)."""

    def do(todo: dict[str, Any], grantee: str) -> dict[str, Any]:
        response = client.put(grants_path(todo["id"], grantee), headers=shares_for(alice))
        assert response.status_code in (200, 201), response.text
        return response.json()

    return do


class TestGrant:
    def test_created(self, client: TestClient, alice_todo, alice, bob, shares_for, grant_rows):
        response = client.put(grants_path(alice_todo["id"], bob.sub), headers=shares_for(alice))

        assert response.status_code == 201, response.text
        grant = response.json()
        assert set(grant) == GRANT_KEYS
        assert grant["todo_id"] == alice_todo["id"]
        assert grant["grantee_id"] == bob.sub
        assert grant["granted_by"] == alice.sub
        created = datetime.fromisoformat(grant["created_at"])
        assert created.tzinfo is not None
        assert abs(datetime.now(UTC) - created) < timedelta(minutes=1)
        [row] = grant_rows()
        assert str(row["todo_id"]) == alice_todo["id"]
        assert row["grantee_id"] == bob.sub
        assert row["granted_by"] == alice.sub

    def test_idempotent(self, client: TestClient, alice_todo, alice, bob, shares_for, grant_rows):
        first = client.put(grants_path(alice_todo["id"], bob.sub), headers=shares_for(alice))
        again = client.put(grants_path(alice_todo["id"], bob.sub), headers=shares_for(alice))

        assert first.status_code == 201, first.text
        assert again.status_code == 200, again.text
        assert again.json() == first.json()
        assert len(grant_rows()) == 1

    def test_grantee_reads_but_may_not_change(self, client: TestClient, alice_todo, alice, bob, share):
        share(alice_todo, bob.sub)
        path = f"/todos/{alice_todo['id']}"

        read = client.get(path, headers=bob)
        patched = client.patch(path, headers=bob, json={"title": "bob was here"})
        deleted = client.delete(path, headers=bob)

        assert read.status_code == 200, read.text
        assert read.json() == alice_todo
        # He may see it, so the refusal is 403 (not the 404 of a todo he cannot see).
        assert_problem(patched, 403, "forbidden")
        assert_problem(deleted, 403, "forbidden")
        assert client.get(path, headers=alice).json() == alice_todo

    def test_shared_listed_apart_from_own(self, client: TestClient, alice_todo, bob, share, make_todo):
        own = make_todo(bob, "bob's own")
        share(alice_todo, bob.sub)

        assert ids(client.get("/todos/shared", headers=bob)) == [alice_todo["id"]]
        assert client.get("/todos/shared", headers=bob).json()["count"] == 1
        assert ids(client.get("/todos", headers=bob)) == [own["id"]]
        assert client.get("/todos", headers=bob).json()["count"] == 1

    def test_shared_list_shows_the_whole_todo(self, client: TestClient, alice_todo, bob, share):
        share(alice_todo, bob.sub)

        assert client.get("/todos/shared", headers=bob).json() == {"data": [alice_todo], "count": 1}

    def test_admin_and_others_after_sharing(self, client: TestClient, alice_todo, bob, carol, dave, share):
        share(alice_todo, bob.sub)
        path = f"/todos/{alice_todo['id']}"

        assert client.get(path, headers=carol).status_code == 200
        assert_problem(client.get(path, headers=dave), 404, "not-found")
        assert ids(client.get("/todos/shared", headers=dave)) == []
        assert ids(client.get("/todos/shared", headers=carol)) == []

    def test_shared_with_several(self, client: TestClient, alice_todo, bob, dave, share, grant_rows):
        share(alice_todo, bob.sub)
        share(alice_todo, dave.sub)

        assert client.get(f"/todos/{alice_todo['id']}", headers=dave).status_code == 200
        assert ids(client.get("/todos/shared", headers=bob)) == [alice_todo["id"]]
        assert ids(client.get("/todos/shared", headers=dave)) == [alice_todo["id"]]
        assert {row["grantee_id"] for row in grant_rows()} == {bob.sub, dave.sub}

    def test_shared_list_newest_grant_first_and_paged(self, client: TestClient, alice, bob, make_todo, share):
        first, second, third = (make_todo(alice, f"todo {n}") for n in range(3))
        # Granted in another order than created: the list follows the grants.
        for todo in (second, third, first):
            share(todo, bob.sub)

        assert ids(client.get("/todos/shared", headers=bob)) == [first["id"], third["id"], second["id"]]
        page = client.get("/todos/shared", headers=bob, params={"offset": 1, "limit": 1})
        assert ids(page) == [third["id"]]
        assert page.json()["count"] == 3

    @pytest.mark.parametrize("params", [{"offset": -1}, {"limit": 0}])
    def test_shared_list_bad_paging(self, client: TestClient, bob, params):
        assert_problem(client.get("/todos/shared", headers=bob, params=params), 422, "validation-error")

    def test_shared_list_anonymous(self, client: TestClient):
        assert_problem(client.get("/todos/shared"), 401, "missing-token")


class TestRevoke:
    def test_revoked(self, client: TestClient, alice_todo, alice, bob, shares_for, share, grant_rows):
        share(alice_todo, bob.sub)

        response = client.delete(grants_path(alice_todo["id"], bob.sub), headers=shares_for(alice))

        assert response.status_code == 204, response.text
        assert response.content == b""
        assert_problem(client.get(f"/todos/{alice_todo['id']}", headers=bob), 404, "not-found")
        assert client.get("/todos/shared", headers=bob).json() == {"data": [], "count": 0}
        assert grant_rows() == []
        assert client.get(f"/todos/{alice_todo['id']}", headers=alice).status_code == 200

    def test_revoked_twice(self, client: TestClient, alice_todo, alice, bob, shares_for, share):
        share(alice_todo, bob.sub)
        path = grants_path(alice_todo["id"], bob.sub)

        assert client.delete(path, headers=shares_for(alice)).status_code == 204
        assert_problem(client.delete(path, headers=shares_for(alice)), 404, "not-found")

    def test_never_granted(self, client: TestClient, alice_todo, alice, bob, dave, shares_for, share, grant_rows):
        share(alice_todo, bob.sub)

        assert_problem(client.delete(grants_path(alice_todo["id"], dave.sub), headers=shares_for(alice)), 404)
        # The other grant is untouched.
        assert [row["grantee_id"] for row in grant_rows()] == [bob.sub]

    def test_revokes_only_that_grantee(self, client: TestClient, alice_todo, alice, bob, dave, shares_for, share):
        share(alice_todo, bob.sub)
        share(alice_todo, dave.sub)

        assert client.delete(grants_path(alice_todo["id"], bob.sub), headers=shares_for(alice)).status_code == 204

        assert client.get(f"/todos/{alice_todo['id']}", headers=bob).status_code == 404
        assert client.get(f"/todos/{alice_todo['id']}", headers=dave).status_code == 200

    def test_regrant_after_revoke(self, client: TestClient, alice_todo, alice, bob, shares_for, share):
        share(alice_todo, bob.sub)
        client.delete(grants_path(alice_todo["id"], bob.sub), headers=shares_for(alice))

        again = client.put(grants_path(alice_todo["id"], bob.sub), headers=shares_for(alice))

        assert again.status_code == 201, again.text
        assert client.get(f"/todos/{alice_todo['id']}", headers=bob).status_code == 200


class TestGrantRefusals:
    @pytest.mark.parametrize("method", ["PUT", "DELETE"])
    def test_owner_own_token_refused(self, client: TestClient, alice_todo, make_caller, alice, bob, method):
        # Even with the scope: grants are made only through `shares`, acting for the owner.
        alice_sharing = make_caller(alice.sub, scope="todos:read todos:write todos:share")

        response = client.request(method, grants_path(alice_todo["id"], bob.sub), headers=alice_sharing)

        assert_problem(response, 403, "not-delegated")

    def test_owner_own_token_cannot_revoke(
        self, client: TestClient, alice_todo, make_caller, alice, bob, share, grant_rows
    ):
        share(alice_todo, bob.sub)
        alice_sharing = make_caller(alice.sub, scope="todos:read todos:write todos:share")

        response = client.delete(grants_path(alice_todo["id"], bob.sub), headers=alice_sharing)

        assert_problem(response, 403, "not-delegated")
        assert len(grant_rows()) == 1

    @pytest.mark.parametrize("method", ["PUT", "DELETE"])
    def test_acting_for_someone_who_cannot_see_it(
        self, client: TestClient, alice_todo, bob, dave, shares_for, method, grant_rows
    ):
        response = client.request(method, grants_path(alice_todo["id"], dave.sub), headers=shares_for(bob))

        assert_problem(response, 404, "not-found")
        assert grant_rows() == []

    @pytest.mark.parametrize("method", ["PUT", "DELETE"])
    def test_acting_for_a_grantee(self, client: TestClient, alice_todo, bob, dave, shares_for, share, method):
        # bob sees alice's todo (it is shared with him) but does not own it: 403, not 404.
        share(alice_todo, bob.sub)
        target = bob.sub if method == "DELETE" else dave.sub

        response = client.request(method, grants_path(alice_todo["id"], target), headers=shares_for(bob))

        assert_problem(response, 403, "forbidden")
        assert client.get(f"/todos/{alice_todo['id']}", headers=dave).status_code == 404
        assert client.get(f"/todos/{alice_todo['id']}", headers=bob).status_code == 200

    def test_acting_for_an_admin_who_does_not_own_it(
        self, client: TestClient, alice_todo, carol, dave, delegated, grant_rows
    ):
        # carol's support view is hers alone: a service acting for her does not get it, so for shares
        # alice's todo is as invisible as for anyone else (404), and nothing is granted.
        shares_for_carol = delegated(carol, roles=("user", "admin"))

        response = client.put(grants_path(alice_todo["id"], dave.sub), headers=shares_for_carol)

        assert_problem(response, 404, "not-found")
        assert grant_rows() == []
        assert client.get(f"/todos/{alice_todo['id']}", headers=shares_for_carol).status_code == 404
        assert client.get(f"/todos/{alice_todo['id']}", headers=carol).status_code == 200

    def test_grantee_is_owner(self, client: TestClient, alice_todo, alice, shares_for, grant_rows):
        response = client.put(grants_path(alice_todo["id"], alice.sub), headers=shares_for(alice))

        body = assert_problem(response, 422)
        assert "owner" in body["detail"]
        assert grant_rows() == []

    @pytest.mark.parametrize("method", ["PUT", "DELETE"])
    def test_delegated_without_share_scope(
        self, client: TestClient, alice_todo, alice, bob, delegated, share, method, grant_rows
    ):
        share(alice_todo, bob.sub)
        read_only = delegated(alice, scope="todos:read")

        response = client.request(method, grants_path(alice_todo["id"], bob.sub), headers=read_only)

        assert_problem(response, 403, "missing-scope")
        assert 'scope="todos:share"' in response.headers["WWW-Authenticate"]
        assert len(grant_rows()) == 1

    @pytest.mark.parametrize("actor", ["reminders", "mallory"])
    @pytest.mark.parametrize("method", ["PUT", "DELETE"])
    def test_actor_not_in_table(
        self, client: TestClient, alice_todo, alice, bob, delegated, share, actor, method, grant_rows
    ):
        share(alice_todo, bob.sub)
        before = grant_rows()

        response = client.request(method, grants_path(alice_todo["id"], bob.sub), headers=delegated(alice, actor))

        assert_problem(response, 403, "delegation-refused")
        assert grant_rows() == before

    def test_actor_not_in_table_through_a_known_client(
        self, client: TestClient, alice_todo, alice, bob, delegated, grant_rows
    ):
        # The actor is who `act` names, not the client that holds the token.
        token = delegated(alice, "shares", act={"sub": "mallory"})

        assert_problem(client.put(grants_path(alice_todo["id"], bob.sub), headers=token), 403, "delegation-refused")
        assert grant_rows() == []

    def test_shares_own_token(self, client: TestClient, alice_todo, bob, service_caller, grant_rows):
        # shares with its own client-credentials token is no user: it owns nothing, it may grant nothing.
        shares_itself = service_caller("shares", scope="todos:read todos:share")

        response = client.put(grants_path(alice_todo["id"], bob.sub), headers=shares_itself)

        assert_problem(response, 403, "wrong-principal-kind")
        assert grant_rows() == []

    @pytest.mark.parametrize("method", ["PUT", "DELETE"])
    def test_unknown_todo(self, client: TestClient, alice, bob, shares_for, method):
        response = client.request(method, grants_path(str(uuid.uuid4()), bob.sub), headers=shares_for(alice))

        assert_problem(response, 404, "not-found")

    @pytest.mark.parametrize("method", ["PUT", "DELETE"])
    def test_malformed_todo_id(self, client: TestClient, alice, bob, shares_for, method):
        response = client.request(method, grants_path("not-a-uuid", bob.sub), headers=shares_for(alice))

        body = assert_problem(response, 422, "validation-error")
        assert any("todo_id" in error["loc"] for error in body["errors"])

    def test_grantee_id_too_long(self, client: TestClient, alice_todo, alice, shares_for, grant_rows):
        response = client.put(grants_path(alice_todo["id"], "x" * 256), headers=shares_for(alice))

        assert_problem(response, 422, "validation-error")
        assert grant_rows() == []

    @pytest.mark.parametrize("method", ["PUT", "DELETE"])
    def test_anonymous(self, client: TestClient, alice_todo, bob, method):
        assert_problem(client.request(method, grants_path(alice_todo["id"], bob.sub)), 401, "missing-token")

    def test_expired_delegated_token(self, client: TestClient, alice_todo, alice, bob, delegated, grant_rows):
        response = client.put(grants_path(alice_todo["id"], bob.sub), headers=delegated(alice, lifetime=-120))

        assert_problem(response, 401, "expired-token")
        assert grant_rows() == []


class TestDelegationTable:
    """The default table: {"shares": ["read", "read_shared", "grant", "revoke"]}."""

    def test_shares_reads_a_todo_shared_with_the_user(self, client: TestClient, alice_todo, bob, shares_for, share):
        share(alice_todo, bob.sub)

        response = client.get(f"/todos/{alice_todo['id']}", headers=shares_for(bob))

        assert response.status_code == 200, response.text
        assert response.json() == alice_todo

    def test_shares_reads_only_what_the_user_sees(self, client: TestClient, alice_todo, bob, shares_for):
        response = client.get(f"/todos/{alice_todo['id']}", headers=shares_for(bob))

        assert_problem(response, 404, "not-found")

    def test_shares_lists_shared_with_the_user(self, client: TestClient, alice_todo, bob, shares_for, share):
        share(alice_todo, bob.sub)

        assert ids(client.get("/todos/shared", headers=shares_for(bob))) == [alice_todo["id"]]

    def test_shares_needs_read_scope(self, client: TestClient, alice_todo, bob, delegated, share):
        share(alice_todo, bob.sub)
        share_only = delegated(bob, scope="todos:share")

        assert_problem(client.get("/todos/shared", headers=share_only), 403, "missing-scope")
        assert_problem(client.get(f"/todos/{alice_todo['id']}", headers=share_only), 403, "missing-scope")

    def test_shares_may_not_list_the_users_own(self, client: TestClient, bob, shares_for, make_todo):
        make_todo(bob, "bob's own")

        assert_problem(client.get("/todos", headers=shares_for(bob)), 403, "delegation-refused")

    def test_shares_may_not_create(self, client: TestClient, bob, delegated, db_rows):
        writer = delegated(bob, scope="todos:read todos:write todos:share")

        assert_problem(client.post("/todos", headers=writer, json={"title": "x"}), 403, "delegation-refused")
        assert db_rows() == []

    @pytest.mark.parametrize("method", ["PATCH", "DELETE"])
    def test_shares_may_not_change(self, client: TestClient, alice, alice_todo, delegated, method):
        # Not even the owner's own todo: changing a todo is no operation shares may do.
        writer = delegated(alice, scope="todos:read todos:write todos:share")
        kwargs = {"json": {"title": "changed"}} if method == "PATCH" else {}

        response = client.request(method, f"/todos/{alice_todo['id']}", headers=writer, **kwargs)

        assert_problem(response, 403, "delegation-refused")
        assert client.get(f"/todos/{alice_todo['id']}", headers=alice).json() == alice_todo

    def test_shares_may_not_read_the_audit(self, client: TestClient, carol, delegated):
        admin = delegated(carol, roles=("user", "admin"))

        assert_problem(client.get("/todos/audit", headers=admin), 403, "delegation-refused")

    def test_shares_may_not_read_due(self, client: TestClient, alice, delegated):
        due = delegated(alice, scope="todos:due:read")

        assert_problem(client.get("/todos/due", headers=due), 403)

    def test_other_actor_may_not_read(self, client: TestClient, alice_todo, alice, delegated):
        response = client.get(f"/todos/{alice_todo['id']}", headers=delegated(alice, "reminders"))

        assert response.status_code != 200, "a delegated token whose actor (reminders) is not allowed was accepted"
        assert_problem(response, 403, "delegation-refused")

    def test_nested_act_judged_by_outermost(self, client: TestClient, alice_todo, bob, delegated, share):
        # RFC 8693 4.1: the outermost `act` is the current actor; the inner ones are history.
        share(alice_todo, bob.sub)
        via_gateway = delegated(bob, act={"sub": "shares", "act": {"sub": "gateway"}})

        assert client.get(f"/todos/{alice_todo['id']}", headers=via_gateway).status_code == 200
        assert ids(client.get("/todos/shared", headers=via_gateway)) == [alice_todo["id"]]

    def test_nested_act_with_allowed_actor_inside(self, client: TestClient, alice_todo, bob, delegated, share):
        share(alice_todo, bob.sub)
        gateway_via_shares = delegated(bob, "gateway", act={"sub": "gateway", "act": {"sub": "shares"}})

        response = client.get(f"/todos/{alice_todo['id']}", headers=gateway_via_shares)

        assert_problem(response, 403, "delegation-refused")

    def test_empty_table_refuses_every_delegation(
        self, client: TestClient, make_client, alice_todo, alice, bob, shares_for, share
    ):
        share(alice_todo, bob.sub)
        strict = make_client(delegated_actors={})

        assert_problem(strict.get("/todos/shared", headers=shares_for(bob)), 403, "delegation-refused")
        assert_problem(strict.get(f"/todos/{alice_todo['id']}", headers=shares_for(bob)), 403, "delegation-refused")
        response = strict.delete(grants_path(alice_todo["id"], bob.sub), headers=shares_for(alice))
        assert_problem(response, 403, "delegation-refused")
        # The users themselves are unaffected.
        assert ids(strict.get("/todos/shared", headers=bob)) == [alice_todo["id"]]

    def test_read_only_table(self, client: TestClient, make_client, alice_todo, alice, bob, dave, shares_for, share):
        share(alice_todo, bob.sub)
        read_only = make_client(delegated_actors={"shares": ["read"]})

        assert_problem(read_only.get("/todos/shared", headers=shares_for(bob)), 403, "delegation-refused")
        assert read_only.get(f"/todos/{alice_todo['id']}", headers=shares_for(bob)).status_code == 200
        response = read_only.put(grants_path(alice_todo["id"], dave.sub), headers=shares_for(alice))
        assert_problem(response, 403, "delegation-refused")

    def test_table_names_another_actor(self, client: TestClient, make_client, alice_todo, alice, bob, delegated):
        other = make_client(delegated_actors={"sharing-v2": ["grant"]})

        by_v2 = other.put(grants_path(alice_todo["id"], bob.sub), headers=delegated(alice, "sharing-v2"))
        by_shares = other.put(grants_path(alice_todo["id"], bob.sub), headers=delegated(alice, "shares"))

        assert by_v2.status_code == 201, by_v2.text
        assert_problem(by_shares, 403, "delegation-refused")


class TestDeleteSharedTodo:
    def test_grants_go_with_the_todo(self, client: TestClient, alice, alice_todo, bob, dave, share, grant_rows):
        share(alice_todo, bob.sub)
        share(alice_todo, dave.sub)

        assert client.delete(f"/todos/{alice_todo['id']}", headers=alice).status_code == 204

        assert client.get("/todos/shared", headers=bob).json() == {"data": [], "count": 0}
        assert client.get("/todos/shared", headers=dave).json() == {"data": [], "count": 0}
        assert grant_rows() == []

    def test_other_grants_stay(self, client: TestClient, alice, bob, make_todo, share, grant_rows):
        kept, gone = make_todo(alice, "kept"), make_todo(alice, "gone")
        share(kept, bob.sub)
        share(gone, bob.sub)

        assert client.delete(f"/todos/{gone['id']}", headers=alice).status_code == 204

        assert ids(client.get("/todos/shared", headers=bob)) == [kept["id"]]
        assert [str(row["todo_id"]) for row in grant_rows()] == [kept["id"]]

    def test_owner_update_seen_by_grantee(self, client: TestClient, alice, alice_todo, bob, share):
        share(alice_todo, bob.sub)

        client.patch(f"/todos/{alice_todo['id']}", headers=alice, json={"title": "new plan"})

        assert client.get(f"/todos/{alice_todo['id']}", headers=bob).json()["title"] == "new plan"
