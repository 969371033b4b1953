"""The tables replicas share for calls in flight (call_outcomes, stream_token_uses; 0005)."""

from __future__ import annotations

import sqlalchemy as sa

from bot.store.tables import UTCDateTime, metadata

call_outcomes = sa.Table(
    "call_outcomes",
    metadata,
    sa.Column("call_sid", sa.String(64), primary_key=True),
    sa.Column("reason", sa.String(64), nullable=False),  # the call's end reason
    sa.Column("ended_at", UTCDateTime(), nullable=False),  # swept after a day
    sa.Column("instance", sa.String(128)),  # the replica that carried the call
    sa.Index("ix_call_outcomes_ended_at", "ended_at"),
)

stream_token_uses = sa.Table(
    "stream_token_uses",
    metadata,
    sa.Column("call_sid", sa.String(64), nullable=False),
    sa.Column("nonce", sa.String(32), nullable=False),  # the token's id
    sa.Column("expires_at", UTCDateTime(), nullable=False),  # swept once the token expired
    sa.Column("redeemed_at", UTCDateTime(), nullable=False),
    sa.Column("instance", sa.String(128)),  # the replica that accepted the stream
    sa.PrimaryKeyConstraint("call_sid", "nonce", name="pk_stream_token_uses"),
    sa.Index("ix_stream_token_uses_expires_at", "expires_at"),
)
