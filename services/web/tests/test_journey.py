"""web's server span (the BFF's auth facts, no token), the token journey view and the attack panel, against a
fake trace receiver on the mock network: a person sees their own journeys only; bad trace ids are 404s."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import telemetry
from authz.pytest_plugin import ALICE_SUB, BOB_SUB
from web import attacks
from web.app import create_app
from web.settings import Settings

from .conftest import PUBLIC_URL, FakeGateway, FakeIdentity, csrf_of

TRACES_URL = "http://traces.test"


def _span(trace_id: str, span_id: str, parent: str | None, service: str, name: str, start: int,
          kind: str = "server", **attributes: Any) -> dict[str, Any]:  # fmt: skip
    return {"trace_id": trace_id, "span_id": span_id, "parent_span_id": parent, "name": name, "kind": kind,
            "service": service, "start_unix_nano": start * 1_000_000, "end_unix_nano": (start + 10) * 1_000_000,
            "status": "unset", "attributes": attributes}  # fmt: skip


def a_share(trace_id: str, subject: str) -> list[dict[str, Any]]:
    """The spans of a share from the browser: web → gateway → shares → identity (exchange) → todos."""
    claims = json.dumps({"sub": subject, "aud": ["todos"], "act": {"sub": "shares"}})
    return [
        _span(trace_id, "a1", None, "web", "POST /todos/{todo_id}/share", 0, **{
            "auth.hop": "bff", "auth.subject": subject, "auth.credential": "session_cookie",
            "auth.decision": "allowed"}),
        _span(trace_id, "a2", "a1", "web", "POST", 1, kind="client"),
        _span(trace_id, "b1", "a2", "gateway", "POST /api/shares", 2, **{
            "auth.hop": "edge", "auth.mode": "phantom", "auth.credential": "opaque", "auth.subject": subject,
            "auth.decision": "allowed"}),
        _span(trace_id, "b2", "b1", "gateway", "POST", 3, kind="client"),
        _span(trace_id, "c1", "b2", "shares", "POST /shares", 4, **{
            "auth.subject": subject, "auth.actor": [], "auth.decision": "allowed", "auth.credential": "jwt"}),
        _span(trace_id, "c2", "c1", "shares", "POST", 5, kind="client"),
        _span(trace_id, "d1", "c2", "identity", "POST /token", 5, **{
            "oauth.grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "auth.client_id": "shares",
            "auth.subject": subject, "auth.decision": "allowed"}),
        _span(trace_id, "c3", "c1", "shares", "GET", 7, kind="client"),
        _span(trace_id, "e1", "c3", "todos", "GET /todos/{todo_id}/grant", 7, **{
            "auth.subject": subject, "auth.actor": ["shares"], "auth.decision": "allowed",
            "auth.token.claims": claims, "auth.token.header": json.dumps({"alg": "ES256"})}),
    ]  # fmt: skip


def a_refusal(trace_id: str, subject: str) -> list[dict[str, Any]]:
    return [
        _span(trace_id, "a1", None, "web", "POST /attacks/{attack_id}", 0, **{"auth.subject": subject}),
        _span(trace_id, "a2", "a1", "web", "GET", 1, kind="client"),
        _span(trace_id, "b1", "a2", "gateway", "GET /api/todos", 2, **{
            "auth.hop": "edge", "auth.decision": "refused", "auth.problem.status": 401,
            "auth.problem.type": "urn:todo-suite:problem:invalid-token", "auth.problem.detail": "bad signature"}),
    ]  # fmt: skip


class FakeReceiver:
    """telemetry.receiver's query API over canned traces (newest last in `traces`)."""

    def __init__(self) -> None:
        self.traces: dict[str, list[dict[str, Any]]] = {}
        self.down = False

    def add(self, spans: list[dict[str, Any]]) -> str:
        self.traces[spans[0]["trace_id"]] = spans
        return spans[0]["trace_id"]

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            return httpx.Response(502)
        if request.url.path == "/traces":
            found = [{"trace_id": tid, "name": s[0]["name"], "service": s[0]["service"],
                      "subject": s[0]["attributes"].get("auth.subject"), "start_unix_nano": s[0]["start_unix_nano"],
                      "span_count": len(s), "services": sorted({x["service"] for x in s})}
                     for tid, s in reversed(self.traces.items())]  # fmt: skip
            return httpx.Response(200, json={"traces": found})
        spans = self.traces.get(request.url.path.removeprefix("/traces/"))
        if spans is None:
            return httpx.Response(404, json={"status": 404})
        return httpx.Response(200, json={"trace_id": spans[0]["trace_id"], "spans": spans})


@pytest.fixture
def receiver() -> FakeReceiver:
    return FakeReceiver()


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def traced(
    settings: Settings, identity: FakeIdentity, gateway: FakeGateway, receiver: FakeReceiver,
    exporter: InMemorySpanExporter,
) -> Iterator[TestClient]:  # fmt: skip
    """web with its server spans in `exporter` and the fake receiver at WEB_TRACES_URL."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OTEL_SDK_DISABLED", "false")  # read when the provider is built; no global setup happens
        provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    def network(request: httpx.Request) -> httpx.Response:
        host = request.url.host
        return {"gateway.test": gateway.handle, "traces.test": receiver.handle}.get(host, identity.handle)(request)

    app = create_app(settings.model_copy(update={"traces_url": TRACES_URL}), transport=httpx.MockTransport(network))
    telemetry.instrument(app, tracer_provider=provider)
    with TestClient(app, base_url=PUBLIC_URL, raise_server_exceptions=False, follow_redirects=False) as client:
        yield client


def _strings(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def test_web_s_server_span_names_the_opaque_subject_and_holds_no_token(traced, signed_in, identity, exporter):
    signed_in(traced, "alice")
    traced.get("/")

    (home,) = [s for s in exporter.get_finished_spans() if s.kind.name == "SERVER" and s.name == "GET /"]
    a = dict(home.attributes or {})
    assert (a["auth.hop"], a["auth.subject"], a["auth.kind"], a["auth.credential"], a["auth.decision"]) == (
        "bff", ALICE_SUB, "user", "session_cookie", "allowed"
    )  # fmt: skip
    assert a["auth.client_id"] == "web"
    tokens = [*identity.access_tokens, *identity.refresh_tokens]
    assert tokens
    for span in exporter.get_finished_spans():
        for key, value in (span.attributes or {}).items():
            for text in _strings(value):
                assert not any(token in text for token in tokens), (span.name, key)
                assert "eyJ" not in text, (span.name, key)  # no JWT (the ID token) either
        assert (span.attributes or {}).get("auth.subject") not in ("alice", "bob")


def test_a_signed_out_request_is_marked_refused(traced, exporter):
    assert traced.get("/journey").status_code == 303
    (span,) = [s for s in exporter.get_finished_spans() if s.kind.name == "SERVER"]
    assert (span.attributes or {})["auth.decision"] == "refused"


def test_the_journey_shows_each_hop_and_act_on_todos(traced, signed_in, receiver):
    signed_in(traced, "alice")
    trace_id = receiver.add(a_share(secrets.token_hex(16), ALICE_SUB))
    receiver.add(a_share(secrets.token_hex(16), BOB_SUB))  # newer, bob's: never alice's latest
    receiver.add([_span(secrets.token_hex(16), "z", None, "web", "GET /journey", 0, **{"auth.subject": ALICE_SUB})])

    page = traced.get("/journey")

    assert page.status_code == 200
    assert trace_id in page.text  # the latest journey of hers, not bob's, not a view of the journey page
    assert page.text.count('<li class="hop ') == 5
    assert 'data-service="todos"' in page.text
    todos = page.text[page.text.index('data-service="todos"') :]
    assert '<dd class="actor">shares</dd>' in todos
    assert "token exchange (RFC 8693)" in page.text
    assert "an opaque token (no JWT" in page.text
    assert "browser → web" in page.text
    assert "shares → todos" in page.text
    assert "GET /journey" not in page.text.split("Your recent requests")[1]
    assert traced.get(f"/journey/{trace_id}").status_code == 200


def test_another_person_s_journey_is_a_404_like_a_missing_one(traced, signed_in, receiver):
    signed_in(traced, "alice")
    bobs = receiver.add(a_share(secrets.token_hex(16), BOB_SUB))

    for trace_id in (bobs, secrets.token_hex(16)):
        page = traced.get(f"/journey/{trace_id}")
        assert page.status_code == 404
        assert BOB_SUB not in page.text


@pytest.mark.parametrize("path", ["/journey/not-a-trace", "/journey/" + "g" * 32, "/journey/" + "a" * 33])
def test_a_bad_trace_id_is_a_404_page(traced, signed_in, path):
    signed_in(traced, "alice")
    page = traced.get(path)
    assert page.status_code == 404
    assert "32 hexadecimal digits" in page.text


def test_a_wait_out_of_range_is_a_422_problem(traced, signed_in):
    signed_in(traced, "alice")
    answer = traced.get(f"/journey/{secrets.token_hex(16)}?wait=99")
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_a_journey_still_arriving_reloads_itself(traced, signed_in):
    signed_in(traced, "alice")
    trace_id = secrets.token_hex(16)
    page = traced.get(f"/journey/{trace_id}?wait=3")
    assert page.status_code == 200
    assert f'content="1;url=/journey/{trace_id}?wait=2"' in page.text


def test_no_receiver_is_a_503_page(traced, signed_in, receiver):
    signed_in(traced, "alice")
    receiver.down = True
    page = traced.get("/journey")
    assert page.status_code == 503
    assert "trace receiver" in page.text


def test_signed_out_the_journey_and_the_panel_go_to_sign_in(traced):
    for path in ("/journey", f"/journey/{secrets.token_hex(16)}", "/attacks"):
        assert traced.get(path).headers["location"] == "/"


class TestAttackPanel:
    def test_an_attack_without_the_csrf_token_is_refused_and_not_sent(self, traced, signed_in, gateway):
        signed_in(traced, "alice")
        sent = len(gateway.seen)
        answer = traced.post("/attacks/tampered-claims", data={})
        assert answer.status_code == 403
        assert len(gateway.seen) == sent

    def test_an_attack_goes_through_the_gateway_and_shows_its_trace(self, traced, signed_in, gateway, identity,
                                                                   exporter):  # fmt: skip
        signed_in(traced, "alice")
        csrf = csrf_of(traced.get("/attacks").text)

        answer = traced.post("/attacks/spoof-headers-at-gateway", data={"csrf_token": csrf})

        assert answer.status_code == 303
        (post,) = [s for s in exporter.get_finished_spans() if s.name == "POST /attacks/{attack_id}"]
        trace_id = format(post.context.trace_id, "032x")
        assert answer.headers["location"] == f"/attacks?attack=spoof-headers-at-gateway&trace={trace_id}&wait=8"
        method, path, bearer = gateway.seen[-1]
        assert (method, path) == ("GET", "/todos/whoami")
        assert bearer in identity.access_tokens  # her own token: the headers are the attack

    def test_the_result_names_the_refusing_hop(self, traced, signed_in, receiver):
        signed_in(traced, "alice")
        trace_id = receiver.add(a_refusal(secrets.token_hex(16), ALICE_SUB))
        page = traced.get(f"/attacks?attack=tampered-claims&trace={trace_id}&wait=8")
        assert page.status_code == 200
        assert "Refused by <strong>gateway</strong>" in page.text
        assert "urn:todo-suite:problem:invalid-token" in page.text
        assert f"/journey/{trace_id}" in page.text

    def test_a_result_not_yet_arrived_reloads_and_someone_else_s_never_shows(self, traced, signed_in, receiver):
        signed_in(traced, "alice")
        bobs = receiver.add(a_refusal(secrets.token_hex(16), BOB_SUB))
        page = traced.get(f"/attacks?attack=tampered-claims&trace={bobs}&wait=2")
        assert "Refused by" not in page.text
        assert f'url=/attacks?attack=tampered-claims&amp;trace={bobs}&amp;wait=1"' in page.text


def test_a_rewritten_jwt_keeps_header_and_signature_and_an_opaque_one_changes():
    token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl"
    changed = attacks.rewritten(token, lambda claims: claims.update(act={"sub": "shares"}))
    header, claims, signature = changed.split(".")
    assert (header, signature) == ("eyJhbGciOiJFUzI1NiJ9", "c2lnbmF0dXJl")
    assert json.loads(attacks._unb64(claims)) == {"sub": "a", "act": {"sub": "shares"}}
    assert attacks.rewritten("opaque-handle", lambda c: None) != "opaque-handle"
