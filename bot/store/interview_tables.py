"""The scheduling tables (interviews, interview_attempts) as SQLAlchemy Core metadata (0003)."""

from __future__ import annotations

import sqlalchemy as sa

from bot.store.tables import UTCDateTime, metadata

interviews = sa.Table(
    "interviews",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("code", sa.String(6), nullable=False, unique=True),
    sa.Column("candidate_name", sa.String(200), nullable=False),
    sa.Column("phone", sa.String(16), nullable=False),
    sa.Column("profile", sa.String(64), nullable=False),
    sa.Column("role", sa.String(200)),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("window_start", sa.String(5), nullable=False),
    sa.Column("window_end", sa.String(5), nullable=False),
    sa.Column("scheduled_at", UTCDateTime(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("next_attempt_at", UTCDateTime()),  # when the dialer may claim it (due statuses)
    sa.Column("tries", sa.Integer, nullable=False, default=0),  # attempts since (re)scheduling
    sa.Column("attempts_total", sa.Integer, nullable=False, default=0),  # last attempt's seq
    sa.Column("claimed_by", sa.String(128)),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("redacted_at", UTCDateTime()),  # name and number erased (retention, erasure; 0009)
    sa.Column("resume_until", UTCDateTime()),  # a call starting by then resumes (0012)
    sa.Column("resume_since", UTCDateTime()),  # the first call of those it continues began
    sa.Column("resumes", sa.Integer, nullable=False, default=0),  # dropped calls called back
    sa.Index("ix_interviews_due", "status", "next_attempt_at"),
    sa.Index("ix_interviews_redacted_updated", "redacted_at", "updated_at"),
)

interview_attempts = sa.Table(
    "interview_attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "interview_id",
        sa.String(32),
        sa.ForeignKey("interviews.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),  # claimed, before dialing
    sa.Column("instance", sa.String(128)),
    sa.Column("call_sid", sa.String(64)),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("call_status", sa.String(16)),  # Twilio's CallStatus with the highest sequence
    sa.Column("last_sequence", sa.Integer, nullable=False, default=-1),
    sa.Column("answered_by", sa.String(32)),
    sa.Column("answered_at", UTCDateTime()),
    sa.Column("ended_at", UTCDateTime()),
    sa.Column("duration_s", sa.Integer),
    sa.Column("stream", sa.String(16)),  # voice webhook: waiting (for AMD), connected, voicemail
    sa.Column("error_code", sa.String(16)),
    sa.Column("error_message", sa.String(500)),
    sa.Column("http_status", sa.Integer),
    sa.Column("voicemail_at", UTCDateTime()),  # when the voicemail message was left (0010)
    sa.UniqueConstraint("interview_id", "seq", name="uq_interview_attempts_seq"),
    sa.Index("ix_interview_attempts_call_sid", "call_sid"),
    sa.Index("ix_interview_attempts_outcome", "outcome", "created_at"),
)
