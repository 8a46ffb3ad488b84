"""Identity answers only whom it should, against the real processes: introspection for the clients allowed
to ask, UserInfo for tokens meant for it and never a delegated one, RFC 7009 revocation; and todos audits
an admin's read of someone else's todo."""

from __future__ import annotations

from tests.e2e.infra.client import SuiteClient

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"


def _credentials(suite: SuiteClient, client_id: str) -> tuple[str, str]:
    return (client_id, suite.processes.secrets[client_id])


def test_introspection_only_for_clients_allowed_to(suite: SuiteClient) -> None:
    token = suite.password_token("alice")
    url = suite.discovery()["introspection_endpoint"]

    for client_id in ("shares", "reminders"):
        refused = suite.http.post(url, data={"token": token}, auth=_credentials(suite, client_id))
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"] == "unauthorized_client"
        assert "active" not in refused.json()

    allowed = suite.http.post(url, data={"token": token}, auth=_credentials(suite, "gateway"))
    assert allowed.status_code == 200
    assert allowed.json()["active"] is True


def test_userinfo_only_for_tokens_meant_for_it(suite: SuiteClient) -> None:
    url = suite.discovery()["userinfo_endpoint"]
    with_openid = suite.password_token("alice", scope="openid todos:read todos:share")

    answered = suite.http.get(url, headers={"Authorization": f"Bearer {with_openid}"})
    assert answered.status_code == 200, answered.text
    assert answered.json()["preferred_username"] == "alice"

    edge_token = suite.password_token("alice")
    refused = suite.http.get(url, headers={"Authorization": f"Bearer {edge_token}"})
    assert refused.status_code == 401
    assert refused.json()["type"] == "urn:todo-suite:problem:wrong-audience"

    # shares, acting for alice (RFC 8693): a delegated token is never accepted at UserInfo.
    exchanged = suite.http.post(
        suite.discovery()["token_endpoint"],
        data={
            "grant_type": EXCHANGE,
            "subject_token": with_openid,
            "subject_token_type": ACCESS_TOKEN,
            "audience": "todos",
        },
        auth=_credentials(suite, "shares"),
    )
    assert exchanged.status_code == 200, exchanged.text
    delegated = suite.http.get(url, headers={"Authorization": f"Bearer {exchanged.json()['access_token']}"})
    assert delegated.status_code == 403
    assert delegated.json()["type"] == "urn:todo-suite:problem:delegation-refused"


def test_revocation_as_rfc_7009_says(suite: SuiteClient) -> None:
    url = suite.discovery()["revocation_endpoint"]

    unknown = suite.http.post(url, data={"token": "no-such-token", "client_id": "todo-cli"})
    assert unknown.status_code == 200

    reminders_token = suite.client_token("reminders")
    refused = suite.http.post(url, data={"token": reminders_token, "client_id": "todo-cli"})
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_request"
    assert suite.todos("GET", "/due", token=reminders_token).status_code == 200  # still active


def test_an_admins_read_of_another_users_todo_is_audited(suite: SuiteClient) -> None:
    alice, carol = suite.password_token("alice"), suite.password_token("carol")
    todo_id = suite.todos("POST", token=alice, json={"title": "alice's secret plan"}).json()["id"]

    assert suite.todos("GET", f"/{todo_id}", token=carol).status_code == 200

    audit = suite.todos("GET", "/audit", token=carol, params={"limit": 200}).json()["data"]
    reads = [e for e in audit if e["todo_id"] == todo_id and e["operation"] == "admin_read"]
    assert len(reads) == 1
    assert reads[0]["subject"] == suite.claims(carol)["sub"]
    assert reads[0]["actor"] is None
