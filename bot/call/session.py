"""The core and the session keeper: what a new session is told, when a recycle may switch,
and what changes once it took over (no I/O: the keeper calls these, the core is fed events)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import structlog

from bot.call import interrupt
from bot.call.ending import say_closing
from bot.call.limits import RESUME_NOTE
from bot.call.responses import Ending
from bot.voicelive import events as vl
from bot.voicelive.keeper import Handover, Resumed

if TYPE_CHECKING:
    from bot.call.core import CallCore

log = structlog.get_logger("bot.call")


def can_switch(core: CallCore) -> bool:
    """A recycle may switch sessions now: the model's turn is done and the caller is still
    listening to it (its audio is queued or playing), so they are not about to speak."""
    turns = core.turns
    return (
        core.at_boundary
        and core.playout.playing
        and not turns.busy
        and turns.end_reason is None
        and turns.ending is not Ending.PLAYING_OUT
        and not turns.respond_when_done
        and not core.history.awaiting_words()  # the caller's last words belong in the replay
    )


def fresh_session(core: CallCore, planned: bool) -> list[str]:
    """Events for a new session before the caller's audio: history, time, what comes next.

    Pure (reads the core's state, changes nothing): a failed attempt calls it again.
    """
    turns = core.turns
    items = [vl.message(role, text) for role, text in core.history.replay()]
    if turns.end_reason is not None:  # the caller's "bye" must not get an answer
        items.append(vl.session_update({"turn_detection": None}))
        if turns.ending is not Ending.PLAYING_OUT:  # the closing line has not been said yet
            items.append(vl.response_create(say=core.closing))
        return items
    if turns.ending is Ending.PLAYING_OUT:  # the model's goodbye (end_interview) plays out
        return items
    items.append(vl.message("system", core.clock.status()))
    if core.pending_key is not None:  # pressed while this session was being set up
        items.append(vl.message("system", core.pending_key.message))
        items.append(vl.response_create())
        return items
    if planned:
        return items  # at a turn boundary: the caller speaks next
    cut_off = turns.busy or turns.respond_when_done
    if cut_off or core.unanswered or turns.created == 0:
        if turns.created:
            items.append(vl.message("system", RESUME_NOTE))
            items.append(vl.response_create())
        else:
            items.append(vl.response_create(say=core.greeting))
    return items


def start(core: CallCore) -> None:
    """The call's first session: greet. A resumed interview (history replayed from its earlier
    calls, bot/call/resume.py) first gets what a new session gets, and the model goes on
    once the welcome-back line is said."""
    resumed = len(core.history) > 0
    if resumed:
        for item in fresh_session(core, planned=True):  # the history and the time
            core.to_model(item)
    core.request_response(say=core.greeting)
    core.turns.respond_when_done = resumed
    log.info("call.greeting_requested", resumed=resumed)


def on_resumed(core: CallCore, event: Resumed, resumes: int) -> None:
    """A new session took over: forget the old one's response and items; tell ops. If the
    interview is ending and the replay did not ask for the closing line, ask now."""
    turns = core.turns
    goodbye = turns.ending is Ending.PLAYING_OUT  # what came of it plays out, then hang-up
    if not event.planned and turns.response_id is not None and not goodbye:
        cut_unfinished_answer(core)
    asked = [json.loads(e) for e in event.replayed if '"response.create"' in e]
    key = core.pending_key
    turns.resumed(event.planned, [_fixed_line(a) for a in asked], key is not None)
    if turns.ending in (Ending.WRAPPING_UP, Ending.CLOSING):
        closing = any(_fixed_line(a) == core.closing for a in asked)
        turns.ending = Ending.CLOSING if closing else Ending.WRAPPING_UP
    if key is not None:
        _apply_pending_key(core, event)
    for u in core.utterances.values():  # its items do not exist in the new session
        u.generated_ms = 0.0  # so none is truncated
    core.at_boundary = False
    code = "session_recycled" if event.planned else "reconnected"
    message = (
        f"{event.cause}; caller audio held {event.took_ms:.0f} ms, {event.attempts} "
        f"attempt(s), {event.backlog_ms:.0f} ms of caller audio replayed"
    )
    if event.dropped_ms:
        message += f", {event.dropped_ms:.0f} ms dropped (backlog full)"
    core.record.error("bot" if event.planned else "voicelive", code, message)
    core.record.event("reconnect", core.now - event.took_ms / 1000, ms=round(event.took_ms),
                      planned=event.planned)  # fmt: skip
    log.info("call.session_resumed", planned=event.planned, cause=event.cause,
             took_ms=round(event.took_ms, 1), attempts=event.attempts,
             history=len(core.history), resumes=resumes)  # fmt: skip
    say_closing(core)  # if it is due and was not in the replay


def cut_unfinished_answer(core: CallCore) -> None:
    """A drop cut the bot's answer short: its words never came, so the new session cannot know
    what the caller heard and answers afresh. Stop the old audio now rather than let the
    caller hear all of it and then the same again (a cut and a short pause sound like a line
    glitch; a repeat sounds like a broken bot)."""
    stopped = interrupt.silence(core)
    if stopped is not None:
        log.info("call.unfinished_answer_cut", item_id=stopped[0])


def _apply_pending_key(core: CallCore, event: Resumed) -> None:
    """A key pressed while the new session was set up: its replay carried the key's message
    and a response.create, unless the key came after the replay was built."""
    assert core.pending_key is not None
    action, core.pending_key = core.pending_key, None
    log.info("call.key_applied", action=action.name, after="new session")
    if any(_message_text(json.loads(e)) == action.message for e in event.replayed):
        return
    core.to_model(vl.message("system", action.message))
    if core.turns.requested:
        core.turns.respond_when_done = True
    else:
        core.request_response()


def on_handover(core: CallCore, event: Handover) -> None:
    """The old session heard the caller's words after the switch: the new one gets them as a
    user item, and answers them unless it is answering already."""
    began = core.speech_began.pop(event.item_id, core.now)
    core.record.turn("caller", event.text, began)
    core.history.user(event.item_id, event.text)
    if not event.text.strip():
        return
    log.info("call.words_handed_over", item_id=event.item_id)
    core.to_model(vl.message("user", event.text.strip()))
    if not core.turns.busy and core.turns.end_reason is None:
        core.request_response()


def _text_of(message: object) -> str | None:
    """The joined text parts of a message item ({content: [{text}, …]}), None if not one."""
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, list):
        return None
    return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))


def _message_text(event: dict[str, object]) -> str | None:
    """The text of a conversation.item.create message event, if it is one."""
    if event.get("type") != "conversation.item.create":
        return None
    return _text_of(event.get("item"))


def _fixed_line(create: dict[str, object]) -> str | None:
    """The exact line a response.create asks the service to say, if any."""
    response = create.get("response")
    if not isinstance(response, dict):
        return None
    return _text_of(response.get("pre_generated_assistant_message")) or None
