"""Reading the call log: pages of calls, one call with its transcript, calls owed a report."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.rows import (
    CALL_STATUSES,
    assessment_json,
    call_json,
    decode_cursor,
    encode_cursor,
    iso,
    turn_json,
)
from bot.store.tables import call_assessments, call_turns, calls

MAX_LIMIT = 1000


async def list_calls(
    engine: AsyncEngine,
    *,
    since: datetime | None = None,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
    direction: str | None = None,
    profile: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Calls newest first, and the cursor of the next page (None on the last page)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
    if status is not None and status not in CALL_STATUSES:
        raise ValueError(f"status must be one of {', '.join(CALL_STATUSES)}")
    query = sa.select(calls)
    if since is not None:
        query = query.where(calls.c.started_at >= since)
    if status is not None:
        query = query.where(calls.c.status == status)
    if direction is not None:
        query = query.where(calls.c.direction == direction)
    if profile is not None:
        query = query.where(calls.c.profile == profile)
    if cursor is not None:
        at, sid = decode_cursor(cursor)
        query = query.where(
            sa.or_(
                calls.c.started_at < at,
                sa.and_(calls.c.started_at == at, calls.c.call_sid < sid),
            )
        )
    query = query.order_by(calls.c.started_at.desc(), calls.c.call_sid.desc()).limit(limit + 1)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
    page = rows[:limit]
    following = None
    if len(rows) > limit:
        following = encode_cursor(page[-1]["started_at"], page[-1]["call_sid"])
    return [call_json(row) for row in page], following


async def get_call(engine: AsyncEngine, call_sid: str) -> dict[str, Any] | None:
    """The call with its transcript (turns in order), assessments and report, or None."""
    async with engine.connect() as conn:
        row = (
            (await conn.execute(sa.select(calls).where(calls.c.call_sid == call_sid)))
            .mappings()
            .first()
        )
        if row is None:
            return None
        turns = (
            await conn.execute(
                sa.select(call_turns)
                .where(call_turns.c.call_sid == call_sid)
                .order_by(call_turns.c.seq)
            )
        ).mappings()
        transcript = [turn_json(turn) for turn in turns]
        assessed = (
            await conn.execute(
                sa.select(call_assessments)
                .where(call_assessments.c.call_sid == call_sid)
                .order_by(call_assessments.c.seq)
            )
        ).mappings()
        assessments = [assessment_json(a) for a in assessed]
    call = call_json(row)
    call["instance"] = row["instance"]
    call["heartbeat_at"] = iso(row["heartbeat_at"])
    call["response_ms"] = list(row["response_ms"] or [])
    call["transcript"] = transcript
    call["assessments"] = assessments
    call["report"] = row["report"]
    call["state"] = row["state"]
    call["events"] = list(row["events"] or [])
    return call


async def interrupted_without_report(engine: AsyncEngine, limit: int = 20) -> list[dict[str, Any]]:
    """Interrupted calls (their replica died) with no report yet, with turns and assessments."""
    query = (
        sa.select(calls.c.call_sid)
        .where(calls.c.status == "interrupted", calls.c.report.is_(None))
        .where(calls.c.redacted_at.is_(None))  # retention took its report away on purpose
        .order_by(calls.c.started_at)
        .limit(limit)
    )
    async with engine.connect() as conn:
        wanted = list((await conn.execute(query)).scalars())
    found = [await get_call(engine, sid) for sid in wanted]
    return [call for call in found if call is not None]
