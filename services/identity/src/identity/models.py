"""Identity's tables: its signing keys, revoked tokens and opaque handles, so a restart loses nothing."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class SigningKey(SQLModel, table=True):
    __tablename__ = "signing_keys"

    kid: str = Field(primary_key=True, max_length=64)
    alg: str = Field(max_length=16)
    # Development IdP: the private key is stored unencrypted. A real deployment keeps it in a KMS/HSM.
    private_pem: str
    created_at: float
    #: Unix time from which it signs; before that it is only published in the JWKS.
    activates_at: float


class RevokedToken(SQLModel, table=True):
    __tablename__ = "revoked_tokens"

    jti: str = Field(primary_key=True, max_length=64)
    #: Kept until the token would have expired anyway.
    expires_at: float = Field(index=True)


class PhantomToken(SQLModel, table=True):
    """An opaque access token (a handle) and the JWT it stands for: the phantom token pattern."""

    __tablename__ = "phantom_tokens"

    #: SHA-256 hex of the handle, never the handle: whoever reads the table cannot present one. A plain
    #: hash is enough, as the handle is 256 random bits (nothing to guess, unlike a password).
    handle_sha256: str = Field(primary_key=True, max_length=64)
    #: Development IdP: the JWT is kept in clear (it is a bearer token too; a real one would encrypt it).
    jwt: str
    jti: str = Field(index=True, max_length=64)
    client_id: str = Field(max_length=200)
    #: The JWT's `exp`: the row is useless after it and is pruned.
    expires_at: float = Field(index=True)


class LoginSession(SQLModel, table=True):
    """A user signed in at identity (the browser's session cookie): a second client signs in without a password.

    The cookie holds a random secret; the table holds only its SHA-256. `sid` is the public name of the
    session that ID tokens carry (OIDC Front-Channel Logout 1.0, section 3), never the cookie itself.
    """

    __tablename__ = "login_sessions"

    cookie_sha256: str = Field(primary_key=True, max_length=64)
    sid: str = Field(index=True, unique=True, max_length=64)
    user_id: str = Field(max_length=64)
    #: When the user last typed a password (the ID token's `auth_time`).
    auth_time: float
    expires_at: float = Field(index=True)
    #: Set by logout: the session and every refresh token family bound to it end here.
    ended_at: float | None = None


class AuthorizationCode(SQLModel, table=True):
    """An authorization code (RFC 6749 section 4.1): single use, short-lived, bound to the client, the
    redirect URI and the PKCE challenge. A second redemption revokes what the first one issued."""

    __tablename__ = "authorization_codes"

    code_sha256: str = Field(primary_key=True, max_length=64)
    client_id: str = Field(max_length=200)
    redirect_uri: str = Field(max_length=2000)
    #: RFC 7636: BASE64URL(SHA256(code_verifier)); only S256 is accepted.
    code_challenge: str = Field(max_length=128)
    user_id: str = Field(max_length=64)
    scope: str = Field(max_length=2000)
    nonce: str | None = Field(default=None, max_length=500)
    sid: str = Field(max_length=64)
    auth_time: float
    expires_at: float = Field(index=True)
    #: Set when redeemed, together with what was issued, so that a replay can revoke exactly that.
    redeemed_at: float | None = None
    access_jti: str | None = Field(default=None, max_length=64)
    access_expires_at: float | None = None
    family_id: str | None = Field(default=None, max_length=64)


class RefreshToken(SQLModel, table=True):
    """One refresh token of a family (all the tokens one sign-in led to). Rotated on every use: the used
    one is marked, and presenting it again revokes the whole family (RFC 9700 section 4.14.2)."""

    __tablename__ = "refresh_tokens"

    token_sha256: str = Field(primary_key=True, max_length=64)
    family_id: str = Field(index=True, max_length=64)
    client_id: str = Field(max_length=200)
    user_id: str = Field(max_length=64)
    scope: str = Field(max_length=2000)
    #: The login session it is bound to: it dies with the session (logout or expiry).
    sid: str = Field(index=True, max_length=64)
    auth_time: float
    expires_at: float = Field(index=True)
    #: The access token issued with it (revoked with the family).
    access_jti: str = Field(max_length=64)
    access_expires_at: float
    used_at: float | None = None
    revoked_at: float | None = None
