"""The gateway's settings: `GATEWAY_*` for routing and the modes' keys, `AUTHZ_*` for tokens (and the mode)."""

from __future__ import annotations

from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from authz import AuthzSettings
from authz.environment import Environment, refuse_development_secrets

SERVICE_NAME = "gateway"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    env: Environment = "prod"
    #: The services behind the gateway: `/api/<name>/rest` goes to `<url>/<name>/rest`.
    upstreams: dict[str, str] = Field(
        default_factory=lambda: {
            "todos": "http://127.0.0.1:8001",
            "shares": "http://127.0.0.1:8003",
            "reminders": "http://127.0.0.1:8002",
        }
    )
    #: The audience an edge token must name to be routed to each service (default: the service's name).
    audiences: dict[str, str] = Field(default_factory=dict)
    #: The OAuth clients whose users' tokens the edge accepts (the demo realm marks them `edge = true`; with
    #: another IdP, name its front-end clients here). Anything else — a service's client-credentials token,
    #: a delegated token (with `act`), a token of any other client — is refused at the edge. Required.
    edge_clients: list[str] = Field(default_factory=list)
    #: The largest request body forwarded (413 beyond).
    max_body_bytes: int = Field(default=1024 * 1024, ge=1)
    #: How long a service may take to answer a forwarded request (504 beyond).
    upstream_timeout_seconds: float = Field(default=10.0, gt=0)
    #: How long connecting to a service may take.
    connect_timeout_seconds: float = Field(default=2.0, gt=0)
    #: Keep-alive connections per upstream (one shared pool; a new connection per request costs far more).
    pool_size: int = Field(default=100, ge=1)
    #: `extract`: one key per service, to sign the identity headers for it (the service holds the same key).
    extract_keys: dict[str, SecretStr] = Field(default_factory=dict)
    #: `reissue`: the gateway's issuer URL (the `iss` of its internal tokens; its JWKS is
    #: `<issuer>/.well-known/jwks.json`), their lifetime, and its ES256 key as PEM. Without a key one is
    #: generated at start-up (fine for one replica; several must share one, from a Secret).
    issuer: str = "http://127.0.0.1:8080"
    #: `reissue`: the lifetime of the internal tokens it mints.
    internal_token_lifetime_seconds: int = Field(default=30, ge=5, le=300)
    #: `reissue`: the ES256 private key (PEM) the internal tokens are signed with.
    signing_key: SecretStr | None = None
    #: `phantom`: the gateway's own client at identity (it introspects opaque tokens), the introspection
    #: endpoint (default: from discovery), and how long a resolved token is reused — the longest a revoked
    #: opaque token can still pass.
    client_id: str = "gateway"
    #: `phantom`: the gateway's client secret at identity.
    client_secret: SecretStr | None = None
    #: `phantom`: identity's introspection endpoint, when not from discovery.
    introspection_url: str | None = None
    #: `phantom`: how long a resolved token is reused (the longest a revoked opaque token still passes).
    phantom_cache_seconds: float = Field(default=30.0, ge=0, le=300)
    authz: AuthzSettings = Field(default_factory=lambda: AuthzSettings.for_service(SERVICE_NAME))

    @model_validator(mode="after")
    def _fail_closed(self) -> Self:
        refuse_development_secrets(
            self.env,
            {
                "GATEWAY_CLIENT_SECRET": self.client_secret,
                "GATEWAY_SIGNING_KEY": self.signing_key,
                **{f"GATEWAY_EXTRACT_KEYS[{name}]": key for name, key in self.extract_keys.items()},
            },
        )
        return self

    def audience(self, service: str) -> str:
        return self.audiences.get(service, service)
