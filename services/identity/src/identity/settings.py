"""Identity's settings, from `IDENTITY_*` environment variables. They fail closed outside `env=dev`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEMO_REALM = Path(__file__).with_name("demo_realm.toml")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IDENTITY_", extra="ignore")

    env: Literal["dev", "prod"] = "prod"
    #: The one public issuer URL: the `iss` of every token and the base of every advertised endpoint.
    issuer: str = "http://127.0.0.1:9000"
    database_url: str = "sqlite:///.run/identity.db"
    realm_file: Path = DEMO_REALM
    signing_alg: Literal["ES256", "RS256"] = "ES256"
    access_token_lifetime_seconds: int = Field(default=900, ge=10, le=86_400)
    #: Delegated tokens from token exchange live shorter, and never beyond their subject token.
    exchanged_token_lifetime_seconds: int = Field(default=300, ge=5, le=3600)
    #: A new key is in the JWKS this long before it signs (publish first), so every verifier that
    #: refreshes its JWKS at least this often knows it before the first token signed with it arrives.
    key_publish_delay_seconds: float = Field(default=10.0, ge=0)
    #: The `password` grant exists only for workshop curl lines; it is refused unless turned on in dev.
    allow_password_grant: bool = False
    #: Identity's own API (the user directory) is an audience like any other.
    api_audience: str = "identity"
    #: Issuers whose access tokens are accepted as RFC 8693 subject tokens besides identity's own, each with
    #: its JWKS URL: `{"http://127.0.0.1:8080": "http://127.0.0.1:8080/.well-known/jwks.json"}` in `reissue`.
    trusted_subject_issuers: dict[str, str] = Field(default_factory=dict)
    leeway_seconds: int = Field(default=10, ge=0, le=120)
    #: Clients that get opaque access tokens (phantom token) besides those the realm marks so, as a JSON
    #: list: `IDENTITY_OPAQUE_TOKEN_CLIENTS='["todo-cli"]'`. A name the realm lacks stops start-up.
    opaque_token_clients: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _dev_only(self) -> Settings:
        if self.env != "dev":
            if self.allow_password_grant:
                raise ValueError("IDENTITY_ALLOW_PASSWORD_GRANT is for development only (IDENTITY_ENV=dev)")
            if self.realm_file == DEMO_REALM:
                raise ValueError(
                    "the demo realm has development passwords: set IDENTITY_ENV=dev or IDENTITY_REALM_FILE"
                )
        return self
