"""The todos service: `uvicorn todos.app:create_app --factory`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from sqlmodel import SQLModel

import authz
from servicekit import health_router, make_engine
from todos import routes
from todos.deps import State
from todos.settings import SERVICE_NAME, Settings


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
            authenticator = authz.Authenticator.from_settings(
                settings.authz, http, delegation=settings.delegated_actors
            )
            await authenticator.warm()
            try:
                yield State(settings=settings, engine=engine, http=http, authz=authenticator)
            finally:
                engine.dispose()

    app = FastAPI(title=SERVICE_NAME, summary="Todos and who may read them", lifespan=lifespan)
    authz.install_problem_handlers(app, realm=SERVICE_NAME)
    app.include_router(routes.router)
    app.include_router(health_router())
    return app
