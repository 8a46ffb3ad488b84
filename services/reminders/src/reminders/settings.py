"""reminders' settings: `REMINDERS_*` for the service itself, `AUTHZ_*` (libs/authz) for tokens and trust."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from authz import AuthzSettings

SERVICE_NAME = "reminders"
DAY = 24 * 60 * 60


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REMINDERS_", extra="ignore")

    env: Literal["dev", "prod"] = "prod"
    #: SQLite for one-command local runs; `postgresql://...` in a cluster and in the PostgreSQL e2e run.
    database_url: str = "sqlite:///.run/reminders.db"
    page_size_max: int = Field(default=100, ge=1, le=1000)

    #: Where todos answers the due-soon query.
    todos_url: str = "http://127.0.0.1:8001"
    #: identity's user directory; unset, it is `<AUTHZ_IDENTITY_URL or AUTHZ_ISSUER>/users`.
    directory_url: str | None = None

    #: reminders' own OAuth client: it calls todos and the directory as itself, never for a user.
    client_id: str = SERVICE_NAME
    #: No default: `make up` generates it, a cluster mounts it from a Secret.
    client_secret: SecretStr
    #: The audiences of the tokens reminders asks for (settings, so an RFC 8707 IdP can use URIs).
    todos_audience: str = "todos"
    identity_audience: str = "identity"

    #: Where the mail goes (locally, the devstack mail sink).
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=1025, ge=1, le=65535)
    mail_from: str = "reminders@todo-suite.test"

    #: Seconds between background scans; 0 turns the schedule off (a CronJob runs `reminders.run_once`).
    interval_seconds: float = Field(default=300.0, ge=0)
    #: A todo is due soon when it falls due within this many seconds from now.
    window_seconds: int = Field(default=DAY, ge=60, le=7 * DAY)

    authz: AuthzSettings = Field(default_factory=lambda: AuthzSettings.for_service(SERVICE_NAME))

    @model_validator(mode="after")
    def _directory_from_identity(self) -> Self:
        # The directory lives in identity, so by default it is found where identity is reached.
        if self.directory_url is None:
            self.directory_url = (self.authz.identity_url or self.authz.issuer).rstrip("/") + "/users"
        return self
