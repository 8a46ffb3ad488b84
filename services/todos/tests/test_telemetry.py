"""The server span of todos: a trace context continued, the auth facts of docs/observability.md on it, and
no token in any attribute. Spans go to an in-memory exporter (the process-wide setup stays off:
OTEL_SDK_DISABLED=true in unit tests)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import telemetry
from authz.pytest_plugin import TestClient
from authz.testing import Caller, FakeIssuer
from todos.app import create_app
from todos.settings import Settings

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def traced(
    settings: Settings, issuer: FakeIssuer, exporter: InMemorySpanExporter
) -> Iterator[Callable[..., TestClient]]:
    """A todos client whose every request is traced into `exporter`; `contents=True` is the dev setting."""
    with pytest.MonkeyPatch.context() as env:
        # The SDK's provider reads the switch when it is built; the apps below still see it on (no global setup).
        env.setenv("OTEL_SDK_DISABLED", "false")
        provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    clients: list[TestClient] = []

    def make(*, contents: bool = False) -> TestClient:
        authz_settings = settings.authz.model_copy(update={"trace_token_contents": contents})
        app = create_app(settings.model_copy(update={"authz": authz_settings}), transport=issuer.transport)
        telemetry.instrument(app, tracer_provider=provider)
        client = TestClient(app, raise_server_exceptions=False)
        clients.append(client.__enter__())
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def _server_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    (span,) = [s for s in exporter.get_finished_spans() if s.kind.name == "SERVER"]
    return span


def _strings(spans: tuple[ReadableSpan, ...]) -> list[str]:
    found: list[str] = []
    for span in spans:
        for value in (span.attributes or {}).values():
            found += [v for v in (value if isinstance(value, tuple) else (value,)) if isinstance(v, str)]
    return found


def _token(caller: Caller) -> str:
    return caller["Authorization"].removeprefix("Bearer ")


def test_a_users_call_carries_who_and_how(traced, exporter, alice: Caller) -> None:
    client = traced()
    headers = {**alice, "traceparent": f"00-{TRACE_ID}-{PARENT}-01"}
    assert client.get("/todos", headers=headers).status_code == 200
    span = _server_span(exporter)
    assert format(span.context.trace_id, "032x") == TRACE_ID  # the caller's trace, continued
    assert span.parent is not None
    assert format(span.parent.span_id, "016x") == PARENT
    a: dict[str, Any] = dict(span.attributes or {})
    assert (a["auth.decision"], a["auth.subject"], a["auth.kind"], a["auth.hop"]) == (
        "allowed", alice.sub, "user", "service"
    )  # fmt: skip
    assert (a["auth.mode"], a["auth.credential"], a["auth.source"]) == ("passthrough", "jwt", "verified_token")
    assert "todos" in a["auth.audience"]  # an edge token names every API behind the gateway
    assert a["auth.actor"] == ()
    assert "auth.token.claims" not in a  # development contents are off by default


def test_a_delegated_call_names_its_actor(traced, exporter, alice: Caller, delegated) -> None:
    client = traced()
    assert client.get("/todos/shared", headers=delegated(alice)).status_code == 200
    a = dict(_server_span(exporter).attributes or {})
    assert (a["auth.subject"], a["auth.actor"], a["auth.client_id"]) == (alice.sub, ("shares",), "shares")


@pytest.mark.parametrize(
    ("headers", "slug", "status"),
    [({}, "missing-token", 401), ({"Authorization": "Bearer not-a-jwt"}, "malformed-token", 401)],
    ids=["no token", "malformed"],
)
def test_a_refusal_names_its_problem_type(traced, exporter, headers, slug, status) -> None:
    client = traced()
    assert client.get("/todos", headers=headers).status_code == status
    a = dict(_server_span(exporter).attributes or {})
    assert (a["auth.decision"], a["auth.problem.type"], a["auth.problem.status"]) == (
        "refused", f"urn:todo-suite:problem:{slug}", status
    )  # fmt: skip
    assert "auth.subject" not in a


def test_a_missing_scope_is_a_refusal_after_the_principal(traced, exporter, make_caller) -> None:
    client = traced()
    reader = make_caller("alice", scope="todos:read")
    assert client.post("/todos", headers=reader, json={"title": "x"}).status_code == 403
    a = dict(_server_span(exporter).attributes or {})
    assert (a["auth.subject"], a["auth.decision"], a["auth.problem.type"]) == (
        reader.sub, "refused", "urn:todo-suite:problem:missing-scope"
    )  # fmt: skip


def test_development_contents_are_the_claims_without_the_signature(traced, exporter, alice, delegated) -> None:
    client = traced(contents=True)
    token = delegated(alice)
    assert client.get("/todos/shared", headers=token).status_code == 200
    a = dict(_server_span(exporter).attributes or {})
    assert json.loads(str(a["auth.token.claims"]))["act"] == {"sub": "shares"}
    assert json.loads(str(a["auth.token.header"]))["alg"]
    signature = _token(token).split(".")[2]
    assert not any(signature in text for text in _strings(exporter.get_finished_spans()))


def test_no_attribute_holds_a_token(traced, exporter, alice: Caller, delegated) -> None:
    client = traced(contents=True)
    callers = [alice, delegated(alice), {"Authorization": "Bearer opaque-handle-0123456789abcdef"}]
    for caller in callers:
        client.get("/todos", headers=caller)
        client.get("/todos/shared", headers=caller)
    texts = _strings(exporter.get_finished_spans())
    assert texts
    for caller in callers:
        assert not any(_token(caller) in text for text in texts), "a raw token shows up in a span attribute"


def test_probes_are_not_traced(traced, exporter) -> None:
    client = traced()
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert exporter.get_finished_spans() == ()
