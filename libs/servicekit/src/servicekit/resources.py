"""What every service opens in its lifespan, opened (and closed) one way."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio.to_thread
import httpx
from sqlalchemy import Engine

import authz
from authz import Authenticator, OAuthClient
from servicekit.db import make_engine
from servicekit.migrations import upgrade_to_head


@dataclass(frozen=True)
class Resources:
    engine: Engine
    http: httpx.AsyncClient
    authz: Authenticator
    #: This service as an OAuth client, when it calls others (None when it only answers).
    oauth: OAuthClient | None


@asynccontextmanager
async def open_resources(
    *,
    database_url: str,
    migrations: str,
    authz_settings: authz.AuthzSettings,
    transport: httpx.AsyncBaseTransport | None = None,
    delegation: Mapping[str, Iterable[str]] | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
) -> AsyncIterator[Resources]:
    """The database engine (schema migrated to head), one shared HTTP client, the authenticator with its JWKS
    fetched, and — given client credentials — the outbound OAuth client. Closed in reverse on exit.

    `migrations` is the service's migrations package (`"todos.migrations"`): its schema is upgraded to
    head before anything serves (locally, that is how migrations run; in Kubernetes an init container has
    already run `python -m <svc>.migrate`, and this finds nothing to do). See docs/migrations.md.
    `transport` replaces the network for outbound calls (tests pass an `httpx.MockTransport`).
    """
    # Blocking (the driver's import, migrations, a first connection): in a worker thread, so no event loop
    # ever waits on it.
    engine = await anyio.to_thread.run_sync(make_engine, database_url)
    try:
        await anyio.to_thread.run_sync(upgrade_to_head, engine, migrations)
        async with httpx.AsyncClient(
            transport=transport,
            mounts=authz.unix_socket_mounts(authz_settings.unix_sockets),
            timeout=authz_settings.http_timeout_seconds,
        ) as http:
            authenticator = authz.Authenticator.from_settings(authz_settings, http, delegation=delegation)
            await authenticator.warm()
            oauth = None
            if client_id is not None and client_secret is not None:
                oauth = authz.OAuthClient(http, authz_settings, client_id=client_id, client_secret=client_secret)
            yield Resources(engine=engine, http=http, authz=authenticator, oauth=oauth)
    finally:
        await anyio.to_thread.run_sync(engine.dispose)
