"""identity's traces and logs: the suite's shared setup (libs/telemetry), configured by the standard `OTEL_*`
variables; and the issuer's facts on its spans (what it was asked, what it issued, why it refused), under the
attribute names of docs/observability.md."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI
from opentelemetry import trace

import telemetry

SERVICE_NAME = "identity"


def configure() -> None:
    """Once per process: the tracer provider (OTLP) and JSON logs with trace ids."""
    telemetry.configure(SERVICE_NAME)


def instrument(app: FastAPI) -> None:
    """A server span per request (probes excepted), with the caller's W3C trace context."""
    telemetry.instrument(app)


def record_grant(grant_type: str, client_id: str) -> None:
    """The token endpoint's request: which grant, for which (authenticated) client."""
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attributes({"oauth.grant_type": grant_type, "auth.client_id": client_id})


def record_issued(claims: Mapping[str, Any]) -> None:
    """Who the token identity just issued speaks for (the claims' facts, never the token): the subject's
    opaque id, the actor chain of a delegated token (RFC 8693 `act`), the audience and scopes."""
    span = trace.get_current_span()
    if not span.is_recording():
        return
    actor, act = [], claims.get("act")
    while isinstance(act, Mapping) and isinstance(act.get("sub"), str):
        actor.append(act["sub"])
        act = act.get("act")
    aud = claims.get("aud", ())
    span.set_attributes({
        "auth.hop": "issuer",
        "auth.decision": "allowed",
        "auth.subject": str(claims.get("sub")),
        "auth.actor": actor,
        "auth.audience": [aud] if isinstance(aud, str) else list(aud),
        "auth.scopes": sorted(str(claims.get("scope", "")).split()),
    })  # fmt: skip


def record_introspection(client_id: str, claims: Mapping[str, Any] | None, *, opaque: bool) -> None:
    """An introspection (RFC 7662; the gateway's in `phantom`): who asked, whether the token was an opaque
    handle and active, and — when it was — whom it speaks for (the facts, never the token)."""
    span = trace.get_current_span()
    if not span.is_recording():
        return
    span.set_attributes({"oauth.introspection.active": claims is not None, "auth.credential": "opaque" if opaque
                         else "jwt"})  # fmt: skip
    if claims is not None:
        record_issued(claims)
    span.set_attribute("auth.client_id", client_id)


def record_refusal(error: str, status: int) -> None:
    """An OAuth endpoint's refusal: its RFC 6749 error code (the `problem type` of an OAuth answer)."""
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attributes({"auth.hop": "issuer", "auth.decision": "refused", "oauth.error": error,
                             "auth.problem.type": f"oauth:{error}", "auth.problem.status": status})  # fmt: skip
