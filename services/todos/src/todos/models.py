"""Todos: the table, and the shapes the API reads and writes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from pydantic import ConfigDict, field_validator
from sqlalchemy import Column, DateTime
from sqlmodel import Field, SQLModel

TITLE_MAX = 200
NOTES_MAX = 4000


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware_utc(value: datetime | None) -> datetime | None:
    # A due time without a timezone is ambiguous (whose 9 o'clock?): refuse it rather than guess.
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("a timezone is required (for example 2026-12-01T09:00:00Z)")
    return value.astimezone(UTC)


class TodoBase(SQLModel):
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    notes: str = Field(default="", max_length=NOTES_MAX)
    due_at: datetime | None = None
    done: bool = False


class TodoCreate(TodoBase):
    """A new todo. The owner is the caller, never a field of the body."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    _due = field_validator("due_at")(aware_utc)


class TodoUpdate(SQLModel):
    """A partial update (PATCH): only the fields sent change."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str | None = Field(default=None, min_length=1, max_length=TITLE_MAX)
    notes: str | None = Field(default=None, max_length=NOTES_MAX)
    due_at: datetime | None = None
    done: bool | None = None

    _due = field_validator("due_at")(aware_utc)

    # `due_at: null` clears the due time; the other fields have no "empty" meaning for null.
    @field_validator("title", "notes", "done")
    @classmethod
    def _not_null(cls, value):
        if value is None:
            raise ValueError("may be left out, but not set to null")
        return value


class Todo(TodoBase, table=True):
    __tablename__ = "todos"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    #: The owner's `sub`: an opaque id, compared, never parsed.
    owner_id: str = Field(index=True, max_length=255)
    due_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), index=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


class TodoPublic(TodoBase):
    id: uuid.UUID
    owner_id: str
    created_at: datetime
    updated_at: datetime

    # SQLite hands datetimes back without a zone; they were stored as UTC.
    @field_validator("due_at", "created_at", "updated_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class TodosPublic(SQLModel):
    data: list[TodoPublic]
    count: int
