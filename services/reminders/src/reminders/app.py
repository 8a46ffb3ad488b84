"""The reminders service: `uvicorn reminders.app:create_app --factory`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from sqlmodel import SQLModel

import authz
from reminders import routes
from reminders.deps import State
from reminders.service import Scanner, run_every
from reminders.settings import SERVICE_NAME, Settings
from servicekit import health_router, make_engine


def create_app(settings: Settings | None = None, *, transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    """Build the app; nothing connects anywhere until the lifespan starts.

    `transport` replaces the network for outbound calls (tests pass an `httpx.MockTransport`).
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[State]:
        engine = make_engine(settings.database_url)
        # Issue #6 replaces this with Alembic migrations; until then the schema is created if missing.
        SQLModel.metadata.create_all(engine)
        async with httpx.AsyncClient(transport=transport, timeout=settings.authz.http_timeout_seconds) as http:
            authenticator = authz.Authenticator.from_settings(settings.authz, http)
            await authenticator.warm()
            oauth = authz.OAuthClient(
                http,
                settings.authz,
                client_id=settings.client_id,
                client_secret=settings.client_secret.get_secret_value(),
            )
            scanner = Scanner(engine, http, oauth, settings)
            scheduler = None
            if settings.interval_seconds > 0:
                scheduler = asyncio.create_task(
                    run_every(scanner, settings.interval_seconds), name="reminders-schedule"
                )
            try:
                yield State(
                    settings=settings,
                    engine=engine,
                    http=http,
                    authz=authenticator,
                    oauth=oauth,
                    scanner=scanner,
                    scheduler=scheduler,
                )
            finally:
                if scheduler is not None:
                    scheduler.cancel()
                    await asyncio.wait({scheduler})  # its own CancelledError stays inside it
                engine.dispose()

    app = FastAPI(title=SERVICE_NAME, summary="Reminder mail for todos falling due", lifespan=lifespan)
    authz.install_problem_handlers(app, realm=SERVICE_NAME)
    app.include_router(routes.router)
    app.include_router(health_router())
    return app
