"""Twilio's word on a dialed call, pure: call statuses, callback fields, an attempt's outcome."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# Twilio call statuses (twilio.md) and what an attempt can end as.
RINGING = ("queued", "initiated", "ringing")
NOT_REACHED = ("busy", "no-answer", "failed", "canceled")
TERMINAL_CALL = ("completed", *NOT_REACHED)
UNHEARD = ("no_response", "one_way_audio")  # the candidate was not heard (bot/endreasons.py)
# Outcomes we decide, which no Twilio callback overrides
OURS = ("rejected", "transient_error", "not_placed", "dropped", *UNHEARD)


@dataclass(frozen=True)
class CallbackForm:
    """The fields of a Twilio status or AMD callback that the rules read."""

    call_sid: str | None = None
    call_status: str | None = None
    sequence: int | None = None
    timestamp: datetime | None = None
    duration_s: int | None = None
    answered_by: str | None = None

    @classmethod
    def of(cls, form: Mapping[str, str]) -> CallbackForm:
        return cls(
            call_sid=form.get("CallSid") or None,
            call_status=form.get("CallStatus") or None,
            sequence=integer(form.get("SequenceNumber")),
            timestamp=timestamp(form.get("Timestamp")),
            duration_s=integer(form.get("CallDuration")),
            answered_by=form.get("AnsweredBy") or None,
        )


def timestamp(raw: str | None) -> datetime | None:
    """Twilio's RFC 2822 Timestamp field as an aware datetime, or None."""
    if not raw:
        return None
    try:
        value = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def integer(raw: str | None) -> int | None:
    """A form field as an int, or None if absent or not a number."""
    try:
        return int(raw) if raw not in (None, "") else None
    except ValueError:
        return None


def outcome(call_status: str | None, answered_by: str | None) -> str:
    """An attempt's outcome from Twilio's last CallStatus and AnsweredBy."""
    if answered_by and answered_by.startswith("machine"):
        return "voicemail"
    if answered_by == "fax":
        return "fax"
    return call_status or "queued"


def machine(answered_by: str | None) -> bool:
    """Twilio's AMD verdict says no person answered: a machine (`machine_*`) or a fax."""
    return answered_by is not None and (answered_by.startswith("machine") or answered_by == "fax")


def interview_step(attempt_outcome: str) -> str | None:
    """What an attempt outcome means for its interview: a status, 'retry', or None (no change)."""
    if attempt_outcome in RINGING:
        return "dialing"
    if attempt_outcome == "in-progress":
        return "in_progress"
    if attempt_outcome == "completed":
        return "completed"
    if attempt_outcome in (*NOT_REACHED, "voicemail", "not_placed", "transient_error", "lost"):
        return "retry"
    if attempt_outcome in UNHEARD:
        return "retry"
    if attempt_outcome in ("fax", "rejected"):
        return "failed"
    return None


def transient(http_status: int | None, code: int | None) -> bool:
    """A Twilio REST error worth retrying (429, 5xx, no answer from the API); else permanent."""
    return http_status is None or http_status == 429 or http_status >= 500 or code == 20429
