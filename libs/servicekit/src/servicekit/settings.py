"""The settings every service that calls others shares: its own OAuth client and where identity's
directory is. A service's `Settings` inherits them and adds its own prefix and fields:

    class Settings(CallerSettings):
        model_config = SettingsConfigDict(env_prefix="SHARES_", extra="ignore")
        client_id: str = "shares"
        authz: AuthzSettings = Field(default_factory=lambda: AuthzSettings.for_service("shares"))
"""

from __future__ import annotations

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings

from authz import AuthzSettings


class CallerSettings(BaseSettings):
    """A service as an OAuth client of identity (client credentials, token exchange) and a reader of its
    user directory. Fields are read with the subclass's `env_prefix` (`SHARES_CLIENT_SECRET`, ...)."""

    #: This service's client at identity; a subclass defaults it to the service's name.
    client_id: str
    #: No default: `make up` generates it, a cluster mounts it from a Secret.
    client_secret: SecretStr
    #: The audience of identity's own API (the directory): a name here, an absolute URI with an RFC 8707 IdP.
    identity_audience: str = "identity"
    #: identity's user directory; unset, it is `/users` where this service reaches identity.
    directory_url: str | None = None
    authz: AuthzSettings

    @field_validator("client_secret")
    @classmethod
    def _not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            prefix = str(cls.model_config.get("env_prefix") or "")
            raise ValueError(f"{prefix}CLIENT_SECRET is empty")
        return value

    @property
    def directory_endpoint(self) -> str:
        """The user directory's URL: `directory_url`, or `/users` at the identity URL (`AUTHZ_IDENTITY_URL`,
        else `AUTHZ_ISSUER`): the directory lives in identity, so it is found where identity is reached."""
        if self.directory_url:
            return self.directory_url.rstrip("/")
        return (self.authz.identity_url or self.authz.issuer).rstrip("/") + "/users"
