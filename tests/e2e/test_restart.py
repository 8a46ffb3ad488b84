"""Identity keeps its signing keys and revocations in its own database: a restart loses nothing."""

from __future__ import annotations

from tests.e2e.infra.client import SuiteClient
from tests.e2e.infra.forgery import header_of


def test_identity_restart_keeps_keys_and_revocations(suite: SuiteClient) -> None:
    meta = suite.discovery()
    kept, revoked = suite.password_token("alice"), suite.password_token("alice")
    response = suite.http.post(meta["revocation_endpoint"], data={"token": revoked, "client_id": "todo-cli"})
    assert response.status_code == 200
    kids_before = {k["kid"] for k in suite.http.get(meta["jwks_uri"]).json()["keys"]}

    suite.processes.restart("identity")

    assert {k["kid"] for k in suite.http.get(meta["jwks_uri"]).json()["keys"]} == kids_before
    assert header_of(suite.password_token("alice"))["kid"] in kids_before
    gateway = ("gateway", suite.processes.secrets["gateway"])
    active = suite.http.post(meta["introspection_endpoint"], data={"token": kept}, auth=gateway).json()
    assert active["active"] is True
    assert active["username"] == "alice"
    gone = suite.http.post(meta["introspection_endpoint"], data={"token": revoked}, auth=gateway).json()
    assert gone == {"active": False}
    assert suite.todos("GET", token=kept).status_code == 200
