"""The core's interruptions: the caller speaks over the bot, or presses a key (no I/O)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from bot.call import consent
from bot.call.commands import ClearPlayout
from bot.interview import keys
from bot.voicelive import events as vl

if TYPE_CHECKING:
    from bot.call.core import CallCore

log = structlog.get_logger("bot.call")


def barge_in(core: CallCore, event: vl.SpeechStarted) -> None:
    """The caller spoke: silence the bot now, cancel the response, truncate its memory."""
    core.speech_began[event.item_id] = core.now
    if len(core.speech_began) > 50:
        core.speech_began.pop(next(iter(core.speech_began)))
    core.at_boundary = False
    core.history.user_started(event.item_id)
    if core.turns.end_reason is not None:  # the closing line plays to the end, then hang-up
        log.info("call.barge_in_ignored", during="closing")
        return
    stop_bot(core, "speech", event.audio_start_ms)


def silence(core: CallCore) -> tuple[str | None, float] | None:
    """Stop the bot's audio now (Twilio's queue and ours); None if nothing was playing,
    else the item cut and how much of it the caller heard."""
    if not core.playout.playing:
        return None
    item = core.playout.current_item
    heard = core.playout.clear(core.now)
    core.out.append(ClearPlayout())
    if item:
        core.utterance(item).cut = True
    return item, heard


def stop_bot(core: CallCore, by: str, audio_start_ms: int | None = None) -> None:
    """Silence the bot now, cancel its response, truncate its memory to what was heard."""
    stopped = silence(core)
    core.cancel_response()
    if stopped is not None:
        item, heard = stopped
        core.record.barge_in()
        generated = 0.0
        if item:
            core.record.cut_off(item)  # a turn already written is marked cut off
            u = core.utterance(item)
            generated = u.generated_ms
            if generated:
                core.history.cut_off(item, heard / generated)
            if heard < generated:
                core.to_model(vl.truncate(item, int(heard), u.content_index))
        log.info("call.barge_in", item_id=item, heard_ms=round(heard, 1),
                 item_ms=round(generated, 1), audio_start_ms=audio_start_ms, by=by)  # fmt: skip
    core.turns.interrupted()


def on_key(core: CallCore, digit: str) -> None:
    """A key press: `*` repeats the last question, `#` skips it. The bot stops speaking at
    once (as on a barge-in), then the model gets a system message and a new response. Key 9
    opts out of recording (bot/call/consent.py)."""
    if consent.opt_out(core, digit):
        return
    action = keys.action_for(digit)
    if action is None or core.turns.ending_now or not core.keys.accept(core.now):
        log.info("twilio.dtmf", acted=False)  # the digit may be part of a PIN: not logged
        return
    log.info("call.key", action=action.name)
    core.record.key(action.name, core.now)
    if not core.ready:  # a new session is being set up: it gets the key
        stop_bot(core, "key")
        core.pending_key = action  # in the new session's replay (session.fresh_session)
        log.info("call.key_deferred", action=action.name, reason="reconnecting")
        return
    responding = core.turns.busy
    core.turns.overtaken()  # asked for, not begun: cancel it when it is
    stop_bot(core, "key")
    core.to_model(vl.message("system", action.message))
    if responding:  # the cancelled response must be done before the next one starts
        core.turns.respond_when_done = True
    else:
        core.request_response()
