"""Sent reminders: the table that makes a reminder go out once, and the shapes the API and todos speak."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from pydantic import AwareDatetime, BaseModel, field_validator
from sqlalchemy import Column, DateTime, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    # SQLite hands datetimes back without a zone; they were stored as UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class SentReminder(SQLModel, table=True):
    """One reminder mailed for one todo at one due time.

    UNIQUE(todo_id, due_at) is the "once" of "send each reminder once": the row is committed before
    the mail goes out, so a second run (another process, or after a restart) finds it and sends nothing.
    A todo whose due time moves gets a new reminder for the new time.
    """

    __tablename__ = "sent_reminders"
    __table_args__ = (UniqueConstraint("todo_id", "due_at", name="uq_sent_reminders_todo_due"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    todo_id: uuid.UUID = Field(index=True)
    due_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    #: The owner's `sub`, as todos reports it: an opaque id, compared, never parsed.
    owner_id: str = Field(index=True, max_length=255)
    email: str
    title: str
    sent_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


class ReminderPublic(SQLModel):
    id: uuid.UUID
    todo_id: uuid.UUID
    title: str
    due_at: datetime
    sent_at: datetime

    _utc = field_validator("due_at", "sent_at")(as_utc)


class RemindersPublic(SQLModel):
    data: list[ReminderPublic]
    count: int


class RunResult(SQLModel):
    """What one scan did: `found` todos due soon, of which `sent`, `already_sent` before, `failed`."""

    found: int = 0
    sent: int = 0
    already_sent: int = 0
    failed: int = 0


class DueTodo(BaseModel):
    """One todo of todos' due-soon answer (`GET /todos/due`); other fields are ignored."""

    id: uuid.UUID
    owner_id: str
    title: str
    due_at: AwareDatetime

    _utc = field_validator("due_at")(as_utc)


class DueTodos(BaseModel):
    data: list[DueTodo]
    count: int
