"""The user journey through the gateway (`/api/<service>/…`), in every built boundary mode: alice's todos,
sharing with bob, reminders — and the edge's promises: others' todos stay invisible, forged tokens never
get a 2xx, and a client-sent `X-User-Id` changes nothing."""

from __future__ import annotations

from tests.e2e.infra import forgery
from tests.e2e.infra.client import SuiteClient
from tests.e2e.infra.journey import SOURCE, journey_through_the_gateway


def test_whoami_shows_the_mode_at_each_service(moded_suite: SuiteClient) -> None:
    s = moded_suite
    alice = s.password_token("alice")
    for service in ("todos", "shares", "reminders"):
        response = s.gateway("GET", f"/{service}/whoami", token=alice)
        assert response.status_code == 200, (service, response.text)
        body = response.json()
        assert (body["service"], body["username"], body["mode"]) == (service, "alice", s.mode)
        assert body["source"] == SOURCE[s.mode]
        assert alice not in response.text


def test_journey(moded_suite: SuiteClient) -> None:
    journey_through_the_gateway(moded_suite)


def test_alice_cannot_read_bobs_todo(moded_suite: SuiteClient) -> None:
    s = moded_suite
    bob_todo = s.gateway("POST", "/todos", token=s.password_token("bob"), json={"title": "bob's"}).json()["id"]
    alice = s.password_token("alice")
    assert s.gateway("GET", f"/todos/{bob_todo}", token=alice).status_code == 404
    assert bob_todo not in [t["id"] for t in s.gateway("GET", "/todos", token=alice).json()["data"]]


def test_x_user_id_from_a_client_changes_nothing(moded_suite: SuiteClient) -> None:
    s = moded_suite
    alice, bob = s.password_token("alice"), s.password_token("bob")
    bob_todo = s.gateway("POST", "/todos", token=bob, json={"title": "bob only"}).json()["id"]
    spoof = {"X-User-Id": s.claims(bob)["sub"], "X_User_Name": "bob", "x-roles": "admin user"}
    whoami = s.gateway("GET", "/todos/whoami", token=alice, headers=spoof).json()
    assert (whoami["subject"], whoami["username"]) == (s.claims(alice)["sub"], "alice")
    assert "admin" not in whoami["roles"]
    assert s.gateway("GET", f"/todos/{bob_todo}", token=alice, headers=spoof).status_code == 404
    mine = s.gateway("GET", "/todos", token=alice, headers=spoof).json()["data"]
    assert bob_todo not in [t["id"] for t in mine]


def test_forged_or_tampered_tokens_never_get_a_2xx(moded_suite: SuiteClient) -> None:
    s = moded_suite
    alice = s.password_token("alice")
    bob_sub = s.claims(s.password_token("bob"))["sub"]
    jwt = s.jwt(alice)
    # The edge token as the client holds it (opaque in phantom) with its last characters changed, too.
    garbled = alice[:-4] + ("AAAA" if not alice.endswith("AAAA") else "BBBB")
    forged = (forgery.signed_with_other_key(jwt), forgery.tampered(jwt, sub=bob_sub), forgery.unsigned(jwt), garbled)
    for bad in forged:
        for path in ("/todos", "/todos/whoami", "/shares/sent", "/reminders"):
            response = s.gateway("GET", path, token=bad)
            assert response.status_code == 401, (path, response.text)
            assert response.headers["www-authenticate"].startswith('Bearer realm="gateway"')
