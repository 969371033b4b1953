"""interviews.resume_until, resume_since, resumes: a dropped call's interview resumes (issue 14.4).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("interviews", sa.Column("resume_until", sa.DateTime(timezone=True)))
    op.add_column("interviews", sa.Column("resume_since", sa.DateTime(timezone=True)))
    op.add_column(
        "interviews", sa.Column("resumes", sa.Integer, nullable=False, server_default="0")
    )


def downgrade() -> None:
    with op.batch_alter_table("interviews") as batch:
        batch.drop_column("resumes")
        batch.drop_column("resume_since")
        batch.drop_column("resume_until")
