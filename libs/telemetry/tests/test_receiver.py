"""The local trace receiver (telemetry.receiver): both OTLP/HTTP encodings in, the query API out, a bound kept.
Spans in protobuf come from the SDK's own OTLP exporter, so the receiver is tested against the real thing."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp.test_utils import TestClient, TestServer
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from telemetry.receiver import TraceStore, create_app


def _finished_spans(service: str, count: int) -> list:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OTEL_SDK_DISABLED", "false")
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    for i in range(count):
        with tracer.start_as_current_span(f"GET /todos/{i}") as root:
            root.set_attribute("auth.subject", f"user-{i}")
            root.set_attribute("auth.actor", ["shares"])
            with tracer.start_as_current_span("SELECT todos"):
                pass
    return list(memory.get_finished_spans())


async def _client(store: TraceStore) -> TestClient:
    client = TestClient(TestServer(create_app(store)))
    await client.start_server()
    return client


async def test_protobuf_from_the_sdk_exporter_and_the_query_api() -> None:
    client = await _client(TraceStore(max_traces=10))
    try:
        spans = _finished_spans("todos", 2)
        exporter = OTLPSpanExporter(endpoint=str(client.make_url("/v1/traces")))
        assert await asyncio.to_thread(exporter.export, spans) is SpanExportResult.SUCCESS
        listed = (await (await client.get("/traces")).json())["traces"]
        assert [t["span_count"] for t in listed] == [2, 2]
        assert listed[0]["name"] == "GET /todos/1"  # newest first
        assert [t["subject"] for t in listed] == ["user-1", "user-0"]  # whose: the root span's auth.subject
        trace_id = format(spans[0].context.trace_id, "032x")
        one = await (await client.get(f"/traces/{trace_id}")).json()
        root = next(s for s in one["spans"] if s["parent_span_id"] is None)
        assert (root["service"], root["attributes"]["auth.actor"]) == ("todos", ["shares"])
        child = next(s for s in one["spans"] if s["parent_span_id"] is not None)
        assert child["parent_span_id"] == root["span_id"]
        by_subject = (await (await client.get("/traces", params={"subject": "user-0"})).json())["traces"]
        assert [t["trace_id"] for t in by_subject] == [trace_id]
    finally:
        await client.close()


async def test_json_encoding_with_hex_ids() -> None:
    client = await _client(TraceStore())
    trace_id, span_id = "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174"
    body = {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "shares"}}]},
        "scopeSpans": [{"spans": [{
            "traceId": trace_id, "spanId": span_id, "name": "POST /shares", "kind": 2,
            "startTimeUnixNano": "1", "endTimeUnixNano": "2",
            "attributes": [{"key": "auth.decision", "value": {"stringValue": "refused"}}],
        }]}],
    }]}  # fmt: skip
    try:
        answer = await client.post("/v1/traces", data=json.dumps(body), headers={"content-type": "application/json"})
        assert answer.status == 200
        (span,) = (await (await client.get(f"/traces/{trace_id.upper()}")).json())["spans"]
        assert (span["span_id"], span["kind"], span["service"]) == (span_id, "server", "shares")
        assert span["attributes"] == {"auth.decision": "refused"}
    finally:
        await client.close()


async def test_keeps_the_newest_traces_and_refuses_what_is_not_otlp() -> None:
    store = TraceStore(max_traces=2)
    client = await _client(store)
    try:
        spans = _finished_spans("todos", 3)
        exporter = OTLPSpanExporter(endpoint=str(client.make_url("/v1/traces")))
        assert await asyncio.to_thread(exporter.export, spans) is SpanExportResult.SUCCESS
        assert len(store.traces) == 2
        assert (await client.get(f"/traces/{format(spans[0].context.trace_id, '032x')}")).status == 404
        assert (await client.post("/v1/traces", data=b"x", headers={"content-type": "text/plain"})).status == 415
        bad = await client.post("/v1/traces", data=b"\xff\xff", headers={"content-type": "application/x-protobuf"})
        assert bad.status == 400
        assert (await client.get("/traces", params={"limit": "many"})).status == 422
    finally:
        await client.close()
