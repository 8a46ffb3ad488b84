"""Fresh databases per test run: SQLite files, or new PostgreSQL databases dropped afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

#: Where the tests may create databases. `make test` (scripts/with-postgres) sets it, starting a
#: private server if none answers on 127.0.0.1:5432.
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def pg_admin_url() -> str:
    return os.environ.get("TODO_SUITE_PG_URL", DEFAULT_PG_URL)


@contextmanager
def postgres_databases(names: list[str], admin_url: str | None = None) -> Iterator[dict[str, str]]:
    """Create one empty database per name (unique to this run) and drop them all at the end; on the server
    of `admin_url`, by default the one `make test` provides."""
    admin_url = admin_url or pg_admin_url()
    run = uuid.uuid4().hex[:8]
    created = {name: f"todo_suite_e2e_{run}_{name}" for name in names}
    try:
        conn = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as e:
        raise RuntimeError(
            f"the PostgreSQL e2e tests need a server at {admin_url} (run them with `make test`, which finds "
            f"or starts one, or set TODO_SUITE_PG_URL): {e}"
        ) from e
    with conn:
        for db in created.values():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
    base = admin_url.rsplit("/", 1)[0]
    try:
        yield {name: f"{base}/{db}" for name, db in created.items()}
    finally:
        # A connection of its own: the server may have restarted meanwhile (tests/e2e/test_database_outage.py).
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            for db in created.values():
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db)))


def sqlite_databases(run_dir: Path, names: list[str]) -> dict[str, str]:
    return {name: f"sqlite:///{run_dir / (name + '.db')}" for name in names}
