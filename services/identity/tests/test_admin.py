"""Operator endpoints: key rotation (publish first), the key list, issuance counters."""

from __future__ import annotations

import time

import jwt
import pytest

ENDPOINTS = [("GET", "/admin/keys"), ("POST", "/admin/keys"), ("GET", "/admin/stats")]


def jwks_kids(client) -> list[str]:
    return [k["kid"] for k in client.get("/jwks").json()["keys"]]


def kid_of(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


def wait_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()) + 0.05)


class TestAccess:
    @pytest.mark.parametrize(("method", "path"), ENDPOINTS)
    def test_no_credentials(self, client, problem, method, path):
        response = client.request(method, path)

        problem(response, 401, "unauthorized")
        assert response.headers["www-authenticate"] == 'Basic realm="todo-suite"'

    @pytest.mark.parametrize(("method", "path"), ENDPOINTS)
    def test_wrong_secret(self, client, problem, method, path):
        problem(client.request(method, path, auth=("identity-admin", "wrong")), 401, "unauthorized")

    @pytest.mark.parametrize(("method", "path"), ENDPOINTS)
    def test_a_bearer_token_is_no_admin_credential(self, client, cc_token, problem, method, path):
        token = cc_token(client, "reminders")

        problem(client.request(method, path, headers={"Authorization": f"Bearer {token}"}), 401, "unauthorized")

    @pytest.mark.parametrize(("method", "path"), ENDPOINTS)
    def test_a_client_that_is_not_admin(self, client, basic, problem, method, path):
        problem(client.request(method, path, auth=basic("reminders")), 403, "forbidden")

    def test_admin_without_a_configured_secret_is_locked_out(self, make_client, settings, monkeypatch, problem):
        monkeypatch.delenv("IDENTITY_CLIENT_SECRET_IDENTITY_ADMIN")
        with make_client(settings) as client:
            response = client.post("/admin/keys", auth=("identity-admin", ""))
            kids = jwks_kids(client)

        problem(response, 401, "unauthorized")
        assert len(kids) == 1

    def test_refused_rotation_changes_nothing(self, client, basic):
        before = jwks_kids(client)

        client.post("/admin/keys")
        client.post("/admin/keys", auth=basic("reminders"))

        assert jwks_kids(client) == before


class TestRotation:
    def test_publish_first_then_sign(self, client, basic, cc_token, introspect, decode):
        (old_kid,) = jwks_kids(client)
        issued_before = cc_token(client, "reminders")

        response = client.post("/admin/keys", auth=basic("identity-admin"))

        assert response.status_code == 201, response.text
        rotated = response.json()
        new_kid = rotated["kid"]
        assert new_kid != old_kid
        assert rotated["state"] == "pending"
        assert rotated["alg"] == "ES256"
        # Published at once, before it signs anything.
        assert jwks_kids(client) == [old_kid, new_kid]
        issued_during = cc_token(client, "reminders")
        assert time.time() < rotated["activates_at"], "the publish delay passed before the check: test too slow"
        assert kid_of(issued_during) == old_kid

        wait_until(rotated["activates_at"])

        issued_after = cc_token(client, "reminders")
        assert kid_of(issued_after) == new_kid
        decode(client, issued_after)  # verifies against the JWKS
        assert old_kid in jwks_kids(client)
        assert introspect(client, issued_before)["active"] is True
        assert introspect(client, issued_during)["active"] is True

    def test_without_publish_delay_the_new_key_signs_at_once(self, make_client, make_settings, basic, cc_token):
        with make_client(make_settings(key_publish_delay_seconds=0)) as client:
            response = client.post("/admin/keys", auth=basic("identity-admin"))
            token = cc_token(client, "reminders")

        assert response.json()["state"] == "signing"
        assert kid_of(token) == response.json()["kid"]

    def test_rotation_survives_a_restart(self, client, make_client, settings, basic):
        new_kid = client.post("/admin/keys", auth=basic("identity-admin")).json()["kid"]
        before = jwks_kids(client)

        with make_client(settings) as restarted:
            after = jwks_kids(restarted)

        assert new_kid in after
        assert after == before


class TestKeyList:
    def test_one_signing_key_at_start(self, client, basic):
        response = client.get("/admin/keys", auth=basic("identity-admin"))

        assert response.status_code == 200
        body = response.json()
        assert body["count"] == 1
        assert [(k["kid"], k["state"], k["alg"]) for k in body["data"]] == [(jwks_kids(client)[0], "signing", "ES256")]

    def test_pending_signing_retiring(self, client, basic):
        admin = basic("identity-admin")
        (first,) = jwks_kids(client)
        second = client.post("/admin/keys", auth=admin).json()
        wait_until(second["activates_at"])
        third = client.post("/admin/keys", auth=admin).json()

        body = client.get("/admin/keys", auth=admin).json()

        assert body["count"] == 3
        assert [(k["kid"], k["state"]) for k in body["data"]] == [
            (first, "retiring"),
            (second["kid"], "signing"),
            (third["kid"], "pending"),
        ]
        assert [k["kid"] for k in body["data"]] == jwks_kids(client)


class TestStats:
    def test_nothing_issued_yet(self, client, basic):
        response = client.get("/admin/stats", auth=basic("identity-admin"))

        assert response.status_code == 200
        assert response.json() == {"data": []}

    def test_counts_per_client_and_grant(self, client, basic, cc_token, password_token):
        for _ in range(3):
            cc_token(client, "reminders")
        password_token(client, "alice")
        cc_token(client, "shares", audience="identity")

        body = client.get("/admin/stats", auth=basic("identity-admin")).json()

        assert body["data"] == [
            {"client_id": "reminders", "grant_type": "client_credentials", "count": 3},
            {"client_id": "shares", "grant_type": "client_credentials", "count": 1},
            {"client_id": "todo-cli", "grant_type": "password", "count": 1},
        ]

    def test_refused_requests_are_not_counted(self, client, basic, cc_token):
        cc_token(client, "reminders")
        client.post(
            "/token", data={"grant_type": "client_credentials", "scope": "todos:write"}, auth=basic("reminders")
        )
        client.post("/token", data={"grant_type": "client_credentials"}, auth=("reminders", "wrong"))
        client.post(
            "/token", data={"grant_type": "password", "username": "alice", "password": "x", "client_id": "todo-cli"}
        )

        body = client.get("/admin/stats", auth=basic("identity-admin")).json()

        assert body["data"] == [{"client_id": "reminders", "grant_type": "client_credentials", "count": 1}]
