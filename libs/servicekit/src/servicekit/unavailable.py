"""A database that is away is the service's unavailability, not a bug: 503 with Retry-After, never 500.

While PostgreSQL restarts, a request's connection breaks mid-query or cannot be made at all; SQLAlchemy
raises `OperationalError` (or `InterfaceError` on a connection already closed, `TimeoutError` when the pool
waits in vain). Each becomes an RFC 9457 problem with status 503 and `Retry-After` (RFC 9110 section
10.2.3), which the gateway passes through unchanged. The engine revalidates pooled connections before use
(`pool_pre_ping`, servicekit.db) and SQLAlchemy drops the whole pool on a disconnect, so the first request
after the database is back gets a fresh connection. `/readyz` says the same meanwhile (servicekit.health).
See docs/reliability.md.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from sqlalchemy import exc

import authz

log = logging.getLogger("servicekit.unavailable")

#: Seconds a client should wait before trying again: about what a fast restart of PostgreSQL takes.
RETRY_AFTER_SECONDS = 2
#: What a database going away raises. A constraint or a bad statement (IntegrityError, ProgrammingError,
#: DataError) is not among them: that stays a bug to fix.
UNAVAILABLE = (exc.OperationalError, exc.InterfaceError, exc.TimeoutError, exc.DisconnectionError)


def database_unavailable() -> authz.ProblemResponse:
    return authz.problem(
        503,
        "database-unavailable",
        "this service cannot reach its database just now; try again shortly",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def install_unavailable_handler(app: FastAPI) -> None:
    """Answer 503 + Retry-After for every request that failed because the database is unreachable."""

    async def on_unavailable(request: Request, error: Exception) -> authz.ProblemResponse:
        # The driver's message, not the traceback: an outage is expected, and one line per request is enough.
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, str(error).split("\n")[0])
        return database_unavailable()

    for kind in UNAVAILABLE:
        app.add_exception_handler(kind, on_unavailable)
