"""Todos: the table, and the shapes the API reads and writes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from pydantic import ConfigDict, field_validator
from sqlalchemy import Column, DateTime, ForeignKey, Uuid
from sqlmodel import Field, SQLModel

from servicekit.text import storable

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


def stored_utc(value: datetime | None) -> datetime | None:
    # SQLite hands datetimes back without a zone; they were stored as UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class TodoBase(SQLModel):
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    notes: str = Field(default="", max_length=NOTES_MAX)
    due_at: datetime | None = None
    done: bool = False


class TodoCreate(TodoBase):
    """A new todo. The owner is the caller, never a field of the body."""

    # SQLModel types model_config as its own TypedDict (ConfigDict plus table options); for a non-table
    # model, pydantic's ConfigDict is what SQLModel documents.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)  # type: ignore[assignment]

    _due = field_validator("due_at")(aware_utc)
    _storable = field_validator("title", "notes")(storable)


class TodoUpdate(SQLModel):
    """A partial update (PATCH): only the fields sent change."""

    # SQLModel types model_config as its own TypedDict (ConfigDict plus table options); for a non-table
    # model, pydantic's ConfigDict is what SQLModel documents.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)  # type: ignore[assignment]

    title: str | None = Field(default=None, min_length=1, max_length=TITLE_MAX)
    notes: str | None = Field(default=None, max_length=NOTES_MAX)
    due_at: datetime | None = None
    done: bool | None = None

    _due = field_validator("due_at")(aware_utc)
    _storable = field_validator("title", "notes")(storable)

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

    _utc = field_validator("due_at", "created_at", "updated_at")(stored_utc)


class TodosPublic(SQLModel):
    data: list[TodoPublic]
    count: int


class Grant(SQLModel, table=True):
    """A todo shared with a user: the truth about access (shares keeps only the workflow around it)."""

    __tablename__ = "grants"

    todo_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("todos.id", ondelete="CASCADE"), primary_key=True))
    grantee_id: str = Field(primary_key=True, max_length=255)
    granted_by: str = Field(max_length=255)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


class GrantPublic(SQLModel):
    todo_id: uuid.UUID
    grantee_id: str
    granted_by: str
    created_at: datetime

    _utc = field_validator("created_at")(stored_utc)


class DueTodo(SQLModel):
    """Only what a reminder needs: no notes, no done flag, nothing else of the user's."""

    id: uuid.UUID
    owner_id: str
    title: str
    due_at: datetime

    _utc = field_validator("due_at")(stored_utc)


class DueTodos(SQLModel):
    data: list[DueTodo]
    count: int


class AuditEntry(SQLModel, table=True):
    """One call made by a service: on its own account (client credentials) or for a user (delegated)."""

    __tablename__ = "audit_log"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False, index=True))
    client_id: str = Field(max_length=255)
    #: The acting service when delegated (`act.sub`), else None.
    actor: str | None = Field(default=None, max_length=255)
    #: On whose behalf: the user's sub for a delegated call, the client itself for its own.
    subject: str = Field(max_length=255)
    operation: str = Field(max_length=64)
    todo_id: uuid.UUID | None = None
    detail: str = Field(default="", max_length=255)


class AuditEntryPublic(SQLModel):
    id: uuid.UUID
    at: datetime
    client_id: str
    actor: str | None
    subject: str
    operation: str
    todo_id: uuid.UUID | None
    detail: str

    _utc = field_validator("at")(stored_utc)


class AuditPublic(SQLModel):
    data: list[AuditEntryPublic]
    count: int
