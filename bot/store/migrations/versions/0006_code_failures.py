"""code_failures: wrong interview codes per caller (a keyed hash, never the number), for limits.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "code_failures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("caller_hash", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_code_failures_caller_at", "code_failures", ["caller_hash", "at"])
    op.create_index("ix_code_failures_at", "code_failures", ["at"])


def downgrade() -> None:
    op.drop_index("ix_code_failures_at", table_name="code_failures")
    op.drop_index("ix_code_failures_caller_at", table_name="code_failures")
    op.drop_table("code_failures")
