"""The initial schema: share records — what `SQLModel.metadata.create_all` made before migrations.

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
        "shares",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("todo_id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.String(length=255), nullable=False),
        sa.Column("grantee_id", sa.String(length=255), nullable=False),
        sa.Column("grantee_username", sa.String(length=100), nullable=False),
        sa.Column("note", sa.String(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        # One record per todo and grantee, like the grant in todos it describes.
        sa.UniqueConstraint("todo_id", "grantee_id", name="uq_shares_todo_grantee"),
    )
    op.create_index("ix_shares_todo_id", "shares", ["todo_id"])
    op.create_index("ix_shares_owner_id", "shares", ["owner_id"])
    op.create_index("ix_shares_grantee_id", "shares", ["grantee_id"])


def downgrade() -> None:
    op.drop_index("ix_shares_grantee_id", table_name="shares")
    op.drop_index("ix_shares_owner_id", table_name="shares")
    op.drop_index("ix_shares_todo_id", table_name="shares")
    op.drop_table("shares")
