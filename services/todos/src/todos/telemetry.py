"""todos's traces and logs: the suite's shared setup (libs/telemetry), configured by the standard `OTEL_*`
variables. What the spans carry is in docs/observability.md."""

from __future__ import annotations

from fastapi import FastAPI

import telemetry

SERVICE_NAME = "todos"


def configure() -> None:
    """Once per process: the tracer provider (OTLP) and JSON logs with trace ids."""
    telemetry.configure(SERVICE_NAME)


def instrument(app: FastAPI) -> None:
    """A server span per request (probes excepted), with the caller's W3C trace context."""
    telemetry.instrument(app)
