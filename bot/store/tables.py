"""The call-log tables as SQLAlchemy Core metadata (the migrations create them)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive UTC text)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()

calls = sa.Table(
    "calls",
    metadata,
    sa.Column("call_sid", sa.String(64), primary_key=True),
    sa.Column("direction", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("interview_id", sa.String(128)),
    sa.Column("profile", sa.String(128)),
    sa.Column("from_masked", sa.String(32)),
    sa.Column("to_masked", sa.String(32)),
    sa.Column("instance", sa.String(128)),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("answered_at", UTCDateTime()),
    sa.Column("ended_at", UTCDateTime()),
    sa.Column("heartbeat_at", UTCDateTime()),
    sa.Column("duration_s", sa.Float),
    sa.Column("end_reason", sa.String(64)),
    sa.Column("turns", sa.Integer, nullable=False, default=0),
    sa.Column("barge_ins", sa.Integer, nullable=False, default=0),
    sa.Column("response_ms", sa.JSON, nullable=False, default=list),
    sa.Column("response_ms_p50", sa.Float),
    sa.Column("response_ms_p95", sa.Float),
    sa.Column("input_text_tokens", sa.Integer, nullable=False, default=0),
    sa.Column("input_audio_tokens", sa.Integer, nullable=False, default=0),
    sa.Column("cached_text_tokens", sa.Integer, nullable=False, default=0),
    sa.Column("cached_audio_tokens", sa.Integer, nullable=False, default=0),
    sa.Column("output_text_tokens", sa.Integer, nullable=False, default=0),
    sa.Column("output_audio_tokens", sa.Integer, nullable=False, default=0),
    sa.Column("cached_split", sa.String(16)),  # "estimated": cached tokens had no details (0004)
    sa.Column("cost_usd", sa.Float, nullable=False, default=0.0),
    sa.Column("errors", sa.JSON, nullable=False, default=list),
    sa.Column("report", sa.JSON),  # the interview report, written when the call ends (0002)
    sa.Column("state", sa.String(32)),  # a live call's state, for the console (0008)
    sa.Column("events", sa.JSON),  # the call's timeline: speech, barge-ins, keys … (0008)
    sa.Column("redacted_at", UTCDateTime()),  # personal data erased (retention, erasure; 0009)
    sa.Column("answered_by", sa.String(32)),  # Twilio's AMD verdict, outbound calls (0010)
    sa.Column("voicemail_at", UTCDateTime()),  # when the voicemail message was left (0010)
    # Recording (0011): consent (off / notice_given / opted_out / on) and when; size, length
    sa.Column("recording_consent", sa.String(16)),
    sa.Column("recording_consent_at", UTCDateTime()),
    sa.Column("recording_bytes", sa.BigInteger),
    sa.Column("recording_duration_s", sa.Float),
    sa.Index("ix_calls_started_at", "started_at"),
    sa.Index("ix_calls_status_heartbeat", "status", "heartbeat_at"),
    sa.Index("ix_calls_redacted_started", "redacted_at", "started_at"),
)

call_turns = sa.Table(
    "call_turns",
    metadata,
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
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("offset_ms", sa.Float, nullable=False),
    sa.Column("interrupted", sa.Boolean, nullable=False, default=False),
    sa.UniqueConstraint("call_sid", "seq", name="uq_call_turns_call_sid_seq"),
)

call_assessments = sa.Table(
    "call_assessments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "call_sid",
        sa.String(64),
        sa.ForeignKey("calls.call_sid", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("score", sa.Integer, nullable=False),
    sa.Column("evidence", sa.Text, nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("offset_ms", sa.Float, nullable=False),
    sa.UniqueConstraint("call_sid", "seq", name="uq_call_assessments_call_sid_seq"),
)

CALL_COLUMNS = frozenset(calls.c.keys())
