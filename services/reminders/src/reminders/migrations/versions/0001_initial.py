"""The initial schema: sent reminders — what `SQLModel.metadata.create_all` made before migrations.

Revision ID: 0001
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sent_reminders",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("todo_id", sa.Uuid(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("owner_id", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        # The "once" of "send each reminder once" (reminders.models.SentReminder).
        sa.UniqueConstraint("todo_id", "due_at", name="uq_sent_reminders_todo_due"),
    )
    op.create_index("ix_sent_reminders_todo_id", "sent_reminders", ["todo_id"])
    op.create_index("ix_sent_reminders_owner_id", "sent_reminders", ["owner_id"])


def downgrade() -> None:
    op.drop_index("ix_sent_reminders_owner_id", table_name="sent_reminders")
    op.drop_index("ix_sent_reminders_todo_id", table_name="sent_reminders")
    op.drop_table("sent_reminders")
