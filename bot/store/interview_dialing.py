"""The dialer's side of the interview store: claims, dial results and unplaced-claim recovery."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.interview import lifecycle
from bot.interview.decisions import Interview
from bot.store.interview_db import InterviewDb, attempt_key, change_attempt, lock, move, take
from bot.store.interview_tables import interview_attempts as attempts
from bot.store.interview_tables import interviews

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Claim:
    """One interview claimed for dialing, with its attempt already recorded."""

    interview_id: str
    seq: int
    phone: str
    candidate_name: str


async def claim_due(db: InterviewDb, instance: str, limit: int = 1) -> list[Claim]:
    """Claim up to `limit` due interviews inside their window; each gets its attempt row
    (outcome `dialing`) in the same transaction, before any call is placed. Due ones outside
    their window are moved to the window's next opening instead."""
    now = db.now()
    due = sa.and_(interviews.c.status.in_(lifecycle.DUE), interviews.c.next_attempt_at <= now)
    query = sa.select(interviews).where(due).order_by(interviews.c.next_attempt_at)
    claims: list[Claim] = []
    if db.pg:  # row locks: concurrent claimers skip each other's rows
        async with db.engine.begin() as conn:
            rows = (
                (await conn.execute(query.limit(limit).with_for_update(skip_locked=True)))
                .mappings()
                .all()
            )
            for row in rows:
                claim = await _claim(conn, row, due, now, instance)
                claims += [claim] if claim else []
        return claims
    async with db.engine.connect() as conn:  # SQLite: read, then a conditional UPDATE
        rows = (await conn.execute(query.limit(limit * 4))).mappings().all()
    for row in rows:
        if len(claims) >= limit:
            break
        async with db.engine.begin() as conn:  # the UPDATE first takes the write lock
            claim = await _claim(conn, row, due, now, instance)
        claims += [claim] if claim else []
    return claims


async def _claim(
    conn: AsyncConnection, row: RowMapping, due: Any, now: datetime, instance: str
) -> Claim | None:
    this = sa.and_(interviews.c.id == row["id"], due)
    later = lifecycle.postponed(Interview.of(row), now)
    if later is not None:
        await conn.execute(
            sa.update(interviews).where(this).values(next_attempt_at=later, updated_at=now)
        )
        return None
    current = await take(conn, this, row["id"], lifecycle.claimed(), instance, now)
    if current is None:
        return None  # another dialer won it
    return Claim(row["id"], current["attempts_total"], current["phone"], current["candidate_name"])


async def dialed(db: InterviewDb, claim: Claim, call_sid: str) -> None:
    """Twilio accepted the call: remember its CallSid (a callback may have come first)."""
    this = attempt_key(claim.interview_id, claim.seq)
    async with db.engine.begin() as conn:
        await conn.execute(
            sa.update(attempts)
            .where(*this)
            .values(call_sid=sa.func.coalesce(attempts.c.call_sid, call_sid))
        )
        await conn.execute(
            sa.update(attempts)
            .where(*this, attempts.c.outcome == "dialing")
            .values(outcome="queued")
        )


async def dial_failed(
    db: InterviewDb,
    claim: Claim,
    *,
    http_status: int | None,
    code: int | None,
    message: str,
    sent: bool = True,
) -> str:
    """Twilio refused the call (or did not answer): store the error; retry or stop (see
    lifecycle.dial_failed). Returns the attempt's outcome."""
    async with db.engine.begin() as conn:
        row = await lock(conn, db.pg, claim.interview_id)
        now = db.now()
        decision = lifecycle.dial_failed(
            None if row is None else Interview.of(row),
            claim.seq,
            http_status=http_status,
            code=code,
            message=message,
            sent=sent,
            policy=db.policy,
            now=now,
        )
        await change_attempt(conn, claim.interview_id, claim.seq, decision.attempt)
        await move(conn, claim.interview_id, decision.interview, now, outcome=decision.outcome)
    return decision.outcome


async def recover_stale(db: InterviewDb, older_than_s: float) -> int:
    """Attempts claimed more than older_than_s ago that Twilio never reported on (the dialer
    stopped before dialing, or the request was lost): not placed; try again."""
    now = db.now()
    cutoff = now - timedelta(seconds=older_than_s)
    unreported = (attempts.c.outcome == "dialing", attempts.c.call_sid.is_(None))
    query = sa.select(attempts.c.interview_id, attempts.c.seq).where(
        *unreported, attempts.c.created_at < cutoff
    )
    async with db.engine.connect() as conn:
        stale = (await conn.execute(query)).all()
    count = 0
    for interview_id, seq in stale:
        async with db.engine.begin() as conn:
            row = await lock(conn, db.pg, interview_id)
            current = None if row is None else Interview.of(row)
            decision = lifecycle.unplaced(current, seq, older_than_s, now)
            done = await change_attempt(conn, interview_id, seq, decision.attempt, *unreported)
            if done:
                await move(conn, interview_id, decision.interview, now)
            count += done
    if count:
        log.warning("dialer.recovered_unplaced", count=count)
    return count
