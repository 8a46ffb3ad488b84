"""A client knows only the identity URL: discovery leads it to tokens, and todos shows what it saw."""

from __future__ import annotations

from tests.e2e.infra.client import SuiteClient
from tests.e2e.infra.forgery import claims_of, header_of

WHOAMI_KEYS = {"service", "subject", "username", "kind", "client_id", "roles", "scopes", "actor", "audience",
               "mesh_peer", "mode", "source"}  # fmt: skip


def test_discovery_leads_to_token_and_keys(suite: SuiteClient) -> None:
    meta = suite.discovery()
    assert meta["issuer"] == suite.identity_url
    token = suite.password_token("alice")
    kids = {k["kid"] for k in suite.http.get(meta["jwks_uri"]).json()["keys"]}
    assert header_of(token)["kid"] in kids
    assert header_of(token)["typ"] == "at+jwt"
    claims = claims_of(token)
    assert claims["iss"] == meta["issuer"]
    assert claims["sub"] != "alice"  # an opaque id, never the username
    assert claims["preferred_username"] == "alice"


def test_whoami_shows_the_caller_as_todos_sees_it(suite: SuiteClient) -> None:
    token = suite.password_token("alice")
    response = suite.todos("GET", "/whoami", token=token)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == WHOAMI_KEYS
    assert body["subject"] == claims_of(token)["sub"]
    assert (body["username"], body["kind"], body["client_id"]) == ("alice", "user", "todo-cli")
    assert (body["mode"], body["source"], body["actor"], body["mesh_peer"]) == (
        "passthrough", "verified_token", [], None,
    )  # fmt: skip
    assert token not in response.text


def test_client_credentials_token_is_a_service_principal(suite: SuiteClient) -> None:
    secret = suite.processes.secrets["reminders"]
    response = suite.http.post(
        suite.discovery()["token_endpoint"], data={"grant_type": "client_credentials"}, auth=("reminders", secret)
    )
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    whoami = suite.todos("GET", "/whoami", token=token).json()
    assert (whoami["kind"], whoami["subject"], whoami["client_id"]) == ("service", "reminders", "reminders")
    # A service has no user, so no user endpoint serves it.
    refused = suite.todos("GET", token=token)
    assert refused.status_code == 403
    assert refused.json()["type"].endswith(":wrong-principal-kind")
