"""The user directory: services holding `users:read` (in a token for the `identity` audience) look users up."""

from __future__ import annotations

import base64
import json
import tomllib

import pytest

from identity.settings import DEMO_REALM

USER_IDS = {u["username"]: u["id"] for u in tomllib.loads(DEMO_REALM.read_text())["users"]}
BOB = {"id": USER_IDS["bob"], "username": "bob", "email": "bob@example.test"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def reader(client, cc_token) -> dict[str, str]:
    """reminders' own token: aud todos + identity, scope todos:due:read users:read."""
    return bearer(cc_token(client, "reminders"))


class TestSearch:
    def test_by_username(self, client, reader):
        response = client.get("/users", params={"username": "bob"}, headers=reader)

        assert response.status_code == 200
        assert response.json() == {"data": [BOB], "count": 1}

    def test_unknown_username(self, client, reader):
        response = client.get("/users", params={"username": "mallory"}, headers=reader)

        assert response.status_code == 200
        assert response.json() == {"data": [], "count": 0}

    def test_no_password_hash_or_roles_leak(self, client, reader):
        user = client.get("/users", params={"username": "carol"}, headers=reader).json()["data"][0]

        assert set(user) == {"id", "username", "email"}

    def test_a_token_for_the_identity_audience_alone(self, client, cc_token):
        token = cc_token(client, "shares", audience="identity")

        response = client.get("/users", params={"username": "bob"}, headers=bearer(token))

        assert response.status_code == 200
        assert response.json()["count"] == 1


class TestRead:
    def test_by_id(self, client, reader):
        response = client.get(f"/users/{BOB['id']}", headers=reader)

        assert response.status_code == 200
        assert response.json() == BOB

    def test_unknown_id(self, client, reader, problem):
        problem(client.get("/users/00000000-0000-0000-0000-000000000000", headers=reader), 404, "not-found")

    def test_username_is_not_an_id(self, client, reader, problem):
        problem(client.get("/users/bob", headers=reader), 404, "not-found")


class TestAccess:
    @pytest.mark.parametrize("path", ["/users?username=bob", f"/users/{USER_IDS['bob']}"])
    def test_no_token(self, client, problem, path):
        response = client.get(path)

        problem(response, 401, "missing-token")
        assert response.headers["www-authenticate"].startswith("Bearer ")

    @pytest.mark.parametrize("path", ["/users?username=bob", f"/users/{USER_IDS['bob']}"])
    def test_user_token_lacks_the_identity_audience(self, client, password_token, problem, path):
        response = client.get(path, headers=bearer(password_token(client, "alice")))

        problem(response, 401, "wrong-audience")
        assert 'error="invalid_token"' in response.headers["www-authenticate"]

    def test_token_for_todos_only(self, client, cc_token, problem):
        token = cc_token(client, "reminders", scope="todos:due:read")  # aud todos + identity, no users:read

        response = client.get("/users", params={"username": "bob"}, headers=bearer(token))

        problem(response, 403, "missing-scope")
        challenge = response.headers["www-authenticate"]
        assert 'error="insufficient_scope"' in challenge
        assert 'scope="users:read"' in challenge

    def test_narrowed_audience_is_refused(self, client, cc_token, problem):
        token = cc_token(client, "reminders", audience="todos")

        problem(client.get("/users", params={"username": "bob"}, headers=bearer(token)), 401, "wrong-audience")

    def test_token_with_users_read_added_by_hand(self, client, cc_token, problem):
        token = cc_token(client, "reminders", scope="todos:due:read")
        header, payload, signature = token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claims["scope"] = "todos:due:read users:read"
        altered = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()

        response = client.get("/users", params={"username": "bob"}, headers=bearer(f"{header}.{altered}.{signature}"))

        problem(response, 401, "invalid-signature")


class TestRevocation:
    def test_a_revoked_token_is_refused(self, client, cc_token, basic, problem):
        token = cc_token(client, "reminders")
        assert client.get("/users", params={"username": "bob"}, headers=bearer(token)).status_code == 200

        assert client.post("/revoke", data={"token": token}, auth=basic("reminders")).status_code == 200

        response = client.get("/users", params={"username": "bob"}, headers=bearer(token))
        problem(response, 401, "invalid-token")
