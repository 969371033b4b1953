"""Call log: the calls and call_turns tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TOKENS = (
    "input_text_tokens",
    "input_audio_tokens",
    "cached_text_tokens",
    "cached_audio_tokens",
    "output_text_tokens",
    "output_audio_tokens",
)


def _when(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("call_sid", sa.String(64), primary_key=True),
        sa.Column("direction", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("interview_id", sa.String(128)),
        sa.Column("profile", sa.String(128)),
        sa.Column("from_masked", sa.String(32)),
        sa.Column("to_masked", sa.String(32)),
        sa.Column("instance", sa.String(128)),
        _when("started_at", nullable=False),
        _when("answered_at"),
        _when("ended_at"),
        _when("heartbeat_at"),
        sa.Column("duration_s", sa.Float),
        sa.Column("end_reason", sa.String(64)),
        sa.Column("turns", sa.Integer, nullable=False, server_default="0"),
        sa.Column("barge_ins", sa.Integer, nullable=False, server_default="0"),
        sa.Column("response_ms", sa.JSON, nullable=False),
        sa.Column("response_ms_p50", sa.Float),
        sa.Column("response_ms_p95", sa.Float),
        *(sa.Column(n, sa.Integer, nullable=False, server_default="0") for n in TOKENS),
        sa.Column("cost_usd", sa.Float, nullable=False, server_default="0"),
        sa.Column("errors", sa.JSON, nullable=False),
    )
    op.create_index("ix_calls_started_at", "calls", ["started_at"])
    op.create_index("ix_calls_status_heartbeat", "calls", ["status", "heartbeat_at"])
    op.create_table(
        "call_turns",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "call_sid",
            sa.String(64),
            sa.ForeignKey("calls.call_sid", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("speaker", sa.String(16), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        _when("at", nullable=False),
        sa.Column("offset_ms", sa.Float, nullable=False),
        sa.Column("interrupted", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.UniqueConstraint("call_sid", "seq", name="uq_call_turns_call_sid_seq"),
    )


def downgrade() -> None:
    op.drop_table("call_turns")
    op.drop_index("ix_calls_status_heartbeat", table_name="calls")
    op.drop_index("ix_calls_started_at", table_name="calls")
    op.drop_table("calls")
