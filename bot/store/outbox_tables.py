"""The results webhook's outbox (webhook_outbox; 0007): events written with the state change."""

from __future__ import annotations

import sqlalchemy as sa

from bot.store.tables import UTCDateTime, metadata

STATUSES = ("pending", "delivered", "failed")

webhook_outbox = sa.Table(
    "webhook_outbox",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),  # the event id (X-Interview-Event-Id)
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("dedupe_key", sa.String(200), nullable=False, unique=True),  # one event per fact
    sa.Column("subject", sa.String(128)),  # the interview id or CallSid it is about
    sa.Column("payload", sa.JSON, nullable=False),  # the body: {id, type, created_at, data}
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending, delivered, failed
    sa.Column("next_attempt_at", UTCDateTime()),  # due (pending), or a claim's lease end
    sa.Column("claim", sa.String(32)),  # the current claim's token: only its holder settles it
    sa.Column("claimed_by", sa.String(128)),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_status", sa.Integer),  # the receiver's last HTTP status
    sa.Column("last_error", sa.String(500)),  # the last attempt's error (never a response body)
    sa.Column("history", sa.JSON, nullable=False, default=list),  # each attempt (the last 50)
    sa.Column("delivered_at", UTCDateTime()),
    sa.Column("finished_at", UTCDateTime()),  # delivered or failed for good
    sa.Index("ix_webhook_outbox_due", "status", "next_attempt_at"),
    sa.Index("ix_webhook_outbox_created_at", "created_at"),
)
