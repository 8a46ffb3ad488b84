"""todos' settings: `TODOS_*` for the service itself, `AUTHZ_*` (libs/authz) for tokens and trust."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from authz import AuthzSettings
from authz.environment import Environment, refuse_development_secrets

SERVICE_NAME = "todos"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TODOS_", extra="ignore")

    env: Environment = "prod"
    #: SQLite for one-command local runs; `postgresql://...` in a cluster and in the PostgreSQL e2e run.
    database_url: str = "sqlite:///.run/todos.db"
    page_size_max: int = Field(default=100, ge=1, le=1000)
    #: Which services may act for a user here, and for which operations: delegation, not a trusted
    #: subsystem. A delegated token (one with `act`) from any other actor, or for any other operation,
    #: is refused. JSON in TODOS_DELEGATED_ACTORS.
    delegated_actors: dict[str, list[str]] = Field(
        default_factory=lambda: {"shares": ["read", "read_shared", "grant", "revoke"]}
    )
    #: The service clients that may read the due-soon query (with their own token, no user).
    due_readers: list[str] = Field(default_factory=lambda: ["reminders"])
    #: The widest window `GET /todos/due` accepts.
    due_window_max_seconds: int = Field(default=7 * 86_400, ge=60)
    authz: AuthzSettings = Field(default_factory=lambda: AuthzSettings.for_service(SERVICE_NAME))

    @model_validator(mode="after")
    def _fail_closed(self) -> Self:
        refuse_development_secrets(
            self.env, {"TODOS_DATABASE_URL": self.database_url, "AUTHZ_EXTRACT_KEY": self.authz.extract_key}
        )
        return self
