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
