"""reminders' settings: `REMINDERS_*` for the service itself, `AUTHZ_*` (libs/authz) for tokens and trust.

Its OAuth client and the directory's URL come from `servicekit.CallerSettings`, shared with shares.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from authz import AuthzSettings
from authz.environment import Environment, refuse_development_secrets
from servicekit.settings import CallerSettings

SERVICE_NAME = "reminders"
DAY = 24 * 60 * 60


class Settings(CallerSettings):
    model_config = SettingsConfigDict(env_prefix="REMINDERS_", extra="ignore")

    env: Environment = "prod"
    #: SQLite for one-command local runs; `postgresql://...` in a cluster and in the PostgreSQL e2e run.
    database_url: str = "sqlite:///.run/reminders.db"
    page_size_max: int = Field(default=100, ge=1, le=1000)

    #: Where todos answers the due-soon query.
    todos_url: str = "http://127.0.0.1:8001"
    #: The audience of todos' API: a name here, an absolute URI with an RFC 8707 IdP.
    todos_audience: str = "todos"
    #: reminders' own OAuth client: it calls todos and the directory as itself, never for a user.
    client_id: str = SERVICE_NAME

    #: Where the mail goes (locally, the devstack mail sink).
    smtp_host: str = "127.0.0.1"
    #: The SMTP port of the mail server.
    smtp_port: int = Field(default=1025, ge=1, le=65535)
    #: The sender of reminder mails.
    mail_from: str = "reminders@todo-suite.test"

    #: Seconds between background scans; 0 turns the schedule off (a CronJob runs `reminders.run_once`).
    interval_seconds: float = Field(default=300.0, ge=0)
    #: A todo is due soon when it falls due within this many seconds from now.
    window_seconds: int = Field(default=DAY, ge=60, le=7 * DAY)

    authz: AuthzSettings = Field(default_factory=lambda: AuthzSettings.for_service(SERVICE_NAME))

    @model_validator(mode="after")
    def _fail_closed(self) -> Self:
        refuse_development_secrets(
            self.env,
            {
                "REMINDERS_CLIENT_SECRET": self.client_secret,
                "REMINDERS_DATABASE_URL": self.database_url,
                "AUTHZ_EXTRACT_KEY": self.authz.extract_key,
            },
        )
        return self
