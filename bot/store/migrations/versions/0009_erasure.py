"""Retention and erasure: redacted_at on calls and interviews, and the erasures audit table.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("calls", sa.Column("redacted_at", sa.DateTime(timezone=True)))
    op.create_index("ix_calls_redacted_started", "calls", ["redacted_at", "started_at"])
    op.add_column("interviews", sa.Column("redacted_at", sa.DateTime(timezone=True)))
    op.create_index("ix_interviews_redacted_updated", "interviews", ["redacted_at", "updated_at"])
    op.create_table(
        "erasures",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("interview_id", sa.String(32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by", sa.String(16), nullable=False),
        sa.Column("counts", sa.JSON, nullable=False),
    )
    op.create_index("ix_erasures_interview_id", "erasures", ["interview_id"])


def downgrade() -> None:
    op.drop_index("ix_erasures_interview_id", table_name="erasures")
    op.drop_table("erasures")
    op.drop_index("ix_interviews_redacted_updated", table_name="interviews")
    with op.batch_alter_table("interviews") as batch:
        batch.drop_column("redacted_at")
    op.drop_index("ix_calls_redacted_started", table_name="calls")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("redacted_at")
