"""The shares service: `uvicorn shares.app:create_app --factory`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

import authz
from servicekit import health_router, install_unavailable_handler, open_resources, warm_routes
from shares import routes, telemetry
from shares.deps import State
from shares.settings import SERVICE_NAME, Settings


def create_app(settings: Settings | None = None, *, transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    """Build the app; nothing connects anywhere until the lifespan starts.

    `transport` replaces the network for outbound calls (tests pass an `httpx.MockTransport`).
    """
    settings = settings or Settings()  # SHARES_CLIENT_SECRET is required
    telemetry.configure()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[State]:
        async with open_resources(
            database_url=settings.database_url,
            migrations="shares.migrations",
            authz_settings=settings.authz,
            transport=transport,
            client_id=settings.client_id,
            client_secret=settings.client_secret.get_secret_value(),
        ) as r:
            await warm_routes(app)  # FastAPI resolves its routes now, off the loop, not at the first request
            assert r.oauth is not None
            yield State(settings=settings, engine=r.engine, http=r.http, authz=r.authz, oauth=r.oauth)

    app = FastAPI(
        title=SERVICE_NAME, summary="Share a todo with a note; grants made in todos for the user", lifespan=lifespan
    )
    authz.install_problem_handlers(app, realm=SERVICE_NAME)
    install_unavailable_handler(app)
    app.include_router(routes.router)
    app.include_router(health_router())
    telemetry.instrument(app)
    return app
