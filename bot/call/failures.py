"""The core's failures: model errors, a refused configuration, failed responses (retries,
the holding line, and when the model has failed)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from bot.call.limits import RETRY_S
from bot.voicelive import events as vl
from bot.voicelive.client import ConfigRefused

if TYPE_CHECKING:
    from bot.call.core import CallCore

log = structlog.get_logger("bot.call")


def response_failed(core: CallCore, event: vl.ResponseDone) -> None:
    """A response failed (rate limit, server error): the caller would hear silence. Ask again
    after a short pause (the holding line first from the second failure in a row); the call
    ends after MODEL_FAILED_S without audio (CallCore's tick)."""
    error = event.error or {}
    code = str(error.get("code") or error.get("type") or "failed")
    message = str(error.get("message") or "")
    now = core.now
    core.failures += 1
    if core.failing_since is None:
        core.failing_since = now
    failing_s = now - core.failing_since
    log.error("voicelive.response_failed", response_id=event.response_id, code=code,
              type=error.get("type"), message=message[:200], failures=core.failures,
              failing_s=round(failing_s, 2))  # fmt: skip
    core.record.error("voicelive", code, f"response failed: {message}")
    if event.response_id == core.turns.closing_response:
        core.turns.closing_response = None  # the closing line's retry is the one that ends
    line = core.turns.said.get(event.response_id)
    if line == core.holding_line and core.retry_after_line is not None:
        (line,) = core.retry_after_line  # the holding line failed too: ask for the answer
        core.retry_after_line = None
    delay = RETRY_S[min(core.failures - 1, len(RETRY_S) - 1)]
    core.retry = (now + delay, line)


def recovered(core: CallCore) -> None:
    """The model produces audio again."""
    log.info("call.model_recovered", failures=core.failures,
             after_s=round(core.now - (core.failing_since or 0.0), 2))  # fmt: skip
    core.failures = 0
    core.failing_since = None
    core.retry = None
    core.said_holding_line = False


def retry_due(core: CallCore) -> None:
    """While responses fail: ask again when due and nothing else is asked for or running."""
    if core.retry is None or core.now < core.retry[0] or core.turns.busy:
        return
    line = core.retry[1]
    core.retry = None
    if core.turns.ending_now:
        line = core.closing if core.turns.closing_asked else line
    if core.failures >= 2 and not core.said_holding_line and line is None:
        core.said_holding_line = True
        core.retry_after_line = (line,)
        line = core.holding_line
    log.info("call.response_retry", failures=core.failures, fixed_line=bool(line))
    core.request_response(say=line)


def model_error(core: CallCore, event: vl.ServerError) -> None:
    if event.code == "conversation_already_has_active_response":
        core.turns.refused()  # nothing more is coming for that request
    if event.event_id and event.event_id.startswith("cancel-"):
        # The service had already ended the response (its VAD interrupts it too).
        log.info("voicelive.cancel_ignored", message=event.message)
        return
    log.error("voicelive.error", type=event.type, code=event.code, message=event.message,
              event_id=event.event_id)  # fmt: skip
    core.record.error("voicelive", event.code or event.type, event.message)


def config_refused(core: CallCore, event: ConfigRefused) -> bool:
    """Voice Live refused part of the session's configuration: say so loudly. False when
    the part was essential (the call cannot go on)."""
    part = event.dropped or "essential"
    log.error("voicelive.config_refused", param=event.param, message=event.message,
              code=event.code, dropped=event.dropped)  # fmt: skip
    core.metrics.config_refused.labels(part).inc()
    going_on = f" (going on without {event.dropped})" if event.dropped else ""
    core.record.error("voicelive", "config_refused",
                      f"{event.param}: {event.message}{going_on}")  # fmt: skip
    return event.dropped is not None
