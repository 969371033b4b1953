"""Shaping call rows as JSON-ready dicts, opaque list cursors and response-time percentiles."""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from bot.cost import USAGE_FIELDS

CALL_STATUSES = ("in_progress", "completed", "failed", "interrupted")
SPEAKERS = ("caller", "bot")


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC ('2026-11-25T06:21:47.123456+00:00'), or None."""
    return None if value is None else value.astimezone(UTC).isoformat()


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) with linear interpolation, as numpy's default; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def call_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """A calls row as the API's JSON shape."""
    return {
        "call_sid": row["call_sid"],
        "direction": row["direction"],
        "status": row["status"],
        "interview_id": row["interview_id"],
        "profile": row["profile"],
        "from": row["from_masked"],
        "to": row["to_masked"],
        "started_at": iso(row["started_at"]),
        "answered_at": iso(row["answered_at"]),
        "ended_at": iso(row["ended_at"]),
        "duration_s": row["duration_s"],
        "end_reason": row["end_reason"],
        "answered_by": row["answered_by"],
        "voicemail_at": iso(row["voicemail_at"]),
        "turns": row["turns"],
        "barge_ins": row["barge_ins"],
        "response_ms_p50": row["response_ms_p50"],
        "response_ms_p95": row["response_ms_p95"],
        "usage": {
            **{name: int(row[name] or 0) for name in USAGE_FIELDS},
            "cached_split": row["cached_split"] or "reported",
        },
        "cost_usd": row["cost_usd"],
        "errors": list(row["errors"] or []),
        "recording": recording_json(row),
    }


def recording_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """Whether the call has a recording, its length and size, and the consent behind it."""
    size = row.get("recording_bytes")
    return {
        "exists": bool(size),
        "duration_s": row.get("recording_duration_s"),
        "bytes": size,
        "consent": row.get("recording_consent"),
        "consent_at": iso(row.get("recording_consent_at")),
    }


def turn_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """A call_turns row as a transcript entry."""
    return {
        "speaker": row["speaker"],
        "text": row["text"],
        "at": iso(row["at"]),
        "offset_ms": row["offset_ms"],
        "interrupted": bool(row["interrupted"]),
    }


def assessment_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """A call_assessments row: the question (its text), score and quoted evidence."""
    return {
        "question": row["question"],
        "score": row["score"],
        "evidence": row["evidence"],
        "at": iso(row["at"]),
        "offset_ms": row["offset_ms"],
    }


def encode_cursor(started_at: datetime, call_sid: str) -> str:
    """An opaque cursor for the position after (started_at, call_sid)."""
    raw = json.dumps([iso(started_at), call_sid], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (started_at, call_sid) inside a cursor; ValueError if it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        started, sid = json.loads(raw)
        when = datetime.fromisoformat(started)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise ValueError("cursor: not a cursor this API returned") from None
    if not isinstance(sid, str) or when.tzinfo is None:
        raise ValueError("cursor: not a cursor this API returned")
    return when, sid
