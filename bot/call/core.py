"""The call's decisions, sans I/O: typed inputs in (bot/call/inputs.py), commands out
(bot/call/commands.py). It never awaits, never reads a clock and never touches a socket, so
every decision (barge-in, keys, tools, time-keeping, wrap-up, failed responses, a new
session, the closing line) is made here and tested with a fake clock (tests/call/)."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import structlog

from bot.call import consent, ending, failures, interrupt, session, silence, tooling
from bot.call import inputs as ev
from bot.call.commands import Command, HangUp, SendAudio, ToModel, TurnBoundary
from bot.call.limits import (
    CLOSING_GRACE_S,
    FRAMES_PER_MESSAGE,
    MODEL_FAILED_S,
    TIME_LIMIT_CAP_S,
)
from bot.call.playout import Playout
from bot.call.responses import Ending, Turns, Utterance
from bot.endreasons import EndReason
from bot.interview import keys, tools
from bot.interview.history import History
from bot.interview.timekeeping import Timekeeper
from bot.voicelive import events as vl
from bot.voicelive.client import ConfigRefused
from bot.voicelive.keeper import Handover, Resumed

if TYPE_CHECKING:
    from bot.call.record import CallRecorder
    from bot.interview.profiles import Profile
    from bot.observability.metrics import Metrics

log = structlog.get_logger("bot.call")


class CallCore:
    """One call's state and decisions. `feed(input)` returns the commands to carry out, in
    order; `next_deadline()` says when a `Tick` is due; `fresh_session` and `can_switch` are
    the session keeper's callbacks (pure reads)."""

    def __init__(self, profile: Profile, record: CallRecorder, metrics: Metrics, *,
                 duration_s: float, started: float, playout_ahead_ms: float,
                 silence_ms: float, model_bytes_per_ms: float) -> None:  # fmt: skip
        self.profile = profile
        self.record = record
        self.metrics = metrics
        self.silence_ms = silence_ms
        self.model_bytes_per_ms = model_bytes_per_ms
        self.now = started
        self.out: list[Command] = []
        self.playout = Playout(playout_ahead_ms)
        self.turns = Turns()
        self.history = History(clock=lambda: self.now)
        self.clock = Timekeeper(max(duration_s, 1.0), started=started, now=lambda: self.now)
        self.greeting = " ".join(profile.greeting.split())
        self.closing = " ".join(profile.closing.split())
        self.holding_line = " ".join(profile.holding_line.split())
        notice = " ".join(profile.recording_notice.split())
        self.consent = record.recording_consent  # set by the runtime (RECORDING, the notice)
        self.greeting = consent.first_line(self.consent, notice, self.greeting)
        self.utterances: dict[str, Utterance] = {}
        self.hung_up: str | None = None  # the end reason, once HangUp went out
        self.ready = True  # the keeper had a session at the last input
        self.at_boundary = False  # the model finished its turn and the caller has not cut in
        self.unanswered = False  # the caller finished a turn that no response has answered yet
        # time-keeping and the end
        self.time_up = False  # the time limit struck (wrap_up("time_limit") was asked)
        self.wrap_deadline: float | None = None  # hang up by then, closing line played or not
        self.grace_until: float | None = None  # wrap-up waits this long for a response in flight
        self.end_deadline: float | None = None  # while playing out: hang up by then
        # response times and the transcript
        self.inbound_ms = 0.0
        # (audio ms, time): 10 s back, far more than speech_stopped lags behind the audio
        self.inbound_clock: deque[tuple[float, float]] = deque(maxlen=500)
        self.speech_began: dict[str, float] = {}
        self.awaiting_since: float | None = None
        # keys and tools
        self.keys = keys.KeyDebouncer()
        self.pending_key: keys.KeyAction | None = None  # pressed while a session was set up
        self.tool_names: dict[str, str] = {}  # call_id -> function name, from its item
        self.tools_answered: dict[str, None] = {}  # call_ids handled, oldest first
        self.unnamed_calls: dict[str, vl.FunctionCall] = {}  # .done without a known name yet
        # failed responses
        self.failures = 0  # failed responses in a row
        self.failing_since: float | None = None  # first failure since the model last spoke
        self.retry: tuple[float, str | None] | None = None  # (when, fixed line) to ask again
        self.retry_after_line: tuple[str | None] | None = None  # asked after the holding line
        self.said_holding_line = False
        self.silence = silence.Silence()  # the caller's silence (bot/call/silence.py)
        # counters for call.ended
        self.dropped_deltas = 0
        self.overflowed_deltas = 0  # audio deltas dropped because the outbound queue was full
        self.overflowed_response: str | None = None

    # ---- in and out ---------------------------------------------------------------------------

    def feed(self, event: ev.Input) -> list[Command]:
        """Take one input; the commands it leads to, in the order they must be carried out."""
        self.now = event.now
        if self.hung_up is not None:
            return []
        if isinstance(event, ev.CallerAudio):
            self.inbound_ms += event.ms
            self.inbound_clock.append((self.inbound_ms, event.now))
            return []  # the hot path: nothing to decide
        self.ready = event.ready
        if isinstance(event, ev.FromModel):
            self._from_model(event)
        elif isinstance(event, ev.MarkEchoed):
            if not self.playout.echoed(event.name, event.now):
                return []
        elif isinstance(event, ev.Key) and not silence.on_key(self, event.digit):
            interrupt.on_key(self, event.digit)
        elif isinstance(event, ev.WrapUp):
            self.wrap_up(event.reason)
        elif isinstance(event, ev.Start):
            consent.started(self)
            session.start(self)  # the greeting (a resumed interview's history first)
        elif isinstance(event, ev.Tick):
            self._on_tick()
        self._poll()
        out, self.out = self.out, []
        return out

    def next_deadline(self) -> float | None:
        """When the core wants a Tick (None: only inputs can change anything)."""
        if self.hung_up is not None:
            return None
        # the time limit; once it struck, the cap past it (the call ends by then anyway)
        due = [self.clock.ends_at + (TIME_LIMIT_CAP_S if self.time_up else 0.0)]
        due += [at for at in (self.wrap_deadline, self.grace_until) if at is not None]
        if self.turns.ending is Ending.PLAYING_OUT and self.end_deadline is not None:
            due.append(self.end_deadline)
        if self.failing_since is not None:
            due.append(self.failing_since + MODEL_FAILED_S)
            if self.retry is not None and not self.turns.busy:
                due.append(self.retry[0])
        if (quiet_until := silence.next_due(self)) is not None:
            due.append(quiet_until)
        return min(due)

    def keeps_audio(self, response_id: str) -> bool:
        """Whether a response's audio will be played (not of a cancelled response)."""
        return response_id not in self.turns.dropped

    def to_model(self, event: str) -> None:
        """Send one event to the model (a ToModel command, carried out in order)."""
        self.out.append(ToModel(event))

    def _hang_up(self, reason: str) -> None:
        self.hung_up = reason
        self.out.append(HangUp(reason))

    def utterance(self, item_id: str) -> Utterance:
        """The bot item's utterance, made on first use (the oldest are forgotten)."""
        u = self.utterances.get(item_id)
        if u is None:
            u = self.utterances[item_id] = Utterance(item_id)
            if len(self.utterances) > 500:
                self.utterances.pop(next(iter(self.utterances)))
        return u

    # ---- what happens after every input -------------------------------------------------------

    def _poll(self) -> None:
        """Decisions that wait on state rather than on one event: pace the audio, end the
        wrap-up's grace, retry a failed response, hang up once the last words played."""
        self._pace()
        if self.grace_until is not None:
            ending.continue_wrap_up(self)
        if self.failing_since is not None and self.hung_up is None:
            failures.retry_due(self)
        if (
            self.turns.ending is Ending.PLAYING_OUT
            and not self.playout.playing
            and self.hung_up is None
        ):
            log.info("call.goodbye_played")
            self._hang_up(self.turns.hang_up_reason)
        silence.poll(self)

    def _pace(self) -> None:
        """Send the bot's audio: at most `playout_ahead_ms` beyond what marks confirm."""
        while (chunk := self.playout.next_chunk(self.now, FRAMES_PER_MESSAGE)) is not None:
            if chunk.first:
                self._first_audio_of(chunk.item_id)
            self.out.append(SendAudio(chunk.audio, chunk.mark))

    def _first_audio_of(self, item_id: str) -> None:
        """A bot item starts playing: it answers the caller if they were waiting."""
        self.utterance(item_id).first_sent_at = self.now
        self.record.state("bot_speaking")
        if self.awaiting_since is not None:
            ms = (self.now - self.awaiting_since) * 1000
            self.record.response_time(ms)
            log.info("call.response_time", ms=round(ms, 1))
            self.awaiting_since = None

    def _on_tick(self) -> None:
        now = self.now
        if not self.time_up and now >= self.clock.ends_at:
            self.time_up = True
            log.info("call.time_limit", duration_s=round(self.clock.duration_s, 1))
            self.wrap_up(EndReason.TIME_LIMIT)
        playing_out = self.turns.ending is Ending.PLAYING_OUT
        if (self.wrap_deadline is not None and now >= self.wrap_deadline) or (
            playing_out and self.end_deadline is not None and now >= self.end_deadline
        ):
            log.warning("call.goodbye_not_confirmed", unconfirmed_ms=self.playout.unconfirmed_ms)
            self._hang_up(self.turns.hang_up_reason)
        elif self.time_up and now >= self.clock.ends_at + TIME_LIMIT_CAP_S:
            self._hang_up(EndReason.TIME_LIMIT)
        elif self.failing_since is not None and now - self.failing_since >= MODEL_FAILED_S:
            log.error("call.model_failed", failures=self.failures,
                      failing_s=round(now - self.failing_since, 1))  # fmt: skip
            self._hang_up(EndReason.MODEL_FAILED)

    # ---- the model ----------------------------------------------------------------------------

    def _from_model(self, m: ev.FromModel) -> None:
        event = m.event
        if isinstance(event, vl.AudioDelta):
            self._on_audio(event, m.mulaw)
        elif isinstance(event, vl.SpeechStarted):
            self.record.state("caller_speaking")
            interrupt.barge_in(self, event)
            silence.heard(self)
        elif isinstance(event, vl.SpeechStopped):
            # audio_end_ms includes the silence that ended the turn (OpenAI's definition),
            # counted from the start of this session's audio (offset_ms into the call's).
            spoke_until = m.offset_ms + event.audio_end_ms - self.silence_ms
            self.awaiting_since = self._when_caller_audio(spoke_until)
            self.unanswered = True
            silence.stopped(self)
        elif isinstance(event, vl.AudioDone):
            if event.response_id not in self.turns.dropped:
                self.playout.end_item(event.item_id)
        elif isinstance(event, vl.ResponseCreated):
            self._on_response_created(event)
        elif isinstance(event, vl.ResponseDone):
            self._on_response_done(event)
            tooling.run_unnamed_calls(self, event)
            if event.status == "failed":
                failures.response_failed(self, event)
            else:
                self._after_response(event)
        elif isinstance(event, vl.FunctionCallItem):
            if event.call_id and event.name:
                self.tool_names[event.call_id] = event.name
        elif isinstance(event, vl.FunctionCall):
            tooling.on_function_call(self, event)
        elif isinstance(event, ConfigRefused):
            if not failures.config_refused(self, event):
                self._hang_up(EndReason.CONFIG_REFUSED)
        elif isinstance(event, vl.Transcript):
            log.debug("transcript", role=event.role, text=event.text)
            if event.role == "user":
                began = self.speech_began.pop(event.item_id, self.now)
                self.record.turn("caller", event.text, began)
                self.history.user(event.item_id, event.text)
        elif isinstance(event, vl.ServerError):
            failures.model_error(self, event)
        elif isinstance(event, vl.Other):
            level = log.warning if event.type == "warning" else log.debug
            level("voicelive.event_ignored", kind=event.type)
        elif isinstance(event, vl.SessionReady):
            log.info(f"voicelive.{event.type}", session_id=event.session_id,
                     expires_at=event.expires_at)  # fmt: skip
        elif isinstance(event, Resumed):
            session.on_resumed(self, event, m.resumes)
            silence.stopped(self)
        elif isinstance(event, Handover):
            session.on_handover(self, event)

    def _when_caller_audio(self, audio_ms: float) -> float:
        """When the caller's audio up to audio_ms reached us: the moment speech really stopped."""
        for received_ms, at in self.inbound_clock:
            if received_ms >= audio_ms:
                return at
        return self.now

    def _on_audio(self, event: vl.AudioDelta, mulaw: bytes) -> None:
        if event.response_id in self.turns.dropped:
            self.dropped_deltas += 1
            return
        u = self.utterance(event.item_id)
        u.content_index = event.content_index
        if self.failing_since is not None:  # the model speaks again
            failures.recovered(self)
        u.generated_ms += len(event.audio) / self.model_bytes_per_ms
        if not self.playout.push(event.item_id, mulaw):
            self.overflowed_deltas += 1  # once per response, with what ops need to judge it
            if self.overflowed_response != event.response_id:
                self.overflowed_response = event.response_id
                log.warning("call.outbound_queue_full", response_id=event.response_id,
                            item_id=event.item_id, queued_s=round(len(self.playout) / 8000, 1),
                            unplayed_ms=round(self.playout.unconfirmed_ms))  # fmt: skip

    # ---- responses ----------------------------------------------------------------------------

    def request_response(self, say: str | None = None) -> None:
        """Ask for a response (`say`: exactly this line, spoken without inference); until it
        is created, no other response.create may go."""
        self.to_model(vl.response_create(say=say))
        if self.ready:
            self.turns.asked(say)

    def cancel_response(self) -> None:
        """Cancel the active response, if any: its audio and tool calls are ignored."""
        if self.turns.cancel() is not None:
            self.to_model(vl.response_cancel(f"cancel-{self.turns.cancels}"))

    def end_after_playout(self, grace_s: float) -> float:
        """The last words are all asked for: hang up once they played, or grace_s after they
        should have; returns the seconds of audio still to play."""
        pending_s = self.playout.pending_s
        self.turns.play_out()
        self.end_deadline = self.now + pending_s + grace_s
        return pending_s

    def _on_response_created(self, event: vl.ResponseCreated) -> None:
        self.at_boundary = False
        self.unanswered = False
        if self.turns.on_created(event.response_id):  # asked for before a key press
            self.cancel_response()

    def _on_response_done(self, event: vl.ResponseDone) -> None:
        self.turns.on_done(event.response_id)
        self.playout.end_item()  # all its audio is in, even without response.audio.done
        self.record.usage(event.usage)
        for item_id, text in event.transcripts.items():
            u = self.utterances.get(item_id)
            sent_at = u.first_sent_at if u else None
            if u is not None and sent_at is not None:  # the caller heard (some of) it
                self.record.turn("bot", text, sent_at, u.cut, item_id, u.generated_ms)
            if u is not None and (sent_at is not None or u.generated_ms):  # or about to
                self.history.assistant(item_id, text)
        log.info("voicelive.response_done", response_id=event.response_id,
                 status=event.status, reason=event.reason, usage=event.usage or None)  # fmt: skip

    def _after_response(self, event: vl.ResponseDone) -> None:
        """A response ended: the closing line's ends the call; a tool's result gets its answer
        (unless the interview is ending: then the closing line comes next); otherwise it is a
        turn boundary."""
        turns = self.turns
        if turns.closing_response is not None and event.response_id == turns.closing_response:
            pending_s = self.end_after_playout(CLOSING_GRACE_S)
            log.info("call.closing_queued", pending_playout_s=round(pending_s, 2))
            return
        again, turns.respond_when_done = turns.respond_when_done, False
        if again and not turns.ending_now:
            self.request_response()
            return
        if self.retry_after_line is not None and turns.end_reason is None:
            (line,) = self.retry_after_line  # the holding line was said: now the answer
            self.retry_after_line = None
            self.request_response(say=line)
            return
        if turns.end_reason is not None:
            ending.say_closing(self)
            return
        if event.status != "completed":
            return
        self.at_boundary = True
        if turns.ending is Ending.PLAYING_OUT:
            return
        message = self.clock.at_turn_boundary()
        if message is not None:
            self.to_model(vl.message("system", message))
            log.info("call.time_check", remaining_s=round(self.clock.remaining()),
                     wrap_up=self.clock.wrap_up_sent)  # fmt: skip
        self.out.append(TurnBoundary())

    # ---- the end ------------------------------------------------------------------------------

    def wrap_up(self, reason: str) -> None:
        self.record.state("wrapping_up")
        ending.wrap_up(self, reason)

    # ---- the session keeper's callbacks -------------------------------------------------------

    def fresh_session(self, planned: bool) -> list[str]:
        if not planned:
            self.record.state("reconnecting")
        return session.fresh_session(self, planned)

    def can_switch(self) -> bool:
        return session.can_switch(self)

    def assessment(self, assessment: tools.Assessment) -> None:
        """A record_assessment: stored with the call, and kept for a reconnect's replay. The
        replay is a system message, so it holds no evidence: those are the candidate's words."""
        self.record.assessment(assessment, self.now)
        self.history.note(
            f"Assessment recorded: question {assessment.number}, score {assessment.score}."
        )
