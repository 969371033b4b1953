"""InterviewStore: scheduled interviews and their dial attempts (claims, callbacks, directory)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.interview.context import InterviewContext
from bot.scheduling import rules
from bot.scheduling.rules import RetryPolicy, Window
from bot.store.interview_rows import context_of, integer, interview_json, timestamp
from bot.store.interview_tables import interview_attempts as attempts
from bot.store.interview_tables import interviews
from bot.store.rows import iso
from bot.store.tables import calls

log = structlog.get_logger(__name__)

CODE_EARLY = timedelta(minutes=15)  # a code works from 15 minutes before the scheduled time …
CODE_LATE = timedelta(days=7)  # … until a week after it, while the interview is still open
CODE_STATUSES = ("scheduled", "retrying", "failed")
TERMINAL_CALL = ("completed", *rules.NOT_REACHED)


class NotFound(LookupError):
    """No interview with this id."""


class Conflict(Exception):
    """The interview's status does not allow this change (message says why)."""


@dataclass(frozen=True)
class Claim:
    """One interview claimed for dialing, with its attempt already recorded."""

    interview_id: str
    seq: int
    phone: str
    candidate_name: str


@dataclass(frozen=True)
class CallbackResult:
    """What a status callback changed: the attempt's outcome, and whether to leave voicemail."""

    call_sid: str | None
    outcome: str
    leave_voicemail: bool = False


async def copy_answered_at(engine: AsyncEngine, call_sid: str) -> None:
    """Give an outbound call's record the answer time Twilio reported for its attempt."""
    answered = (
        sa.select(attempts.c.answered_at)
        .where(attempts.c.call_sid == call_sid, attempts.c.answered_at.is_not(None))
        .limit(1)
        .scalar_subquery()
    )
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(calls)
            .where(calls.c.call_sid == call_sid, calls.c.answered_at.is_(None))
            .values(answered_at=answered)
        )


class InterviewStore:
    """Scheduled interviews on the call log's engine; implements InterviewDirectory."""

    def __init__(
        self,
        engine: AsyncEngine,
        policy: RetryPolicy | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.engine = engine
        self.policy = policy or RetryPolicy()
        self.now = now
        self.pg = engine.dialect.name == "postgresql"

    # --- scheduling -----------------------------------------------------------------------

    async def create(self, fields: dict[str, Any]) -> dict[str, Any]:
        """A new scheduled interview (fields already validated) with a fresh id and code."""
        now = self.now()
        row = {
            "window_start": rules.DEFAULT_WINDOW[0],
            "window_end": rules.DEFAULT_WINDOW[1],
            "role": None,
            **fields,
        }
        rules.check_schedule(row, now)
        row.update(
            status="scheduled",
            next_attempt_at=row["scheduled_at"],
            tries=0,
            attempts_total=0,
            created_at=now,
            updated_at=now,
        )
        for _ in range(20):  # a code clash is rare (1 in 10^6 per open interview): draw again
            row["id"] = "iv_" + secrets.token_hex(8)
            row["code"] = f"{secrets.randbelow(1_000_000):06d}"
            try:
                async with self.engine.begin() as conn:
                    await conn.execute(sa.insert(interviews).values(**row))
            except IntegrityError:
                continue
            return await self.get(row["id"]) or {}
        raise RuntimeError("could not draw a unique interview code")

    async def list(self, *, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Interviews by scheduled time, optionally of one status."""
        query = sa.select(interviews).order_by(interviews.c.scheduled_at, interviews.c.id)
        if status:
            query = query.where(interviews.c.status == status)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query.limit(limit))).mappings().all()
        return [interview_json(r) for r in rows]

    async def get(self, interview_id: str) -> dict[str, Any] | None:
        """The interview with its attempts in order, or None."""
        async with self.engine.connect() as conn:
            row = await self._row(conn, interview_id)
            if row is None:
                return None
            tries = (
                (
                    await conn.execute(
                        sa.select(attempts)
                        .where(attempts.c.interview_id == interview_id)
                        .order_by(attempts.c.seq)
                    )
                )
                .mappings()
                .all()
            )
        return interview_json(row, list(tries))

    async def reschedule(self, interview_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Change an interview not being called now; it is scheduled again with a fresh budget."""
        now = self.now()
        async with self.engine.begin() as conn:
            row = await self._lock(conn, interview_id)
            if row is None:
                raise NotFound(interview_id)
            if row["status"] not in rules.RESCHEDULABLE:
                raise Conflict(f"status: a {row['status']} interview cannot be changed")
            merged = {**dict(row), **fields}
            rules.check_schedule(merged, now)
            await conn.execute(
                sa.update(interviews)
                .where(interviews.c.id == interview_id)
                .values(
                    **fields,
                    status="scheduled",
                    next_attempt_at=merged["scheduled_at"],
                    tries=0,
                    updated_at=now,
                )
            )
        return await self.get(interview_id) or {}

    async def cancel(self, interview_id: str) -> dict[str, Any]:
        """Cancel an interview that is not being called now (cancelling twice is fine)."""
        async with self.engine.begin() as conn:
            row = await self._lock(conn, interview_id)
            if row is None:
                raise NotFound(interview_id)
            if row["status"] not in rules.CANCELLABLE:
                raise Conflict(f"status: a {row['status']} interview cannot be cancelled")
            await conn.execute(
                sa.update(interviews)
                .where(interviews.c.id == interview_id)
                .values(status="cancelled", next_attempt_at=None, updated_at=self.now())
            )
        return await self.get(interview_id) or {}

    # --- the dialer -----------------------------------------------------------------------

    async def claim_due(self, instance: str, limit: int = 1) -> list[Claim]:
        """Claim up to `limit` due interviews inside their window; each gets its attempt row
        (outcome `dialing`) in the same transaction, before any call is placed. Due ones
        outside their window are moved to the window's next opening instead."""
        now = self.now()
        due = sa.and_(interviews.c.status.in_(rules.DUE), interviews.c.next_attempt_at <= now)
        query = sa.select(interviews).where(due).order_by(interviews.c.next_attempt_at)
        claims: list[Claim] = []
        if self.pg:  # row locks: concurrent claimers skip each other's rows
            async with self.engine.begin() as conn:
                rows = (
                    (await conn.execute(query.limit(limit).with_for_update(skip_locked=True)))
                    .mappings()
                    .all()
                )
                for row in rows:
                    claim = await self._claim(conn, row, due, now, instance)
                    claims += [claim] if claim else []
            return claims
        async with self.engine.connect() as conn:  # SQLite: read, then a conditional UPDATE
            rows = (await conn.execute(query.limit(limit * 4))).mappings().all()
        for row in rows:
            if len(claims) >= limit:
                break
            async with self.engine.begin() as conn:  # the UPDATE first takes the write lock
                claim = await self._claim(conn, row, due, now, instance)
            claims += [claim] if claim else []
        return claims

    async def _claim(
        self, conn: AsyncConnection, row: Any, due: Any, now: datetime, instance: str
    ) -> Claim | None:
        this = sa.and_(interviews.c.id == row["id"], due)
        window = Window.of(row)
        if not window.contains(now):
            await conn.execute(
                sa.update(interviews)
                .where(this)
                .values(next_attempt_at=window.next_open(now), updated_at=now)
            )
            return None
        current = await self._take(conn, this, row["id"], "dialing", instance, now,
                                   {"outcome": "dialing"})  # fmt: skip
        if current is None:
            return None  # another dialer won it
        return Claim(
            row["id"], current["attempts_total"], current["phone"], current["candidate_name"]
        )

    async def _take(
        self,
        conn: AsyncConnection,
        where: Any,
        interview_id: str,
        status: str,
        instance: str,
        now: datetime,
        attempt: dict[str, Any],
    ) -> Any:
        """Move the interview to `status` if `where` still holds (one taker wins) and record its
        next attempt with the `attempt` values; the updated row, or None if someone else won."""
        won = await conn.execute(
            sa.update(interviews)
            .where(where)
            .values(
                status=status,
                tries=interviews.c.tries + 1,
                attempts_total=interviews.c.attempts_total + 1,
                claimed_by=instance,
                next_attempt_at=None,
                updated_at=now,
            )
        )
        if won.rowcount != 1:
            return None
        current = await self._row(conn, interview_id)
        assert current is not None
        await conn.execute(
            sa.insert(attempts).values(
                interview_id=interview_id,
                seq=current["attempts_total"],
                created_at=now,
                instance=instance,
                last_sequence=-1,
                **attempt,
            )
        )
        return current

    async def dialed(self, claim: Claim, call_sid: str) -> None:
        """Twilio accepted the call: remember its CallSid (a callback may have come first)."""
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.update(attempts)
                .where(*self._attempt(claim.interview_id, claim.seq))
                .values(call_sid=sa.func.coalesce(attempts.c.call_sid, call_sid))
            )
            await conn.execute(
                sa.update(attempts)
                .where(
                    *self._attempt(claim.interview_id, claim.seq), attempts.c.outcome == "dialing"
                )
                .values(outcome="queued")
            )

    async def dial_failed(
        self,
        claim: Claim,
        *,
        http_status: int | None,
        code: int | None,
        message: str,
        sent: bool = True,
    ) -> str:
        """Twilio refused the call (or did not answer): store the error; retry or stop.

        No HTTP status with sent=True (a timeout, a reset) means Twilio may have placed the
        call: the attempt stays `dialing` and its callbacks, or recovery, decide. sent=False
        means the request never left (connection refused): a transient error. Returns the
        attempt's outcome.
        """
        values: dict[str, Any] = {
            "error_code": None if code is None else str(code),
            "error_message": message[:500],
            "http_status": http_status,
        }
        if http_status is None and sent:
            outcome = "dialing"  # unknown whether Twilio placed it: callbacks or recovery tell
        else:
            outcome = "transient_error" if rules.transient(http_status, code) else "rejected"
            values["outcome"] = outcome
        async with self.engine.begin() as conn:
            row = await self._lock(conn, claim.interview_id)
            await conn.execute(
                sa.update(attempts)
                .where(*self._attempt(claim.interview_id, claim.seq))
                .values(**values)
            )
            if row is not None and row["attempts_total"] == claim.seq:
                await self._advance(conn, row, outcome)
        return outcome

    async def recover_stale(self, older_than_s: float) -> int:
        """Attempts claimed more than older_than_s ago that Twilio never reported on (the
        dialer stopped before dialing, or the request was lost): not placed; try again."""
        now = self.now()
        cutoff = now - timedelta(seconds=older_than_s)
        query = sa.select(attempts.c.interview_id, attempts.c.seq).where(
            attempts.c.outcome == "dialing",
            attempts.c.call_sid.is_(None),
            attempts.c.created_at < cutoff,
        )
        async with self.engine.connect() as conn:
            stale = (await conn.execute(query)).all()
        count = 0
        for interview_id, seq in stale:
            async with self.engine.begin() as conn:
                row = await self._lock(conn, interview_id)
                done = await conn.execute(
                    sa.update(attempts)
                    .where(
                        *self._attempt(interview_id, seq),
                        attempts.c.outcome == "dialing",
                        attempts.c.call_sid.is_(None),
                    )
                    .values(
                        outcome="not_placed",
                        error_message="no word from Twilio within "
                        f"{older_than_s:g}s of the claim: the call was never placed",
                    )
                )
                if done.rowcount and row is not None and row["attempts_total"] == seq:
                    if row["status"] == "dialing":  # a try that never rang costs nothing
                        await conn.execute(
                            sa.update(interviews)
                            .where(interviews.c.id == interview_id)
                            .values(
                                status="retrying",
                                tries=sa.case(
                                    (interviews.c.tries > 0, interviews.c.tries - 1), else_=0
                                ),
                                next_attempt_at=Window.of(row).next_open(now),
                                updated_at=now,
                            )
                        )
                count += done.rowcount
        if count:
            log.warning("dialer.recovered_unplaced", count=count)
        return count

    async def resolve_stuck(self, older_than_s: float, instance: str) -> int:
        """Interviews stuck in dialing/in_progress whose call is gone: see bot/store/stuck.py."""
        from bot.store.stuck import resolve_stuck

        return await resolve_stuck(self, older_than_s, instance)

    # --- Twilio's callbacks ---------------------------------------------------------------

    async def apply_callback(
        self, interview_id: str, seq: int, form: Mapping[str, str]
    ) -> CallbackResult | None:
        """A status or AMD callback for one attempt; out-of-order ones (lower SequenceNumber)
        never move the status back. None if the attempt is unknown."""
        now = self.now()
        async with self.engine.begin() as conn:
            row = await self._lock(conn, interview_id)
            att = await self._attempt_row(conn, interview_id, seq)
            if row is None or att is None:
                return None
            values: dict[str, Any] = {}
            sid, status = form.get("CallSid") or None, form.get("CallStatus") or None
            number, when = integer(form.get("SequenceNumber")), timestamp(form.get("Timestamp"))
            if sid and not att["call_sid"]:
                values["call_sid"] = sid
            if status == "in-progress" and att["answered_at"] is None:
                values["answered_at"] = when or now
            newer = number is not None and number > att["last_sequence"]
            if status and (newer or (number is None and att["call_status"] not in TERMINAL_CALL)):
                values["call_status"] = status
                if number is not None:
                    values["last_sequence"] = number
            if status in TERMINAL_CALL and att["ended_at"] is None:
                values["ended_at"] = when or now
                values["duration_s"] = integer(form.get("CallDuration"))
            if form.get("AnsweredBy") and not att["answered_by"]:
                values["answered_by"] = form["AnsweredBy"][:32]
            merged = {**dict(att), **values}
            result = att["outcome"]
            if att["outcome"] not in ("rejected", "transient_error", "not_placed") and (
                merged["call_status"] or merged["answered_by"]
            ):
                result = rules.outcome(merged["call_status"], merged["answered_by"])
                values["outcome"] = result
            if values:
                await conn.execute(
                    sa.update(attempts).where(*self._attempt(interview_id, seq)).values(**values)
                )
            if row["attempts_total"] == seq:
                await self._advance(conn, row, result)
            voicemail = (
                result == "voicemail"
                and att["outcome"] != "voicemail"
                and merged["stream"] == "connected"
                and merged["call_status"] not in TERMINAL_CALL
            )
            if "answered_at" in values and merged["call_sid"]:  # the call log's answer time
                await conn.execute(
                    sa.update(calls)
                    .where(calls.c.call_sid == merged["call_sid"], calls.c.answered_at.is_(None))
                    .values(answered_at=values["answered_at"])
                )
        return CallbackResult(merged["call_sid"], result, voicemail)

    async def voice_answer(
        self, interview_id: str, seq: int, answered_by: str | None, amd_pending: bool
    ) -> tuple[str, InterviewContext | None]:
        """The voice webhook of an outbound attempt: ('connect', context), ('wait', None) while
        answering-machine detection has not spoken and amd_pending, ('voicemail', None), or
        ('gone', None) for an unknown or cancelled interview."""
        async with self.engine.begin() as conn:
            row = await self._lock(conn, interview_id)
            att = await self._attempt_row(conn, interview_id, seq)
            if row is None or att is None or row["status"] == "cancelled":
                return "gone", None
            known = att["answered_by"] or answered_by
            result = rules.outcome(att["call_status"] or "in-progress", known)
            if result in ("voicemail", "fax"):
                action, values = result, {"stream": "voicemail", "outcome": result}
            elif known is None and amd_pending:
                action, values = "wait", {"stream": "waiting"}
            else:
                action, values = "connect", {"stream": "connected"}
            if answered_by and not att["answered_by"]:
                values["answered_by"] = answered_by[:32]
            await conn.execute(
                sa.update(attempts).where(*self._attempt(interview_id, seq)).values(**values)
            )
            if action != "wait" and row["attempts_total"] == seq:
                await self._advance(conn, row, "in-progress" if action == "connect" else result)
        return ("connect", context_of(row)) if action == "connect" else (action, None)

    # --- candidates who call in (the code gate) ---------------------------------------------

    async def call_in(self, interview_id: str, call_sid: str, instance: str) -> bool:
        """An inbound caller keyed in this interview's code: it is theirs now, as an attempt
        (so the dialer will not call them as well). False if it is no longer open (the dialer
        or another caller took it first)."""
        now = self.now()
        open_ = sa.and_(interviews.c.id == interview_id, interviews.c.status.in_(CODE_STATUSES))
        attempt = {"call_sid": call_sid, "outcome": "in-progress", "call_status": "in-progress",
                   "answered_at": now, "stream": "connected"}  # fmt: skip
        async with self.engine.begin() as conn:
            taken = await self._take(conn, open_, interview_id, "in_progress", instance, now,
                                     attempt)  # fmt: skip
        if taken is None:
            return False
        log.info("interview.called_in", interview_id=interview_id, call_sid=call_sid)
        return True

    async def call_in_ended(self, interview_id: str, call_sid: str, *, failed: bool) -> None:
        """The inbound call of an interview ended: completed, or (our failure) retried."""
        now = self.now()
        async with self.engine.begin() as conn:
            row = await self._lock(conn, interview_id)
            query = sa.select(attempts).where(
                attempts.c.interview_id == interview_id, attempts.c.call_sid == call_sid
            )
            att = (await conn.execute(query)).mappings().first()
            if row is None or att is None or att["ended_at"] is not None:
                return
            outcome = "transient_error" if failed else "completed"
            values: dict[str, Any] = {"outcome": outcome, "call_status": "completed",
                                      "ended_at": now}  # fmt: skip
            if att["answered_at"] is not None:
                values["duration_s"] = int((now - att["answered_at"]).total_seconds())
            if failed:
                values["error_message"] = "the interview failed on our side (see the call log)"
            await conn.execute(
                sa.update(attempts).where(*self._attempt(interview_id, att["seq"])).values(**values)
            )
            if row["attempts_total"] == att["seq"]:
                await self._advance(conn, row, outcome)

    # --- InterviewDirectory ---------------------------------------------------------------

    async def interview_by_code(self, code: str) -> InterviewContext | None:
        """The open interview with this code, from 15 minutes before its time to a week after."""
        if not (len(code) == 6 and code.isdigit()):
            return None
        now = self.now()
        async with self.engine.connect() as conn:
            row = (
                (
                    await conn.execute(
                        sa.select(interviews).where(
                            interviews.c.code == code,
                            interviews.c.status.in_(CODE_STATUSES),
                            interviews.c.scheduled_at <= now + CODE_EARLY,
                            interviews.c.scheduled_at >= now - CODE_LATE,
                        )
                    )
                )
                .mappings()
                .first()
            )
        return None if row is None else context_of(row)

    async def interview_by_id(self, interview_id: str) -> InterviewContext | None:
        """The interview with this id (any status), as a call context."""
        async with self.engine.connect() as conn:
            row = await self._row(conn, interview_id)
        return None if row is None else context_of(row)

    # --- helpers --------------------------------------------------------------------------

    async def _advance(self, conn: AsyncConnection, row: Any, attempt_outcome: str) -> None:
        """Move the interview on from its latest attempt's outcome (idempotent)."""
        step, current = rules.interview_step(attempt_outcome), row["status"]
        live = current in ("dialing", "in_progress")
        values: dict[str, Any] = {}
        if step == "in_progress" and current == "dialing":
            values = {"status": "in_progress"}
        elif step == "completed" and live:
            values = {"status": "completed"}
        elif step == "failed" and (live or current == "completed"):
            values = {"status": "failed"}
        elif step == "retry" and (
            live or (current == "completed" and attempt_outcome == "voicemail")
        ):
            after = self.policy.after_failure(row["tries"], self.now(), Window.of(row))
            values = (
                {"status": "failed"}
                if after is None
                else {"status": "retrying", "next_attempt_at": after}
            )
        if values:
            values["updated_at"] = self.now()
            await conn.execute(
                sa.update(interviews).where(interviews.c.id == row["id"]).values(**values)
            )
            log.info(
                "interview.status",
                interview_id=row["id"],
                status=values["status"],
                outcome=attempt_outcome,
                next_attempt_at=iso(values.get("next_attempt_at")),
            )

    @staticmethod
    def _attempt(interview_id: str, seq: int) -> tuple[Any, Any]:
        return attempts.c.interview_id == interview_id, attempts.c.seq == seq

    async def _attempt_row(self, conn: AsyncConnection, interview_id: str, seq: int) -> Any:
        query = sa.select(attempts).where(*self._attempt(interview_id, seq))
        return (await conn.execute(query)).mappings().first()

    async def _row(self, conn: AsyncConnection, interview_id: str) -> Any:
        query = sa.select(interviews).where(interviews.c.id == interview_id)
        return (await conn.execute(query)).mappings().first()

    async def _lock(self, conn: AsyncConnection, interview_id: str) -> Any:
        """The interview row, locked until the transaction ends (SQLite: the write lock)."""
        if self.pg:
            query = sa.select(interviews).where(interviews.c.id == interview_id)
            return (await conn.execute(query.with_for_update())).mappings().first()
        await conn.execute(
            sa.update(interviews)
            .where(interviews.c.id == interview_id)
            .values(updated_at=interviews.c.updated_at)
        )
        return await self._row(conn, interview_id)
