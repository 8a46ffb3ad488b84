"""The token endpoint (RFC 6749 section 3.2): grants, client authentication, audiences, scopes, errors."""

from __future__ import annotations

import re
import tomllib

import pytest
from pydantic import ValidationError

from identity.settings import DEMO_REALM, Settings

USER_IDS = {u["username"]: u["id"] for u in tomllib.loads(DEMO_REALM.read_text())["users"]}
CLI_SCOPES = {
    "todos:read",
    "todos:write",
    "todos:share",
    "shares:read",
    "shares:write",
    "reminders:read",
    "reminders:run",
}


def password_form(username: str = "alice", password: str | None = None, **extra: str) -> dict[str, str]:
    form = {"grant_type": "password", "username": username, "password": password or username, "client_id": "todo-cli"}
    return form | extra


class TestPasswordGrant:
    def test_response_is_a_bearer_token_not_to_be_cached(self, client, settings):
        response = client.post("/token", data=password_form())

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == settings.access_token_lifetime_seconds
        assert set(body["scope"].split()) == CLI_SCOPES
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["pragma"] == "no-cache"

    def test_alice_gets_an_rfc9068_access_token(self, client, settings, password_token, decode):
        token = password_token(client, "alice")

        header, claims = decode(client, token)

        assert header["typ"] == "at+jwt"
        assert header["alg"] == "ES256"
        assert header["kid"] in {k["kid"] for k in client.get("/jwks").json()["keys"]}
        assert claims["iss"] == settings.issuer
        assert claims["sub"] == USER_IDS["alice"]
        assert claims["sub"] != "alice"
        assert claims["aud"] == ["todos", "shares", "reminders"]
        assert claims["exp"] - claims["iat"] == settings.access_token_lifetime_seconds
        assert re.fullmatch(r"[0-9a-f]{32}", claims["jti"])
        assert claims["client_id"] == "todo-cli"
        assert set(claims["scope"].split()) == CLI_SCOPES
        assert claims["roles"] == ["user"]
        assert claims["preferred_username"] == "alice"
        assert claims["email"] == "alice@example.test"

    def test_every_token_has_its_own_jti(self, client, password_token, decode):
        first, second = (decode(client, password_token(client, "alice"))[1] for _ in range(2))

        assert first["jti"] != second["jti"]

    def test_carol_is_an_admin(self, client, password_token, decode):
        _, claims = decode(client, password_token(client, "carol"))

        assert claims["sub"] == USER_IDS["carol"]
        assert claims["roles"] == ["user", "admin"]

    def test_wrong_password(self, client, oauth_error):
        oauth_error(client.post("/token", data=password_form("alice", "not-alice")), "invalid_grant")

    def test_unknown_user_is_indistinguishable_from_a_wrong_password(self, client, oauth_error):
        wrong_password = oauth_error(client.post("/token", data=password_form("alice", "nope")), "invalid_grant")
        unknown_user = oauth_error(client.post("/token", data=password_form("mallory", "nope")), "invalid_grant")

        assert unknown_user == wrong_password

    @pytest.mark.parametrize("missing", ["username", "password"])
    def test_missing_credentials(self, client, oauth_error, missing):
        form = password_form()
        del form[missing]

        oauth_error(client.post("/token", data=form), "invalid_request")

    def test_refused_when_the_password_grant_is_off(self, make_client, make_settings, oauth_error):
        with make_client(make_settings(allow_password_grant=False)) as client:
            response = client.post("/token", data=password_form())

        oauth_error(response, "unsupported_grant_type")

    def test_cannot_be_turned_on_outside_dev(self, tmp_path):
        with pytest.raises(ValidationError, match="development only"):
            Settings(env="prod", allow_password_grant=True, realm_file=tmp_path / "realm.toml")

    def test_demo_realm_refused_outside_dev(self):
        with pytest.raises(ValidationError, match="demo realm"):
            Settings(env="prod", allow_password_grant=False)

    def test_confidential_client_may_not_use_it(self, client, basic, oauth_error):
        form = password_form()
        del form["client_id"]

        oauth_error(client.post("/token", data=form, auth=basic("reminders")), "unauthorized_client")


class TestClientCredentialsGrant:
    def test_client_secret_basic(self, client, basic, decode):
        response = client.post("/token", data={"grant_type": "client_credentials"}, auth=basic("reminders"))

        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        _, claims = decode(client, response.json()["access_token"])
        assert claims["sub"] == "reminders"
        assert claims["client_id"] == "reminders"
        assert claims["aud"] == ["todos", "identity"]
        assert claims["scope"] == "todos:due:read users:read"
        assert "preferred_username" not in claims
        assert "roles" not in claims

    def test_client_secret_post(self, client, client_secrets, decode):
        form = {
            "grant_type": "client_credentials",
            "client_id": "reminders",
            "client_secret": client_secrets["reminders"],
        }

        response = client.post("/token", data=form)

        assert response.status_code == 200, response.text
        _, claims = decode(client, response.json()["access_token"])
        assert claims["sub"] == "reminders"
        assert set(claims["scope"].split()) == {"todos:due:read", "users:read"}
        assert "preferred_username" not in claims

    def test_wrong_secret(self, client, oauth_error):
        response = client.post("/token", data={"grant_type": "client_credentials"}, auth=("reminders", "wrong"))

        oauth_error(response, "invalid_client", 401)
        assert response.headers["www-authenticate"].startswith("Basic ")

    def test_wrong_secret_by_post(self, client, oauth_error):
        form = {"grant_type": "client_credentials", "client_id": "reminders", "client_secret": "wrong"}

        oauth_error(client.post("/token", data=form), "invalid_client", 401)

    def test_unknown_client(self, client, oauth_error):
        response = client.post("/token", data={"grant_type": "client_credentials"}, auth=("mallory", "x"))

        oauth_error(response, "invalid_client", 401)

    def test_no_client_authentication(self, client, oauth_error):
        oauth_error(client.post("/token", data={"grant_type": "client_credentials"}), "invalid_client", 401)

    def test_two_authentication_methods(self, client, basic, client_secrets, oauth_error):
        form = {"grant_type": "client_credentials", "client_secret": client_secrets["reminders"]}

        oauth_error(client.post("/token", data=form, auth=basic("reminders")), "invalid_request")

    def test_public_client_may_not_use_it(self, client, oauth_error):
        form = {"grant_type": "client_credentials", "client_id": "todo-cli"}

        oauth_error(client.post("/token", data=form), "unauthorized_client")

    def test_public_client_has_no_secret(self, client, oauth_error):
        form = password_form(client_secret="anything")

        oauth_error(client.post("/token", data=form), "invalid_client", 401)

    def test_client_without_audiences_gets_no_token(self, client, basic, oauth_error):
        response = client.post("/token", data={"grant_type": "client_credentials"}, auth=basic("gateway"))

        oauth_error(response, "invalid_target")


class TestUnconfiguredSecret:
    """A confidential client whose secret is not configured can never authenticate (fail closed)."""

    def test_unset(self, make_client, settings, monkeypatch, oauth_error):
        monkeypatch.delenv("IDENTITY_CLIENT_SECRET_REMINDERS")
        with make_client(settings) as client:
            by_basic = client.post("/token", data={"grant_type": "client_credentials"}, auth=("reminders", ""))
            by_post = client.post(
                "/token", data={"grant_type": "client_credentials", "client_id": "reminders", "client_secret": ""}
            )

        oauth_error(by_basic, "invalid_client", 401)
        oauth_error(by_post, "invalid_client", 401)

    def test_empty(self, make_client, settings, monkeypatch, oauth_error):
        # An empty variable (`IDENTITY_CLIENT_SECRET_REMINDERS=` in a compose file, an unset shell variable
        # interpolated) is no secret either: the realm logs "it cannot authenticate", so it must not.
        monkeypatch.setenv("IDENTITY_CLIENT_SECRET_REMINDERS", "")
        with make_client(settings) as client:
            by_basic = client.post("/token", data={"grant_type": "client_credentials"}, auth=("reminders", ""))
            by_post = client.post(
                "/token", data={"grant_type": "client_credentials", "client_id": "reminders", "client_secret": ""}
            )

        oauth_error(by_basic, "invalid_client", 401)
        oauth_error(by_post, "invalid_client", 401)


class TestRequestFormat:
    def test_unknown_grant_type(self, client, oauth_error):
        oauth_error(
            client.post("/token", data={"grant_type": "magic", "client_id": "todo-cli"}), "unsupported_grant_type"
        )

    def test_missing_grant_type(self, client, oauth_error):
        oauth_error(client.post("/token", data={"client_id": "todo-cli"}), "invalid_request")

    def test_json_body(self, client, oauth_error):
        oauth_error(client.post("/token", json=password_form()), "invalid_request")

    @pytest.mark.parametrize("repeated", ["grant_type", "username", "client_id", "scope"])
    def test_a_parameter_sent_twice(self, client, oauth_error, repeated):
        form: dict[str, str | list[str]] = dict(password_form(scope="todos:read"))
        form[repeated] = [str(form[repeated])] * 2

        oauth_error(client.post("/token", data=form), "invalid_request")


class TestAudienceAndScope:
    def test_audience_narrows_a_user_token(self, client, password_token, decode):
        _, claims = decode(client, password_token(client, "alice", audience="todos"))

        assert claims["aud"] == "todos"
        assert claims["scope"] == "todos:read todos:share todos:write"

    def test_audience_narrows_a_client_token(self, client, cc_token, decode):
        _, claims = decode(client, cc_token(client, "reminders", audience="todos"))

        assert claims["aud"] == "todos"
        assert claims["scope"] == "todos:due:read"

    def test_resource_works_like_audience(self, client, cc_token, decode):
        _, claims = decode(client, cc_token(client, "reminders", resource="todos"))

        assert claims["aud"] == "todos"
        assert claims["scope"] == "todos:due:read"

    def test_audience_may_repeat(self, client, cc_token, decode):
        _, claims = decode(client, cc_token(client, "reminders", audience=["identity", "todos"]))

        assert claims["aud"] == ["identity", "todos"]
        assert claims["scope"] == "todos:due:read users:read"

    def test_audience_the_client_may_not_have(self, client, basic, oauth_error):
        form = {"grant_type": "client_credentials", "audience": "shares"}

        oauth_error(client.post("/token", data=form, auth=basic("reminders")), "invalid_target")

    def test_resource_the_client_may_not_have(self, client, oauth_error):
        oauth_error(client.post("/token", data=password_form(resource="identity")), "invalid_target")

    def test_scope_subset(self, client, cc_token, decode):
        _, claims = decode(client, cc_token(client, "reminders", scope="todos:due:read"))

        assert claims["scope"] == "todos:due:read"

    def test_scope_the_client_may_not_have(self, client, basic, oauth_error):
        form = {"grant_type": "client_credentials", "scope": "todos:write"}

        oauth_error(client.post("/token", data=form, auth=basic("reminders")), "invalid_scope")

    def test_scope_outside_the_requested_audience(self, client, oauth_error):
        # todo-cli may have shares:read, but not in a token for the todos API alone.
        oauth_error(client.post("/token", data=password_form(audience="todos", scope="shares:read")), "invalid_scope")
