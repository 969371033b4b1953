"""Scheduled interviews: the interviews and interview_attempts tables.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "interviews",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("code", sa.String(6), nullable=False),
        sa.Column("candidate_name", sa.String(200), nullable=False),
        sa.Column("phone", sa.String(16), nullable=False),
        sa.Column("profile", sa.String(64), nullable=False),
        sa.Column("role", sa.String(200)),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("window_start", sa.String(5), nullable=False),
        sa.Column("window_end", sa.String(5), nullable=False),
        _when("scheduled_at", nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _when("next_attempt_at"),
        sa.Column("tries", sa.Integer, nullable=False, server_default="0"),
        sa.Column("attempts_total", sa.Integer, nullable=False, server_default="0"),
        sa.Column("claimed_by", sa.String(128)),
        _when("created_at", nullable=False),
        _when("updated_at", nullable=False),
        sa.UniqueConstraint("code", name="uq_interviews_code"),
    )
    op.create_index("ix_interviews_due", "interviews", ["status", "next_attempt_at"])
    op.create_table(
        "interview_attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "interview_id",
            sa.String(32),
            sa.ForeignKey("interviews.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("seq", sa.Integer, nullable=False),
        _when("created_at", nullable=False),
        sa.Column("instance", sa.String(128)),
        sa.Column("call_sid", sa.String(64)),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("call_status", sa.String(16)),
        sa.Column("last_sequence", sa.Integer, nullable=False, server_default="-1"),
        sa.Column("answered_by", sa.String(32)),
        _when("answered_at"),
        _when("ended_at"),
        sa.Column("duration_s", sa.Integer),
        sa.Column("stream", sa.String(16)),
        sa.Column("error_code", sa.String(16)),
        sa.Column("error_message", sa.String(500)),
        sa.Column("http_status", sa.Integer),
        sa.UniqueConstraint("interview_id", "seq", name="uq_interview_attempts_seq"),
    )
    op.create_index("ix_interview_attempts_call_sid", "interview_attempts", ["call_sid"])
    op.create_index(
        "ix_interview_attempts_outcome", "interview_attempts", ["outcome", "created_at"]
    )


def downgrade() -> None:
    op.drop_table("interview_attempts")
    op.drop_index("ix_interviews_due", table_name="interviews")
    op.drop_table("interviews")
