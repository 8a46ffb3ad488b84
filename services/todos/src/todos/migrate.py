"""`python -m todos.migrate`: bring todos' schema to the newest revision and exit (a Kubernetes init container).

Reads only `TODOS_DATABASE_URL` (default: the service's own default), not the service's full settings, so the
init container needs no secrets or other configuration. Prints what it did. Exit status: 0 when the schema
is at head, 2 with one line on stderr when the database is unreachable or its schema is refused (see
`servicekit.migrations.migrate_command`).
"""

from __future__ import annotations

import sys

from pydantic_settings import BaseSettings, SettingsConfigDict

from servicekit.migrations import migrate_command
from todos.settings import Settings


class DatabaseSettings(BaseSettings):
    """Only the database URL of `todos.settings.Settings`, read the same way (same variable, same default)."""

    model_config = SettingsConfigDict(env_prefix="TODOS_", extra="ignore")

    database_url: str = Settings.model_fields["database_url"].default


def database_url() -> str:
    return DatabaseSettings().database_url


def main() -> int:
    return migrate_command("todos.migrations", database_url())


if __name__ == "__main__":
    sys.exit(main())
