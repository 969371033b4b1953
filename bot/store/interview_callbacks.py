"""Twilio's and callers' news about an interview's attempts: callbacks, answers, call-ins."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa
import structlog

from bot.interview import lifecycle
from bot.interview.context import InterviewContext
from bot.interview.decisions import Action, Attempt, Interview
from bot.interview.outcomes import CallbackForm
from bot.store.amd import record_verdict
from bot.store.interview_db import (
    InterviewDb,
    change_attempt,
    decide_for_call,
    lock,
    move,
    read_attempt,
    take,
)
from bot.store.interview_rows import context_of
from bot.store.interview_tables import interviews
from bot.store.store import record_answer

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class CallbackResult:
    """What a status callback changed: the attempt's outcome, and whether to leave voicemail."""

    call_sid: str | None
    outcome: str
    leave_voicemail: bool = False
    hang_up: bool = False  # a fax answered the live call


async def apply_callback(
    db: InterviewDb, interview_id: str, seq: int, form: Mapping[str, str]
) -> CallbackResult | None:
    """A status or AMD callback for one attempt; out-of-order ones (lower SequenceNumber)
    never move the status back. None if the attempt is unknown."""
    async with db.engine.begin() as conn:
        row = await lock(conn, db.pg, interview_id)
        att = await read_attempt(conn, interview_id, seq)
        if row is None or att is None:
            return None
        now = db.now()
        decision = lifecycle.callback(
            Interview.of(row), Attempt.of(att), CallbackForm.of(form), db.policy, now
        )
        await change_attempt(conn, interview_id, seq, decision.attempt)
        await move(conn, interview_id, decision.interview, now, outcome=decision.outcome)
        if decision.call_sid and decision.answered_at is not None:  # the call log's answer time
            await record_answer(conn, decision.call_sid, decision.answered_at)
        if decision.call_sid and "answered_by" in decision.attempt:  # the call log's verdict
            await record_verdict(conn, decision.call_sid, decision.attempt["answered_by"])
    return CallbackResult(
        decision.call_sid, decision.outcome, decision.leave_voicemail, decision.hang_up
    )


async def voice_answer(
    db: InterviewDb, interview_id: str, seq: int, answered_by: str | None, amd_pending: bool
) -> tuple[Action, InterviewContext | None]:
    """The voice webhook of an outbound attempt: ('connect', context), ('wait', None) while
    answering-machine detection has not spoken and amd_pending, ('voicemail', None) (or
    ('fax', None)), or ('gone', None) for an unknown or cancelled interview."""
    async with db.engine.begin() as conn:
        row = await lock(conn, db.pg, interview_id)
        att = await read_attempt(conn, interview_id, seq)
        if row is None or att is None:
            return "gone", None
        now = db.now()
        decision = lifecycle.answer(
            Interview.of(row), Attempt.of(att), answered_by, amd_pending, db.policy, now
        )
        if decision.action == "gone":
            return "gone", None
        await change_attempt(conn, interview_id, seq, decision.attempt)
        moved_by = "in-progress" if decision.action == "connect" else decision.outcome
        await move(conn, interview_id, decision.interview, now, outcome=moved_by)
    if decision.action == "connect":
        return "connect", context_of(row)
    return decision.action, None


async def call_in(db: InterviewDb, interview_id: str, call_sid: str, instance: str) -> bool:
    """An inbound caller keyed in this interview's code: it is theirs now, as an attempt (so
    the dialer will not call them as well). False if it is no longer open (the dialer or
    another caller took it first)."""
    now = db.now()
    open_ = sa.and_(
        interviews.c.id == interview_id, interviews.c.status.in_(lifecycle.CODE_STATUSES)
    )
    async with db.engine.begin() as conn:
        taken = await take(
            conn, open_, interview_id, lifecycle.called_in(call_sid, now), instance, now
        )
    if taken is None:
        return False
    log.info("interview.called_in", interview_id=interview_id, call_sid=call_sid)
    return True


async def call_in_ended(db: InterviewDb, interview_id: str, call_sid: str, *, failed: bool) -> None:
    """The inbound call of an interview ended: completed, or (our failure) retried."""
    await decide_for_call(db, interview_id, call_sid, lambda iv, att, now: lifecycle.call_in_ended(
        iv, att, failed=failed, policy=db.policy, now=now))  # fmt: skip


async def call_unheard(
    db: InterviewDb, interview_id: str, call_sid: str, reason: str, *, inbound: bool
) -> None:
    """A call of an interview ended with the candidate unheard (no_response, one_way_audio):
    the attempt says so and the interview is retried (lifecycle.unheard)."""
    await decide_for_call(db, interview_id, call_sid, lambda iv, att, now: lifecycle.unheard(
        iv, att, reason, inbound=inbound, policy=db.policy, now=now))  # fmt: skip
