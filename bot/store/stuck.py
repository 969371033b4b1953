"""Interviews stuck in `dialing` or `in_progress` whose call is gone: retried, failed or done."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import structlog

from bot.store.interview_tables import interview_attempts as attempts
from bot.store.interview_tables import interviews
from bot.store.tables import calls

if TYPE_CHECKING:
    from bot.store.interviews import InterviewStore

log = structlog.get_logger(__name__)

STUCK = ("dialing", "in_progress")
# A dialed call rings for at most 30 s, then waits a few for answering-machine detection: a
# `dialing` attempt with no word for this long is gone, however short DIALER_RECOVERY_S is.
RING_LIMIT = timedelta(seconds=90)


def verdict(row: Any, cutoff: datetime, now: datetime) -> tuple[str, str] | None:
    """(attempt outcome, why) for a stuck interview's latest attempt, or None while its call
    may still be alive or Twilio may still report on it."""
    if row["call_sid"] is None:
        return None  # never placed, or placed with its CallSid unknown: the dialer's recovery
    log_status, ended = row["log_status"], row["log_ended_at"]
    if log_status is None:  # no stream ever started (or its replica never wrote)
        if row["status"] == "dialing" and row["created_at"] >= now - RING_LIMIT:
            return None
        return "lost", "no word from Twilio or any replica about the call"
    if log_status == "in_progress":
        return None  # alive, or its replica died: the sweep marks it interrupted first
    if ended is None or ended >= cutoff:
        return None  # just ended: Twilio's final status callback is on its way
    if log_status == "completed":
        return "completed", "the call completed; Twilio's final status callback never came"
    return "transient_error", f"the call ended {log_status} ({row['end_reason']}) on our side"


async def resolve_stuck(store: InterviewStore, older_than_s: float, instance: str) -> int:
    """Move on each interview stuck in dialing/in_progress for older_than_s whose call is gone
    (retry or failed per the retry policy; completed if its call completed). One conditional
    update per interview, so only one replica acts on each. Returns how many moved."""
    now = store.now()
    cutoff = now - timedelta(seconds=older_than_s)
    latest = sa.and_(
        attempts.c.interview_id == interviews.c.id, attempts.c.seq == interviews.c.attempts_total
    )
    query = (
        sa.select(
            interviews.c.id,
            interviews.c.status,
            interviews.c.updated_at,
            attempts.c.seq,
            attempts.c.outcome,
            attempts.c.call_sid,
            attempts.c.created_at,
            calls.c.status.label("log_status"),
            calls.c.ended_at.label("log_ended_at"),
            calls.c.end_reason,
        )
        .select_from(
            interviews.join(attempts, latest).outerjoin(
                calls, calls.c.call_sid == attempts.c.call_sid
            )
        )
        .where(
            interviews.c.status.in_(STUCK),
            interviews.c.updated_at < cutoff,
            attempts.c.created_at < cutoff,
        )
    )
    async with store.engine.connect() as conn:
        candidates = (await conn.execute(query)).mappings().all()
    moved = 0
    for row in candidates:
        found = verdict(row, cutoff, now)
        if found is not None and await _resolve(store, row, *found, now=now, instance=instance):
            moved += 1
    return moved


async def _resolve(
    store: InterviewStore, row: Any, outcome: str, why: str, *, now: datetime, instance: str
) -> bool:
    """Settle one attempt if nothing changed since it was read; False if another replica (or a
    late callback) got there first."""
    async with store.engine.begin() as conn:
        current = await store._lock(conn, row["id"])
        if (
            current is None
            or current["status"] != row["status"]
            or current["attempts_total"] != row["seq"]
        ):
            return False
        done = await conn.execute(
            sa.update(attempts)
            .where(
                attempts.c.interview_id == row["id"],
                attempts.c.seq == row["seq"],
                attempts.c.outcome == row["outcome"],
            )
            .values(
                outcome=outcome,
                ended_at=sa.func.coalesce(attempts.c.ended_at, now),
                error_message=None if outcome == "completed" else f"swept: {why}"[:500],
            )
        )
        if done.rowcount != 1:
            return False
        await store._advance(conn, current, outcome)
    log.warning(
        "interview.swept",
        interview_id=row["id"],
        attempt=row["seq"],
        was=row["status"],
        outcome=outcome,
        why=why,
        instance=instance,
    )
    return True
