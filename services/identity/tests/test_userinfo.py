"""The OIDC UserInfo endpoint: who the user behind an access token is — for tokens meant for it only."""

from __future__ import annotations

import pytest

from identity.realm import GRANT_TOKEN_EXCHANGE

ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
USERINFO = "http://identity.test/userinfo"  # the default: <issuer>/userinfo


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class TestUserinfo:
    def test_alice_with_openid(self, client, password_token, decode):
        token = password_token(client, "alice", scope="openid todos:read")
        _, claims = decode(client, token)

        response = client.get("/userinfo", headers=bearer(token))

        assert response.status_code == 200
        assert response.json() == {"sub": claims["sub"], "preferred_username": "alice", "email": "alice@example.test"}

    def test_openid_adds_the_userinfo_audience_and_the_scope(self, client, password_token, decode):
        _, claims = decode(client, password_token(client, "bob", scope="openid shares:read", audience="shares"))

        assert claims["aud"] == ["shares", USERINFO]
        assert claims["scope"] == "openid shares:read"

    def test_a_token_without_openid_is_not_meant_for_it(self, client, password_token, decode, problem):
        # A user's ordinary edge token (aud todos, shares, reminders): not for UserInfo.
        token = password_token(client, "bob")
        _, claims = decode(client, token)
        assert USERINFO not in claims["aud"]
        assert "openid" not in claims["scope"].split()

        response = client.get("/userinfo", headers=bearer(token))

        problem(response, 401, "wrong-audience")
        assert response.headers["www-authenticate"].startswith("Bearer ")

    def test_a_delegated_token_is_refused(self, client, password_token, basic, problem):
        # shares, acting for alice (RFC 8693): a token with `act` is never accepted here.
        subject = password_token(client, "alice", scope="openid todos:read todos:share")
        form = {
            "grant_type": GRANT_TOKEN_EXCHANGE,
            "subject_token": subject,
            "subject_token_type": ACCESS_TOKEN,
            "audience": "todos",
        }
        exchanged = client.post("/token", data=form, auth=basic("shares"))
        assert exchanged.status_code == 200, exchanged.text

        problem(client.get("/userinfo", headers=bearer(exchanged.json()["access_token"])), 403, "delegation-refused")

    def test_a_delegated_token_is_refused_even_with_the_audience(self, client, settings, problem):
        # Nothing issues such a token today; were one minted, `act` alone still refuses it.
        realm, tokens = client.app_state["realm"], client.app_state["tokens"]
        token, _ = tokens.issue(
            client=realm.clients["shares"],
            grant=GRANT_TOKEN_EXCHANGE,
            audiences=(settings.userinfo_audience,),
            scopes=frozenset({"openid"}),
            user=realm.users["alice"],
            extra={"act": {"sub": "shares"}},
        )

        problem(client.get("/userinfo", headers=bearer(token)), 403, "delegation-refused")

    def test_no_token(self, client, problem):
        response = client.get("/userinfo")

        problem(response, 401, "missing-token")
        assert response.headers["www-authenticate"].startswith("Bearer ")

    def test_client_credentials_token(self, client, cc_token, problem):
        token = cc_token(client, "reminders")

        response = client.get("/userinfo", headers=bearer(token))

        problem(response, 401, "invalid-token")
        assert response.headers["www-authenticate"].startswith("Bearer ")

    @pytest.mark.parametrize("client_id", ["reminders", "shares"])
    def test_a_client_cannot_ask_for_openid(self, client, basic, oauth_error, client_id):
        response = client.post(
            "/token", data={"grant_type": "client_credentials", "scope": "openid"}, auth=basic(client_id)
        )

        oauth_error(response, "invalid_scope")

    def test_revoked_token(self, client, password_token, problem):
        token = password_token(client, "alice", scope="openid")
        client.post("/revoke", data={"token": token, "client_id": "todo-cli"})

        response = client.get("/userinfo", headers=bearer(token))

        problem(response, 401, "invalid-token")

    def test_garbage_token(self, client, problem):
        response = client.get("/userinfo", headers=bearer("garbage"))

        problem(response, 401, "invalid-token")
        assert 'error="invalid_token"' in response.headers["www-authenticate"]
