"""todos' settings: `TODOS_*` for the service itself, `AUTHZ_*` (libs/authz) for tokens and trust."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from authz import AuthzSettings

SERVICE_NAME = "todos"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TODOS_", extra="ignore")

    env: Literal["dev", "prod"] = "prod"
    #: SQLite for one-command local runs; `postgresql://...` in a cluster and in the PostgreSQL e2e run.
    database_url: str = "sqlite:///.run/todos.db"
    page_size_max: int = Field(default=100, ge=1, le=1000)
    authz: AuthzSettings = Field(default_factory=lambda: AuthzSettings.for_service(SERVICE_NAME))
