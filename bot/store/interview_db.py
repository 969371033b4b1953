"""The statements every interview operation shares: lock and read rows, take, write decisions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.interview.decisions import Attempt, AttemptChanges, Decision, Interview, Take, Transition
from bot.interview.schedule import RetryPolicy
from bot.store.interview_tables import interview_attempts as attempts
from bot.store.interview_tables import interviews
from bot.store.outbox_events import interview_finished
from bot.store.rows import iso

log = structlog.get_logger(__name__)


class InterviewDb(Protocol):
    """What the interview operations run on (bot.store.interviews.InterviewStore)."""

    engine: AsyncEngine
    policy: RetryPolicy
    pg: bool
    now: Callable[[], datetime]


def attempt_key(interview_id: str, seq: int) -> tuple[Any, Any]:
    """The WHERE clauses of one attempt."""
    return attempts.c.interview_id == interview_id, attempts.c.seq == seq


async def read(conn: AsyncConnection, interview_id: str) -> RowMapping | None:
    """The interviews row, unlocked."""
    query = sa.select(interviews).where(interviews.c.id == interview_id)
    return (await conn.execute(query)).mappings().first()


async def read_attempt(conn: AsyncConnection, interview_id: str, seq: int) -> RowMapping | None:
    """One interview_attempts row."""
    query = sa.select(attempts).where(*attempt_key(interview_id, seq))
    return (await conn.execute(query)).mappings().first()


async def lock(conn: AsyncConnection, pg: bool, interview_id: str) -> RowMapping | None:
    """The interview row, locked until the transaction ends (SQLite: the write lock)."""
    if pg:
        query = sa.select(interviews).where(interviews.c.id == interview_id)
        return (await conn.execute(query.with_for_update())).mappings().first()
    await conn.execute(
        sa.update(interviews)
        .where(interviews.c.id == interview_id)
        .values(updated_at=interviews.c.updated_at)
    )
    return await read(conn, interview_id)


async def take(
    conn: AsyncConnection,
    where: Any,
    interview_id: str,
    taken: Take,
    instance: str,
    now: datetime,
) -> RowMapping | None:
    """Move the interview to the take's status if `where` still holds (one taker wins) and
    record its next attempt with the take's values; the updated row, or None if someone else
    won. A take counts as a try."""
    won = await conn.execute(
        sa.update(interviews)
        .where(where)
        .values(
            status=taken.status,
            tries=interviews.c.tries + 1,
            attempts_total=interviews.c.attempts_total + 1,
            claimed_by=instance,
            next_attempt_at=None,
            updated_at=now,
        )
    )
    if won.rowcount != 1:
        return None
    current = await read(conn, interview_id)
    assert current is not None
    await conn.execute(
        sa.insert(attempts).values(
            interview_id=interview_id,
            seq=current["attempts_total"],
            created_at=now,
            instance=instance,
            last_sequence=-1,
            **taken.attempt,
        )
    )
    return current


async def change_attempt(
    conn: AsyncConnection, interview_id: str, seq: int, changes: AttemptChanges, *where: Any
) -> int:
    """Write an attempt's changes (if `where` also holds); how many rows changed."""
    if not changes:
        return 0
    done = await conn.execute(
        sa.update(attempts).where(*attempt_key(interview_id, seq), *where).values(**changes)
    )
    return done.rowcount


async def move(
    conn: AsyncConnection,
    interview_id: str,
    transition: Transition | None,
    now: datetime,
    *,
    outcome: str | None = None,
) -> None:
    """Write the interview's transition (None: nothing); logged when an outcome caused it."""
    if transition is None:
        return
    values: dict[str, Any] = {
        "status": transition.status,
        "next_attempt_at": transition.next_attempt_at,
        "updated_at": now,
    }
    if transition.tries is not None:
        values["tries"] = transition.tries
    if transition.resume is not None:
        values["resume_until"], values["resume_since"], values["resumes"] = transition.resume
    await conn.execute(
        sa.update(interviews).where(interviews.c.id == interview_id).values(**values)
    )
    await interview_finished(conn, interview_id, transition.status, now)  # results webhook
    if outcome is not None:
        log.info(
            "interview.status",
            interview_id=interview_id,
            status=transition.status,
            outcome=outcome,
            next_attempt_at=iso(transition.next_attempt_at),
        )


CallRule = Callable[[Interview, Attempt, datetime], Decision | None]


async def decide_for_call(
    db: InterviewDb, interview_id: str, call_sid: str, rule: CallRule, *, streamed: bool = False
) -> Decision | None:
    """Lock the interview, find the attempt of this call (`streamed`: only while its stream is
    connected), and write what `rule` decides for them, in one transaction; the decision, or
    None when there was nothing to decide."""
    async with db.engine.begin() as conn:
        row = await lock(conn, db.pg, interview_id)
        query = sa.select(attempts).where(
            attempts.c.interview_id == interview_id, attempts.c.call_sid == call_sid
        )
        att = (await conn.execute(query)).mappings().first()
        if row is None or att is None or (streamed and att["stream"] != "connected"):
            return None
        now = db.now()
        decision = rule(Interview.of(row), Attempt.of(att), now)
        if decision is None:
            return None
        await change_attempt(conn, interview_id, att["seq"], decision.attempt)
        await move(conn, interview_id, decision.interview, now, outcome=decision.outcome)
        return decision
