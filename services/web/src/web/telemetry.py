"""web's traces and logs: the suite's shared setup (libs/telemetry), configured by the standard `OTEL_*`
variables; and the BFF's auth facts on its server span, under the names of docs/observability.md.

The browser never holds a token here (docs/web.md): what web received is a session cookie, and who it
concluded the caller was is the session's subject — the opaque `sub`, never the username, never a token.
Its outbound httpx calls (to the gateway, to identity) carry W3C `traceparent`, so one trace starts at web.
"""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry import trace

import telemetry

SERVICE_NAME = "web"
#: `auth.hop` of the BFF: the first hop, where the browser's cookie becomes a user's token.
HOP = "bff"


def configure() -> None:
    """Once per process: the tracer provider (OTLP), httpx instrumented, JSON logs with trace ids."""
    telemetry.configure(SERVICE_NAME)


def instrument(app: FastAPI) -> None:
    """A server span per request (probes excepted)."""
    telemetry.instrument(app)


def record_session(subject: str | None, *, mode: str, client_id: str) -> None:
    """The request came with a signed-in session (`subject`) or without one (None: refused, to sign-in)."""
    span = trace.get_current_span()
    if not span.is_recording():
        return
    span.set_attributes({"auth.hop": HOP, "auth.mode": mode, "auth.client_id": client_id})
    if subject is None:
        span.set_attributes({"auth.credential": "none", "auth.decision": "refused"})
        return
    span.set_attributes({
        "auth.credential": "session_cookie",
        "auth.decision": "allowed",
        "auth.subject": subject,
        "auth.kind": "user",
        "auth.actor": [],
    })  # fmt: skip


def current_trace_id() -> str | None:
    """This request's trace id (hex, as in `traceparent`), or None when it is not traced."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid and context.trace_flags.sampled else None
