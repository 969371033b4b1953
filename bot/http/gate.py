"""The code gate: an inbound caller keys in a 6-digit interview code that selects their interview.

The attempt counter travels in the <Gather action> URL, which Twilio signs with the form, so a
caller cannot reset it. Across calls, wrong codes are limited per caller number and overall
(bot/store/code_limits.py): past a limit no code is checked at all. The digits are never
logged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import structlog

from bot.interview.context import InterviewContext, InterviewDirectory
from bot.store.code_limits import CodeLimits
from bot.timeouts import within
from bot.twilio.twiml import gather_digits_twiml, hangup_twiml

log = structlog.get_logger(__name__)

CODE_LENGTH = 6
MAX_ATTEMPTS = 3
GATHER_TIMEOUT_S = 10  # Twilio waits this long for the first and each next key
LOOKUP_TIMEOUT_S = 5.0
ASK = "Welcome. Please enter your six-digit interview code on your keypad."
RETRY = "Sorry, that code was not recognised. Please enter your six-digit interview code again."
GOODBYE = (
    "Sorry, we could not find your interview. Please check the code in your invitation "
    "and call again. Goodbye."
)
LIMITED = (
    "Sorry, too many interview codes have been tried from this number. Please check the code "
    "in your invitation and call again later. Goodbye."
)
BUSY = "Sorry, we cannot check interview codes right now. Please call again later. Goodbye."
UNAVAILABLE = (
    "Sorry, we cannot check interview codes right now. Please try again in a few minutes. Goodbye."
)


def ask_twiml(action_url: str, attempt: int, prompt: str = ASK) -> str:
    """<Gather> six keypad digits, posting them (even none) to action_url?attempt=N."""
    return gather_digits_twiml(
        f"{action_url}?attempt={attempt}", prompt, digits=CODE_LENGTH, timeout_s=GATHER_TIMEOUT_S
    )


def attempt_of(query: Mapping[str, str]) -> int | None:
    """The attempt number from the action URL (1 to MAX_ATTEMPTS), or None if it is not ours."""
    raw = query.get("attempt", "")
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_ATTEMPTS:
        return None
    return int(raw)


def well_formed(digits: str) -> bool:
    return len(digits) == CODE_LENGTH and digits.isascii() and digits.isdigit()


async def refusal(limits: CodeLimits | None, caller: str) -> str | None:
    """The goodbye TwiML for a caller past a limit on wrong codes, else None.

    Raises what the database raised (or TimeoutError): the caller decides what that means.
    """
    if limits is None:
        return None
    scope = await within(limits.check(caller), LOOKUP_TIMEOUT_S)
    if scope is None:
        return None
    return hangup_twiml(LIMITED if scope == "caller" else BUSY)


async def code_entered(
    directory: InterviewDirectory | None,
    digits: str,
    attempt: int,
    action_url: str,
    connect: Callable[[InterviewContext], str],
    *,
    limits: CodeLimits | None = None,
    caller: str = "",
) -> str:
    """The TwiML answering one <Gather> result: the stream, another try, or goodbye."""
    if directory is None:
        log.error("gate.no_directory", reason="INBOUND_REQUIRE_CODE is on but no directory")
        return hangup_twiml(UNAVAILABLE)
    try:  # past a limit, even the right code is refused: guessing cannot go on
        refused = await refusal(limits, caller)
    except Exception as exc:  # cannot tell whether they are limited: check nothing
        log.error("gate.limits_failed", error=type(exc).__name__, attempt=attempt)
        return hangup_twiml(UNAVAILABLE)
    if refused is not None:
        return refused
    context = None
    if well_formed(digits):
        try:
            context = await within(directory.interview_by_code(digits), LOOKUP_TIMEOUT_S)
        except Exception as exc:  # the directory is down or slow: do not count it against them
            log.error("gate.lookup_failed", error=type(exc).__name__, attempt=attempt)
            return hangup_twiml(UNAVAILABLE)
    if context is not None:
        log.info("gate.code_accepted", attempt=attempt, interview_id=context.interview_id,
                 profile=context.profile)  # fmt: skip
        return connect(context)
    entered = "none" if not digits else ("wrong" if well_formed(digits) else "malformed")
    log.info("gate.code_rejected", attempt=attempt, entered=entered)
    if entered == "wrong" and limits is not None:  # a guess: it counts against the limits
        try:
            await within(limits.failed(caller), LOOKUP_TIMEOUT_S)
        except Exception as exc:
            log.error("gate.failure_not_recorded", error=type(exc).__name__, attempt=attempt)
    if attempt >= MAX_ATTEMPTS:
        log.warning("gate.attempts_exhausted", attempts=attempt)
        return hangup_twiml(GOODBYE)
    return ask_twiml(action_url, attempt + 1, RETRY)
