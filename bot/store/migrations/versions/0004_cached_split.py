"""calls.cached_split: whether the cached-token split between text and audio was estimated.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("calls", sa.Column("cached_split", sa.String(16)))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("cached_split")
