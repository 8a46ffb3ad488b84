"""The shares service: `uvicorn shares.app:create_app --factory`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from sqlmodel import SQLModel

import authz
from servicekit import health_router, make_engine
from shares import routes
from shares.deps import State
from shares.settings import SERVICE_NAME, Settings


def create_app(settings: Settings | None = None, *, transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    """Build the app; nothing connects anywhere until the lifespan starts.

    `transport` replaces the network for outbound calls (tests pass an `httpx.MockTransport`).
    """
    settings = settings or Settings()  # SHARES_CLIENT_SECRET is required

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
            try:
                yield State(settings=settings, engine=engine, http=http, authz=authenticator, oauth=oauth)
            finally:
                engine.dispose()

    app = FastAPI(
        title=SERVICE_NAME, summary="Share a todo with a note; grants made in todos for the user", lifespan=lifespan
    )
    authz.install_problem_handlers(app, realm=SERVICE_NAME)
    app.include_router(routes.router)
    app.include_router(health_router())
    return app
