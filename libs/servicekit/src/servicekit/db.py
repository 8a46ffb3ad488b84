"""One way to open a database: SQLite by default (embedded, one-command runs), PostgreSQL by URL."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, exc
from sqlmodel import Session, create_engine

log = logging.getLogger("servicekit.db")

#: Connections kept open between requests. SQLAlchemy's default (5) is below the requests a service runs at
#: once (sync handlers in anyio's 40 worker threads): past it every request opened and closed a connection
#: of its own (for SQLite, with the pragmas below; for PostgreSQL, a new backend), which cost more CPU than
#: the query (bench/profile.py, docs/performance.md). Bursts above the pool still get overflow connections.
POOL = {"pool_size": 20, "max_overflow": 20}


def make_engine(url: str) -> Engine:
    """An engine for `url`. `sqlite:///path` creates the folder; a bare `postgresql://` means psycopg 3."""
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 15}, **POOL)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True, **POOL)


def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:
    # WAL lets readers proceed while one writer commits; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def request_session(engine: Engine) -> Iterator[Session]:
    """A session for one request (a FastAPI dependency's body: `yield from request_session(engine)`).

    Closing it rolls back what was not committed. If the database went away after the handler's work (it
    restarted between the commit and the close), that rollback fails with a disconnect. FastAPI closes the
    dependency after the response has gone out, so an error there cannot reach the client any more: it would
    only make uvicorn drop the connection, which the gateway's pool then finds reset (a 502 for an unrelated
    request). SQLAlchemy has already discarded the dead connection; there is nothing left to roll back.
    """
    session = Session(engine)
    try:
        yield session
    finally:
        try:
            session.close()
        except (exc.OperationalError, exc.InterfaceError) as e:
            log.warning("the database went away before the session closed: %s", str(e).split("\n")[0])
