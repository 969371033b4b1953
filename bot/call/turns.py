"""A call's clock and continuity: time checks, wrap-up at the limit, and new model sessions."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import TYPE_CHECKING

import structlog

from bot.interview import tools
from bot.interview.history import History
from bot.interview.timekeeping import Timekeeper
from bot.twilio import media
from bot.voicelive import events as vl
from bot.voicelive.client import ConfigRefused, VoiceLiveConnection
from bot.voicelive.keeper import Handover, Resumed, SessionKeeper

if TYPE_CHECKING:
    from bot.call.bridge import Call

log = structlog.get_logger(__name__)

WRAP_UP_TIMEOUT_S = 45.0  # from wrap_up to hang-up at the latest, closing line played or not
RESPONSE_GRACE_S = 8.0  # at wrap-up, a response in flight may finish this long before the cut
CLOSING_GRACE_S = 5.0  # after the closing line's response.done, how long past its playout we wait
# A failed response (rate limit, server error) is asked for again after these pauses; from the
# second failure in a row the caller hears the profile's holding line first. When the model has
# produced no audio for MODEL_FAILED_S since the first failure, the call ends with the apology.
RETRY_S = (0.3, 0.8, 1.5, 2.0)
MODEL_FAILED_S = 10.0
RESUME_NOTE = (
    "The phone connection was briefly interrupted. Continue the interview naturally from "
    "where it stopped; if you were cut off, briefly repeat your last point or question."
)


class Continuity:
    """Mixed into Call: what keeps an interview on time and on one line for its whole length.

    Time checks go to the model as system messages at turn boundaries (after a response
    completes, never mid-sentence). At the hard limit `wrap_up` has the closing line said,
    waits for its last mark and ends the call. A new Voice Live session (recycled before
    expiry, or after a drop) gets the conversation so far and the remaining time.
    """

    def _init_continuity(self: Call) -> None:
        """The state this part of the call keeps (called from Call.__init__)."""
        self.history = History()
        duration = min(self.profile.duration_min * 60, self.settings.max_call_duration_s)
        self.clock = Timekeeper(max(duration, 1.0), started=self.record.started_mono)
        self.at_boundary = False  # the model finished its turn and the caller has not cut in
        self.unanswered = False  # the caller finished a turn that no response has answered yet
        self.responses = 0
        self.requested = False  # a response.create went out and its response.created has not
        self.drop_requested = False  # ... and when it comes it is cancelled (a key overtook it)
        self.ending_reason: str | None = None  # set by wrap_up: the end reason once it played
        self.wrap_deadline: float | None = None
        self.closing_requested = False
        self.closing_response: str | None = None
        self.response_ended = asyncio.Event()
        self.key_lock = asyncio.Lock()  # held while a key press stops the bot and asks anew
        self.greeting = " ".join(self.profile.greeting.split())
        self.closing = " ".join(self.profile.closing.split())
        self.holding_line = " ".join(self.profile.holding_line.split())
        self.asked_say: str | None = None  # the fixed line of the response asked for, if any
        self.response_say: dict[str, str | None] = {}  # response id -> its fixed line
        self.failures = 0  # failed responses in a row
        self.failing_since: float | None = None  # first failure since the model last spoke
        self.retry: tuple[float, str | None] | None = None  # (when, fixed line) to ask again
        self.retry_after_line: tuple[str | None] | None = None  # asked after the holding line
        self.said_holding_line = False
        self.failing = asyncio.Event()  # wakes _watch_responses

    # ---- the model session ------------------------------------------------------------------

    def _keeper(self: Call, conn: VoiceLiveConnection) -> SessionKeeper:
        """Wrap the call's first session so that expiries and drops are survived."""

        async def reopen() -> VoiceLiveConnection:
            return await self.services.sessions.open(self.context)

        return SessionKeeper(
            conn,
            reopen,
            replay=self._fresh_session,
            can_switch=self._can_switch,
            bytes_per_ms=self.model_bytes_per_ms,
            recycle_after_s=self.settings.voice_live_session_max_s,
            reconnect_budget_s=self.settings.voice_live_reconnect_s,
        )

    def _can_switch(self: Call) -> bool:
        """A recycle may switch sessions now: the model's turn is done and the caller is still
        listening to it (its audio is queued or playing), so they are not about to speak."""
        return (
            self.at_boundary
            and (len(self.frames) > 0 or not self.playback.idle)
            and self.active_response is None
            and self.ending_reason is None
            and not self.end_after_playout
            and not self.respond_when_done
            and not self.requested
            and not self.history.awaiting_words()  # the caller's last words belong in the replay
        )

    def _fresh_session(self: Call, planned: bool) -> list[str]:
        """Events for a new session before the caller's audio: history, time, what comes next.

        Pure (reads the call's state, changes nothing): a failed attempt calls it again.
        """
        items = [vl.message(role, text) for role, text in self.history.replay()]
        if self.ending_reason is not None:  # the caller's "bye" must not get an answer
            items.append(vl.session_update({"turn_detection": None}))
            if not self.end_after_playout:  # the closing line has not been said yet
                items.append(vl.response_create(say=self.closing))
            return items
        items.append(vl.message("system", self.clock.status()))
        if self.pending_key is not None:  # pressed while this session was being set up
            items.append(vl.message("system", self.pending_key.message))
            items.append(vl.response_create())
            return items
        if planned:
            return items  # at a turn boundary: the caller speaks next
        cut_off = self.active_response is not None or self.respond_when_done or self.requested
        if cut_off or self.unanswered or self.responses == 0:
            if self.responses:
                items.append(vl.message("system", RESUME_NOTE))
                items.append(vl.response_create())
            else:
                items.append(vl.response_create(say=self.greeting))
        return items

    async def _cut_unfinished_answer(self: Call) -> None:
        """A drop cut the bot's answer short: its words never came, so the new session cannot
        know what the caller heard and answers afresh. Stop the old audio now rather than let
        the caller hear all of it and then the same again (a cut and a short pause sound like
        a line glitch; a repeat sounds like a broken bot)."""
        item = self.audio_item
        if not len(self.frames) and self.playback.idle:
            return
        async with self.send_lock:
            await self._send_locked(media.clear(self.sid))
            self.frames.clear(time.monotonic())
            self.transcoder.reset_outbound()
        if item:
            self.interrupted_items.add(item)
        log.info("call.unfinished_answer_cut", item_id=item)

    async def _on_handover(self: Call, event: Handover) -> None:
        """The old session heard the caller's words after the switch: the new one gets them as
        a user item, and answers them unless it is answering already."""
        assert self.model is not None
        began = self.speech_began.pop(event.item_id, time.monotonic())
        self.record.turn("caller", event.text, began)
        self.history.user(event.item_id, event.text)
        if not event.text.strip():
            return
        log.info("call.words_handed_over", item_id=event.item_id)
        await self.model.send(vl.message("user", event.text.strip()))
        if self.active_response is None and not self.requested and self.ending_reason is None:
            await self.request_response()

    async def _on_resumed(self: Call, event: Resumed) -> None:
        """A new session took over: forget the old one's response and items; tell ops. If the
        interview is ending and the replay did not ask for the closing line, ask now."""
        assert self.model is not None
        if not event.planned and self.active_response is not None:
            await self._cut_unfinished_answer()
        self.active_response = None
        self.respond_when_done = self.drop_requested = False
        asked = [json.loads(e) for e in event.replayed if '"response.create"' in e]
        if not event.planned or self.pending_key is not None:
            self.requested = bool(asked)  # a recycle asks for none, unless a key was pressed
        if self.pending_key is not None:
            await self._apply_pending_key(event)
        self.item_received_ms.clear()  # its items do not exist in the new session: no truncate
        self.at_boundary = False
        self.closing_requested = any(_fixed_line(a) == self.closing for a in asked)
        self.asked_say = next((_fixed_line(a) for a in asked), None)
        self.closing_response = None
        self.response_ended.set()  # a wrap-up waiting for the old session's response goes on
        code = "session_recycled" if event.planned else "reconnected"
        message = (
            f"{event.cause}; caller audio held {event.took_ms:.0f} ms, {event.attempts} "
            f"attempt(s), {event.backlog_ms:.0f} ms of caller audio replayed"
        )
        if event.dropped_ms:
            message += f", {event.dropped_ms:.0f} ms dropped (backlog full)"
        self.record.error("bot" if event.planned else "voicelive", code, message)
        log.info("call.session_resumed", planned=event.planned, cause=event.cause,
                 took_ms=round(event.took_ms, 1), attempts=event.attempts,
                 history=len(self.history), resumes=self.model.resumes)  # fmt: skip
        await self._say_closing()  # if it is due and was not in the replay

    async def _apply_pending_key(self: Call, event: Resumed) -> None:
        """A key pressed while the new session was set up: its replay carried the key's
        message and a response.create, unless the key came after the replay was built."""
        assert self.model is not None and self.pending_key is not None
        action, self.pending_key = self.pending_key, None
        log.info("call.key_applied", action=action.name, after="new session")
        if any(_message_text(json.loads(e)) == action.message for e in event.replayed):
            return
        await self.model.send(vl.message("system", action.message))
        if self.requested:
            self.respond_when_done = True
        else:
            await self.request_response()

    def assessment(self: Call, assessment: tools.Assessment) -> None:
        """A record_assessment: stored with the call, and kept for a reconnect's replay. The
        replay is a system message, so it holds no evidence: those are the candidate's words."""
        self.record.assessment(assessment)
        self.history.note(
            f"Assessment recorded: question {assessment.number}, score {assessment.score}."
        )

    # ---- turns --------------------------------------------------------------------------------

    async def request_response(self: Call, say: str | None = None) -> None:
        """Ask for a response (`say`: exactly this line, spoken without inference); until it
        is created, no other response.create may go."""
        assert self.model is not None
        if await self.model.send(vl.response_create(say=say)):
            self.requested = True
            self.asked_say = say

    async def _on_response_created(self: Call, event: vl.ResponseCreated) -> None:
        assert self.model is not None
        self.active_response = event.response_id
        self.requested = False
        self.response_say[event.response_id] = self.asked_say
        self.asked_say = None
        if len(self.response_say) > 200:
            self.response_say.pop(next(iter(self.response_say)))
        self.at_boundary = False
        self.unanswered = False
        self.responses += 1
        if self.closing_requested and self.closing_response is None:
            self.closing_response = event.response_id
        elif self.drop_requested:  # asked for before a key press that wants another answer
            self.drop_requested = False
            self.dropped_responses.add(event.response_id)
            self.active_response = None
            self.cancels += 1
            await self.model.send(vl.response_cancel(f"cancel-{self.cancels}"))

    async def _after_response(self: Call, event: vl.ResponseDone) -> None:
        """A response ended: the closing line's ends the call; a tool's result gets its answer
        (unless the interview is ending: then the closing line comes next); otherwise it is a
        turn boundary."""
        assert self.model is not None
        if self.closing_response is not None and event.response_id == self.closing_response:
            pending_s = (len(self.frames) / 8 + self.playback.unconfirmed_ms) / 1000
            self.end_after_playout = True
            self.end_deadline = time.monotonic() + pending_s + CLOSING_GRACE_S
            log.info("call.closing_queued", pending_playout_s=round(pending_s, 2))
            self.wake.set()
            return
        async with self.key_lock:  # a key press being handled says first whether to ask again
            again, self.respond_when_done = self.respond_when_done, False
        if again and self.ending_reason is None and not self.end_after_playout:
            await self.request_response()
            return
        if self.retry_after_line is not None and self.ending_reason is None:
            (line,) = self.retry_after_line  # the holding line was said: now the answer
            self.retry_after_line = None
            await self.request_response(say=line)
            return
        if self.ending_reason is not None:
            await self._say_closing()
            return
        if event.status != "completed":
            return
        self.at_boundary = True
        if self.end_after_playout:
            return
        message = self.clock.at_turn_boundary()
        if message is not None:
            await self.model.send(vl.message("system", message))
            log.info("call.time_check", remaining_s=round(self.clock.remaining()),
                     wrap_up=self.clock.wrap_up_sent)  # fmt: skip
        self.model.boundary()

    # ---- the end ------------------------------------------------------------------------------

    async def _keep_time(self: Call) -> str:
        """At the interview's hard limit, wrap up; end the call if even that does not finish."""
        await asyncio.sleep(self.clock.remaining())
        log.info("call.time_limit", duration_s=round(self.clock.duration_s, 1))
        await self.wrap_up("time_limit")
        await asyncio.sleep(WRAP_UP_TIMEOUT_S + 1.0)  # normally the goodbye's playout ends it
        return "time_limit"

    async def wrap_up(self: Call, reason: str) -> None:
        """End the interview now: the profile's closing line is said, plays out, then hang-up.

        `reason` becomes the call's end reason (e.g. `time_limit`). From here the caller can no
        longer interrupt: turn detection is switched off, so the closing line plays in full.
        A response in flight may finish (RESPONSE_GRACE_S); the call ends within
        WRAP_UP_TIMEOUT_S whatever happens. A second call, or one after the model's own
        goodbye (end_interview), changes nothing.
        """
        if self.ending_reason is not None or self.end_after_playout or self.model is None:
            return
        self.ending_reason = reason
        self.wrap_deadline = time.monotonic() + WRAP_UP_TIMEOUT_S
        self.wake.set()
        log.info("call.wrap_up", reason=reason, elapsed_s=round(self.clock.elapsed(), 1))
        await self.model.send(vl.session_update({"turn_detection": None}))
        until = time.monotonic() + RESPONSE_GRACE_S
        while (
            not self.closing_requested
            and (self.active_response is not None or self.requested)
            and (left := until - time.monotonic()) > 0
        ):
            self.response_ended.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.response_ended.wait(), left)
        if self.end_after_playout or self.closing_requested:  # goodbye already on its way
            return
        if self.active_response is not None:
            self.dropped_responses.add(self.active_response)
            self.cancels += 1
            await self.model.send(vl.response_cancel(f"cancel-{self.cancels}"))
            self.active_response = None
        self.requested = False  # not created within the grace: it is not coming
        await self._say_closing()

    async def _say_closing(self: Call) -> None:
        """Ask for the closing line once the interview is ending and no other response is
        active or asked for (that one's response.done asks again). If there is no session
        right now, the next one is asked (see `_on_resumed`)."""
        assert self.model is not None
        if self.ending_reason is None or self.closing_requested or self.end_after_playout:
            return
        if self.active_response is not None or self.requested:
            return
        self.closing_requested = True
        closing = vl.response_create(say=self.closing)
        if await self.model.send(vl.session_update({"turn_detection": None})) and (
            await self.model.send(closing)
        ):
            self.requested = True
            self.asked_say = self.closing
            log.info("call.closing_requested")
        else:
            self.closing_requested = False

    # ---- failed responses ---------------------------------------------------------------------

    def _response_failed(self: Call, event: vl.ResponseDone) -> None:
        """A response failed (rate limit, server error): the caller would hear silence. Ask
        again after a short pause (the holding line first from the second failure in a row);
        _watch_responses does that, and ends the call after MODEL_FAILED_S without audio."""
        error = event.error or {}
        code = str(error.get("code") or error.get("type") or "failed")
        message = str(error.get("message") or "")
        now = time.monotonic()
        self.failures += 1
        if self.failing_since is None:
            self.failing_since = now
        failing_s = now - self.failing_since
        log.error("voicelive.response_failed", response_id=event.response_id, code=code,
                  type=error.get("type"), message=message[:200], failures=self.failures,
                  failing_s=round(failing_s, 2))  # fmt: skip
        self.record.error("voicelive", code, f"response failed: {message}")
        if event.response_id == self.closing_response:
            self.closing_response = None  # the closing line's retry is the one that ends
        line = self.response_say.get(event.response_id)
        if line == self.holding_line and self.retry_after_line is not None:
            (line,) = self.retry_after_line  # the holding line failed too: ask for the answer
            self.retry_after_line = None
        delay = RETRY_S[min(self.failures - 1, len(RETRY_S) - 1)]
        self.retry = (now + delay, line)
        self.failing.set()

    def _responses_recovered(self: Call) -> None:
        """The model produces audio again."""
        log.info("call.model_recovered", failures=self.failures,
                 after_s=round(time.monotonic() - (self.failing_since or 0.0), 2))  # fmt: skip
        self.failures = 0
        self.failing_since = None
        self.retry = None
        self.said_holding_line = False

    async def _watch_responses(self: Call) -> str:
        """While responses fail: ask again when due; end the call when the model has produced
        nothing for MODEL_FAILED_S (also when it stops answering at all)."""
        while True:
            await self.failing.wait()
            while self.failing_since is not None:
                now = time.monotonic()
                if now - self.failing_since >= MODEL_FAILED_S:
                    log.error("call.model_failed", failures=self.failures,
                              failing_s=round(now - self.failing_since, 1))  # fmt: skip
                    return "model_failed"
                busy = self.active_response is not None or self.requested
                if self.retry is not None and now >= self.retry[0] and not busy:
                    line = self.retry[1]
                    self.retry = None
                    if self.ending_reason is not None or self.end_after_playout:
                        line = self.closing if self.closing_requested else line
                    if self.failures >= 2 and not self.said_holding_line and line is None:
                        self.said_holding_line = True
                        self.retry_after_line = (line,)
                        line = self.holding_line
                    log.info("call.response_retry", failures=self.failures, fixed_line=bool(line))
                    await self.request_response(say=line)
                await asyncio.sleep(0.05)
            self.failing.clear()

    # ---- a refused configuration --------------------------------------------------------------

    def _config_refused(self: Call, event: ConfigRefused) -> bool:
        """Voice Live refused part of the session's configuration: say so loudly. False when
        the part was essential (the call cannot go on)."""
        part = event.dropped or "essential"
        log.error("voicelive.config_refused", param=event.param, message=event.message,
                  code=event.code, dropped=event.dropped)  # fmt: skip
        self.services.metrics.config_refused.labels(part).inc()
        going_on = f" (going on without {event.dropped})" if event.dropped else ""
        detail = f"{event.param}: {event.message}{going_on}"
        self.record.error("voicelive", "config_refused", detail)
        return event.dropped is not None


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
