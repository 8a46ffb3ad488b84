"""Liveness and readiness probes, the same in every service (no auth: the kubelet calls them)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

import authz

#: The operational paths, exempt from the "every route has an authz dependency" meta-test.
PROBE_PATHS = ("/healthz", "/readyz", "/metrics")


def health_router(*, store: str = "the database", metrics: bool = True) -> APIRouter:
    """`/healthz` (the process answers), `/readyz` (its database answers: else 503) and `/metrics`.

    Readiness reads the engine from the lifespan state (`request.state.engine`). Liveness checks no
    dependency, so a database outage takes a pod out of the load balancer but never restarts it.
    `store` names the database in the 503's detail; `metrics=False` leaves out `/metrics`, for a service
    with no `authz.Authenticator` to count (the web UI, which verifies no bearer tokens).
    """
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", response_model=None)
    def readyz(request: Request) -> dict[str, str] | authz.ProblemResponse:
        try:
            with request.state.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return authz.problem(503, "not-ready", f"{store} is not reachable")
        return {"status": "ready"}

    if not metrics:
        return router

    @router.get("/metrics", response_class=PlainTextResponse)
    def read_metrics(request: Request) -> str:
        """Auth counters in the Prometheus text format: watch a key rotation cost one JWKS fetch."""
        authenticator: authz.Authenticator = request.state.authz
        counters = authenticator.metrics()
        oauth: authz.OAuthClient | None = getattr(request.state, "oauth", None)
        if oauth is not None:
            counters |= oauth.metrics()
        return "".join(f"{name} {value}\n" for name, value in counters.items())

    return router
