"""Settings shared by every service, read from `AUTHZ_*` environment variables.

Each service also has its own prefixed settings (`TODOS_*`, `IDENTITY_*`, ...); these are the ones
about tokens and trust, which must be the same shape everywhere.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from authz.exceptions import ConfigurationError

#: Asymmetric algorithms only: a service holds the issuer's *public* key, so an HMAC algorithm would
#: let anyone holding that public key mint tokens (the classic key-confusion attack), and `none` is
#: no signature at all. Ref: https://www.rfc-editor.org/rfc/rfc8725#section-3.1
ASYMMETRIC_ALGORITHMS = frozenset({"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})


class Mode(enum.StrEnum):
    """How tokens are handled at the gateway boundary (docs/boundary-modes.md). What each mode does is in
    one module per side: `authz.modes.<mode>` (services) and `gateway.modes.<mode>` (the edge)."""

    TRUST = "trust"
    PASSTHROUGH = "passthrough"
    REISSUE = "reissue"
    EXTRACT = "extract"
    PHANTOM = "phantom"


class AuthzSettings(BaseSettings):
    """Token verification settings; everything else is discovered from the issuer."""

    model_config = SettingsConfigDict(env_prefix="AUTHZ_", extra="ignore")

    #: The one stable public issuer URL; the `iss` check compares against exactly this.
    issuer: str = "http://127.0.0.1:9000"
    #: Where this service reaches the issuer when that differs from `issuer` (a cluster DNS name,
    #: a sidecar). Discovery is fetched from here; the `iss` check never changes.
    identity_url: str | None = None
    #: Skip discovery and fetch the JWKS from this URL.
    jwks_url: str | None = None
    #: Skip discovery and use this token endpoint for outbound tokens.
    token_url: str | None = None
    #: The audience this service accepts (its API name; an absolute URI with an RFC 8707 IdP).
    #: Unset, `for_service(name)` makes it the service's name.
    audience: str | None = None
    #: The JWS algorithms a token may be signed with: asymmetric only (RFC 8725 section 3.1).
    algorithms: list[str] = Field(default_factory=lambda: ["ES256", "RS256"])
    #: Accepted `typ` headers. RFC 9068 says `at+jwt`; an IdP that sends `JWT` must be listed here
    #: explicitly (and then an ID token from it could pass as an access token: prefer at+jwt).
    token_types: list[str] = Field(default_factory=lambda: ["at+jwt", "application/at+jwt"])
    #: Clock skew tolerated on exp/nbf/iat, in seconds. Small and explicit.
    leeway_seconds: int = Field(default=10, ge=0, le=120)
    #: An unknown `kid` triggers a JWKS refetch at most this often (a flood of made-up kids must not
    #: turn into a flood of requests to the issuer).
    jwks_min_refetch_seconds: float = Field(default=5.0, ge=0)
    #: Verified tokens are cached (by hash, until `exp`) up to this many entries; 0 turns it off.
    token_cache_size: int = Field(default=10_000, ge=0)
    #: The boundary mode: trust, passthrough, reissue, extract or phantom (docs/boundary-modes.md).
    mode: Mode = Mode.PASSTHROUGH
    #: The mesh is on: requests arrive through this service's sidecar, which sets `X-Forwarded-Client-Cert`
    #: with the caller's SPIFFE ID (spiffe://<trust domain>/ns/<namespace>/sa/<name>); the token and that
    #: peer must agree. Off, the header is never read.
    mesh: bool = False
    #: The trust domain and namespace of the peers' SPIFFE IDs.
    mesh_trust_domain: str = "cluster.local"
    #: The namespace part of the peers' SPIFFE IDs.
    mesh_namespace: str = "todo-suite"
    #: The gateway's service account: with the mesh on, users' own tokens (and signed headers) are accepted
    #: only from it, and in `trust` only its tokens go unverified.
    gateway_workload: str = "gateway"
    #: `trust` without the mesh lets anyone who can reach a service forge a user. Refused unless this
    #: says, in so many words, that this is a demo.
    insecure_demo: bool = False
    #: `extract`: this service's key for the gateway's signed requests (at least 32 bytes), how old a
    #: signature may be, and how many nonces of fresh signatures are remembered (each is accepted once).
    extract_key: SecretStr | None = None
    #: `extract`: how old a signature may be (plus 2 s of clock skew either way).
    extract_max_age_seconds: float = Field(default=30.0, gt=0, le=300)
    #: `extract`: nonces of fresh signatures remembered (each accepted once; 503 when full).
    extract_nonce_cache_size: int = Field(default=200_000, ge=1)
    #: `extract` only: clients whose own token plus `X-On-Behalf-Of` stands for a user (the trusted
    #: subsystem fallback, for a service that never receives the user's token in this mode).
    on_behalf_of_clients: list[str] = Field(default_factory=lambda: ["shares"])
    #: `reissue`: the gateway's issuer URL and JWKS. A user's token is accepted only in this internal form
    #: (`iss` = the gateway, `aud` = this service alone); service and delegated tokens still come from identity.
    gateway_issuer: str | None = None
    #: `reissue`: where the gateway's public keys are (its `/.well-known/jwks.json`).
    gateway_jwks_url: str | None = None
    #: Timeout of every call to identity (discovery, JWKS, tokens, introspection).
    http_timeout_seconds: float = Field(default=5.0, gt=0)
    #: Development only (docs/observability.md): put the decoded header and claims of the token a hop received
    #: (never its signature), or the signed identity headers in `extract`, on the server span, for the token
    #: journey view. `make up` turns it on; the Kubernetes base leaves it off.
    trace_token_contents: bool = False
    #: Hosts this process reaches over a Unix socket instead of TCP, host name -> socket path (the local
    #: mesh: every destination's host is the caller's outbound sidecar; authz/_unix_sockets.py).
    unix_sockets: dict[str, Path] = Field(default_factory=dict)

    @field_validator("algorithms")
    @classmethod
    def _asymmetric_only(cls, value: list[str]) -> list[str]:
        bad = [alg for alg in value if alg not in ASYMMETRIC_ALGORITHMS]
        if bad or not value:
            raise ValueError(f"only asymmetric JWS algorithms may be allowed, not {bad or 'an empty list'}")
        return value

    @field_validator("unix_sockets")
    @classmethod
    def _host_names_and_absolute_paths(cls, value: dict[str, Path]) -> dict[str, Path]:
        for host, path in value.items():
            if not host or any(c in host for c in ":/@[] ") or not path.is_absolute():
                raise ValueError(f"unix_sockets maps a host name to an absolute socket path, not {host!r}: {path}")
        return value

    @classmethod
    def for_service(cls, name: str, **overrides: Any) -> AuthzSettings:
        """The settings of service `name`: `AUTHZ_*` from the environment, the audience defaulting to `name`."""
        settings = cls(**overrides)
        if settings.audience is None:
            settings = settings.model_copy(update={"audience": name})
        return settings

    @property
    def discovery_url(self) -> str:
        base = (self.identity_url or self.issuer).rstrip("/")
        return f"{base}/.well-known/openid-configuration"

    def check_issuers(self) -> None:
        """Refuse settings under which two issuers could not be told apart."""
        if self.gateway_issuer is not None and self.gateway_issuer == self.issuer:
            raise ConfigurationError("AUTHZ_GATEWAY_ISSUER must differ from AUTHZ_ISSUER: they are told apart by iss")
