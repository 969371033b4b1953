"""The store's side of resuming: a call's drop, and the earlier calls a new call continues."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog

from bot.interview import resume
from bot.interview.decisions import Attempt, Decision, Interview
from bot.store.interview_db import InterviewDb, decide_for_call, read
from bot.store.tables import call_assessments, call_turns, calls

log = structlog.get_logger(__name__)


async def call_dropped(
    db: InterviewDb,
    interview_id: str,
    call_sid: str,
    *,
    reason: str,
    call_started: datetime,
    remaining_s: float | None,
    inbound: bool,
) -> bool:
    """The interview's call ended for `reason`: if that leaves it resumable (see
    bot/interview/resume.py), its attempt is `dropped` and the interview `retrying`, called
    back soon. False when it does not (the usual rules apply)."""

    def rule(iv: Interview, att: Attempt, now: datetime) -> Decision | None:
        return resume.dropped(iv, att, reason=reason, call_started=call_started,
                              remaining_s=remaining_s, inbound=inbound, policy=db.policy,
                              now=now)  # fmt: skip

    decision = await decide_for_call(db, interview_id, call_sid, rule)
    if decision is None:
        return False
    again = decision.interview.next_attempt_at if decision.interview else None
    log.info("interview.call_dropped", interview_id=interview_id, call_sid=call_sid,
             reason=reason, call_back_at=again and again.isoformat())  # fmt: skip
    return True


async def stream_ended(db: InterviewDb, interview_id: str, call_sid: str) -> None:
    """A dialed call's stream ended without a drop: the interview moves on (resume.stream_ended)."""
    await decide_for_call(db, interview_id, call_sid, lambda iv, att, now: resume.stream_ended(
        iv, att, db.policy, now), streamed=True)  # fmt: skip


async def resumption(db: InterviewDb, interview_id: str, call_sid: str) -> resume.Resumption | None:
    """The earlier calls this interview's new call continues (oldest first), or None when it
    starts afresh (no drop within the window, or nothing was said before)."""
    now = db.now()
    async with db.engine.connect() as conn:
        row = await read(conn, interview_id)
        if row is None or not resume.continues(Interview.of(row), now):
            return None
        since = row["resume_since"] - timedelta(seconds=1)  # stored times may lose precision
        query = (
            sa.select(calls)
            .where(
                calls.c.interview_id == interview_id,
                calls.c.started_at >= since,
                calls.c.started_at <= now,
                calls.c.call_sid != call_sid,
            )
            .order_by(calls.c.started_at)
        )
        found = [await _prior(conn, call) for call in (await conn.execute(query)).mappings()]
    if not any(c.transcript for c in found):
        return None
    return resume.Resumption(found)


async def _prior(conn: Any, call: Any) -> resume.PriorCall:
    sid = call["call_sid"]
    turns = await conn.execute(
        sa.select(call_turns).where(call_turns.c.call_sid == sid).order_by(call_turns.c.seq)
    )
    assessed = await conn.execute(
        sa.select(call_assessments)
        .where(call_assessments.c.call_sid == sid)
        .order_by(call_assessments.c.seq)
    )
    report = call["report"] if isinstance(call["report"], dict) else {}
    keys = [k for k in report.get("keys") or [] if isinstance(k, dict) and "call_sid" not in k]
    ended = call["ended_at"] or call["heartbeat_at"] or call["started_at"]
    talked = call["duration_s"]
    if talked is None:
        talked = max(0.0, (ended - call["started_at"]).total_seconds())
    return resume.PriorCall(
        sid,
        call["started_at"],
        float(talked),
        [_turn(t) for t in turns.mappings()],
        [_assessment(a) for a in assessed.mappings()],
        keys,
    )


def _turn(row: Any) -> dict[str, Any]:
    return {
        "speaker": row["speaker"],
        "text": row["text"],
        "at": row["at"].isoformat(),
        "offset_ms": row["offset_ms"],
        "interrupted": bool(row["interrupted"]),
    }


def _assessment(row: Any) -> dict[str, Any]:
    return {
        "question": row["question"],
        "score": row["score"],
        "evidence": row["evidence"],
        "at": row["at"].isoformat(),
        "offset_ms": row["offset_ms"],
    }
