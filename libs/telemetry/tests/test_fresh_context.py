"""A request never inherits the span of whatever ran before it: each starts from an empty context (its parent
is its own `traceparent` or nothing). Simulated by calling the app inside another request's span, as uvicorn
may do on a keep-alive connection (telemetry._setup.FreshContext)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import telemetry

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


async def _plain(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
    send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def _fastapi() -> FastAPI:
    app = FastAPI()

    @app.get("/page")
    async def page() -> dict[str, str]:
        return {}

    return app


@pytest.mark.parametrize("build", [_fastapi, lambda: _plain], ids=["fastapi", "plain-asgi"])
async def test_a_request_started_inside_another_span_is_a_root_or_the_child_of_its_traceparent(
    build: Callable[[], Any],
) -> None:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OTEL_SDK_DISABLED", "false")
        provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = telemetry.instrument(build(), tracer_provider=provider)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        with provider.get_tracer("test").start_as_current_span("the request before"):
            await client.get("/page")
            await client.get("/page", headers={"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"})

    servers = [s for s in exporter.get_finished_spans() if s.kind.name == "SERVER"]
    assert len(servers) == 2, [(s.name, s.kind.name) for s in exporter.get_finished_spans()]
    alone, continued = servers
    assert alone.parent is None
    assert continued.parent is not None
    assert (format(continued.context.trace_id, "032x"), format(continued.parent.span_id, "016x")) == (
        TRACE_ID, "00f067aa0ba902b7"
    )  # fmt: skip
