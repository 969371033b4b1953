"""The life of one call: accept, authenticate, open the model, greet, relay, barge-in, end."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from typing import TYPE_CHECKING

import structlog
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from websockets.exceptions import ConnectionClosed

from bot.audio import make_transcoder
from bot.call.playout import Playout
from bot.call.turns import Continuity
from bot.callrecord import CallRecorder
from bot.interview import keys, tools
from bot.interview.context import InterviewContext
from bot.scheduling import inbound
from bot.twilio import media
from bot.twilio.webhooks import SIGNATURE_SETTINGS, TokenError, check_signature
from bot.voicelive import events as vl
from bot.voicelive.client import ConfigRefused, VoiceLiveUnavailable
from bot.voicelive.keeper import Handover, Resumed, SessionKeeper

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = structlog.get_logger(__name__)

FRAMES_PER_MESSAGE = 5  # 100 ms of audio per media message, each followed by a mark
GOODBYE_GRACE_S = 5.0  # after end_interview, how long past the expected playout we wait


async def handle_media_stream(ws: WebSocket, services: Runtime) -> None:
    """Accept a Twilio media stream, check who it is, and run the call to its end."""
    settings = services.settings
    check = check_signature(
        settings.twilio_auth_token,
        settings.stream_url,
        {},
        ws.headers.get("x-twilio-signature", ""),
        ws.headers.get(SIGNATURE_SETTINGS, ""),
        settings.twilio_webhook_shared_key,
    )
    if not check.ok:
        log.warning(
            "media.rejected",
            reason=check.reason,
            client=ws.client.host if ws.client else None,
            **({"fix": check.fix} if check.fix else {}),
        )
        await ws.close(code=1008)  # before accept: the upgrade is refused with HTTP 403
        return
    await ws.accept()
    try:
        start = await asyncio.wait_for(_await_start(ws), settings.start_timeout_s)
    except TimeoutError:
        log.warning(
            "media.rejected", reason=f"no start event within {settings.start_timeout_s:g} s"
        )
        await _close(ws, 1008, "start timeout")
        return
    except WebSocketDisconnect:
        log.info("media.closed_before_start")
        return
    try:
        await services.tokens.redeem(start.custom_parameters.get("token", ""), start.call_sid)
    except TokenError as exc:
        log.warning("media.rejected", reason=str(exc), call_sid=start.call_sid)
        await _close(ws, 1008, "unauthorised stream")
        return
    with structlog.contextvars.bound_contextvars(
        call_sid=start.call_sid, stream_sid=start.stream_sid
    ):
        await Call(ws, start, services).run()


async def _await_start(ws: WebSocket) -> media.Start:
    """Read frames until `start`; anything else before it is logged and ignored."""
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        frame = message.get("text")
        try:
            event = media.parse(frame if frame is not None else message.get("bytes", b""))
        except media.MediaProtocolError as exc:
            log.warning("twilio.bad_frame", reason=str(exc), before_start=True)
            continue
        if isinstance(event, media.Start):
            return event
        if not isinstance(event, media.Connected):
            log.warning("twilio.event_before_start", kind=type(event).__name__.lower())


async def _close(ws: WebSocket, code: int, reason: str = "") -> None:
    if ws.application_state != WebSocketState.DISCONNECTED:
        with contextlib.suppress(Exception):
            await ws.close(code=code, reason=reason)


class TwilioGone(ConnectionError):
    """The Twilio socket closed while we were sending."""


class Call(Continuity):
    """One live call: the Twilio stream and the Voice Live session, owned together."""

    def __init__(self, ws: WebSocket, start: media.Start, services: Runtime) -> None:
        self.ws = ws
        self.start = start
        self.services = services
        self.settings = services.settings
        self.sid = start.stream_sid
        self.context = InterviewContext.from_parameters(start.custom_parameters)
        self.profile = services.profile_for(self.context)
        self.transcoder = make_transcoder(self.settings.audio_format)
        self.model_bytes_per_ms = 8 if self.transcoder.model_format == "g711_ulaw" else 48
        self.frames = Playout(self.settings.playout_ahead_ms)
        self.playback = self.frames
        self.model: SessionKeeper | None = None
        self.active_response: str | None = None
        self.dropped_responses: set[str] = set()
        self.audio_item: str | None = None
        self.item_received_ms: dict[str, float] = {}
        self.wake = asyncio.Event()
        self.send_lock = asyncio.Lock()
        self.end_after_playout = False
        self.end_deadline: float | None = None
        self.cancels = 0
        self.dropped_deltas = 0
        self.respond_when_done = False
        self.last_from_twilio = time.monotonic()
        self.silence_ms = services.silence_duration_ms
        # For response times and the transcript: when caller audio arrived, when speech began,
        # when each bot item was first sent, and which items a barge-in cut off.
        self.inbound_ms = 0.0
        self.inbound_clock: deque[tuple[float, float]] = deque(maxlen=3000)  # (audio ms, time)
        self.speech_began: dict[str, float] = {}
        self.awaiting_since: float | None = None
        self.item_first_sent: dict[str, float] = {}
        self.interrupted_items: set[str] = set()
        self.record = CallRecorder(
            services.store,
            services.metrics,
            self.settings.prices,
            call_sid=start.call_sid,
            heartbeat_s=self.settings.call_heartbeat_s,
            profile=self.profile,
            journal=services.journal,
        )
        self.keys = keys.KeyDebouncer()
        self.tool_names: dict[str, str] = {}  # call_id -> function name, from its item
        self.tools_answered: dict[str, None] = {}  # call_ids handled, oldest first
        self.unnamed_calls: dict[str, vl.FunctionCall] = {}  # .done without a known name yet
        self.content_index: dict[str, int] = {}  # assistant item -> its audio content part
        self.pending_key: keys.KeyAction | None = None  # pressed while a session was set up
        self.overflowed_deltas = 0  # audio deltas dropped because the outbound queue was full
        self.overflowed_response: str | None = None
        self._init_continuity()  # time-keeping, history, wrap-up state (bot/continuity.py)

    # ---- the call, top to bottom -------------------------------------------------------------

    async def run(self) -> None:
        params = self.start.custom_parameters
        log.info("call.started", custom_parameters=sorted(params))
        self.services.active.add(self)
        self.record.start(
            direction=params.get("direction", "inbound"),
            from_masked=params.get("from"),
            to_masked=params.get("to"),
            instance=self.services.instance,
            interview_id=self.context.interview_id,
            profile=self.profile.name,
        )
        reason = "error"
        try:
            try:
                conn = await self.services.sessions.take(self.start.call_sid, self.context)
            except VoiceLiveUnavailable as exc:
                log.error("voicelive.unavailable", reason=str(exc))
                self.record.error("voicelive", "unavailable", str(exc))
                reason = "engine_unavailable"
                return
            self.model = self._keeper(conn)
            # If the session dropped since the webhook, the keeper reconnects and greets.
            await self.request_response(say=self.greeting)
            log.info("call.greeting_requested")
            reason = await self._relay()
        except Exception as exc:
            log.exception("call.failed")
            self.record.error("bot", type(exc).__name__, str(exc))
            reason = "error"
        finally:
            await self._end(reason)

    async def _relay(self) -> str:
        """Run the call's loops (and its idle watchdog) until one ends the call; returns why."""
        tasks = [
            asyncio.create_task(self._from_twilio(), name="from_twilio"),
            asyncio.create_task(self._from_model(), name="from_model"),
            asyncio.create_task(self._to_twilio(), name="to_twilio"),
            asyncio.create_task(self._watch_twilio(), name="watch_twilio"),
            asyncio.create_task(self._keep_time(), name="keep_time"),
            asyncio.create_task(self._watch_responses(), name="watch_responses"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        first = done.pop()
        exc = first.exception()
        if isinstance(exc, ConnectionClosed):
            return self._model_closed_reason()
        if isinstance(exc, TwilioGone):
            log.info("twilio.disconnected", during="send")
            return "twilio_closed"
        if exc is not None:
            raise exc
        return first.result()

    async def _end(self, reason: str) -> None:
        self.services.active.discard(self)
        # Before the socket closes: Twilio's <Connect action> may reach any replica right after.
        await self.services.outcomes.record(self.start.call_sid, reason, self.services.instance)
        if self.model is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.model.close(), 2.0)
        await _close(self.ws, 1000, "call ended")
        await self.record.finish(reason)
        direction = self.start.custom_parameters.get("direction", "inbound")
        await inbound.call_ended(
            self.services.interviews, self.context, self.start.call_sid, direction, reason
        )
        log.info(
            "call.ended",
            reason=reason,
            duration_s=round(time.monotonic() - self.record.started_mono, 3),
            turns=self.record.turns,
            barge_ins=self.record.barge_ins,
            response_ms=self.record.response_ms,
            cost_usd=round(self.record.cost, 4),
            dropped_deltas=self.dropped_deltas,
            overflowed_deltas=self.overflowed_deltas,
        )

    # ---- caller -> model ---------------------------------------------------------------------

    async def _from_twilio(self) -> str:
        assert self.model is not None
        while True:
            message = await self.ws.receive()
            self.last_from_twilio = now = time.monotonic()
            if message["type"] == "websocket.disconnect":
                log.info("twilio.disconnected", code=message.get("code"))
                return "twilio_closed"
            frame = message.get("text")
            try:
                event = media.parse(
                    frame if frame is not None else message.get("bytes", b""),
                    max_bytes=self.settings.max_frame_bytes,
                )
            except media.MediaProtocolError as exc:
                log.warning("twilio.bad_frame", reason=str(exc))
                continue
            if isinstance(event, media.Media):
                if event.stream_sid != self.sid:
                    log.warning("twilio.bad_frame", reason="media for another streamSid")
                    continue
                await self.model.send_audio(self.transcoder.inbound(event.payload))
                self.inbound_ms += len(event.payload) / 8
                self.inbound_clock.append((self.inbound_ms, now))
            elif isinstance(event, media.Mark):
                if self.playback.echoed(event.name, now):
                    self.wake.set()
            elif isinstance(event, media.Stop):
                log.info("twilio.stop")
                return "caller_hung_up"
            elif isinstance(event, media.Dtmf):
                await self._on_key(event.digit)
            else:
                log.warning("twilio.unexpected_event", kind=type(event).__name__.lower())

    async def _watch_twilio(self) -> str:
        """End the call when Twilio goes silent (it can vanish without `stop`).

        One watchdog per call instead of a timeout around every 20 ms receive: that created a
        task and a timer per frame, about a tenth of the bridge's CPU.
        """
        idle = self.settings.idle_timeout_s
        while True:
            quiet = time.monotonic() - self.last_from_twilio
            if quiet >= idle:
                log.warning("twilio.idle_timeout", seconds=idle)
                return "twilio_idle_timeout"
            await asyncio.sleep(min(idle - quiet, 1.0) + 0.01)

    # ---- model -> caller ---------------------------------------------------------------------

    async def _from_model(self) -> str:
        assert self.model is not None
        async for event in self.model.events():
            if isinstance(event, vl.AudioDelta):
                self._on_audio(event)
            elif isinstance(event, vl.SpeechStarted):
                await self._barge_in(event)
            elif isinstance(event, vl.SpeechStopped):
                # audio_end_ms includes the silence that ended the turn (OpenAI's definition),
                # counted from the start of this session's audio (offset_ms into the call's).
                spoke_until = self.model.offset_ms + event.audio_end_ms - self.silence_ms
                self.awaiting_since = self._when_caller_audio(spoke_until)
                self.unanswered = True
            elif isinstance(event, vl.AudioDone):
                if event.response_id not in self.dropped_responses:
                    self.frames.end_item(event.item_id)
                    self.wake.set()
            elif isinstance(event, vl.ResponseCreated):
                await self._on_response_created(event)
            elif isinstance(event, vl.ResponseDone):
                self._on_response_done(event)
                await self._run_unnamed_calls(event)
                if event.status == "failed":
                    self._response_failed(event)
                    continue
                await self._after_response(event)
            elif isinstance(event, vl.FunctionCallItem):
                if event.call_id and event.name:
                    self.tool_names[event.call_id] = event.name
            elif isinstance(event, vl.FunctionCall):
                await self._on_function_call(event)
            elif isinstance(event, ConfigRefused):
                if not self._config_refused(event):
                    return "config_refused"
            elif isinstance(event, vl.Transcript):
                log.debug("transcript", role=event.role, text=event.text)
                if event.role == "user":
                    began = self.speech_began.pop(event.item_id, time.monotonic())
                    self.record.turn("caller", event.text, began)
                    self.history.user(event.item_id, event.text)
            elif isinstance(event, vl.ServerError):
                self._on_model_error(event)
            elif isinstance(event, vl.Other):
                level = log.warning if event.type == "warning" else log.debug
                level("voicelive.event_ignored", kind=event.type)
            elif isinstance(event, vl.SessionReady):
                log.info(
                    f"voicelive.{event.type}",
                    session_id=event.session_id,
                    expires_at=event.expires_at,
                )
            elif isinstance(event, Resumed):
                await self._on_resumed(event)
            elif isinstance(event, Handover):
                await self._on_handover(event)
        return self._model_closed_reason()

    def _model_closed_reason(self) -> str:
        code = self.model.close_code if self.model else None
        reason = self.model.close_reason if self.model else ""
        log.warning("voicelive.closed", code=code, reason=reason)
        self.record.error("voicelive", f"close {code}", reason or "connection closed")
        return "voicelive_closed"

    def _when_caller_audio(self, audio_ms: int) -> float:
        """When the caller's audio up to audio_ms reached us: the moment speech really stopped."""
        for received_ms, at in self.inbound_clock:
            if received_ms >= audio_ms:
                return at
        return time.monotonic()

    def _on_audio(self, event: vl.AudioDelta) -> None:
        if event.response_id in self.dropped_responses:
            self.dropped_deltas += 1
            return
        self.audio_item = event.item_id
        self.content_index[event.item_id] = event.content_index
        if self.failing_since is not None:  # the model speaks again
            self._responses_recovered()
        self.item_received_ms[event.item_id] = (
            self.item_received_ms.get(event.item_id, 0.0)
            + len(event.audio) / self.model_bytes_per_ms
        )
        if not self.frames.push(event.item_id, self.transcoder.outbound(event.audio)):
            self.overflowed_deltas += 1  # once per response, with what ops need to judge it
            if self.overflowed_response != event.response_id:
                self.overflowed_response = event.response_id
                log.warning("call.outbound_queue_full", response_id=event.response_id,
                            item_id=event.item_id, queued_s=round(len(self.frames) / 8000, 1),
                            unplayed_ms=round(self.playback.unconfirmed_ms))  # fmt: skip
        self.wake.set()

    def _on_response_done(self, event: vl.ResponseDone) -> None:
        if event.response_id == self.active_response:
            self.active_response = None
        self.response_ended.set()
        self.frames.end_item()  # all its audio is in, even without response.audio.done
        self.wake.set()
        self.record.usage(event.usage)
        for item_id, text in event.transcripts.items():
            sent_at = self.item_first_sent.get(item_id)
            if sent_at is not None:  # the caller heard (some of) it
                self.record.turn("bot", text, sent_at, item_id in self.interrupted_items, item_id)
            if sent_at is not None or item_id in self.item_received_ms:  # heard, or about to be
                self.history.assistant(item_id, text)
        log.info(
            "voicelive.response_done",
            response_id=event.response_id,
            status=event.status,
            reason=event.reason,
            usage=event.usage or None,
        )

    def _on_model_error(self, event: vl.ServerError) -> None:
        if event.code == "conversation_already_has_active_response":
            self.requested = False  # refused: nothing more is coming for that request
            self.response_ended.set()
        if event.event_id and event.event_id.startswith("cancel-"):
            # The service had already ended the response (its VAD interrupts it too).
            log.info("voicelive.cancel_ignored", message=event.message)
            return
        log.error(
            "voicelive.error",
            type=event.type,
            code=event.code,
            message=event.message,
            event_id=event.event_id,
        )
        self.record.error("voicelive", event.code or event.type, event.message)

    async def _barge_in(self, event: vl.SpeechStarted) -> None:
        """The caller spoke: silence the bot now, cancel the response, truncate its memory."""
        assert self.model is not None
        now = time.monotonic()
        self.speech_began[event.item_id] = now
        if len(self.speech_began) > 50:
            self.speech_began.pop(next(iter(self.speech_began)))
        self.at_boundary = False
        self.history.user_started(event.item_id)
        if self.ending_reason is not None:  # the closing line plays to the end, then we hang up
            log.info("call.barge_in_ignored", during="closing")
            return
        await self._stop_bot(now, "speech", event.audio_start_ms)

    async def _stop_bot(self, now: float, by: str, audio_start_ms: int | None = None) -> None:
        """Silence the bot now, cancel its response, truncate its memory to what was heard."""
        assert self.model is not None
        item = self.audio_item
        playing = len(self.frames) > 0 or not self.playback.idle
        heard = self.playback.heard_ms(item, now) if item else 0.0
        if playing:
            async with self.send_lock:  # the pacer cannot slip a chunk in after the clear
                await self._send_locked(media.clear(self.sid))
                self.frames.clear(now)
                self.transcoder.reset_outbound()
            self.record.barge_in()
            if item:
                self.interrupted_items.add(item)
                self.record.cut_off(item)  # a turn already written is marked cut off
                received_ms = self.item_received_ms.get(item, 0.0)
                if received_ms:
                    self.history.cut_off(item, heard / received_ms)
        if self.active_response is not None:
            self.dropped_responses.add(self.active_response)
            self.cancels += 1
            await self.model.send(vl.response_cancel(f"cancel-{self.cancels}"))
            self.active_response = None
        received = self.item_received_ms.get(item, 0.0) if item else 0.0
        if playing and item and heard < received:
            await self.model.send(vl.truncate(item, int(heard), self.content_index.get(item, 0)))
        if playing:
            log.info(
                "call.barge_in",
                item_id=item,
                heard_ms=round(heard, 1),
                item_ms=round(received, 1),
                audio_start_ms=audio_start_ms,
                by=by,
            )
        self.end_after_playout = False

    async def _on_function_call(self, event: vl.FunctionCall) -> None:
        """A function call's arguments are complete: carry it out, once per call_id. Its name
        comes from the function-call item (the reference's `.done` has none); if no item named
        it yet, it waits for the response's response.done, whose output names it."""
        assert self.model is not None
        if event.call_id in self.tools_answered:
            return
        name = event.name or self.tool_names.get(event.call_id, "")
        if not name:
            self.unnamed_calls[event.call_id] = event
            return
        self.tools_answered[event.call_id] = None
        if len(self.tools_answered) > 500:  # a long interview: forget the oldest
            del self.tools_answered[next(iter(self.tools_answered))]
        event = vl.FunctionCall(event.response_id, event.call_id, name, event.arguments)
        if event.response_id in self.dropped_responses:
            log.info("voicelive.tool_call_dropped", name=event.name)  # the caller cut it off
            return
        if self.end_after_playout or self.ending_reason is not None:
            # After end_interview (or at wrap-up) nothing new is asked for; the call still
            # gets its output so the conversation stays well-formed.
            await self.model.send(vl.function_output(event.call_id, '{"ok": false, '
                                  '"error": "the interview is ending"}'))  # fmt: skip
            return
        if event.name == "end_interview":
            try:
                why = json.loads(event.arguments or "{}").get("reason")
            except (ValueError, AttributeError):
                why = None
            await self.model.send(vl.function_output(event.call_id, '{"ok": true}'))
            pending_s = (len(self.frames) / 8 + self.playback.unconfirmed_ms) / 1000
            self.end_after_playout = True
            self.end_deadline = time.monotonic() + pending_s + GOODBYE_GRACE_S
            log.info("call.end_requested", reason=why, pending_playout_s=round(pending_s, 2))
            self.wake.set()
            return
        output = tools.run_tool(self.profile, event.name, event.arguments, self)
        await self.model.send(vl.function_output(event.call_id, output))
        self.respond_when_done = True  # a new response may start only after this one is done

    async def _run_unnamed_calls(self, event: vl.ResponseDone) -> None:
        """response.done's output names every function call: carry out those whose `.done`
        came without a name, and any whose `.done` never came."""
        for call in event.calls:
            if call.call_id and call.name:
                self.tool_names[call.call_id] = call.name
        for call in event.calls:
            waiting = self.unnamed_calls.pop(call.call_id, None)
            if call.call_id in self.tools_answered:
                continue
            if waiting is None and event.status != "completed":
                continue  # cut off before its arguments were complete
            await self._on_function_call(waiting or call)
        for call_id, waiting in list(self.unnamed_calls.items()):
            if waiting.response_id == event.response_id:  # never named: say so, do not guess
                del self.unnamed_calls[call_id]
                await self._on_function_call(
                    vl.FunctionCall(waiting.response_id, call_id, "?", waiting.arguments)
                )

    async def _on_key(self, digit: str) -> None:
        """A key press: `*` repeats the last question, `#` skips it. The bot stops speaking at
        once (as on a barge-in), then the model gets a system message and a new response."""
        assert self.model is not None
        action = keys.action_for(digit)
        now = time.monotonic()
        ending = self.end_after_playout or self.ending_reason is not None
        if action is None or ending or not self.keys.accept(now):
            log.info("twilio.dtmf", acted=False)  # the digit may be part of a PIN: not logged
            return
        log.info("call.key", action=action.name)
        self.record.key(action.name, now)
        async with self.key_lock:  # its response.done, read meanwhile, waits for this
            if not self.model.ready:  # a new session is being set up: it gets the key
                await self._stop_bot(now, "key")
                self.pending_key = action  # in the new session's replay (_fresh_session)
                log.info("call.key_deferred", action=action.name, reason="reconnecting")
                return
            responding = self.active_response is not None or self.requested
            self.drop_requested = self.requested  # asked for, not begun: cancel it when it is
            await self._stop_bot(now, "key")
            await self.model.send(vl.message("system", action.message))
            if responding:  # the cancelled response must be done before the next one starts
                self.respond_when_done = True
            else:
                await self.request_response()

    async def _to_twilio(self) -> str:
        """Pace the bot's audio: keep at most PLAYOUT_AHEAD_MS beyond what marks confirm."""
        ahead = self.settings.playout_ahead_ms
        while True:
            deadlines = [self.wrap_deadline]
            if self.end_after_playout:
                deadlines.append(self.end_deadline)
            due = min((d for d in deadlines if d is not None), default=None)
            timeout = None if due is None else max(due - time.monotonic(), 0.0)
            try:
                await asyncio.wait_for(self.wake.wait(), timeout)
            except TimeoutError:
                log.warning(
                    "call.goodbye_not_confirmed", unconfirmed_ms=self.playback.unconfirmed_ms
                )
                return self.ending_reason or "interview_finished"
            self.wake.clear()
            while (room := int((ahead - self.playback.unconfirmed_ms) // 20)) > 0:
                async with self.send_lock:  # take, register and send as one step (see barge-in)
                    chunk = self.frames.take(min(room, FRAMES_PER_MESSAGE))
                    if chunk is None:
                        break
                    item_id, audio = chunk
                    now = time.monotonic()
                    if item_id not in self.item_first_sent:
                        self._first_audio_of(item_id, now)
                    name = self.playback.sent(item_id, len(audio), now)
                    await self._send_locked(
                        media.media(self.sid, audio), media.mark(self.sid, name)
                    )
            if self.end_after_playout and not len(self.frames) and self.playback.idle:
                log.info("call.goodbye_played")
                return self.ending_reason or "interview_finished"

    def _first_audio_of(self, item_id: str, now: float) -> None:
        """A bot item starts playing: it answers the caller if they were waiting."""
        self.item_first_sent[item_id] = now
        if self.awaiting_since is not None:
            ms = (now - self.awaiting_since) * 1000
            self.record.response_time(ms)
            log.info("call.response_time", ms=round(ms, 1))
            self.awaiting_since = None

    async def _send_locked(self, *frames: str) -> None:
        """Send to Twilio; the caller holds send_lock."""
        try:
            for frame in frames:
                await self.ws.send_text(frame)
        except (WebSocketDisconnect, RuntimeError, OSError) as exc:
            raise TwilioGone(str(exc)) from None
