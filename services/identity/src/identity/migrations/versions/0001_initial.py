"""The initial schema: signing keys, revoked tokens, phantom tokens — what `create_all` made before migrations.

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
        "signing_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("alg", sa.String(length=16), nullable=False),
        sa.Column("private_pem", sa.String(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("activates_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("kid"),
    )

    op.create_table(
        "revoked_tokens",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("jti"),
    )
    op.create_index("ix_revoked_tokens_expires_at", "revoked_tokens", ["expires_at"])

    op.create_table(
        "phantom_tokens",
        sa.Column("handle_sha256", sa.String(length=64), nullable=False),
        sa.Column("jwt", sa.String(), nullable=False),
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=200), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("handle_sha256"),
    )
    op.create_index("ix_phantom_tokens_jti", "phantom_tokens", ["jti"])
    op.create_index("ix_phantom_tokens_expires_at", "phantom_tokens", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_phantom_tokens_expires_at", table_name="phantom_tokens")
    op.drop_index("ix_phantom_tokens_jti", table_name="phantom_tokens")
    op.drop_table("phantom_tokens")
    op.drop_index("ix_revoked_tokens_expires_at", table_name="revoked_tokens")
    op.drop_table("revoked_tokens")
    op.drop_table("signing_keys")
