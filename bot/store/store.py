"""Store: the call log's writes, one engine shared by every call, short transactions.

The only module that writes the calls, call_turns and call_assessments tables; the reads are
in bot/store/call_queries.py, opening the engine in bot/store/engine.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

import bot.store.call_queries as queries
from bot.endreasons import CALLER_GONE, EndReason
from bot.interview.outcomes import machine
from bot.store.call_fields import column_values, error_entry
from bot.store.call_fields import now as _now
from bot.store.engine import open_engine
from bot.store.interview_tables import interview_attempts
from bot.store.outbox_events import call_finished, lock_interview_of_call
from bot.store.rows import SPEAKERS
from bot.store.tables import call_assessments, call_turns, calls

log = structlog.get_logger(__name__)


class UnknownCall(LookupError):
    """No call with this CallSid in the log."""


class Store:
    """The call log. Create with `await Store.open(url)`; every method is safe to call
    concurrently from many calls."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @classmethod
    async def open(cls, url: str, *, connect_args: dict[str, Any] | None = None) -> Store:
        """Connect (sqlite+aiosqlite:// or postgresql+asyncpg://) and migrate to head."""
        return cls(await open_engine(url, connect_args=connect_args))

    async def close(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    # --- writes -----------------------------------------------------------------------------

    async def call_started(
        self,
        *,
        call_sid: str,
        direction: str,
        started_at: datetime,
        from_masked: str | None,
        to_masked: str | None,
        instance: str | None,
        interview_id: str | None = None,
        profile: str | None = None,
    ) -> None:
        """Record a call as in progress; a second start for the same CallSid updates it."""
        row = {
            "call_sid": call_sid,
            "direction": direction,
            "status": "in_progress",
            "started_at": started_at,
            "from_masked": from_masked,
            "to_masked": to_masked,
            "instance": instance,
            "interview_id": interview_id,
            "profile": profile,
            "heartbeat_at": _now(),
        }
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(calls).values(**row)
        keep = {"interview_id", "profile", "from_masked", "to_masked", "instance"}
        update = {
            name: sa.func.coalesce(stmt.excluded[name], calls.c[name])
            if name in keep
            else stmt.excluded[name]
            for name in ("direction", "started_at", "heartbeat_at", *sorted(keep))
        }
        stmt = stmt.on_conflict_do_update(index_elements=[calls.c.call_sid], set_=update)
        async with self.engine.begin() as conn:
            await conn.execute(stmt)

    async def _update(self, conn: AsyncConnection, call_sid: str, values: dict[str, Any]) -> None:
        values.setdefault("heartbeat_at", _now())
        result = await conn.execute(
            sa.update(calls).where(calls.c.call_sid == call_sid).values(**values)
        )
        if result.rowcount == 0:
            raise UnknownCall(call_sid)

    async def call_updated(self, call_sid: str, **fields: Any) -> None:
        """Set any columns of a call (usage={…} and response_ms=[…] accepted); heartbeat = now."""
        values = column_values(fields)
        async with self.engine.begin() as conn:
            await self._update(conn, call_sid, values)

    async def call_ended(self, call_sid: str, **fields: Any) -> None:
        """As call_updated; status defaults to completed, ended_at to now, duration_s to
        ended_at - started_at."""
        values = column_values(fields)
        values.setdefault("status", "completed")
        values.setdefault("ended_at", _now())
        async with self.engine.begin() as conn:
            await lock_interview_of_call(conn, call_sid)  # results webhook: lock order
            await self._update(conn, call_sid, values)
            if values.get("duration_s") is None:
                started = await conn.scalar(
                    sa.select(calls.c.started_at).where(calls.c.call_sid == call_sid)
                )
                duration = max(0.0, (values["ended_at"] - started).total_seconds())
                await conn.execute(
                    sa.update(calls)
                    .where(calls.c.call_sid == call_sid)
                    .values(duration_s=round(duration, 3))
                )
            await call_finished(conn, call_sid, _now())  # call.ended, in this transaction

    async def add_turn(
        self,
        call_sid: str,
        *,
        speaker: str,
        text: str,
        at: datetime,
        offset_ms: float,
        interrupted: bool,
    ) -> None:
        """Append a transcript turn (seq = next for this call); also refreshes the heartbeat.

        Idempotent: a turn already stored (same speaker, time and text) is not added again, so
        a write retried after a lost answer, or a journal replayed twice, adds it once."""
        if speaker not in SPEAKERS:
            raise ValueError(f"speaker must be one of {', '.join(SPEAKERS)}")
        next_seq = (
            sa.select(sa.func.coalesce(sa.func.max(call_turns.c.seq), 0) + 1)
            .where(call_turns.c.call_sid == call_sid)
            .scalar_subquery()
        )
        stored = sa.select(call_turns.c.id).where(
            call_turns.c.call_sid == call_sid,
            call_turns.c.speaker == speaker,
            call_turns.c.at == at,
            call_turns.c.text == text,
        )
        async with self.engine.begin() as conn:
            # The update first: it takes the call's row lock (PostgreSQL) or the write lock
            # (SQLite), so concurrent turns of one call get distinct seq values (and the
            # check for an already stored turn cannot race).
            await self._update(conn, call_sid, {})
            if await conn.scalar(stored.limit(1)) is not None:
                return
            await conn.execute(
                sa.insert(call_turns).values(
                    call_sid=call_sid,
                    seq=next_seq,
                    speaker=speaker,
                    text=text,
                    at=at,
                    offset_ms=float(offset_ms),
                    interrupted=bool(interrupted),
                )
            )

    async def turn_cut_off(self, call_sid: str, *, at: datetime) -> None:
        """Mark the bot turn that started at `at` as cut off by a barge-in."""
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.update(call_turns)
                .where(
                    call_turns.c.call_sid == call_sid,
                    call_turns.c.speaker == "bot",
                    call_turns.c.at == at,
                )
                .values(interrupted=True)
            )

    async def add_assessment(
        self,
        call_sid: str,
        *,
        question: str,
        score: int,
        evidence: str,
        at: datetime,
        offset_ms: float,
    ) -> None:
        """Append one assessment of an answer (seq = next for this call); idempotent as
        add_turn (same question and time: stored once)."""
        next_seq = (
            sa.select(sa.func.coalesce(sa.func.max(call_assessments.c.seq), 0) + 1)
            .where(call_assessments.c.call_sid == call_sid)
            .scalar_subquery()
        )
        stored = sa.select(call_assessments.c.id).where(
            call_assessments.c.call_sid == call_sid,
            call_assessments.c.question == question,
            call_assessments.c.at == at,
        )
        async with self.engine.begin() as conn:
            await self._update(conn, call_sid, {})  # the call's lock, as in add_turn
            if await conn.scalar(stored.limit(1)) is not None:
                return
            await conn.execute(
                sa.insert(call_assessments).values(
                    call_sid=call_sid,
                    seq=next_seq,
                    question=question,
                    score=int(score),
                    evidence=evidence,
                    at=at,
                    offset_ms=float(offset_ms),
                )
            )

    async def add_error(
        self,
        call_sid: str,
        *,
        source: str,
        code: str | None,
        message: str,
        at: datetime | None = None,
    ) -> None:
        """Append one {at, source, code, message} to the call's errors."""
        entry = error_entry(source=source, code=code, message=message, at=at)
        async with self.engine.begin() as conn:
            await self._update(conn, call_sid, {})
            errors = await conn.scalar(
                sa.select(calls.c.errors).where(calls.c.call_sid == call_sid)
            )
            await conn.execute(
                sa.update(calls)
                .where(calls.c.call_sid == call_sid)
                .values(errors=[*(errors or []), entry])
            )

    async def mark_interrupted(self, *, stale_after_s: float, now: datetime | None = None) -> int:
        """Calls in progress with no heartbeat for stale_after_s become interrupted, ending at
        their last heartbeat. Returns how many."""
        cutoff = (now or _now()) - timedelta(seconds=stale_after_s)
        async with self.engine.connect() as conn:
            stale = (
                await conn.execute(
                    sa.select(calls.c.call_sid, calls.c.started_at, calls.c.heartbeat_at).where(
                        calls.c.status == "in_progress", calls.c.heartbeat_at < cutoff
                    )
                )
            ).all()
        count = 0
        for sid, started, beat in stale:
            async with self.engine.begin() as conn:
                await lock_interview_of_call(conn, sid)
                result = await conn.execute(
                    sa.update(calls)
                    .where(
                        calls.c.call_sid == sid,
                        calls.c.status == "in_progress",
                        calls.c.heartbeat_at == beat,
                    )
                    .values(
                        status="interrupted",
                        end_reason=EndReason.INTERRUPTED,
                        ended_at=beat,
                        duration_s=round(max(0.0, (beat - started).total_seconds()), 3),
                    )
                )
                count += result.rowcount
                if result.rowcount:
                    await call_finished(conn, sid, _now())
        if count:
            log.warning("store.calls_interrupted", count=count, stale_after_s=stale_after_s)
        return count

    async def call_resumed(self, call_sid: str) -> None:
        """A call the sweeper marked `interrupted` while it could not write (a database outage)
        is in progress after all: back to `in_progress`, its end cleared, heartbeat = now."""
        resumed = {"status": "in_progress", "end_reason": None, "ended_at": None,
                   "duration_s": None, "heartbeat_at": _now()}  # fmt: skip
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.update(calls)
                .where(calls.c.call_sid == call_sid, calls.c.status == "interrupted")
                .values(**resumed)
            )

    async def set_report(self, call_sid: str, report: dict[str, Any]) -> None:
        """Store the interview report of a call still `interrupted` (its heartbeat is left
        alone): a call whose end arrived meanwhile (a replayed journal) keeps its own report."""
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.update(calls)
                .where(calls.c.call_sid == call_sid, calls.c.status == "interrupted")
                .values(report=report)
            )

    async def copy_answered_at(self, call_sid: str) -> None:
        """An outbound call's answer time, from Twilio's `answered` callback for its attempt."""
        answered = (
            sa.select(interview_attempts.c.answered_at)
            .where(
                interview_attempts.c.call_sid == call_sid,
                interview_attempts.c.answered_at.is_not(None),
            )
            .limit(1)
            .scalar_subquery()
        )
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.update(calls)
                .where(calls.c.call_sid == call_sid, calls.c.answered_at.is_(None))
                .values(answered_at=answered)
            )

    # --- reads (bot/store/call_queries.py) --------------------------------------------------

    async def interrupted_without_report(self, limit: int = 20) -> list[dict[str, Any]]:
        """Interrupted calls (their replica died) with no report yet, with turns and assessments."""
        return await queries.interrupted_without_report(self.engine, limit)

    async def list_calls(
        self,
        *,
        since: datetime | None = None,
        status: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        direction: str | None = None,
        profile: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Calls newest first, and the cursor of the next page (None on the last page)."""
        return await queries.list_calls(
            self.engine, since=since, status=status, limit=limit, cursor=cursor,
            direction=direction, profile=profile,
        )  # fmt: skip

    async def get_call(self, call_sid: str) -> dict[str, Any] | None:
        """The call with its transcript (turns in order), assessments and report, or None."""
        return await queries.get_call(self.engine, call_sid)


async def record_answer(conn: AsyncConnection, call_sid: str, at: datetime) -> None:
    """In the caller's transaction (a status callback's): the call's answer time, if the call
    log has a record of it and no answer time yet."""
    await conn.execute(
        sa.update(calls)
        .where(calls.c.call_sid == call_sid, calls.c.answered_at.is_(None))
        .values(answered_at=at)
    )


async def record_amd(
    conn: AsyncConnection,
    call_sid: str,
    *,
    answered_by: str | None = None,
    voicemail_at: datetime | None = None,
) -> None:
    """In the caller's transaction (an AMD callback's, the voicemail's): the call's AnsweredBy
    and when the voicemail message was left, if the call log has a record of it; a call that
    already ended as a hang-up (the verdict came after it) ended for a machine."""
    if answered_by:
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
    if voicemail_at is not None:
        await conn.execute(
            sa.update(calls)
            .where(calls.c.call_sid == call_sid, calls.c.voicemail_at.is_(None))
            .values(voicemail_at=voicemail_at)
        )
