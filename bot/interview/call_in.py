"""Candidates who call in with their interview code: the interview becomes that call's."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from bot.endreasons import FAILED, UNHEARD
from bot.interview.context import InterviewContext

if TYPE_CHECKING:
    from bot.store.interviews import InterviewStore

log = structlog.get_logger(__name__)


class CallInDirectory:
    """The code gate's directory for one call: a matching code also takes the interview."""

    def __init__(self, interviews: InterviewStore, call_sid: str, instance: str) -> None:
        self.interviews = interviews
        self.call_sid = call_sid
        self.instance = instance

    async def interview_by_code(self, code: str) -> InterviewContext | None:
        context = await self.interviews.interview_by_code(code)
        if context is None or context.interview_id is None:
            return None
        if not await self.interviews.call_in(context.interview_id, self.call_sid, self.instance):
            log.warning("interview.call_in_refused", interview_id=context.interview_id,
                        reason="taken meanwhile (dialed, or another caller)")  # fmt: skip
            return None
        return context

    async def interview_by_id(self, interview_id: str) -> InterviewContext | None:
        return await self.interviews.interview_by_id(interview_id)


async def call_ended(
    interviews: InterviewStore | None,
    context: InterviewContext,
    call_sid: str,
    direction: str,
    reason: str,
) -> None:
    """An inbound interview call ended: tell its interview (outbound ones hear from Twilio,
    except when the candidate was not heard: then either direction's interview is retried)."""
    if interviews is None or context.interview_id is None:
        return
    if reason in UNHEARD:
        await _unheard(interviews, context.interview_id, call_sid, direction, reason)
        return
    if direction != "inbound":
        return
    try:
        await interviews.call_in_ended(context.interview_id, call_sid, failed=reason in FAILED)
    except Exception as exc:  # the call log is written; the interview waits for ops
        log.error("interview.call_in_end_failed", interview_id=context.interview_id,
                  error=f"{type(exc).__name__}: {exc}")  # fmt: skip


async def _unheard(
    interviews: InterviewStore, interview_id: str, call_sid: str, direction: str, reason: str
) -> None:
    try:
        await interviews.call_unheard(
            interview_id, call_sid, reason, inbound=direction == "inbound"
        )
    except Exception as exc:  # the call log says why; the sweeper settles it (lifecycle.verdict)
        log.error("interview.call_unheard_failed", interview_id=interview_id,
                  error=f"{type(exc).__name__}: {exc}")  # fmt: skip
    else:
        log.info("interview.call_unheard", interview_id=interview_id, reason=reason)
