"""calls.recording_*: recording consent and when it was given, the recording's size and length.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

COLUMNS = ("recording_consent", "recording_consent_at", "recording_bytes", "recording_duration_s")


def upgrade() -> None:
    op.add_column("calls", sa.Column("recording_consent", sa.String(16)))
    op.add_column("calls", sa.Column("recording_consent_at", sa.DateTime(timezone=True)))
    op.add_column("calls", sa.Column("recording_bytes", sa.BigInteger))
    op.add_column("calls", sa.Column("recording_duration_s", sa.Float))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        for name in COLUMNS:
            batch.drop_column(name)
