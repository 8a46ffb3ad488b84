"""What every service opens in its lifespan, opened (and closed) one way."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from sqlalchemy import Engine
from sqlmodel import SQLModel

import authz
from servicekit.db import make_engine


@dataclass(frozen=True)
class Resources:
    engine: Engine
    http: httpx.AsyncClient
    authz: authz.Authenticator
    #: This service as an OAuth client, when it calls others (None when it only answers).
    oauth: authz.OAuthClient | None


@asynccontextmanager
async def open_resources(
    *,
    database_url: str,
    authz_settings: authz.AuthzSettings,
    transport: httpx.AsyncBaseTransport | None = None,
    delegation: Mapping[str, Iterable[str]] | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
) -> AsyncIterator[Resources]:
    """The database engine (schema created), one shared HTTP client, the authenticator with its JWKS
    fetched, and — given client credentials — the outbound OAuth client. Closed in reverse on exit.

    `transport` replaces the network for outbound calls (tests pass an `httpx.MockTransport`).
    """
    engine = make_engine(database_url)
    # Issue #6 replaces this with Alembic migrations; until then the schema is created if missing.
    SQLModel.metadata.create_all(engine)
    try:
        async with httpx.AsyncClient(transport=transport, timeout=authz_settings.http_timeout_seconds) as http:
            authenticator = authz.Authenticator.from_settings(authz_settings, http, delegation=delegation)
            await authenticator.warm()
            oauth = None
            if client_id is not None and client_secret is not None:
                oauth = authz.OAuthClient(http, authz_settings, client_id=client_id, client_secret=client_secret)
            yield Resources(engine=engine, http=http, authz=authenticator, oauth=oauth)
    finally:
        engine.dispose()
