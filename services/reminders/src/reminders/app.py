"""The reminders service: `uvicorn reminders.app:create_app --factory`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

import authz
from reminders import routes, telemetry
from reminders.deps import State
from reminders.scheduler import Scanner, run_every
from reminders.settings import SERVICE_NAME, Settings
from servicekit import health_router, install_unavailable_handler, open_resources, warm_routes


def create_app(settings: Settings | None = None, *, transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    """Build the app; nothing connects anywhere until the lifespan starts.

    `transport` replaces the network for outbound calls (tests pass an `httpx.MockTransport`).
    """
    settings = settings or Settings()
    telemetry.configure()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[State]:
        async with open_resources(
            database_url=settings.database_url,
            migrations="reminders.migrations",
            authz_settings=settings.authz,
            transport=transport,
            client_id=settings.client_id,
            client_secret=settings.client_secret.get_secret_value(),
        ) as r:
            await warm_routes(app)  # FastAPI resolves its routes now, off the loop, not at the first request
            assert r.oauth is not None
            scanner = Scanner(r.engine, r.http, r.oauth, settings)
            scheduler = None
            if settings.interval_seconds > 0:
                scheduler = asyncio.create_task(
                    run_every(scanner, settings.interval_seconds), name="reminders-schedule"
                )
            try:
                yield State(
                    settings=settings,
                    engine=r.engine,
                    http=r.http,
                    authz=r.authz,
                    oauth=r.oauth,
                    scanner=scanner,
                    scheduler=scheduler,
                )
            finally:
                if scheduler is not None:
                    scheduler.cancel()
                    await asyncio.wait({scheduler})  # its own CancelledError stays inside it

    app = FastAPI(title=SERVICE_NAME, summary="Reminder mail for todos falling due", lifespan=lifespan)
    authz.install_problem_handlers(app, realm=SERVICE_NAME)
    install_unavailable_handler(app)
    app.include_router(routes.router)
    app.include_router(health_router())
    telemetry.instrument(app)
    return app
