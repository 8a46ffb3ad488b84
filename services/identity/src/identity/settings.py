"""Identity's settings, from `IDENTITY_*` environment variables. They fail closed outside `env=dev`."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from authz.environment import refuse_development_secrets

DEMO_REALM = Path(__file__).with_name("demo_realm.toml")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IDENTITY_", extra="ignore")

    env: Literal["dev", "prod"] = "prod"
    #: The one public issuer URL: the `iss` of every token and the base of every advertised endpoint.
    issuer: str = "http://127.0.0.1:9000"
    database_url: str = "sqlite:///.run/identity.db"
    #: The realm: clients, users, scopes (TOML; the demo realm by default).
    realm_file: Path = DEMO_REALM
    #: The algorithm of the signing keys (asymmetric: verifiers hold only public keys).
    signing_alg: Literal["ES256", "RS256"] = "ES256"
    #: Access tokens live this long.
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
    #: Clock skew tolerated when identity verifies tokens itself (subject tokens, hints).
    leeway_seconds: int = Field(default=10, ge=0, le=120)
    #: Clients that get opaque access tokens (phantom token) besides those the realm marks so, as a JSON
    #: list: `IDENTITY_OPAQUE_TOKEN_CLIENTS='["todo-cli"]'`. A name the realm lacks stops start-up.
    opaque_token_clients: list[str] = Field(default_factory=list)
    #: The audience of the UserInfo endpoint: a token is accepted there only if its `aud` names this. The
    #: `openid` scope adds it to a user token (docs/identity.md); empty means `<issuer>/userinfo`.
    userinfo_audience: str = ""

    # --- Sign-in in the browser: codes, sessions, refresh tokens (docs/identity.md, "Signing in") ------
    #: An authorization code is good for this long (RFC 6749 section 4.1.2 recommends at most 10 minutes).
    authorization_code_lifetime_seconds: int = Field(default=60, ge=5, le=600)
    #: How long a sign-in at identity lasts (the session cookie): a second client signs in without a
    #: password meanwhile, and no refresh token outlives it.
    session_lifetime_seconds: int = Field(default=8 * 3600, ge=60, le=30 * 86_400)
    #: One refresh token's lifetime (each use gives a new one), never beyond its session.
    refresh_token_lifetime_seconds: int = Field(default=24 * 3600, ge=60, le=30 * 86_400)
    #: ID tokens (OIDC) live this long; they only tell the client who signed in, and when.
    id_token_lifetime_seconds: int = Field(default=300, ge=30, le=3600)
    #: Per client, the redirect and post-logout URIs of this run, replacing the realm's, as JSON:
    #: `{"web": {"redirect_uris": ["http://127.0.0.1:8000/auth/callback"], "post_logout_redirect_uris": [...]}}`.
    client_uris: dict[str, dict[str, list[str]]] = Field(default_factory=dict)

    # --- Abuse: the password hash pool and the login throttle (docs/identity.md, "Under abuse") ---------
    #: Threads that may hash passwords at once (PBKDF2, ~50 ms of CPU each). A flood of guesses queues
    #: here instead of taking every worker thread and core from the rest of identity.
    password_hash_threads: int = Field(default=2, ge=1, le=64)
    #: The login throttle (identity.throttle). Off only for benchmarks that measure the hashing itself.
    login_throttle_enabled: bool = True
    #: Failed logins per username before a delay; then the delay doubles from `login_throttle_base_delay_seconds`
    #: up to `login_throttle_max_delay_seconds` (the longest a guesser can lock a real user out at a time).
    login_throttle_user_free_failures: int = Field(default=5, ge=1)
    #: Failed logins per client address before a delay: higher, as a classroom behind one NAT shares one address.
    login_throttle_address_free_failures: int = Field(default=30, ge=1)
    #: The first delay once the free failures are spent.
    login_throttle_base_delay_seconds: float = Field(default=1.0, gt=0)
    #: The longest delay (the doubling stops here).
    login_throttle_max_delay_seconds: float = Field(default=30.0, gt=0, le=3600)
    #: A username or address with no failure for this long starts afresh.
    login_throttle_forget_after_seconds: float = Field(default=900.0, gt=0)
    #: The client address is the socket peer, unless the peer is one of `trusted_proxies` (CIDR networks)
    #: and this header is set: then the header's last entry, which that proxy wrote (`X-Forwarded-For`).
    client_address_header: str = ""
    #: The proxies (CIDR networks) whose `client_address_header` is believed.
    trusted_proxies: list[IPv4Network | IPv6Network] = Field(default_factory=list)

    @model_validator(mode="after")
    def _derived(self) -> Settings:
        if not self.userinfo_audience:
            self.userinfo_audience = self.issuer.rstrip("/") + "/userinfo"
        if self.client_address_header and not self.trusted_proxies:
            raise ValueError("IDENTITY_CLIENT_ADDRESS_HEADER needs IDENTITY_TRUSTED_PROXIES: whose header to believe")
        return self

    @model_validator(mode="after")
    def _dev_only(self) -> Settings:
        refuse_development_secrets(self.env, {"IDENTITY_DATABASE_URL": self.database_url})
        if self.env != "dev":
            if self.allow_password_grant:
                raise ValueError("IDENTITY_ALLOW_PASSWORD_GRANT is for development only (IDENTITY_ENV=dev)")
            if self.realm_file == DEMO_REALM:
                raise ValueError(
                    "the demo realm has development passwords: set IDENTITY_ENV=dev or IDENTITY_REALM_FILE"
                )
        return self
