"""Shaping interview rows: JSON for the API, and the call context an interview gives a call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.interview.context import InterviewContext
from bot.store.rows import iso


def interview_json(row: Mapping[str, Any], rows: list[Mapping[str, Any]] | None = None) -> dict:
    """An interviews row (and its attempts) as the API's JSON shape."""
    out = {
        "id": row["id"],
        "code": row["code"],
        "candidate_name": row["candidate_name"],
        "phone": row["phone"],
        "profile": row["profile"],
        "role": row["role"],
        "scheduled_at": iso(row["scheduled_at"]),
        "timezone": row["timezone"],
        "window_start": row["window_start"],
        "window_end": row["window_end"],
        "status": row["status"],
        "next_attempt_at": iso(row["next_attempt_at"]),
        "attempts_used": row["tries"],
        "attempt_count": row["attempts_total"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
        "erased_at": iso(row.get("redacted_at")),  # name and number erased (retention, erasure)
    }
    if rows is not None:
        out["attempts"] = [attempt_json(a) for a in rows]
    return out


def attempt_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """An interview_attempts row as JSON: time, call_sid, outcome, error and call facts."""
    error = None
    if row["error_code"] or row["error_message"]:
        error = {
            "code": row["error_code"],
            "message": row["error_message"],
            "http_status": row["http_status"],
        }
    return {
        "seq": row["seq"],
        "at": iso(row["created_at"]),
        "call_sid": row["call_sid"],
        "outcome": row["outcome"],
        "call_status": row["call_status"],
        "answered_by": row["answered_by"],
        "answered_at": iso(row["answered_at"]),
        "ended_at": iso(row["ended_at"]),
        "duration_s": row["duration_s"],
        "voicemail_at": iso(row["voicemail_at"]),
        "error": error,
    }


def context_of(row: Mapping[str, Any]) -> InterviewContext:
    """The context a call of this interview carries (profile, candidate, role)."""
    return InterviewContext(
        profile=row["profile"],
        interview_id=row["id"],
        candidate_name=row["candidate_name"],
        role=row["role"],
    )
