"""InterviewStore: scheduled interviews and their attempts, as ops and the code gate see them.

The rules live in bot/interview/lifecycle.py; this store locks and reads rows, asks a rule, and
writes its decision in the same transaction. The dialer's operations are in interview_dialing,
Twilio's callbacks and call-ins in interview_callbacks, the sweep of stuck ones in stuck.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

import bot.store.amd as amd
import bot.store.interview_callbacks as callbacks
import bot.store.interview_dialing as dialing
import bot.store.interview_resume as resuming
import bot.store.stuck as stuck
from bot.interview import lifecycle
from bot.interview.context import InterviewContext
from bot.interview.decisions import Action
from bot.interview.lifecycle import Conflict
from bot.interview.resume import Resumption
from bot.interview.schedule import RetryPolicy
from bot.store.interview_callbacks import CallbackResult
from bot.store.interview_db import lock, read
from bot.store.interview_dialing import Claim
from bot.store.interview_rows import context_of, interview_json
from bot.store.interview_tables import interview_attempts as attempts
from bot.store.interview_tables import interviews

__all__ = ["CallbackResult", "Claim", "Conflict", "InterviewStore", "NotFound"]


class NotFound(LookupError):
    """No interview with this id."""


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

    # --- scheduling by ops ------------------------------------------------------------------

    async def create(self, fields: dict[str, Any]) -> dict[str, Any]:
        """A new scheduled interview (fields already validated) with a fresh id and code."""
        row = lifecycle.created(fields, self.now())
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
        query = sa.select(attempts).where(attempts.c.interview_id == interview_id)
        async with self.engine.connect() as conn:
            row = await read(conn, interview_id)
            if row is None:
                return None
            tries = (await conn.execute(query.order_by(attempts.c.seq))).mappings().all()
        return interview_json(row, list(tries))

    async def reschedule(self, interview_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Change an interview not being called now; it is scheduled again with a fresh budget."""

        def rule(row: Mapping[str, Any]) -> dict[str, Any]:
            if row.get("redacted_at") is not None:  # its number is masked: nothing to dial
                raise Conflict("status: an erased interview cannot be changed")
            return lifecycle.rescheduled(row, fields, self.now())

        await self._change(interview_id, rule)
        return await self.get(interview_id) or {}

    async def cancel(self, interview_id: str) -> dict[str, Any]:
        """Cancel an interview that is not being called now (cancelling twice is fine)."""
        await self._change(interview_id, lambda row: lifecycle.cancelled(row["status"], self.now()))
        return await self.get(interview_id) or {}

    async def _change(
        self, interview_id: str, rule: Callable[[Mapping[str, Any]], dict[str, Any]]
    ) -> None:
        """Lock the row, ask the rule for its new columns (Conflict if refused), write them."""
        async with self.engine.begin() as conn:
            row = await lock(conn, self.pg, interview_id)
            if row is None:
                raise NotFound(interview_id)
            values = rule(dict(row))
            await conn.execute(
                sa.update(interviews).where(interviews.c.id == interview_id).values(**values)
            )

    # --- the dialer (bot/store/interview_dialing.py) ---------------------------------------

    async def claim_due(self, instance: str, limit: int = 1) -> list[Claim]:
        """Claim up to `limit` due interviews inside their window, each attempt recorded first."""
        return await dialing.claim_due(self, instance, limit)

    async def dialed(self, claim: Claim, call_sid: str) -> None:
        """Twilio accepted the call: remember its CallSid (a callback may have come first)."""
        await dialing.dialed(self, claim, call_sid)

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
        return await dialing.dial_failed(
            self, claim, http_status=http_status, code=code, message=message, sent=sent
        )

    async def recover_stale(self, older_than_s: float) -> int:
        """Claims Twilio never reported on within older_than_s: not placed; try again."""
        return await dialing.recover_stale(self, older_than_s)

    async def resolve_stuck(self, older_than_s: float, instance: str) -> int:
        """Interviews stuck in dialing/in_progress whose call is gone: see bot/store/stuck.py."""
        return await stuck.resolve_stuck(self, older_than_s, instance)

    # --- Twilio's callbacks and call-ins (bot/store/interview_callbacks.py) ----------------

    async def apply_callback(
        self, interview_id: str, seq: int, form: Mapping[str, str]
    ) -> CallbackResult | None:
        """A status or AMD callback for one attempt; None if the attempt is unknown."""
        return await callbacks.apply_callback(self, interview_id, seq, form)

    async def voice_answer(
        self, interview_id: str, seq: int, answered_by: str | None, amd_pending: bool
    ) -> tuple[Action, InterviewContext | None]:
        """The voice webhook of an outbound attempt: ('connect', context), ('wait', None),
        ('voicemail', None), ('fax', None) or ('gone', None)."""
        return await callbacks.voice_answer(self, interview_id, seq, answered_by, amd_pending)

    async def voicemail_left(self, call_sid: str) -> None:
        """The voicemail message was left on this live call (REST update): record when."""
        await amd.voicemail_left(self.engine, call_sid, self.now())

    async def machine_verdict(self, call_sid: str) -> str | None:
        """This call's stored AMD verdict if it says a machine or fax, else None."""
        return await amd.machine_verdict(self.engine, call_sid)

    async def call_in(self, interview_id: str, call_sid: str, instance: str) -> bool:
        """An inbound caller keyed in this interview's code: it is theirs now, as an attempt.
        False if it is no longer open (the dialer or another caller took it first)."""
        return await callbacks.call_in(self, interview_id, call_sid, instance)

    async def call_in_ended(self, interview_id: str, call_sid: str, *, failed: bool) -> None:
        """The inbound call of an interview ended: completed, or (our failure) retried."""
        await callbacks.call_in_ended(self, interview_id, call_sid, failed=failed)

    async def call_unheard(
        self, interview_id: str, call_sid: str, reason: str, *, inbound: bool
    ) -> None:
        """A call of the interview ended with the candidate unheard: retried."""
        await callbacks.call_unheard(self, interview_id, call_sid, reason, inbound=inbound)

    # --- resuming a dropped call (bot/store/interview_resume.py) ----------------------------

    async def call_dropped(
        self,
        interview_id: str,
        call_sid: str,
        *,
        reason: str,
        call_started: datetime,
        remaining_s: float | None,
        inbound: bool,
    ) -> bool:
        """The interview's call ended before end_interview: resumable (True: called back
        soon, attempt `dropped`) or not (False: the usual rules apply)."""
        return await resuming.call_dropped(self, interview_id, call_sid, reason=reason,
                                           call_started=call_started, remaining_s=remaining_s,
                                           inbound=inbound)  # fmt: skip

    async def stream_ended(self, interview_id: str, call_sid: str) -> None:
        """A dialed call's stream ended without a drop: its interview moves on."""
        await resuming.stream_ended(self, interview_id, call_sid)

    async def resumption(self, interview_id: str, call_sid: str) -> Resumption | None:
        """The earlier calls this new call of the interview continues, or None (afresh)."""
        return await resuming.resumption(self, interview_id, call_sid)

    # --- InterviewDirectory -----------------------------------------------------------------

    async def interview_by_code(self, code: str) -> InterviewContext | None:
        """The open interview with this code, from 15 minutes before its time to a week after."""
        if not lifecycle.code_shape(code):
            return None
        earliest, latest = lifecycle.code_span(self.now())
        query = sa.select(interviews).where(
            interviews.c.code == code,
            interviews.c.status.in_(lifecycle.CODE_STATUSES),
            interviews.c.scheduled_at <= latest,
            interviews.c.scheduled_at >= earliest,
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        return None if row is None else context_of(row)

    async def interview_by_id(self, interview_id: str) -> InterviewContext | None:
        """The interview with this id (any status), as a call context."""
        async with self.engine.connect() as conn:
            row = await read(conn, interview_id)
        return None if row is None else context_of(row)
