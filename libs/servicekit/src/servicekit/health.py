"""Liveness and readiness probes, the same in every service (no auth: the kubelet calls them)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

import authz

#: The operational paths, exempt from the "every route has an authz dependency" meta-test.
PROBE_PATHS = ("/healthz", "/readyz", "/metrics")


def health_router() -> APIRouter:
    """`/healthz` (the process answers), `/readyz` (its database answers: else 503) and `/metrics`.

    Readiness reads the engine from the lifespan state (`request.state.engine`). Liveness checks no
    dependency, so a database outage takes a pod out of the load balancer but never restarts it.
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
            return authz.problem(503, "not-ready", "the database is not reachable")
        return {"status": "ready"}

    @router.get("/metrics", response_class=PlainTextResponse)
    def metrics(request: Request) -> str:
        """Auth counters in the Prometheus text format: watch a key rotation cost one JWKS fetch."""
        authenticator: authz.Authenticator = request.state.authz
        metrics = authenticator.metrics()
        oauth: authz.OAuthClient | None = getattr(request.state, "oauth", None)
        if oauth is not None:
            metrics |= oauth.metrics()
        return "".join(f"{name} {value}\n" for name, value in metrics.items())

    return router
