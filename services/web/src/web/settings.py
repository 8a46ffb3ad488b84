"""web's settings: `WEB_*` for the UI itself, `AUTHZ_*` (libs/authz) for where identity is.

The web UI is a confidential OAuth client (a backend-for-frontend, docs/web.md): its secret and the users'
tokens stay in this process and its session store; the browser gets a session cookie and nothing else.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from authz import AuthzSettings
from authz.environment import Environment, refuse_development_secrets

SERVICE_NAME = "web"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WEB_", extra="ignore")

    env: Environment = "prod"
    #: Where the browser reaches this UI: the redirect URIs registered at identity are built from it.
    public_url: str = "http://127.0.0.1:8000"
    #: The session store: SQLite for one-command local runs; `postgresql://...` in a cluster.
    database_url: str = "sqlite:///.run/web.db"
    #: The API: the gateway's `/api/<service>/…` (with the mesh, its outbound sidecar: `http://gateway`).
    gateway_url: str = "http://127.0.0.1:8080"
    #: web's client at identity (a confidential client: authorization code + PKCE, RFC 6749 / RFC 7636).
    client_id: str = SERVICE_NAME
    #: No default: `make up` generates it, a cluster mounts it from a Secret.
    client_secret: SecretStr
    #: What web asks for at sign-in: `openid` for the ID token, the API scopes its pages use.
    scope: str = "openid todos:read todos:write todos:share shares:read shares:write"
    #: How long a signed-in browser session lasts at most (identity's own session is 8 hours).
    session_lifetime_seconds: int = Field(default=8 * 3600, ge=60, le=7 * 24 * 3600)
    #: A sign-in started but not finished (the trip to identity's login page) is forgotten after this.
    login_timeout_seconds: int = Field(default=600, ge=30, le=3600)
    #: Refresh the access token when it has less than this left, so no API call goes out with one that
    #: expires on the way.
    refresh_margin_seconds: int = Field(default=30, ge=0, le=600)
    #: Clock skew allowed when web checks the ID token's `exp`, `iat` and `nbf`.
    leeway_seconds: int = Field(default=10, ge=0, le=120)
    #: The trace receiver's query API (`telemetry.receiver`), which the token journey view and the attack
    #: panel read: `make up` runs it here; on Kubernetes the otel component's collector fans out to it.
    traces_url: str = "http://127.0.0.1:4318"
    #: How long the journey view waits for the trace receiver's answer.
    traces_timeout_seconds: float = Field(default=3.0, gt=0, le=30)
    authz: AuthzSettings = Field(default_factory=lambda: AuthzSettings.for_service(SERVICE_NAME))

    @field_validator("client_secret")
    @classmethod
    def _not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("WEB_CLIENT_SECRET is empty")
        return value

    @field_validator("public_url", "gateway_url", "traces_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @model_validator(mode="after")
    def _fail_closed(self) -> Self:
        refuse_development_secrets(
            self.env, {"WEB_CLIENT_SECRET": self.client_secret, "WEB_DATABASE_URL": self.database_url}
        )
        return self

    @property
    def secure_cookies(self) -> bool:
        """`Secure` cookies, and the `__Host-` prefix, need HTTPS: everywhere but plain-HTTP development."""
        return self.public_url.startswith("https://")

    @property
    def redirect_uri(self) -> str:
        return f"{self.public_url}/auth/callback"

    @property
    def post_logout_redirect_uri(self) -> str:
        return f"{self.public_url}/"
