"""Alice shares a todo with Bob through `shares`, which calls `todos` on her behalf (RFC 8693 token
exchange): Bob may read it, not change it; after revoke he no longer sees it; nobody else ever does."""

from __future__ import annotations

import pytest

from tests.e2e.infra.client import SuiteClient
from tests.e2e.infra.forgery import claims_of

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"


def _ids(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["data"]]


def _received_todo_ids(suite: SuiteClient, token: str) -> list[str]:
    response = suite.shares("GET", "/received", token=token)
    assert response.status_code == 200, response.text
    return [item["todo"]["id"] for item in response.json()["data"]]


def test_share_read_not_write_then_revoke(suite: SuiteClient) -> None:
    alice, bob, carol = (suite.password_token(u) for u in ("alice", "bob", "carol"))
    todo_id = suite.todos("POST", token=alice, json={"title": "plan the offsite"}).json()["id"]

    shared = suite.shares("POST", token=alice, json={"todo_id": todo_id, "username": "bob", "note": "your call"})
    assert shared.status_code == 201, shared.text
    share = shared.json()
    assert (share["status"], share["grantee_username"], share["note"]) == ("active", "bob", "your call")
    assert share["id"] in _ids(suite.shares("GET", "/sent", token=alice))

    received = suite.shares("GET", "/received", token=bob).json()["data"]
    mine = [item for item in received if item["todo"]["id"] == todo_id]
    assert len(mine) == 1
    assert mine[0]["share"]["note"] == "your call"

    assert suite.todos("GET", f"/{todo_id}", token=bob).status_code == 200
    assert todo_id in _ids(suite.todos("GET", "/shared", token=bob))
    assert todo_id not in _ids(suite.todos("GET", token=bob))  # his own list stays his own
    for method, kwargs in (("PATCH", {"json": {"done": True}}), ("DELETE", {})):
        refused = suite.todos(method, f"/{todo_id}", token=bob, **kwargs)
        assert refused.status_code == 403, (method, refused.text)  # he may see it: 403, not 404
    assert suite.todos("GET", f"/{todo_id}", token=alice).json()["done"] is False

    assert todo_id not in _received_todo_ids(suite, carol)
    assert todo_id not in _ids(suite.todos("GET", "/shared", token=carol))

    assert suite.shares("DELETE", f"/{share['id']}", token=alice).status_code == 204
    assert suite.todos("GET", f"/{todo_id}", token=bob).status_code == 404
    assert todo_id not in _received_todo_ids(suite, bob)
    assert share["id"] not in _ids(suite.shares("GET", "/sent", token=alice))


class TestRefusedShares:
    @pytest.mark.parametrize(
        ("username", "status"), [("mallory", 422), ("alice", 422)], ids=["unknown grantee", "myself"]
    )
    def test_bad_grantee_leaves_no_record(self, suite: SuiteClient, username: str, status: int) -> None:
        alice = suite.password_token("alice")
        todo_id = suite.todos("POST", token=alice, json={"title": "mine"}).json()["id"]
        before = suite.shares("GET", "/sent", token=alice).json()["count"]
        response = suite.shares("POST", token=alice, json={"todo_id": todo_id, "username": username})
        assert response.status_code == status
        assert response.headers["content-type"] == "application/problem+json"
        assert suite.shares("GET", "/sent", token=alice).json()["count"] == before

    def test_someone_elses_todo_is_404_and_leaves_no_record(self, suite: SuiteClient) -> None:
        alice, bob = suite.password_token("alice"), suite.password_token("bob")
        todo_id = suite.todos("POST", token=alice, json={"title": "alice only"}).json()["id"]
        before = suite.shares("GET", "/sent", token=bob).json()["count"]
        response = suite.shares("POST", token=bob, json={"todo_id": todo_id, "username": "carol"})
        assert response.status_code == 404  # todos refused: bob cannot see it; the pending record is gone
        assert suite.shares("GET", "/sent", token=bob).json()["count"] == before
        assert todo_id not in _ids(suite.todos("GET", "/shared", token=suite.password_token("carol")))


class TestDelegatedTokens:
    def _exchange(self, suite: SuiteClient, subject: str, **form: str):
        return suite.http.post(
            suite.discovery()["token_endpoint"],
            data={"grant_type": EXCHANGE, "subject_token": subject, "subject_token_type": ACCESS_TOKEN,
                  "audience": "todos", "scope": "todos:read", **form},
            auth=("shares", suite.processes.secrets["shares"]),
        )  # fmt: skip

    def test_exchanged_token_is_bob_acted_for_by_shares_for_todos_only(self, suite: SuiteClient) -> None:
        response = self._exchange(suite, suite.password_token("bob"))
        assert response.status_code == 200, response.text
        assert response.json()["issued_token_type"] == ACCESS_TOKEN
        claims = claims_of(response.json()["access_token"])
        bob_sub = claims_of(suite.password_token("bob"))["sub"]
        assert (claims["sub"], claims["act"], claims["aud"]) == (bob_sub, {"sub": "shares"}, "todos")
        assert claims["scope"] == "todos:read"
        whoami = suite.todos("GET", "/whoami", token=response.json()["access_token"]).json()
        assert (whoami["subject"], whoami["actor"], whoami["kind"]) == (bob_sub, ["shares"], "user")

    def test_exchanged_token_is_refused_at_another_service(self, suite: SuiteClient) -> None:
        token = self._exchange(suite, suite.password_token("bob")).json()["access_token"]
        for call in (suite.shares, suite.reminders):
            response = call("GET", "/whoami", token=token)
            assert response.status_code == 401
            assert response.json()["type"].endswith(":wrong-audience")

    def test_delegated_token_may_not_do_what_the_table_does_not_allow(self, suite: SuiteClient) -> None:
        token = self._exchange(suite, suite.password_token("bob")).json()["access_token"]
        refused = suite.todos("GET", token=token)  # bob's full list: no delegated operation covers it
        assert refused.status_code == 403
        assert refused.json()["type"].endswith(":delegation-refused")

    def test_exchange_cannot_widen_scopes(self, suite: SuiteClient) -> None:
        response = self._exchange(suite, suite.password_token("bob"), scope="todos:read todos:due:read")
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_scope"

    def test_shares_own_token_with_no_user_is_refused_by_todos(self, suite: SuiteClient) -> None:
        token = suite.client_token("shares", audience="todos", scope="todos:read")
        alice = suite.password_token("alice")
        todo_id = suite.todos("POST", token=alice, json={"title": "not for shares alone"}).json()["id"]
        for method, path in (("GET", "/shared"), ("GET", f"/{todo_id}"), ("GET", "")):
            response = suite.todos(method, path, token=token)
            assert response.status_code == 403, (path, response.text)
            assert response.json()["type"].endswith(":wrong-principal-kind")
        grant = suite.todos("PUT", f"/{todo_id}/grants/someone", token=token)
        assert grant.status_code == 403


def test_audit_shows_shares_acting_for_bob(suite: SuiteClient) -> None:
    alice, bob, carol = (suite.password_token(u) for u in ("alice", "bob", "carol"))
    todo_id = suite.todos("POST", token=alice, json={"title": "audited"}).json()["id"]
    assert suite.shares("POST", token=alice, json={"todo_id": todo_id, "username": "bob"}).status_code == 201
    assert suite.shares("GET", "/received", token=bob).status_code == 200

    entries = suite.todos("GET", "/audit", token=carol, params={"limit": 100}).json()["data"]
    bob_sub, alice_sub = claims_of(bob)["sub"], claims_of(alice)["sub"]
    assert any((e["actor"], e["subject"], e["operation"]) == ("shares", bob_sub, "read_shared") for e in entries), (
        entries
    )
    assert any(
        (e["actor"], e["subject"], e["operation"], e["todo_id"]) == ("shares", alice_sub, "grant", todo_id)
        for e in entries
    ), entries
    assert suite.todos("GET", "/audit", token=alice).status_code == 403  # the admin role only
