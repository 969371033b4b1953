"""The core's ending: wrap-up at the limit, the grace for a response in flight, the closing line."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from bot.call.limits import RESPONSE_GRACE_S, WRAP_UP_TIMEOUT_S
from bot.call.responses import Ending
from bot.voicelive import events as vl

if TYPE_CHECKING:
    from bot.call.core import CallCore

log = structlog.get_logger("bot.call")


def wrap_up(core: CallCore, reason: str) -> None:
    """End the interview now: the profile's closing line is said, plays out, then hang-up.

    `reason` becomes the call's end reason (e.g. `time_limit`). From here the caller can no
    longer interrupt: turn detection is switched off, so the closing line plays in full. A
    response in flight may finish (RESPONSE_GRACE_S); the call ends within WRAP_UP_TIMEOUT_S
    whatever happens. A second call, or one after the model's own goodbye (end_interview),
    changes nothing.
    """
    if not core.turns.wrap_up(reason):
        return
    core.wrap_deadline = core.now + WRAP_UP_TIMEOUT_S
    log.info("call.wrap_up", reason=reason, elapsed_s=round(core.clock.elapsed(), 1))
    core.to_model(vl.session_update({"turn_detection": None}))
    core.grace_until = core.now + RESPONSE_GRACE_S
    continue_wrap_up(core)


def continue_wrap_up(core: CallCore) -> None:
    """A response in flight at wrap-up finishes within the grace, or is cancelled; then the
    closing line (its response.done may have asked for it already)."""
    turns = core.turns
    if core.grace_until is None:
        return
    if not turns.closing_asked and turns.busy and core.now < core.grace_until:
        return  # wait: its response.done comes, or the grace ends (a Tick)
    core.grace_until = None
    if turns.ending is not Ending.WRAPPING_UP:  # the goodbye is on its way already
        return
    core.cancel_response()
    turns.refused()  # not created within the grace: it is not coming
    say_closing(core)


def say_closing(core: CallCore) -> None:
    """Ask for the closing line once the interview is ending and no other response is active
    or asked for (that one's response.done asks again). If there is no session right now, the
    next one is asked (session.on_resumed)."""
    turns = core.turns
    if turns.ending is not Ending.WRAPPING_UP or turns.busy:
        return
    core.to_model(vl.session_update({"turn_detection": None}))
    if not core.ready:
        return  # still due: the new session's replay asks for it
    core.to_model(vl.response_create(say=core.closing))
    turns.closing_requested(core.closing)
    log.info("call.closing_requested")
