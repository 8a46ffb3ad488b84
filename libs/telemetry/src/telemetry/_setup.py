"""The tracer provider from the environment, and the instrumentation every process shares."""

from __future__ import annotations

import os
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Literal

from fastapi import FastAPI
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.environment_variables import OTEL_SDK_DISABLED
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from telemetry._logs import install_json_logs

ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[MutableMapping[str, Any]]],
     Callable[[MutableMapping[str, Any]], Awaitable[None]]],
    Awaitable[None],
]  # fmt: skip

#: Probes are asked every few seconds and say nothing about a request: never traced (Polar drops them too).
EXCLUDED_URLS = "/healthz,/readyz"

_lock = threading.Lock()
_configured = False


def disabled() -> bool:
    """`OTEL_SDK_DISABLED=true`: the SDK is off, and so is everything here (the unit tests run so).
    Ref: https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/#general-sdk-configuration
    """
    return os.environ.get(OTEL_SDK_DISABLED, "").strip().lower() == "true"


def configure(service_name: str) -> None:
    """Once per process: the global tracer provider and JSON logs with trace and span ids.

    The provider reads the standard variables: `OTEL_SERVICE_NAME` (else `service_name`),
    `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER[_ARG]`; the OTLP/HTTP exporter reads
    `OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT` and `…_HEADERS`. Spans leave in batches from a background thread
    (`BatchSpanProcessor`, `OTEL_BSP_*`), never on the request's path. Idempotent: tests build many apps.
    """
    global _configured
    if disabled():
        return
    with _lock:
        if _configured:
            return
        _configured = True
    # Imported here: the exporter pulls in protobuf and requests, which a disabled process never needs.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    # Resource.create merges OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME over our default name.
    resource = Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME") or service_name})
    provider = TracerProvider(resource=resource)  # the sampler comes from OTEL_TRACES_SAMPLER
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    instrument_outbound()
    install_json_logs()


def instrument_outbound(tracer_provider: trace.TracerProvider | None = None) -> None:
    """Client spans and W3C `traceparent` on every outbound httpx request, and a span per SQL statement.

    Process-wide (both instrumentors patch the library); the gateway adds its aiohttp forwarder itself."""
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    for instrumentor in (HTTPXClientInstrumentor(), SQLAlchemyInstrumentor()):
        if not instrumentor.is_instrumented_by_opentelemetry:
            # skip_dep_check: the SQLAlchemy instrumentor declares `sqlalchemy < 2.1` and would otherwise only
            # log a warning and patch nothing; its engine hooks work on the 2.1 we lock (a test checks the span).
            instrumentor.instrument(tracer_provider=tracer_provider, skip_dep_check=True)


def instrument(app: ASGIApp, *, tracer_provider: trace.TracerProvider | None = None) -> ASGIApp:
    """The app with a server span per request (W3C `traceparent` read from the caller), probes excepted.

    A FastAPI app is instrumented in place (its spans are named by route); any other ASGI app (the gateway)
    comes back wrapped. Disabled, `app` comes back untouched: no middleware at all on the hot path.
    `tracer_provider` is for tests (an in-memory exporter); processes use the global one.
    """
    if tracer_provider is None and disabled():
        return app
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    # No span per ASGI `receive`/`send` message: they only add cost and say nothing about auth.
    quiet: list[Literal["receive", "send"]] = ["receive", "send"]
    if isinstance(app, FastAPI):
        FastAPIInstrumentor.instrument_app(
            app, tracer_provider=tracer_provider, excluded_urls=EXCLUDED_URLS, exclude_spans=quiet
        )
        instrumented = app.build_middleware_stack  # the OpenTelemetry middleware outermost

        def fresh_stack() -> ASGIApp:
            return FreshContext(instrumented())

        app.build_middleware_stack = fresh_stack  # type: ignore[method-assign]
        return app
    return FreshContext(OpenTelemetryMiddleware(app, excluded_urls=EXCLUDED_URLS, tracer_provider=tracer_provider,
                                                exclude_spans=quiet))  # fmt: skip


class FreshContext:
    """Every request starts from an empty OpenTelemetry context, so its span's parent comes from its own
    `traceparent` header or nowhere.

    Without this, uvicorn (uvloop, httptools) may run the next request of a keep-alive connection in the context
    of the one before: seen as web's `GET /` after a form's 303 becoming an INTERNAL child of the form's
    `POST` span, with every hop behind it, in the `POST`'s trace (the ASGI middleware nests a request under
    whatever span is current: https://github.com/open-telemetry/opentelemetry-python-contrib, `asgi`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
        send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ) -> None:
        token = otel_context.attach(otel_context.Context())
        try:
            await self.app(scope, receive, send)
        finally:
            otel_context.detach(token)
