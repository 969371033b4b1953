"""Interview report: calls.report and the call_assessments table.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("calls", sa.Column("report", sa.JSON))
    op.create_table(
        "call_assessments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "call_sid",
            sa.String(64),
            sa.ForeignKey("calls.call_sid", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("offset_ms", sa.Float, nullable=False),
        sa.UniqueConstraint("call_sid", "seq", name="uq_call_assessments_call_sid_seq"),
    )


def downgrade() -> None:
    op.drop_table("call_assessments")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("report")
