"""Shares: the table of share records, and the shapes the API reads and writes.

A share record is the workflow around a grant (who shared, with whom, the note, when). Whether the
grantee may read the todo is decided by the grant in `todos`, never by this table.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import ConfigDict, field_validator
from sqlalchemy import Column, DateTime, UniqueConstraint
from sqlmodel import Field, SQLModel

from servicekit.text import storable

USERNAME_MAX = 100

#: Written before the grant is asked for; `active` once todos has made it. A refused grant leaves no row.
PENDING = "pending"
ACTIVE = "active"
ShareStatus = Literal["pending", "active"]


def utcnow() -> datetime:
    return datetime.now(UTC)


class ShareCreate(SQLModel):
    """A new share: the todo, the grantee by username, a note. The sender is the caller, never a field."""

    # SQLModel types model_config as its own TypedDict (ConfigDict plus table options); for a non-table
    # model, pydantic's ConfigDict is what SQLModel documents.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)  # type: ignore[assignment]

    todo_id: uuid.UUID
    username: str = Field(min_length=1, max_length=USERNAME_MAX)
    #: Its length limit is a setting (`SHARES_NOTE_MAX`), checked by the route.
    note: str = ""

    _storable = field_validator("username", "note")(storable)


class Share(SQLModel, table=True):
    __tablename__ = "shares"
    # One record per todo and grantee, like the grant it describes.
    __table_args__ = (UniqueConstraint("todo_id", "grantee_id", name="uq_shares_todo_grantee"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    todo_id: uuid.UUID = Field(index=True)
    #: The sender's `sub`, and the grantee's (from the directory): opaque ids, compared, never parsed.
    owner_id: str = Field(index=True, max_length=255)
    grantee_id: str = Field(index=True, max_length=255)
    grantee_username: str = Field(max_length=USERNAME_MAX)
    note: str = ""
    status: str = Field(default=PENDING, max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


class SharePublic(SQLModel):
    id: uuid.UUID
    todo_id: uuid.UUID
    owner_id: str
    grantee_id: str
    grantee_username: str
    note: str
    status: ShareStatus
    created_at: datetime

    # SQLite hands datetimes back without a zone; they were stored as UTC.
    @field_validator("created_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value


class SharesPublic(SQLModel):
    data: list[SharePublic]
    count: int


class ReceivedPublic(SQLModel):
    """A todo shared with the caller, as todos returned it, with the sender's share record if there is one."""

    todo: dict[str, Any]
    share: SharePublic | None


class ReceivedSharesPublic(SQLModel):
    data: list[ReceivedPublic]
    count: int
