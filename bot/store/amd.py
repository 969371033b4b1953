"""Answering-machine verdicts in the store: a call's verdict, the voicemail left, and the call
log's copy of both (any replica may hold the stream, any other may hear the verdict)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.endreasons import CALLER_GONE, EndReason
from bot.interview.outcomes import machine
from bot.store.interview_tables import interview_attempts as attempts
from bot.store.tables import calls


async def record_verdict(conn: AsyncConnection, call_sid: str, answered_by: str) -> None:
    """In a callback's transaction: the call log's AnsweredBy; a call that already ended as a
    hang-up (the verdict came after it) ended for a machine."""
    await conn.execute(
        sa.update(calls)
        .where(calls.c.call_sid == call_sid, calls.c.answered_by.is_(None))
        .values(answered_by=answered_by[:32])
    )
    if machine(answered_by):
        await conn.execute(
            sa.update(calls)
            .where(calls.c.call_sid == call_sid, calls.c.end_reason.in_(sorted(CALLER_GONE)))
            .values(end_reason=EndReason.ANSWERING_MACHINE.value)
        )


async def voicemail_left(engine: AsyncEngine, call_sid: str, at: datetime) -> None:
    """Twilio took the voicemail message for this live call (REST update): the attempt and the
    call log say when."""
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(attempts)
            .where(attempts.c.call_sid == call_sid, attempts.c.voicemail_at.is_(None))
            .values(voicemail_at=at, stream="voicemail")
        )
        await conn.execute(
            sa.update(calls)
            .where(calls.c.call_sid == call_sid, calls.c.voicemail_at.is_(None))
            .values(voicemail_at=at)
        )


async def machine_verdict(engine: AsyncEngine, call_sid: str) -> str | None:
    """The machine (or fax) verdict stored for this call's attempt, else None (a person, no
    verdict yet, or not a dialer call); copied to the call log's record as it is read."""
    query = sa.select(attempts.c.answered_by).where(
        attempts.c.call_sid == call_sid, attempts.c.answered_by.is_not(None)
    )
    async with engine.begin() as conn:
        answered_by = (await conn.execute(query.limit(1))).scalar()
        if not machine(answered_by):
            return None
        assert answered_by is not None
        await conn.execute(
            sa.update(calls)
            .where(calls.c.call_sid == call_sid, calls.c.answered_by.is_(None))
            .values(answered_by=answered_by)
        )
    return answered_by
