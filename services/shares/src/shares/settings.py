"""shares' settings: `SHARES_*` for the service itself, `AUTHZ_*` (libs/authz) for tokens and trust."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from authz import AuthzSettings

SERVICE_NAME = "shares"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHARES_", extra="ignore")

    env: Literal["dev", "prod"] = "prod"
    #: SQLite for one-command local runs; `postgresql://...` in a cluster and in the PostgreSQL e2e run.
    database_url: str = "sqlite:///.run/shares.db"
    #: Where grants are made and "shared with me" is answered.
    todos_url: str = "http://127.0.0.1:8001"
    #: Identity's user directory; unset, it is `/users` at the identity URL (see `directory_endpoint`).
    directory_url: str | None = None
    #: This service as an OAuth client of identity (client credentials and token exchange).
    client_id: str = SERVICE_NAME
    client_secret: SecretStr
    #: The audiences of the APIs shares calls: names here, absolute URIs with an RFC 8707 IdP.
    todos_audience: str = "todos"
    identity_audience: str = "identity"
    note_max: int = Field(default=500, ge=0, le=10_000)
    page_size_max: int = Field(default=100, ge=1, le=1000)
    authz: AuthzSettings = Field(default_factory=lambda: AuthzSettings.for_service(SERVICE_NAME))

    @field_validator("client_secret")
    @classmethod
    def _not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("SHARES_CLIENT_SECRET is empty")
        return value

    @property
    def directory_endpoint(self) -> str:
        """The user directory's URL: `directory_url`, or `/users` where this service reaches identity."""
        if self.directory_url:
            return self.directory_url
        return (self.authz.identity_url or self.authz.issuer).rstrip("/") + "/users"
