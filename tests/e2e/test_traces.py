"""One trace follows a share across every hop — (web →) gateway → shares → identity (token exchange) → todos — with
the auth facts of each hop on its server span, and no token in any attribute; the standard
OTEL_EXPORTER_OTLP_ENDPOINT sends the same spans to any other OTLP receiver (docs/observability.md).

The user signs in afresh, so shares has no exchanged token cached for hers and must ask identity.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from typing import Any

from tests.e2e.infra.browser import Browser
from tests.e2e.infra.chromium import tokens_in_store
from tests.e2e.infra.forgery import claims_of
from tests.e2e.infra.otlp import LocalReceiver, TracedSuite

HOPS = {"gateway", "shares", "identity", "todos"}
#: A JWS compact serialization (three base64url parts, the first two JSON objects: `eyJ` is `{"`).
JWT_SHAPED = re.compile(r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def _server_spans(spans: list[dict[str, Any]], service: str) -> list[dict[str, Any]]:
    return [s for s in spans if s["service"] == service and s["kind"] == "server"]


def _wait_for_trace(
    traced: TracedSuite, trace_id: str, timeout: float = 15.0, hops: set[str] = HOPS
) -> list[dict[str, Any]]:
    """The trace once every hop has exported its part (spans leave in batches, every half second here)."""
    deadline = time.monotonic() + timeout
    while True:
        spans = traced.spans.spans(trace_id)
        todos = _server_spans(spans, "todos")
        if {s["service"] for s in spans} >= hops and any(s["attributes"].get("auth.actor") for s in todos):
            time.sleep(1.0)  # what the last batch still held
            return traced.spans.spans(trace_id)
        if time.monotonic() > deadline:
            raise AssertionError(f"trace {trace_id} incomplete: {sorted({s['service'] for s in spans})}")
        time.sleep(0.2)


def _attribute_strings(value: Any) -> list[str]:
    if isinstance(value, list):
        return [text for item in value for text in _attribute_strings(item)]
    return [value] if isinstance(value, str) else []


def _the_gateway_introspected_in_the_same_trace(
    traced: TracedSuite, trace_id: str, sub: str, tokens: list[str], timeout: float = 15.0
) -> None:
    """phantom: the gateway resolved the opaque edge token at identity (RFC 7662), a child of its own span."""
    deadline = time.monotonic() + timeout
    while not (introspections := [s for s in _server_spans(traced.spans.spans(trace_id), "identity")
                                  if "oauth.introspection.active" in s["attributes"]]):  # fmt: skip
        assert time.monotonic() < deadline, f"no introspection in trace {trace_id}"
        time.sleep(0.2)
    (introspection,) = introspections
    # The gateway's client span ends (and is exported, in its own batch) after identity's: wait for it too.
    while introspection["parent_span_id"] not in (spans := {s["span_id"]: s for s in traced.spans.spans(trace_id)}):
        assert time.monotonic() < deadline, f"the introspection's parent span never arrived in trace {trace_id}"
        time.sleep(0.2)
    a = introspection["attributes"]
    assert (a["oauth.introspection.active"], a["auth.credential"], a["auth.client_id"], a["auth.subject"]) == (
        True, "opaque", "gateway", sub
    )  # fmt: skip
    assert spans[introspection["parent_span_id"]]["service"] == "gateway"
    for span in spans.values():
        for text in (t for v in span["attributes"].values() for t in _attribute_strings(v)):
            assert not any(token in text for token in tokens), span["name"]


def test_a_share_is_one_trace_with_the_auth_facts_of_every_hop(traced_suite: TracedSuite) -> None:
    suite = traced_suite.suite
    phantom = suite.mode == "phantom"
    alice = suite.password_token("alice")  # a fresh sign-in: no exchanged token of hers is cached yet
    alice_jwt = suite.jwt(alice)  # itself, or (phantom) the JWT identity resolves her opaque token to
    sub = claims_of(alice_jwt)["sub"]
    create_trace = secrets.token_hex(16)
    todo = suite.gateway("POST", "/todos", token=alice, json={"title": "trace me"},
                         headers={"traceparent": f"00-{create_trace}-{secrets.token_hex(8)}-01"})  # fmt: skip
    assert todo.status_code == 201, todo.text
    if phantom:
        _the_gateway_introspected_in_the_same_trace(traced_suite, create_trace, sub, [alice, alice_jwt])

    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    shared = suite.gateway(
        "POST", "/shares", token=alice, json={"todo_id": todo.json()["id"], "username": "bob", "note": "see"},
        headers={"traceparent": f"00-{trace_id}-{parent}-01"},  # W3C trace context, as a browser's BFF sends
    )  # fmt: skip
    assert shared.status_code == 201, shared.text
    spans = _wait_for_trace(traced_suite, trace_id)

    # Every hop took part in this one trace, each server span a child of the hop before it.
    by_id = {s["span_id"]: s for s in spans}
    (edge,) = _server_spans(spans, "gateway")
    assert edge["parent_span_id"] == parent
    for service in ("shares", "identity", "todos"):
        for span in _server_spans(spans, service):
            caller = by_id[span["parent_span_id"]]  # a client span of the service that called
            assert caller["kind"] == "client", span
    (share_span,) = _server_spans(spans, "shares")
    assert by_id[share_span["parent_span_id"]]["service"] == "gateway"

    # The edge: the routed service, the user (her opaque id, never her name), what it forwarded.
    a = edge["attributes"]
    assert (a["auth.hop"], a["auth.mode"], a["auth.decision"]) == ("edge", suite.mode, "allowed")
    assert (a["auth.subject"], a["auth.kind"], a["auth.client_id"]) == (sub, "user", "todo-cli")
    received = "opaque" if phantom else "jwt"
    assert (a["auth.route.service"], a["auth.credential"], a["auth.forwarded"]) == ("shares", received, "jwt")
    assert "shares" in a["auth.audience"]

    # shares: alice herself, no actor.
    a = share_span["attributes"]
    assert (a["auth.subject"], a["auth.actor"], a["auth.decision"], a["auth.source"]) == (
        sub, [], "allowed", "verified_token"
    )  # fmt: skip
    assert a["auth.credential"] == "jwt"  # in phantom too: the gateway forwarded the JWT it resolved

    # identity: the token exchange shares asked for (and, before it, bob looked up in the directory).
    exchanges = [s for s in _server_spans(spans, "identity") if s["attributes"].get("oauth.grant_type", "").endswith(
        "token-exchange")]  # fmt: skip
    assert len(exchanges) == 1, [s["name"] for s in _server_spans(spans, "identity")]
    a = exchanges[0]["attributes"]
    assert (a["auth.client_id"], a["auth.subject"], a["auth.decision"]) == ("shares", sub, "allowed")
    assert a["auth.audience"] == ["todos"]

    # todos: the grant, on behalf of alice, by shares (RFC 8693 `act`), for todos alone.
    (grant,) = [s for s in _server_spans(spans, "todos") if s["attributes"].get("auth.actor")]
    a = grant["attributes"]
    assert (a["auth.subject"], a["auth.actor"], a["auth.audience"], a["auth.decision"]) == (
        sub, ["shares"], ["todos"], "allowed"
    )  # fmt: skip
    if suite.processes.mesh:  # the sidecar's word on who called, beside the token's
        assert a["auth.mesh_peer"] == "spiffe://cluster.local/ns/todo-suite/sa/shares"
    # Development contents (on in devstack): the decoded claims the hop received, the signature left out.
    assert json.loads(a["auth.token.claims"])["act"] == {"sub": "shares"}
    assert json.loads(a["auth.token.header"])["alg"]

    # No token anywhere: not alice's, not any JWT-shaped string, not its signature; no username as subject.
    for span in spans:
        for key, value in span["attributes"].items():
            for text in _attribute_strings(value):
                assert not JWT_SHAPED.search(text), (span["name"], key)
                assert alice not in text, (span["name"], key)
                assert alice_jwt not in text, (span["name"], key)
                assert alice_jwt.split(".")[2] not in text, (span["name"], key)  # its signature
        assert span["attributes"].get("auth.subject") not in ("alice", "bob")

    if traced_suite.spans is traced_suite.local:
        assert any(t["trace_id"] == trace_id for t in traced_suite.local.recent(subject=sub))
    else:
        # OTEL_EXPORTER_OTLP_ENDPOINT named another receiver: everything went there, nothing to the local one.
        assert traced_suite.local.recent() == []
        assert isinstance(traced_suite.local, LocalReceiver)


SHARE_PAGE = "POST /todos/{todo_id}/share"


def _signed_in_at_web(suite: Any, username: str) -> tuple[Browser, str]:
    """A browser signed in at the web UI through identity's login page (the code flow), and its CSRF token."""
    browser = Browser()
    start = browser.http.get(f"{suite.web_url}/auth/login")
    assert start.status_code == 303, start.text
    landed = browser.http.get(browser.sign_in(start.headers["location"], username))
    assert landed.status_code == 303, landed.text
    home = browser.http.get(f"{suite.web_url}/")
    return browser, re.search(r'name="csrf_token" value="([^"]+)"', home.text)[1]  # type: ignore[index]


def test_a_share_from_the_browser_is_one_trace_from_web_to_todos(traced_suite: TracedSuite) -> None:
    """The first share after signing in at the web UI (its fresh token: no exchange of it cached at shares)."""
    suite = traced_suite.suite
    browser, csrf = _signed_in_at_web(suite, "alice")
    try:
        added = browser.http.post(f"{suite.web_url}/todos", data={"title": "trace me too", "csrf_token": csrf})
        assert added.status_code == 303, added.text
        home = browser.http.get(f"{suite.web_url}/").text
        todo_id = re.findall(r'action="/todos/([0-9a-f-]{36})/share"', home)[0]
        before = set(traced_suite.spans.find("web", SHARE_PAGE))
        shared = browser.http.post(f"{suite.web_url}/todos/{todo_id}/share",
                                   data={"username": "bob", "note": "", "csrf_token": csrf})  # fmt: skip
        assert shared.status_code == 303, shared.text
        # The redirect's GET, on the same keep-alive connection: a trace of its own (telemetry.FreshContext).
        assert browser.http.get(f"{suite.web_url}{shared.headers['location']}").status_code == 200
    finally:
        browser.close()
    deadline = time.monotonic() + 15
    while not (new := set(traced_suite.spans.find("web", SHARE_PAGE)) - before):
        assert time.monotonic() < deadline, "web's span of the share never arrived"
        time.sleep(0.2)
    (trace_id,) = new
    spans = _wait_for_trace(traced_suite, trace_id, hops=HOPS | {"web"})
    by_id = {s["span_id"]: s for s in spans}

    # web is the root: the browser sent no trace context, the BFF started the trace and carried it on.
    (page,) = [s for s in spans if s["service"] == "web" and s["kind"] != "client"]  # not the GET / after it
    assert page["kind"] == "server"
    assert page["parent_span_id"] is None
    a = page["attributes"]
    sub = a["auth.subject"]
    assert (a["auth.hop"], a["auth.credential"], a["auth.decision"], a["auth.kind"]) == (
        "bff", "session_cookie", "allowed", "user"
    )  # fmt: skip
    assert sub not in ("alice", "bob")
    assert a["auth.mode"] == suite.mode
    (edge,) = _server_spans(spans, "gateway")
    caller = by_id[edge["parent_span_id"]]
    assert (caller["service"], caller["kind"]) == ("web", "client")
    a = edge["attributes"]
    received = "opaque" if suite.mode == "phantom" else "jwt"
    assert (a["auth.subject"], a["auth.client_id"], a["auth.credential"], a["auth.decision"]) == (
        sub, "web", received, "allowed"
    )  # fmt: skip
    (share_span,) = _server_spans(spans, "shares")
    assert share_span["attributes"]["auth.subject"] == sub
    exchanges = [s for s in _server_spans(spans, "identity")
                 if s["attributes"].get("oauth.grant_type", "").endswith("token-exchange")]  # fmt: skip
    assert [s["attributes"]["auth.subject"] for s in exchanges] == [sub]  # not cached: web's token is fresh
    (grant,) = [s for s in _server_spans(spans, "todos") if s["attributes"].get("auth.actor")]
    assert (grant["attributes"]["auth.subject"], grant["attributes"]["auth.actor"]) == (sub, ["shares"])

    # No token anywhere: none of those web holds for alice (access, refresh, ID), nothing JWT-shaped.
    tokens = tokens_in_store(suite.processes.config.database_url("web"))
    assert tokens
    for span in spans:
        for key, value in span["attributes"].items():
            for text in _attribute_strings(value):
                assert not JWT_SHAPED.search(text), (span["service"], span["name"], key)
                assert not any(token in text for token in tokens), (span["service"], span["name"], key)
    if traced_suite.spans is not traced_suite.local:
        assert traced_suite.local.recent() == []  # the standard variable sent web's spans elsewhere too
