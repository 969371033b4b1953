"""The candidate's silence, sans I/O: a check-in, a request for a key, then a polite goodbye.

The count starts once the bot's turn has played out (its last mark came back) and nothing
else is going on: the caller is not speaking, no response is asked for or running, no tool's
answer is owed, the call is not ending, the model is not failing, a session is there. It runs
on through our own silence lines (they are not the caller's voice); anything else resets it,
and the caller's speech (or a `*`/`#` they press) resets every stage.

| stage      | when (seconds of silence)  | the bot says (word for word) | then              |
|------------|----------------------------|------------------------------|-------------------|
| LISTENING  | `silence_prompt_s` [8]     | `silence_prompt`             | PROMPTED          |
| PROMPTED   | `silence_check_s` [20]     | `silence_check`              | CHECKED           |
| CHECKED    | `silence_end_s` [45]       | `silence_goodbye`            | ENDED (no_response) |
| CHECKED    | any key                    | `one_way_goodbye`            | ENDED (one_way_audio) |

A key counts as one-way audio only once the check asked for it: by then no voice has been
heard since the bot's turn ended, through the check-in and the request. Before that a key is
an ordinary key (`*` repeats, `#` skips). The goodbye is the wrap-up's closing line (it cannot
be interrupted, and the call hangs up once it has played out: bot/call/ending.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING

import structlog

from bot.call import interrupt
from bot.call.responses import Ending
from bot.endreasons import EndReason
from bot.interview import keys

if TYPE_CHECKING:
    from bot.call.core import CallCore

log = structlog.get_logger("bot.call")


class Stage(IntEnum):
    """How far the current silence has gone."""

    LISTENING = 0  # counting, nothing said about it yet
    PROMPTED = 1  # the check-in was said
    CHECKED = 2  # the caller was asked to press a key
    ENDED = 3  # the goodbye is asked for: nothing more happens here


@dataclass(slots=True)
class Silence:
    """One call's silence: when it began, how far it went, whether the caller is speaking."""

    since: float | None = None  # when the current silence began (None: not counting)
    stage: Stage = Stage.LISTENING
    own_line: bool = False  # one of our lines is asked for or playing: the count runs on
    speaking: bool = False  # speech_started came and its speech_stopped has not yet
    voice_heard: bool = False  # the caller's voice was heard at least once in this call
    bot_spoke: bool = False  # the bot's audio went out at least once (nothing counts before)

    def reset(self) -> None:
        self.since, self.stage, self.own_line = None, Stage.LISTENING, False


def quiet(core: CallCore) -> bool:
    """Nobody is talking and nothing is on its way: the caller's silence counts."""
    turns = core.turns
    return (
        not core.silence.speaking
        and core.ready
        and core.hung_up is None
        and core.silence.bot_spoke  # the greeting has been sent (nothing counts before it)
        and turns.ending is Ending.TALKING
        and not turns.busy
        and not turns.respond_when_done  # a tool's answer (or a key's) is owed
        and not core.playout.playing  # the bot's last words have not all played yet
        and core.failing_since is None  # failures.py keeps the caller company meanwhile
        and core.pending_key is None
    )


def heard(core: CallCore) -> None:
    """The caller's voice (speech_started): every stage starts over."""
    s = core.silence
    if s.stage is Stage.ENDED:
        return
    if s.stage is not Stage.LISTENING:
        log.info("call.silence_broken", stage=s.stage.name.lower())
    s.reset()
    s.speaking = s.voice_heard = True


def stopped(core: CallCore) -> None:
    """speech_stopped (or a new session, whose turn detection starts afresh)."""
    core.silence.speaking = False


def next_due(core: CallCore) -> float | None:
    """When the next stage is due, if the silence is counting now."""
    s = core.silence
    if s.since is None or s.stage is Stage.ENDED or not quiet(core):
        return None
    p = core.profile
    after = (p.silence_prompt_s, p.silence_check_s, p.silence_end_s)[s.stage]
    return s.since + after


def poll(core: CallCore) -> None:
    """After every input: start, reset or advance the count."""
    s = core.silence
    if s.stage is Stage.ENDED or core.hung_up is not None:
        return
    s.bot_spoke = s.bot_spoke or core.playout.playing
    if not quiet(core):
        if not s.own_line:  # the bot speaks, a response runs, a session is set up, ...
            s.reset()
        return
    s.own_line = False
    if s.since is None:
        s.since = core.now
        return
    due = next_due(core)
    if due is None or core.now < due:
        return
    p = core.profile
    if s.stage is Stage.LISTENING:
        _say(core, Stage.PROMPTED, "silence_prompt", p.silence_prompt)
    elif s.stage is Stage.PROMPTED:
        _say(core, Stage.CHECKED, "silence_check", p.silence_check)
    else:
        _end(core, EndReason.NO_RESPONSE, p.silence_goodbye)


def on_key(core: CallCore, digit: str) -> bool:
    """A key press. True when it was the answer to the check (one-way audio: the call ends
    here); else the caller's `*`/`#` resets the stages and the key goes on as ever."""
    s = core.silence
    if s.stage is Stage.CHECKED and core.turns.ending is Ending.TALKING:
        if not core.turns.busy:  # the check may still be playing: it was answered
            interrupt.silence(core)
        _end(core, EndReason.ONE_WAY_AUDIO, core.profile.one_way_goodbye)
        return True
    if keys.action_for(digit) is not None and s.stage is not Stage.ENDED:
        s.reset()
    return False


def _say(core: CallCore, stage: Stage, code: str, line: str) -> None:
    s = core.silence
    waited = round(core.now - (s.since or core.now), 1)
    s.stage, s.own_line = stage, True
    core.request_response(say=" ".join(line.split()))
    log.info(f"call.{code}", silent_s=waited, voice_heard=s.voice_heard)
    core.record.bot_event(code, f"no voice for {waited:g} s after the bot's turn", core.now)
    core.metrics.silence_stages.labels(code).inc()


def _end(core: CallCore, reason: EndReason, line: str) -> None:
    """The goodbye is the wrap-up's closing line: said in full, then hang-up with `reason`."""
    s = core.silence
    waited = round(core.now - (s.since or core.now), 1)
    s.stage = Stage.ENDED
    core.closing = " ".join(line.split())
    log.info("call.silence_end", reason=str(reason), silent_s=waited, voice_heard=s.voice_heard)
    what = "a key but no voice" if reason is EndReason.ONE_WAY_AUDIO else "no voice and no key"
    core.record.bot_event(str(reason), f"{what} for {waited:g} s after the bot's turn", core.now)
    core.metrics.silence_stages.labels(str(reason)).inc()
    core.wrap_up(reason)
