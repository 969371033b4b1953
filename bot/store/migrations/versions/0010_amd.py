"""AMD facts: calls.answered_by, calls.voicemail_at, interview_attempts.voicemail_at (14.1).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("calls", sa.Column("answered_by", sa.String(32)))
    op.add_column("calls", sa.Column("voicemail_at", sa.DateTime(timezone=True)))
    op.add_column("interview_attempts", sa.Column("voicemail_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("interview_attempts") as batch:
        batch.drop_column("voicemail_at")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("voicemail_at")
        batch.drop_column("answered_by")
