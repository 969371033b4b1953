"""The life of one call, top to bottom: accept, authenticate, open the model, greet, relay,
end. The I/O shell: it owns the sockets and tasks, feeds what happens into the call core
(bot/call/core.py, which decides everything) and carries out the core's commands."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import TYPE_CHECKING

import structlog
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.exceptions import ConnectionClosed

from bot.audio import make_transcoder
from bot.call import inputs as ev
from bot.call import resume
from bot.call.admit import admit, close
from bot.call.commands import ClearPlayout, HangUp, SendAudio, ToModel, ToTwilio, TurnBoundary
from bot.call.core import CallCore
from bot.call.record import CallRecorder
from bot.endreasons import EndReason
from bot.interview.context import InterviewContext
from bot.scheduling import amd
from bot.timeouts import within
from bot.twilio import media
from bot.voicelive import events as vl
from bot.voicelive.client import VoiceLiveConnection, VoiceLiveUnavailable
from bot.voicelive.keeper import SessionKeeper

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = structlog.get_logger("bot.call")  # one logger name for the call, shell and core


async def handle_media_stream(ws: WebSocket, services: Runtime) -> None:
    """Accept a Twilio media stream, check who it is (bot/call/admit.py), and run the call to
    its end."""
    start = await admit(ws, services)
    if start is None:
        return
    with structlog.contextvars.bound_contextvars(
        call_sid=start.call_sid, stream_sid=start.stream_sid
    ):
        await Call(ws, start, services).run()


class TwilioGone(ConnectionError):
    """The Twilio socket closed while we were sending."""


class Call:
    """One live call: the Twilio stream and the Voice Live session, owned together; the
    decisions are its core's."""

    def __init__(self, ws: WebSocket, start: media.Start, services: Runtime) -> None:
        self.ws = ws
        self.start = start
        self.services = services
        self.settings = settings = services.settings
        self.sid = start.stream_sid
        self.context = InterviewContext.from_parameters(start.custom_parameters)
        self.profile = services.profile_for(self.context)
        self.transcoder = make_transcoder(settings.audio_format)
        self.model_bytes_per_ms = 8 if self.transcoder.model_format == "g711_ulaw" else 48
        self.model: SessionKeeper | None = None
        self.record = CallRecorder(
            services.store,
            services.metrics,
            settings.prices,
            call_sid=start.call_sid,
            heartbeat_s=settings.call_heartbeat_s,
            profile=self.profile,
            journal=services.journal,
        )
        self.recording = services.record_call(start.call_sid, self.profile, self.record)
        self.core = CallCore(
            self.profile,
            self.record,
            services.metrics,
            duration_s=min(self.profile.duration_min * 60, settings.max_call_duration_s),
            started=self.record.started_mono,
            playout_ahead_ms=settings.playout_ahead_ms,
            silence_ms=services.silence_duration_ms,
            model_bytes_per_ms=self.model_bytes_per_ms,
        )
        self.closing = self.core.closing
        self.last_from_twilio = time.monotonic()
        # The core's commands, carried out in order: one queue per socket.
        self.to_twilio: deque[ToTwilio] = deque()
        self.to_model: deque[ToModel | TurnBoundary] = deque()
        self.twilio_wake = asyncio.Event()
        self.model_wake = asyncio.Event()
        self.tick_wake = asyncio.Event()
        self.tick_at: float | None = None
        self.hung_up = asyncio.Event()
        self.end_reason = EndReason.ERROR

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
        await resume.begin(self.services.interviews, self.context, self.start.call_sid,
                           self.core, self.record)  # a dropped interview goes on  # fmt: skip
        reason = EndReason.ERROR
        try:
            try:
                conn = await self.services.sessions.take(self.start.call_sid, self.context)
            except VoiceLiveUnavailable as exc:
                log.error("voicelive.unavailable", reason=str(exc))
                self.record.error("voicelive", "unavailable", str(exc))
                reason = EndReason.ENGINE_UNAVAILABLE
                return
            self.model = self._keeper(conn)
            # If the session dropped since the webhook, the keeper reconnects and greets.
            self._feed(ev.Start(time.monotonic(), self.model.ready))
            reason = await self._relay()
        except Exception as exc:
            log.exception("call.failed")
            self.record.error("bot", type(exc).__name__, str(exc))
            reason = EndReason.ERROR
        finally:
            await self._end(reason)

    def _keeper(self, conn: VoiceLiveConnection) -> SessionKeeper:
        """Wrap the call's first session so that expiries and drops are survived."""

        async def reopen() -> VoiceLiveConnection:
            return await self.services.sessions.open(self.context)

        return SessionKeeper(
            conn,
            reopen,
            replay=self.core.fresh_session,
            can_switch=self.core.can_switch,
            bytes_per_ms=self.model_bytes_per_ms,
            recycle_after_s=self.settings.voice_live_session_max_s,
            reconnect_budget_s=self.settings.voice_live_reconnect_s,
        )

    async def _relay(self) -> str:
        """Run the call's tasks until one ends the call; returns why."""
        tasks = [
            asyncio.create_task(self._from_twilio(), name="from_twilio"),
            asyncio.create_task(self._from_model(), name="from_model"),
            asyncio.create_task(self._send_to_twilio(), name="to_twilio"),
            asyncio.create_task(self._send_to_model(), name="to_model"),
            asyncio.create_task(self._tick(), name="tick"),
            asyncio.create_task(self._watch_twilio(), name="watch_twilio"),
            asyncio.create_task(self._until_hung_up(), name="hang_up"),
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
            return EndReason.TWILIO_CLOSED
        if exc is not None:
            raise exc
        return first.result()

    async def wrap_up(self, reason: str) -> None:
        """End the interview now: closing line, playout, hang-up (see bot/call/ending.py)."""
        if self.model is not None:
            self._feed(ev.WrapUp(reason, time.monotonic(), self.model.ready))

    async def _end(self, reason: str) -> None:
        self.services.active.discard(self)
        reason = await amd.end_reason(self.services.interviews, self.context, self.start, reason)
        # Before the socket closes: Twilio's <Connect action> may reach any replica right after.
        await self.services.outcomes.record(self.start.call_sid, reason, self.services.instance)
        await resume.ended(self.services.interviews, self.context, self.start, reason,
                           self.record.started_at, self.core.clock.remaining())  # fmt: skip
        if self.model is not None:
            with contextlib.suppress(Exception):
                await within(self.model.close(), 2.0)
        await close(self.ws, 1000, "call ended")
        await self.record.finish(reason)
        log.info(
            "call.ended",
            reason=reason,
            duration_s=round(time.monotonic() - self.record.started_mono, 3),
            turns=self.record.turns,
            barge_ins=self.record.barge_ins,
            response_ms=self.record.response_ms,
            cost_usd=round(self.record.cost, 4),
            dropped_deltas=self.core.dropped_deltas,
            overflowed_deltas=self.core.overflowed_deltas,
        )

    # ---- into the core, and its commands out -------------------------------------------------

    def _feed(self, event: ev.Input) -> None:
        """Tell the core what happened; queue its commands for the tasks that carry them out."""
        for command in self.core.feed(event):
            if isinstance(command, ClearPlayout):
                self.transcoder.reset_outbound()  # before the next delta is transcoded
            if isinstance(command, SendAudio | ClearPlayout):
                self.to_twilio.append(command)
                self.twilio_wake.set()
            elif isinstance(command, HangUp):
                self.end_reason = command.reason
                self.hung_up.set()
            else:
                self.to_model.append(command)
                self.model_wake.set()
        deadline = self.core.next_deadline()
        if deadline is not None and (self.tick_at is None or deadline < self.tick_at):
            self.tick_wake.set()

    async def _until_hung_up(self) -> str:
        await self.hung_up.wait()
        return self.end_reason

    async def _tick(self) -> None:
        """Wake the core at its next deadline (time limit, wrap-up, retries, goodbye)."""
        while True:
            self.tick_at = deadline = self.core.next_deadline()
            self.tick_wake.clear()
            timeout = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            try:  # within, not wait_for: a cancel meeting a wake-up must end this loop
                await within(self.tick_wake.wait(), timeout)
            except TimeoutError:
                self._feed(ev.Tick(time.monotonic(), bool(self.model and self.model.ready)))

    async def _send_to_twilio(self) -> None:
        """Carry out the core's Twilio commands, in order (a clear never overtakes audio)."""
        while True:
            await self.twilio_wake.wait()
            self.twilio_wake.clear()
            while self.to_twilio:
                command = self.to_twilio.popleft()
                self.recording.command(command, time.monotonic())  # the bot's side, as played
                if isinstance(command, SendAudio):
                    await self._send(
                        media.media(self.sid, command.audio), media.mark(self.sid, command.mark)
                    )
                else:
                    await self._send(media.clear(self.sid))

    async def _send_to_model(self) -> None:
        """Carry out the core's model commands, in order."""
        assert self.model is not None
        while True:
            await self.model_wake.wait()
            self.model_wake.clear()
            while self.to_model:
                command = self.to_model.popleft()
                if isinstance(command, ToModel):
                    await self.model.send(command.event)
                else:
                    self.model.boundary()

    async def _send(self, *frames: str) -> None:
        try:
            for frame in frames:
                await self.ws.send_text(frame)
        except (WebSocketDisconnect, RuntimeError, OSError) as exc:
            raise TwilioGone(str(exc)) from None

    # ---- caller -> model ---------------------------------------------------------------------

    async def _from_twilio(self) -> str:
        assert self.model is not None
        while True:
            message = await self.ws.receive()
            self.last_from_twilio = now = time.monotonic()
            if message["type"] == "websocket.disconnect":
                log.info("twilio.disconnected", code=message.get("code"))
                return EndReason.TWILIO_CLOSED
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
                # The hot path: straight to the model; the core only notes when it came.
                await self.model.send_audio(self.transcoder.inbound(event.payload))
                self.core.feed(ev.CallerAudio(len(event.payload) / 8, now))
                self.recording.caller(event.payload, now)
            elif isinstance(event, media.Mark):
                self._feed(ev.MarkEchoed(event.name, now, self.model.ready))
            elif isinstance(event, media.Stop):
                log.info("twilio.stop")
                return EndReason.CALLER_HUNG_UP
            elif isinstance(event, media.Dtmf):
                self._feed(ev.Key(event.digit, now, self.model.ready))
            else:
                log.warning("twilio.unexpected_event", kind=type(event).__name__.lower())

    async def _watch_twilio(self) -> str:
        """End the call when Twilio goes silent (it can vanish without `stop`): one watchdog per
        call, not a timeout per 20 ms receive (a task and a timer per frame, 10% of the CPU)."""
        idle = self.settings.idle_timeout_s
        while True:
            quiet = time.monotonic() - self.last_from_twilio
            if quiet >= idle:
                log.warning("twilio.idle_timeout", seconds=idle)
                return EndReason.TWILIO_IDLE_TIMEOUT
            await asyncio.sleep(min(idle - quiet, 1.0) + 0.01)

    # ---- model -> caller ---------------------------------------------------------------------

    async def _from_model(self) -> str:
        model = self.model
        assert model is not None
        async for event in model.events():
            mulaw = b""
            if isinstance(event, vl.AudioDelta) and self.core.keeps_audio(event.response_id):
                mulaw = self.transcoder.outbound(event.audio)
            self._feed(ev.FromModel(event, time.monotonic(), model.ready, model.offset_ms,
                                    model.resumes, mulaw))  # fmt: skip
        return self._model_closed_reason()

    def _model_closed_reason(self) -> str:
        code = self.model.close_code if self.model else None
        reason = self.model.close_reason if self.model else ""
        log.warning("voicelive.closed", code=code, reason=reason)
        self.record.error("voicelive", f"close {code}", reason or "connection closed")
        return EndReason.VOICELIVE_CLOSED
