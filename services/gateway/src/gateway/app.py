"""The gateway: `uvicorn gateway.app:create_app --factory`."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

import authz
from gateway import telemetry
from gateway.boundary import EdgeProxy, GatewayApp
from gateway.runtime import Runtime
from gateway.settings import SERVICE_NAME, Settings


def create_app(settings: Settings | None = None, *, transport: httpx.AsyncBaseTransport | None = None) -> GatewayApp:
    """The gateway as one ASGI app: `/api/<service>/…` through the token boundary to the service;
    `/healthz`, `/readyz`, `/metrics` for operators. Nothing connects anywhere until the lifespan starts.

    `transport` replaces the network for the gateway's own calls to identity (tests pass a MockTransport).
    """
    settings = settings or Settings()
    telemetry.configure()
    runtime = Runtime(settings, transport)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Runtime]]:
        await runtime.start()
        # What the process built to start (~88,000 objects: FastAPI, pydantic, the crypto libraries, the
        # runtime) lives as long as it does. Frozen (gc.freeze), the garbage collector's full collections,
        # one every several thousand requests, stop walking it again: ~3,000 objects each instead of ~91,000
        # (docs/performance.md). Unfrozen at the end: tests start many gateways in one process.
        gc.freeze()
        try:
            yield {"runtime": runtime}
        finally:
            gc.unfreeze()
            await runtime.stop()

    ops = FastAPI(title=SERVICE_NAME, summary="The edge: routing and the token-boundary modes", lifespan=lifespan)
    authz.install_problem_handlers(ops, realm=SERVICE_NAME)

    @ops.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @ops.get("/readyz", response_model=None)
    def readyz() -> dict[str, str] | authz.ProblemResponse:
        if not runtime.ready:
            return authz.problem(503, "not-ready", "the issuer's keys are not loaded yet")
        return {"status": "ready", "mode": settings.authz.mode.value}

    @ops.get("/.well-known/jwks.json", response_model=None)
    def jwks() -> dict[str, Any] | authz.ProblemResponse:
        """The public keys of what the gateway signs (RFC 7517; `reissue`). No such key in other modes."""
        keys = runtime.jwks()
        if keys is None:
            return authz.problem(404, "not-found", f"the gateway signs no tokens in {settings.authz.mode.value} mode")
        return keys

    @ops.get("/metrics", response_class=PlainTextResponse)
    def metrics() -> str:
        return "".join(f"{name} {value}\n" for name, value in runtime.metrics().items())

    edge = EdgeProxy(runtime)
    app = telemetry.instrument(GatewayApp(edge, ops))
    edge.traced = app.api is not edge  # tracing off: the edge is not wrapped, and no span records its requests
    return app
