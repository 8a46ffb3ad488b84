"""shares' settings: `SHARES_*` for the service itself, `AUTHZ_*` (libs/authz) for tokens and trust.

Its OAuth client and the directory's URL come from `servicekit.CallerSettings`, shared with reminders.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from authz import AuthzSettings
from authz.environment import Environment, refuse_development_secrets
from servicekit.settings import CallerSettings

SERVICE_NAME = "shares"


class Settings(CallerSettings):
    model_config = SettingsConfigDict(env_prefix="SHARES_", extra="ignore")

    env: Environment = "prod"
    #: SQLite for one-command local runs; `postgresql://...` in a cluster and in the PostgreSQL e2e run.
    database_url: str = "sqlite:///.run/shares.db"
    #: Where grants are made and "shared with me" is answered.
    todos_url: str = "http://127.0.0.1:8001"
    #: The audience of todos' API: a name here, an absolute URI with an RFC 8707 IdP.
    todos_audience: str = "todos"
    #: This service as an OAuth client of identity (client credentials and token exchange).
    client_id: str = SERVICE_NAME
    #: The longest note a share may carry, in characters.
    note_max: int = Field(default=500, ge=0, le=10_000)
    page_size_max: int = Field(default=100, ge=1, le=1000)
    authz: AuthzSettings = Field(default_factory=lambda: AuthzSettings.for_service(SERVICE_NAME))

    @model_validator(mode="after")
    def _fail_closed(self) -> Self:
        refuse_development_secrets(
            self.env,
            {
                "SHARES_CLIENT_SECRET": self.client_secret,
                "SHARES_DATABASE_URL": self.database_url,
                "AUTHZ_EXTRACT_KEY": self.authz.extract_key,
            },
        )
        return self
