"""Identity's tables: its signing keys and revoked tokens, so a restart loses nothing."""

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
