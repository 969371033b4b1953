"""One softphone call as Twilio carries it: the voice webhook, the media stream, the action."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import sys
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import structlog
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from bot.localengine import audio
from bot.localengine.callclock import (
    FRAME_MS,
    RATE,
    Caller,
    CallReport,
    Microphone,
    Playout,
    Timeline,
)
from bot.softphone.caller import BARGE_IN_PHRASE, CallerSide, MicrophoneUnavailable, voice
from bot.softphone.webhooks import parse_connect, post

log = structlog.get_logger(__name__)


@dataclass
class Options:
    """What one softphone call does; `url` is the bot's public base URL."""

    url: str
    token: str
    wav: Path | None = None
    say: list[str] = field(default_factory=list)
    record: Path | None = None
    barge_in_after: float | None = None
    bursts: list[tuple[str, int, float]] = field(default_factory=list)  # --cough, --hum
    speaker: bool = False
    mic: bool = False
    timeout: float = 300.0
    account_sid: str = "AC" + "0" * 32
    from_number: str = "+15005550006"
    to_number: str = "+15005550001"
    out: TextIO | None = None
    silent: bool = False  # send only silence, never speak
    press: list[tuple[str, float]] = field(default_factory=list)  # (digit, seconds from start)


class Call:
    """One call: the voice webhook, the media stream, the <Connect action> callback."""

    def __init__(self, options: Options, caller: Caller, barge_phrase: np.ndarray) -> None:
        self.o = options
        self.report = CallReport()
        self.timeline = Timeline(self.report, options.out or sys.stdout)
        self.side = CallerSide(caller, barge_phrase, self.timeline,
                               barge_in_after=None if options.silent else options.barge_in_after,
                               speaker=options.speaker,
                               record=options.record)  # fmt: skip
        self.playout = Playout()
        self.side.add_bursts(options.bursts)  # --cough, --hum
        self.call_sid = "CA" + uuid.uuid4().hex
        self.stream_sid = "MZ" + uuid.uuid4().hex
        self._seq = 0
        self._ws: ClientConnection | None = None
        self._t = 0.0  # stream clock: ms at the start of the current tick
        self._timed_out = False
        self._presses = sorted(options.press, key=lambda p: p[1])  # DTMF still to send

    def _form(self, status: str) -> dict[str, str]:
        return {
            "CallSid": self.call_sid, "AccountSid": self.o.account_sid, "From": self.o.from_number,
            "To": self.o.to_number, "CallStatus": status, "Direction": "inbound",
            "ApiVersion": "2010-04-01",
        }  # fmt: skip

    async def run(self) -> CallReport:
        say = self.timeline.say
        self._deadline = asyncio.get_running_loop().time() + self.o.timeout
        url = f"{self.o.url.rstrip('/')}/twilio/voice"
        try:
            status, body = await asyncio.to_thread(post, url, self._form("ringing"), self.o.token)
        except OSError as exc:
            return self._end("error", f"voice webhook unreachable: {exc}")
        say(0, "twilio", f"POST {url} -> HTTP {status}")
        if status != 200:
            return self._end("refused", f"voice webhook answered HTTP {status}: {body[:200]}")
        try:
            stream_url, action, params, verbs = parse_connect(body)
        except ET.ParseError as exc:
            return self._end("error", f"voice webhook returned invalid TwiML: {exc}")
        if not stream_url:
            return self._end("refused", f"TwiML has no <Connect><Stream> (verbs: {verbs})")
        try:
            await self._stream(stream_url, params)
        except InvalidStatus as exc:
            code = exc.response.status_code
            return self._end("refused", f"media stream upgrade refused: HTTP {code}")
        except (OSError, InvalidHandshake) as exc:
            return self._end("error", f"media stream failed: {exc}")
        finally:
            self.side.finish(self._t)
        if self._timed_out:
            hint = "" if self.side.caller.pending else " (the caller had no more answers to give)"
            return self._end("timeout", f"no end after {self.o.timeout:g} s; hung up{hint}")
        close = self._ws.close_code if self._ws else None
        if close not in (1000, 1005):
            return self._end("error", f"the bot closed the media stream abnormally ({close})")
        self.report.unplayed_ms = self.playout.queued_bytes / RATE * 1000
        if self.report.unplayed_ms:
            note = f"hung up with {self.report.unplayed_ms:.0f} ms of its audio unplayed"
            self.report.warnings.append(note)
            say(self._t, "bot", note)
        if action:
            await self._action(action)
        if self.report.status == "error":
            return self.report
        if not self.report.bot_segments:
            return self._end("error", "the bot hung up without saying anything")
        return self._end("completed", "the bot ended the call")

    def _end(self, status: str, reason: str) -> CallReport:
        self.report.status, self.report.reason = status, reason
        self.timeline.say(self._t, "call", f"{status}: {reason}")
        return self.report

    async def _action(self, action: str) -> None:
        status, body = await asyncio.to_thread(
            post, action, self._form("in-progress"), self.o.token
        )
        self.report.action_twiml = body
        self.timeline.say(self._t, "twilio", f"POST {action} -> HTTP {status}")
        if status != 200:
            self._end("error", f"<Connect action> answered HTTP {status}")
            return
        try:
            verbs = [
                child.tag + (f" {' '.join(child.text.split())!r}" if child.text else "")
                for child in ET.fromstring(body)
            ]
        except ET.ParseError:
            self._end("error", "<Connect action> returned invalid TwiML")
            return
        said = "; ".join(verbs) or "nothing (the call hangs up)"
        self.timeline.say(self._t, "twilio", f"TwiML says: {said}")
        spoken = [verb for verb in verbs if verb.startswith(("Say", "Play"))]
        if spoken:  # an interview ends with the model's goodbye; TwiML speech means a failure
            self._end("error", f"the call ended with a message from TwiML: {spoken[0]}")

    async def _send(self, message: dict[str, Any]) -> None:
        if self._ws is not None:
            await self._ws.send(json.dumps(message))

    def _next_seq(self) -> str:
        self._seq += 1
        return str(self._seq)

    async def _stream(self, url: str, params: dict[str, str]) -> None:
        from twilio.request_validator import RequestValidator

        signature = RequestValidator(self.o.token).compute_signature(url, {})
        headers = {"X-Twilio-Signature": signature}
        async with connect(
            url, additional_headers=headers, ping_interval=None, open_timeout=10
        ) as ws:
            self._ws = ws
            self.timeline.say(0, "twilio", f"media stream open: {url}")
            await self._send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
            start = {
                "accountSid": self.o.account_sid, "streamSid": self.stream_sid,
                "callSid": self.call_sid, "tracks": ["inbound"], "customParameters": params,
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            }  # fmt: skip
            await self._send(
                {"event": "start", "sequenceNumber": self._next_seq(),
                 "streamSid": self.stream_sid, "start": start}
            )  # fmt: skip
            self.side.open_speaker()
            pump = asyncio.create_task(self._pump())
            try:
                async with asyncio.timeout_at(self._deadline):
                    await self._receive(ws)
            except TimeoutError:
                self._timed_out = True
            finally:
                pump.cancel()
                await asyncio.gather(pump, return_exceptions=True)
            if self._timed_out:
                await self._hang_up(ws)
            else:
                self.timeline.say(self._t, "twilio", f"the bot closed the stream ({ws.close_code})")

    async def _hang_up(self, ws: ClientConnection) -> None:
        """The caller hangs up: stop, then close (as Twilio does)."""
        stop = {"accountSid": self.o.account_sid, "callSid": self.call_sid}
        self.timeline.say(self._t, "twilio", "caller hangs up: stop")
        with contextlib.suppress(ConnectionClosed):
            await self._send(
                {"event": "stop", "sequenceNumber": self._next_seq(),
                 "streamSid": self.stream_sid, "stop": stop}
            )  # fmt: skip
            await ws.close()

    def _warn(self, text: str) -> None:
        """Twilio's debugger warnings: printed once each, kept in the report."""
        if text not in self.report.warnings:
            log.warning("softphone.warning", warning=text)
            self.report.warnings.append(text)
            self.timeline.say(self._t, "twilio", f"warning {text}")

    async def _receive(self, ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in ws:
                if isinstance(message, bytes):
                    self._warn("31950: the app sent a binary frame")
                    continue
                try:
                    await self._handle(json.loads(message))
                except (ValueError, KeyError, TypeError, AttributeError):
                    self._warn("31951: invalid message from the app")

    async def _handle(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        if event.get("streamSid") != self.stream_sid:
            self._warn(f"31951: {kind} with a wrong or missing streamSid")
        elif kind == "media":
            self.playout.add_audio(base64.b64decode(event["media"]["payload"], validate=True))
        elif kind == "mark":
            await self._echo(self.playout.add_mark(str(event["mark"]["name"])))
        elif kind == "clear":
            self.timeline.cleared(self._t)
            await self._echo(self.playout.clear())
        else:
            self._warn(f"31951: unknown event {kind!r} from the app")

    async def _echo(self, marks: list[str]) -> None:
        for name in marks:
            await self._send(
                {"event": "mark", "sequenceNumber": self._next_seq(),
                 "streamSid": self.stream_sid, "mark": {"name": name}}
            )  # fmt: skip

    async def _pump(self) -> None:
        loop = asyncio.get_running_loop()
        origin = loop.time()
        tick = 0
        while True:
            delay = origin + tick * FRAME_MS / 1000 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self._t = tick * FRAME_MS
            await self._tick(tick)
            tick += 1

    async def _tick(self, tick: int) -> None:
        marks, bot_frame = self.playout.tick()
        await self._echo(marks)
        caller, payload = self.side.speak(self._t, bot_frame is not None)
        await self._send(
            {"event": "media", "sequenceNumber": self._next_seq(), "streamSid": self.stream_sid,
             "media": {"track": "inbound", "chunk": str(tick + 1),
                       "timestamp": str(tick * FRAME_MS),
                       "payload": base64.b64encode(payload).decode()}}
        )  # fmt: skip
        self.side.hear(self._t, caller, payload, bot_frame)
        while self._presses and self._presses[0][1] * 1000 <= self._t:
            digit, _ = self._presses.pop(0)
            self.timeline.say(self._t, "caller", f"presses {digit}")
            await self._send(
                {"event": "dtmf", "sequenceNumber": self._next_seq(),
                 "streamSid": self.stream_sid, "dtmf": {"track": "inbound_track", "digit": digit}}
            )  # fmt: skip


async def run_call(options: Options) -> CallReport:
    """Place one call against the bot at options.url; returns when the call has ended."""
    wav = audio.read_wav_mono(options.wav, RATE) if options.wav else None
    utterances = [] if options.silent else [await asyncio.to_thread(voice, t) for t in options.say]
    barge_phrase = await asyncio.to_thread(voice, BARGE_IN_PHRASE)
    microphone = None
    if options.mic:
        try:
            microphone = Microphone(RATE)
        except Exception as exc:  # no module, no PortAudio, no device
            raise MicrophoneUnavailable(f"{type(exc).__name__}: {exc}") from None
    call = Call(options, Caller(wav, utterances, microphone), barge_phrase)
    try:
        async with asyncio.timeout(options.timeout + 30):  # backstop: webhooks time out first
            return await call.run()
    except TimeoutError:
        return call._end("timeout", f"no answer within {options.timeout:g} s")
