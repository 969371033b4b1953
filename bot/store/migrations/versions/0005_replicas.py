"""What replicas share: call outcomes for <Connect action>, and redeemed stream tokens.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _when(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "call_outcomes",
        sa.Column("call_sid", sa.String(64), primary_key=True),
        sa.Column("reason", sa.String(64), nullable=False),
        _when("ended_at"),
        sa.Column("instance", sa.String(128)),
    )
    op.create_index("ix_call_outcomes_ended_at", "call_outcomes", ["ended_at"])
    op.create_table(
        "stream_token_uses",
        sa.Column("call_sid", sa.String(64), nullable=False),
        sa.Column("nonce", sa.String(32), nullable=False),
        _when("expires_at"),
        _when("redeemed_at"),
        sa.Column("instance", sa.String(128)),
        sa.PrimaryKeyConstraint("call_sid", "nonce", name="pk_stream_token_uses"),
    )
    op.create_index("ix_stream_token_uses_expires_at", "stream_token_uses", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_stream_token_uses_expires_at", table_name="stream_token_uses")
    op.drop_table("stream_token_uses")
    op.drop_index("ix_call_outcomes_ended_at", table_name="call_outcomes")
    op.drop_table("call_outcomes")
