"""webhook_outbox: results webhook events, written in the state change's transaction (16.4).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "webhook_outbox",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("dedupe_key", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(128)),
        sa.Column("payload", sa.JSON, nullable=False),
        _when("created_at", nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _when("next_attempt_at"),
        sa.Column("claim", sa.String(32)),
        sa.Column("claimed_by", sa.String(128)),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_status", sa.Integer),
        sa.Column("last_error", sa.String(500)),
        sa.Column("history", sa.JSON, nullable=False),
        _when("delivered_at"),
        _when("finished_at"),
        sa.UniqueConstraint("dedupe_key", name="uq_webhook_outbox_dedupe_key"),
    )
    op.create_index("ix_webhook_outbox_due", "webhook_outbox", ["status", "next_attempt_at"])
    op.create_index("ix_webhook_outbox_created_at", "webhook_outbox", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_webhook_outbox_created_at", table_name="webhook_outbox")
    op.drop_index("ix_webhook_outbox_due", table_name="webhook_outbox")
    op.drop_table("webhook_outbox")
