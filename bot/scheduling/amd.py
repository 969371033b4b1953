"""A machine's verdict mid-call: why a dialer call's stream ended, decided from the store.

The stream connects the moment the callee answers; asynchronous AMD reports later, to any
replica. That replica stores the verdict, then switches the live call to the voicemail message
by REST update; Twilio then ends the stream with `stop` on the replica holding it, which asks
the store (where the verdict already is) why its caller "hung up"."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from bot.endreasons import CALLER_GONE, EndReason
from bot.interview.context import InterviewContext
from bot.timeouts import within

if TYPE_CHECKING:
    from bot.store.interviews import InterviewStore
    from bot.twilio.media import Start

log = structlog.get_logger(__name__)

LOOKUP_TIMEOUT_S = 2.0  # the call is over either way: a slow database keeps the plain reason


async def end_reason(
    interviews: InterviewStore | None, context: InterviewContext, start: Start, reason: str
) -> str:
    """`answering_machine` for a dialer call whose stream Twilio ended after AMD reported a
    machine (or fax); otherwise `reason` unchanged."""
    outbound = start.custom_parameters.get("direction") == "outbound"
    if interviews is None or context.interview_id is None or not outbound:
        return reason
    if reason not in CALLER_GONE:
        return reason
    try:
        verdict = await within(interviews.machine_verdict(start.call_sid), LOOKUP_TIMEOUT_S)
    except Exception as exc:  # a later verdict callback still corrects the record
        log.warning("call.verdict_unknown", error=f"{type(exc).__name__}: {exc}")
        return reason
    if verdict is None:
        return reason
    log.info("call.answering_machine", answered_by=verdict, was=reason)
    return EndReason.ANSWERING_MACHINE
