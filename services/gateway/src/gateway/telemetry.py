"""The gateway's traces and logs: the suite's shared setup (libs/telemetry), configured by the standard
`OTEL_*` variables, plus its aiohttp forwarder. What the spans carry is in docs/observability.md."""

from __future__ import annotations

import telemetry
from gateway.boundary import GatewayApp

SERVICE_NAME = "gateway"


def configure() -> None:
    """Once per process: the tracer provider (OTLP), JSON logs with trace ids, and client spans with W3C
    `traceparent` on the forwarder's aiohttp requests (its sessions are created later, in the lifespan)."""
    telemetry.configure(SERVICE_NAME)
    if telemetry.disabled():
        return
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor

    instrumentor = AioHttpClientInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument()


def instrument(app: GatewayApp) -> GatewayApp:
    """A server span per request on both halves (`/api/…` and the operators' paths, probes excepted)."""
    return GatewayApp(telemetry.instrument(app.api), telemetry.instrument(app.ops))
