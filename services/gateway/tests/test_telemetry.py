"""The gateway's server span: the edge's auth facts (who, for which service, what the mode forwards), a refusal's
problem type, and no token in any attribute, in every mode that takes a JWT at the edge. Spans go to an
in-memory exporter; the process-wide setup stays off (OTEL_SDK_DISABLED=true in unit tests)."""

from __future__ import annotations

import json

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import telemetry
from authz.pytest_plugin import ALICE_SUB
from gateway import telemetry as gateway_telemetry
from gateway.app import create_app
from gateway.boundary import EdgeProxy, GatewayApp

FORWARDED = {"trust": "jwt", "passthrough": "jwt", "reissue": "jwt", "extract": "signed_headers"}


@pytest.fixture
def exporter(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    """Every gateway `create_app` builds in this test is traced into the returned exporter."""
    memory = InMemorySpanExporter()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OTEL_SDK_DISABLED", "false")  # read when the provider is built
        provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))

    def instrument(app: GatewayApp) -> GatewayApp:
        return GatewayApp(telemetry.instrument(app.api, tracer_provider=provider), app.ops)

    monkeypatch.setattr(gateway_telemetry, "instrument", instrument)
    return memory


def _edge_attributes(exporter: InMemorySpanExporter) -> dict:
    (span,) = [s for s in exporter.get_finished_spans() if s.kind.name == "SERVER"]
    return dict(span.attributes or {})


@pytest.mark.parametrize("mode", list(FORWARDED))
async def test_the_edge_says_who_for_which_service_and_what_it_forwarded(
    exporter, start_gateway, make_settings, make_token, mode
):
    client = await start_gateway(make_settings(mode))
    token = make_token()
    assert (await client.get("/api/todos/1", headers={"Authorization": f"Bearer {token}"})).status_code == 200
    a = _edge_attributes(exporter)
    assert (a["auth.hop"], a["auth.mode"], a["auth.decision"], a["auth.subject"]) == (
        "edge",
        mode,
        "allowed",
        ALICE_SUB,
    )
    assert (a["auth.route.service"], a["auth.credential"], a["auth.forwarded"]) == ("todos", "jwt", FORWARDED[mode])
    texts = [v for v in a.values() if isinstance(v, str)]
    assert not any(token in t or token.split(".")[2] in t for t in texts)


async def test_a_refusal_at_the_edge_names_its_problem(exporter, start_gateway, make_settings, make_token):
    client = await start_gateway(make_settings("passthrough"))
    shares_only = make_token(audience="shares")
    assert (await client.get("/api/todos/1", headers={"Authorization": f"Bearer {shares_only}"})).status_code == 401
    a = _edge_attributes(exporter)
    assert (a["auth.decision"], a["auth.problem.type"], a["auth.problem.status"]) == (
        "refused", "urn:todo-suite:problem:wrong-audience", 401
    )  # fmt: skip
    assert (a["auth.credential"], a["auth.route.service"]) == ("jwt", "todos")
    assert "auth.subject" not in a


async def test_development_contents_at_the_edge(exporter, start_gateway, make_settings, make_token):
    settings = make_settings("passthrough")
    settings = settings.model_copy(update={"authz": settings.authz.model_copy(update={"trace_token_contents": True})})
    client = await start_gateway(settings)
    token = make_token()
    assert (await client.get("/api/todos/1", headers={"Authorization": f"Bearer {token}"})).status_code == 200
    a = _edge_attributes(exporter)
    assert json.loads(a["auth.token.claims"])["sub"] == ALICE_SUB
    assert token.split(".")[2] not in a["auth.token.claims"] + a["auth.token.header"]


def test_with_tracing_off_the_edge_is_not_wrapped_and_asks_for_no_span(make_settings) -> None:
    # Traced (the tests above), the edge is wrapped and its spans carry its attributes.
    app = create_app(make_settings())
    assert isinstance(app.api, EdgeProxy)
    assert app.api.traced is False
