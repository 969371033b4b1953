"""Where personal data lives: per table, which columns are personal and how each is erased.

Retention (bot/store/retention.py) and erasure (bot/store/erasure.py) act on exactly this list,
and tests/store/test_personal.py fails when a table or a text/JSON column appears that is in
neither PERSONAL nor NOT_PERSONAL, so nobody adds personal data unnoticed. A new table holding
personal data (a webhook outbox, say) is one more `Personal(...)` line in PERSONAL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa

from bot.store.tables import UTCDateTime, metadata


class How(StrEnum):
    """How one personal column is erased."""

    DELETE_ROW = "delete_row"  # the whole row goes (transcripts, assessments)
    MASK_PHONE = "mask_phone"  # a number keeps its country code and last four digits
    NAME = "name"  # a name becomes "[erased]"
    NULL = "null"  # the value becomes NULL (reports)
    SCRUB = "scrub"  # free text/JSON: numbers masked, the candidate's name replaced


class Subject(StrEnum):
    """What the table's `key` column names: a call (CallSid) or an interview (its id)."""

    CALL = "call"
    INTERVIEW = "interview"


@dataclass(frozen=True)
class Personal:
    """One table's personal columns; `key` links its rows to a call or an interview."""

    table: str
    key: str
    subject: Subject
    columns: Mapping[str, How]


ERASED_NAME = "[erased]"

PERSONAL: tuple[Personal, ...] = (
    Personal("calls", "call_sid", Subject.CALL, {
        "from_masked": How.MASK_PHONE, "to_masked": How.MASK_PHONE,  # masked already; again
        "report": How.NULL,  # the candidate's answers as evidence
        "errors": How.SCRUB,  # vendors' messages may quote a number
    }),
    Personal("call_turns", "call_sid", Subject.CALL, {"text": How.DELETE_ROW}),
    Personal("call_assessments", "call_sid", Subject.CALL, {"evidence": How.DELETE_ROW}),
    Personal("interviews", "id", Subject.INTERVIEW, {
        "candidate_name": How.NAME, "phone": How.MASK_PHONE,
    }),
    Personal("interview_attempts", "interview_id", Subject.INTERVIEW, {
        "error_message": How.SCRUB,  # Twilio's messages may quote the number dialed
    }),
    # The results webhook's events carry the report, the name and a masked number: an erased
    # candidate's events go, delivered or not (subject is a CallSid or an interview id).
    Personal("webhook_outbox", "subject", Subject.CALL, {"payload": How.DELETE_ROW}),
    Personal("webhook_outbox", "subject", Subject.INTERVIEW, {"payload": How.DELETE_ROW}),
)  # fmt: skip

# Text and JSON columns that hold nothing personal (ids, statuses, names of things we made).
NOT_PERSONAL: Mapping[str, frozenset[str]] = {
    "calls": frozenset({
        "call_sid", "direction", "status", "interview_id", "profile", "instance", "end_reason",
        "response_ms", "cached_split",
        # the console: the live state's name, and the timeline's points (kinds, times, keys,
        # response times; never words)
        "state", "events",
        "recording_consent",  # off, notice_given, opted_out, on
        "answered_by",  # Twilio's AMD verdict (human, machine_end_beep, …)
    }),
    "call_turns": frozenset({"call_sid", "speaker"}),
    "call_assessments": frozenset({"call_sid", "question"}),  # the profile's question
    "interviews": frozenset({
        "id", "code", "profile", "role", "timezone", "window_start", "window_end", "status",
        "claimed_by",
    }),
    "interview_attempts": frozenset({
        "interview_id", "instance", "call_sid", "outcome", "call_status", "answered_by",
        "stream", "error_code",
    }),
    "call_outcomes": frozenset({"call_sid", "reason", "instance"}),
    "stream_token_uses": frozenset({"call_sid", "nonce", "instance"}),
    # A keyed HMAC of the caller's number (never the number), kept an hour for the code gate's
    # limits; retention deletes rows past that hour even when no new failure comes.
    "code_failures": frozenset({"caller_hash"}),
    "erasures": frozenset({"id", "interview_id", "by", "counts"}),  # the audit: no personal data
    "alembic_version": frozenset({"version_num"}),
    "webhook_outbox": frozenset({
        "id", "type", "dedupe_key", "subject", "status", "claim", "claimed_by",
        "last_error",  # our own words about the attempt (never a response body)
        "history",  # each attempt's time, status and error
    }),
}  # fmt: skip

# The audit of erasures: who erased which interview when, and how much; nothing personal.
erasures = sa.Table(
    "erasures",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("interview_id", sa.String(32), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("by", sa.String(16), nullable=False),  # "api" or "cli"
    sa.Column("counts", sa.JSON, nullable=False),
    sa.Index("ix_erasures_interview_id", "interview_id"),
)


def personal_of(subject: Subject) -> list[Personal]:
    """The registry's tables whose rows belong to this kind of subject."""
    return [p for p in PERSONAL if p.subject == subject]
