"""Twilio's requests about dialer calls: the outbound voice webhook and status/AMD callbacks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import structlog

from bot.interview.context import InterviewContext
from bot.twilio.twiml import hangup_twiml

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = structlog.get_logger(__name__)


def _attempt(query: Mapping[str, str]) -> tuple[str, int] | None:
    interview_id, raw = query.get("interview", ""), query.get("attempt", "")
    if not interview_id or not raw.isdigit():
        return None
    return interview_id, int(raw)


async def outbound_answer(
    services: Runtime, query: Mapping[str, str], form: Mapping[str, str]
) -> InterviewContext | str:
    """For a call the dialer placed: the interview's context (connect the stream at once,
    whatever AMD has or has not said), or TwiML to answer instead (voicemail when AMD already
    reported a machine, hang up for a fax or an interview gone). A machine reported later
    switches the live call by REST update (`on_status`). DIALER_AMD_WAIT_S no longer holds the
    call; an old `?wait=N` redirect still in flight just connects."""
    key = _attempt(query)
    store = services.interviews
    if key is None or store is None:
        return hangup_twiml()
    interview_id, seq = key
    action, context = await store.voice_answer(interview_id, seq, form.get("AnsweredBy"), False)
    log.info(
        "dialer.answered",
        interview_id=interview_id,
        attempt=seq,
        call_sid=form.get("CallSid"),
        action=action,
    )
    if action == "connect" and context is not None:
        return context
    if action == "voicemail":  # TWIML_DIR/voicemail.xml, read and checked at start-up
        return services.twiml.voicemail
    return hangup_twiml()


async def on_status(services: Runtime, query: Mapping[str, str], form: Mapping[str, str]) -> None:
    """A call status or AMD callback for a dialer attempt: update it, leave voicemail if due."""
    key = _attempt(query)
    store = services.interviews
    if key is None or store is None:
        return
    try:
        result = await store.apply_callback(key[0], key[1], form)
    except Exception as exc:  # logged; Twilio does not retry, the next callback catches up
        log.error(
            "dialer.callback_failed",
            interview_id=key[0],
            attempt=key[1],
            call_sid=form.get("CallSid"),
            error=f"{type(exc).__name__}: {exc}",
        )
        return
    if result is None:
        log.warning("dialer.callback_unknown_attempt", interview_id=key[0], attempt=key[1])
        return
    if services.dialer is None or not result.call_sid:
        return
    if result.leave_voicemail:  # a machine, the stream live: the message, now (the beep passed)
        services.dialer.leave_voicemail(result.call_sid)
    elif result.hang_up:  # a fax: nobody to leave a message for
        services.dialer.hang_up(result.call_sid)
