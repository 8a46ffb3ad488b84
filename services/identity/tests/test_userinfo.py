"""The OIDC UserInfo endpoint: who the user behind an access token is."""

from __future__ import annotations


class TestUserinfo:
    def test_alice(self, client, password_token, decode):
        token = password_token(client, "alice")
        _, claims = decode(client, token)

        response = client.get("/userinfo", headers={"Authorization": f"Bearer {token}"})

        assert response.status_code == 200
        assert response.json() == {"sub": claims["sub"], "preferred_username": "alice", "email": "alice@example.test"}

    def test_any_audience_of_the_user_token(self, client, password_token):
        token = password_token(client, "bob", audience="shares")

        response = client.get("/userinfo", headers={"Authorization": f"Bearer {token}"})

        assert response.status_code == 200
        assert response.json()["preferred_username"] == "bob"

    def test_no_token(self, client, problem):
        response = client.get("/userinfo")

        problem(response, 401, "missing-token")
        assert response.headers["www-authenticate"].startswith("Bearer ")

    def test_client_credentials_token(self, client, cc_token, problem):
        token = cc_token(client, "reminders")

        response = client.get("/userinfo", headers={"Authorization": f"Bearer {token}"})

        problem(response, 401, "invalid-token")
        assert response.headers["www-authenticate"].startswith("Bearer ")

    def test_revoked_token(self, client, password_token, problem):
        token = password_token(client, "alice")
        client.post("/revoke", data={"token": token, "client_id": "todo-cli"})

        response = client.get("/userinfo", headers={"Authorization": f"Bearer {token}"})

        problem(response, 401, "invalid-token")

    def test_garbage_token(self, client, problem):
        response = client.get("/userinfo", headers={"Authorization": "Bearer garbage"})

        problem(response, 401, "invalid-token")
        assert 'error="invalid_token"' in response.headers["www-authenticate"]
