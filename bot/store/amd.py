"""Answering-machine verdicts in the store: a call's verdict and the voicemail left, on its
attempt and (through the call-log store) its call record; any replica may hold the stream,
any other may hear the verdict."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.interview.outcomes import machine
from bot.store.interview_tables import interview_attempts as attempts
from bot.store.store import record_amd


async def record_verdict(conn: AsyncConnection, call_sid: str, answered_by: str) -> None:
    """In a callback's transaction: the call log's AnsweredBy (and `answering_machine` for a
    call that already ended as a hang-up)."""
    await record_amd(conn, call_sid, answered_by=answered_by)


async def voicemail_left(engine: AsyncEngine, call_sid: str, at: datetime) -> None:
    """Twilio took the voicemail message for this live call (REST update): the attempt and the
    call record say when."""
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(attempts)
            .where(attempts.c.call_sid == call_sid, attempts.c.voicemail_at.is_(None))
            .values(voicemail_at=at, stream="voicemail")
        )
        await record_amd(conn, call_sid, voicemail_at=at)


async def machine_verdict(engine: AsyncEngine, call_sid: str) -> str | None:
    """The machine (or fax) verdict stored for this call's attempt, else None (a person, no
    verdict yet, or not a dialer call); copied to the call record as it is read."""
    query = sa.select(attempts.c.answered_by).where(
        attempts.c.call_sid == call_sid, attempts.c.answered_by.is_not(None)
    )
    async with engine.begin() as conn:
        answered_by = (await conn.execute(query.limit(1))).scalar()
        if answered_by is None or not machine(answered_by):
            return None
        await record_amd(conn, call_sid, answered_by=answered_by)
    return str(answered_by)
