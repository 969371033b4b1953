"""What the lifecycle rules read (row snapshots) and return (decisions of what to write)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypedDict

from bot.interview.schedule import Window

Action = Literal["connect", "wait", "voicemail", "fax", "gone"]


@dataclass(frozen=True)
class Interview:
    """What the rules read of an interviews row."""

    id: str
    status: str
    tries: int  # attempts since it was (re)scheduled
    attempts_total: int  # the latest attempt's seq
    window: Window
    resume_until: datetime | None = None  # a call starting by then resumes (resume.py)
    resume_since: datetime | None = None  # when the first call of the calls it continues began
    resumes: int = 0  # dropped calls called back since it was (re)scheduled

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Interview:
        resume = (row.get("resume_until"), row.get("resume_since"), row.get("resumes") or 0)
        return cls(
            row["id"], row["status"], row["tries"], row["attempts_total"], Window.of(row), *resume
        )

    def latest(self, seq: int) -> bool:
        """Only the latest attempt moves the interview (an older one's news is history)."""
        return self.attempts_total == seq


@dataclass(frozen=True)
class Attempt:
    """What the rules read of an interview_attempts row."""

    seq: int
    outcome: str
    call_sid: str | None = None
    call_status: str | None = None
    last_sequence: int = -1
    answered_by: str | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    stream: str | None = None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Attempt:
        names = (
            "call_sid",
            "call_status",
            "last_sequence",
            "answered_by",
            "answered_at",
            "ended_at",
            "stream",
        )
        return cls(row["seq"], row["outcome"], **{name: row[name] for name in names})


class AttemptChanges(TypedDict, total=False):
    """The attempt's columns to set (a key present is written, even with None)."""

    call_sid: str
    outcome: str
    call_status: str
    last_sequence: int
    answered_by: str
    answered_at: datetime
    ended_at: datetime
    duration_s: int | None
    stream: str
    error_code: str | None
    error_message: str | None
    http_status: int | None
    voicemail_at: datetime  # when the voicemail message was left (TwiML answered or updated)


@dataclass(frozen=True)
class Transition:
    """The interview's new status, when to call next (`retrying` only), and its try count."""

    status: str
    next_attempt_at: datetime | None = None
    tries: int | None = None  # None: unchanged
    resume: tuple[datetime, datetime, int] | None = None  # (until, since, resumes); None: unchanged


@dataclass(frozen=True)
class Decision:
    """What one event writes: the attempt's changes, the interview's transition (or None)."""

    outcome: str  # the attempt's outcome after the event
    attempt: AttemptChanges
    interview: Transition | None = None


@dataclass(frozen=True)
class CallbackDecision(Decision):
    """A status/AMD callback's decision, and what follows from it outside the attempt."""

    call_sid: str | None = None
    leave_voicemail: bool = False  # the machine picked up while the stream was connected
    hang_up: bool = False  # a fax picked up while the stream was connected
    answered_at: datetime | None = None  # the call log's answer time, newly known


@dataclass(frozen=True)
class AnswerDecision(Decision):
    """The voice webhook's decision: connect the stream, wait for AMD, voicemail, or hang up."""

    action: Action = "connect"


@dataclass(frozen=True)
class Take:
    """An open interview becoming someone's: its new status and its new attempt's values."""

    status: str
    attempt: AttemptChanges


@dataclass(frozen=True)
class StuckCall:
    """A live interview's latest attempt, joined with its call-log record (if any)."""

    status: str
    call_sid: str | None
    created_at: datetime  # the attempt's claim
    log_status: str | None
    log_ended_at: datetime | None
    end_reason: str | None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> StuckCall:
        names = ("status", "call_sid", "created_at", "log_status", "log_ended_at", "end_reason")
        return cls(**{name: row[name] for name in names})
