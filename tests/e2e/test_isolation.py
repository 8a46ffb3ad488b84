"""Alice's todos are Alice's: others get 404 (never a leak), admins read but do not write, and every
malformed or forged token is a 401 with an RFC 6750 challenge."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.e2e.infra import forgery
from tests.e2e.infra.client import SuiteClient


def _ids(response) -> set[str]:
    assert response.status_code == 200, response.text
    return {t["id"] for t in response.json()["data"]}


class TestPerUserAccess:
    def test_bob_cannot_see_change_or_delete_alices_todo(self, suite: SuiteClient) -> None:
        alice, bob = suite.password_token("alice"), suite.password_token("bob")
        created = suite.todos("POST", token=alice, json={"title": "alice's secret", "due_at": "2030-01-01T09:00:00Z"})
        assert created.status_code == 201, created.text
        todo_id = created.json()["id"]
        missing = suite.todos("GET", "/00000000-0000-4000-8000-000000000000", token=bob)

        for method, kwargs in (("GET", {}), ("PATCH", {"json": {"title": "bob was here"}}), ("DELETE", {})):
            response = suite.todos(method, f"/{todo_id}", token=bob, **kwargs)
            assert response.status_code == 404, (method, response.text)
            # The same answer as for a todo that does not exist: nothing tells bob it is there.
            assert response.json()["type"] == missing.json()["type"]
            assert response.json()["detail"] == missing.json()["detail"]

        assert todo_id not in _ids(suite.todos("GET", token=bob))
        assert todo_id in _ids(suite.todos("GET", token=alice))
        after = suite.todos("GET", f"/{todo_id}", token=alice).json()
        assert after["title"] == "alice's secret"  # bob's refused PATCH wrote nothing

    def test_admin_reads_any_todo_but_writes_none(self, suite: SuiteClient) -> None:
        alice, carol = suite.password_token("alice"), suite.password_token("carol")
        todo_id = suite.todos("POST", token=alice, json={"title": "support may look"}).json()["id"]
        assert suite.todos("GET", f"/{todo_id}", token=carol).status_code == 200
        patch = suite.todos("PATCH", f"/{todo_id}", token=carol, json={"done": True})
        assert patch.status_code == 403
        assert suite.todos("DELETE", f"/{todo_id}", token=carol).status_code == 403
        assert suite.todos("GET", f"/{todo_id}", token=alice).json()["done"] is False
        assert todo_id not in _ids(suite.todos("GET", token=carol))  # her own list stays her own

    def test_owner_updates_and_deletes(self, suite: SuiteClient) -> None:
        alice = suite.password_token("alice")
        todo_id = suite.todos("POST", token=alice, json={"title": "write tests"}).json()["id"]
        updated = suite.todos("PATCH", f"/{todo_id}", token=alice, json={"done": True})
        assert updated.status_code == 200
        assert updated.json()["done"] is True
        assert suite.todos("DELETE", f"/{todo_id}", token=alice).status_code == 204
        assert suite.todos("GET", f"/{todo_id}", token=alice).status_code == 404


class TestMalformedInput:
    @pytest.mark.parametrize(
        ("body", "content"),
        [({"title": ""}, None), ({"title": "x", "owner_id": "someone-else"}, None),
         ({"title": "x", "due_at": "2030-01-01T09:00:00"}, None), (None, b"{not json")],
    )  # fmt: skip
    def test_422_problem_and_nothing_written(self, suite: SuiteClient, body, content) -> None:
        alice = suite.password_token("alice")
        before = suite.todos("GET", token=alice).json()["count"]
        headers = {"Content-Type": "application/json"}
        response = suite.todos("POST", token=alice, json=body, content=content, headers=headers)
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        assert "Traceback" not in response.text
        assert suite.todos("GET", token=alice).json()["count"] == before


def _hs256_with_public_key(suite: SuiteClient, like: str) -> str:
    return forgery.hs256_with_public_key(suite.http.get(suite.discovery()["jwks_uri"]).json()["keys"][0], like)


def _issuer_signed(suite: SuiteClient, like: str, **changes) -> str:
    return forgery.signed_with_issuer_key(suite.database_urls["identity"], {**forgery.claims_of(like), **changes})


# name -> (how to make the token from alice's genuine one, the check that must fail)
BAD_TOKENS: dict[str, tuple[Callable[[SuiteClient, str], str], str]] = {
    "signed by another key": (lambda s, t: forgery.signed_with_other_key(t), "invalid-signature"),
    "alg none": (lambda s, t: forgery.unsigned(t), "disallowed-algorithm"),
    "key confusion (HS256 with the public key)": (_hs256_with_public_key, "disallowed-algorithm"),
    "tampered payload (sub of bob)": (
        lambda s, t: forgery.tampered(t, sub=forgery.claims_of(s.password_token("bob"))["sub"]), "invalid-signature"),
    "expired (validly signed)": (
        lambda s, t: _issuer_signed(s, t, iat=int(time.time()) - 900, exp=int(time.time()) - 60), "expired-token"),
    "wrong issuer (validly signed)": (lambda s, t: _issuer_signed(s, t, iss="http://evil.test"), "wrong-issuer"),
    "for another audience": (lambda s, t: s.password_token("alice", audience="shares"), "wrong-audience"),
    "not a JWT": (lambda s, t: "not-a-jwt", "malformed-token"),
}  # fmt: skip


class TestBadTokens:
    def test_no_token_is_401_with_a_bearer_challenge(self, suite: SuiteClient) -> None:
        response = suite.todos("GET")
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Bearer realm="todos"'
        assert response.json()["type"].endswith(":missing-token")

    @pytest.mark.parametrize("kind", list(BAD_TOKENS))
    def test_refused_with_the_failed_check_named(self, suite: SuiteClient, kind: str) -> None:
        make, failed_check = BAD_TOKENS[kind]
        alice = suite.password_token("alice")
        assert suite.todos("GET", token=alice).status_code == 200  # the genuine one works
        response = suite.todos("GET", token=make(suite, alice))
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"].startswith('Bearer realm="todos", error="invalid_token"')
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"] == f"urn:todo-suite:problem:{failed_check}"
