"""The session store: one row per browser session. The browser holds only a random cookie whose SHA-256 is
the row's key; the tokens live here and never leave the server (docs/web.md)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Text
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class WebSession(SQLModel, table=True):
    __tablename__ = "web_sessions"

    #: SHA-256 (hex) of the cookie's value: a copy of this table does not let anyone present a session.
    id: str = Field(primary_key=True, max_length=64)
    #: The synchronizer token of every form this session is shown (OWASP CSRF cheat sheet).
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))
    # A sign-in on its way (the trip to identity): what the callback must see again.
    login_state: str | None = Field(default=None, max_length=64)
    login_nonce: str | None = Field(default=None, max_length=64)
    login_verifier: str | None = Field(default=None, max_length=128)
    # Signed in: who, and the tokens (server-side only).
    subject: str | None = Field(default=None, max_length=255)
    username: str | None = Field(default=None, max_length=255)
    roles: str = Field(default="", max_length=255)
    access_token: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    access_expires_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    refresh_token: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    id_token: str | None = Field(default=None, sa_column=Column(Text, nullable=True))

    @property
    def signed_in(self) -> bool:
        return self.access_token is not None

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles.split()
