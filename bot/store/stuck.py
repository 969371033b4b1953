"""Interviews stuck in `dialing` or `in_progress` whose call is gone: retried, failed or done."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import RowMapping

from bot.endreasons import EndReason
from bot.interview import lifecycle, resume
from bot.interview.decisions import Attempt, Interview, StuckCall
from bot.store.interview_db import InterviewDb, change_attempt, lock, move, read_attempt
from bot.store.interview_tables import interview_attempts as attempts
from bot.store.interview_tables import interviews
from bot.store.tables import calls

log = structlog.get_logger(__name__)


async def resolve_stuck(db: InterviewDb, older_than_s: float, instance: str) -> int:
    """Move on each interview stuck in dialing/in_progress for older_than_s whose call is gone
    (retry or failed per the retry policy; completed if its call completed). One conditional
    update per interview, so only one replica acts on each. Returns how many moved."""
    now = db.now()
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
            calls.c.started_at.label("log_started_at"),
            calls.c.direction,
        )
        .select_from(
            interviews.join(attempts, latest).outerjoin(
                calls, calls.c.call_sid == attempts.c.call_sid
            )
        )
        .where(
            interviews.c.status.in_(lifecycle.LIVE),
            interviews.c.updated_at < cutoff,
            attempts.c.created_at < cutoff,
        )
    )
    async with db.engine.connect() as conn:
        candidates = (await conn.execute(query)).mappings().all()
    moved = 0
    for row in candidates:
        found = lifecycle.verdict(StuckCall.of(row), cutoff, now)
        if found is not None and await _resolve(db, row, *found, now=now, instance=instance):
            moved += 1
    return moved


async def _resolve(
    db: InterviewDb, row: RowMapping, outcome: str, why: str, *, now: datetime, instance: str
) -> bool:
    """Settle one attempt if nothing changed since it was read; False if another replica (or a
    late callback) got there first."""
    async with db.engine.begin() as conn:
        current = await lock(conn, db.pg, row["id"])
        att = await read_attempt(conn, row["id"], row["seq"])
        if (
            current is None
            or att is None
            or current["status"] != row["status"]
            or current["attempts_total"] != row["seq"]
            or att["outcome"] != row["outcome"]
        ):
            return False
        decision = None
        if row["end_reason"] == EndReason.INTERRUPTED:  # the replica died: resumable
            decision = resume.dropped(Interview.of(current), Attempt.of(att),
                                      reason=EndReason.INTERRUPTED,
                                      call_started=row["log_started_at"], remaining_s=None,
                                      inbound=row["direction"] == "inbound", policy=db.policy,
                                      now=now)  # fmt: skip
        decision = decision or lifecycle.swept(
            Interview.of(current), Attempt.of(att), outcome, why, db.policy, now
        )
        done = await change_attempt(
            conn, row["id"], row["seq"], decision.attempt, attempts.c.outcome == row["outcome"]
        )
        if done != 1:
            return False
        await move(conn, row["id"], decision.interview, now, outcome=decision.outcome)
    log.warning(
        "interview.swept",
        interview_id=row["id"],
        attempt=row["seq"],
        was=row["status"],
        outcome=decision.outcome,
        why=why,
        instance=instance,
    )
    return True
