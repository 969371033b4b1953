"""A caller and a Twilio in one command: signed webhooks, a media stream, a faithful playout."""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import sys
import urllib.error
import urllib.request
import uuid
import wave
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlencode

import numpy as np
import structlog
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from bot.localengine import audio, tts
from bot.localengine.callclock import (
    FRAME,
    FRAME_MS,
    RATE,
    Caller,
    CallReport,
    Microphone,
    Playout,
    Speaker,
    Timeline,
)

log = structlog.get_logger(__name__)

LOUD_RMS = 300  # a caller frame above this counts as speech (about -40 dBFS)
TURN_GAP_MS = 500  # the caller answers once the bot has been quiet this long
CALLER_VOICE = tts.Voice("en-us+m3", rate=180)
BARGE_IN_PHRASE = "Actually, sorry to interrupt, I have a question."


class MicrophoneUnavailable(RuntimeError):
    """--mic was asked for, but no microphone can be opened here."""


@dataclass
class Options:
    """What one softphone call does; `url` is the bot's public base URL."""

    url: str
    token: str
    wav: Path | None = None
    say: list[str] = field(default_factory=list)
    record: Path | None = None
    barge_in_after: float | None = None
    speaker: bool = False
    mic: bool = False
    timeout: float = 300.0
    account_sid: str = "AC" + "0" * 32
    from_number: str = "+15005550006"
    to_number: str = "+15005550001"
    out: TextIO | None = None


def _post(url: str, params: dict[str, str], token: str) -> tuple[int, str]:
    """POST a form signed like Twilio; returns the status and body."""
    from twilio.request_validator import RequestValidator

    signature = RequestValidator(token).compute_signature(url, params)
    request = urllib.request.Request(
        url,
        data=urlencode(params).encode(),
        headers={
            "X-Twilio-Signature": signature,
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "TwilioProxy/1.1",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def parse_connect(twiml: str) -> tuple[str | None, str | None, dict[str, str], list[str]]:
    """From TwiML: the stream URL, the <Connect action>, the stream parameters and all verbs."""
    root = ET.fromstring(twiml)
    verbs = [child.tag for child in root]
    connect_verb = root.find("Connect")
    stream = connect_verb.find("Stream") if connect_verb is not None else None
    if connect_verb is None or stream is None:
        return None, None, {}, verbs
    params = {p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter")}
    return stream.get("url"), connect_verb.get("action"), params, verbs


class Call:
    """One call: the voice webhook, the media stream, the <Connect action> callback."""

    def __init__(self, options: Options, caller: Caller, barge_phrase: np.ndarray) -> None:
        self.o = options
        self.report = CallReport()
        self.timeline = Timeline(self.report, options.out or sys.stdout)
        self.caller, self._barge_phrase = caller, barge_phrase
        self.playout = Playout()
        self.call_sid = "CA" + uuid.uuid4().hex
        self.stream_sid = "MZ" + uuid.uuid4().hex
        self._seq = 0
        self._ws: ClientConnection | None = None
        self._t = 0.0  # stream clock: ms at the start of the current tick
        self._barged = False
        self._left: list[np.ndarray] = []
        self._right: list[np.ndarray] = []
        self._speaker: Speaker | None = None
        self._timed_out = False

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
            status, body = await asyncio.to_thread(_post, url, self._form("ringing"), self.o.token)
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
            self._finish_audio()
        if self._timed_out:
            hint = "" if self.caller.pending else " (the caller had no more answers to give)"
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
            _post, action, self._form("in-progress"), self.o.token
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
            self._open_speaker()
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
        bot_playing = bot_frame is not None
        self._take_turn(bot_playing)
        caller = self.caller.frame()
        payload = audio.ulaw_encode(caller)
        await self._send(
            {"event": "media", "sequenceNumber": self._next_seq(), "streamSid": self.stream_sid,
             "media": {"track": "inbound", "chunk": str(tick + 1),
                       "timestamp": str(tick * FRAME_MS),
                       "payload": base64.b64encode(payload).decode()}}
        )  # fmt: skip
        heard_bot = audio.ulaw_decode(bot_frame) if bot_frame else np.zeros(FRAME, np.int16)
        self._left.append(audio.ulaw_decode(payload))
        self._right.append(heard_bot)
        if self._speaker is not None:
            self._speaker.play(heard_bot)
        loud = float(np.sqrt(np.mean(caller.astype(np.float64) ** 2))) > LOUD_RMS
        self.timeline.update(self._t, loud, bot_playing)

    def _take_turn(self, bot_playing: bool) -> None:
        """Start the caller's next utterance: after the bot's turn, or over it on purpose."""
        line, t = self.timeline, self._t
        if self.caller.speaking:
            return
        after = self.o.barge_in_after
        if after is not None and not self._barged and line.bot_talking_ms(t) >= after * 1000:
            self._barged = True
            phrase = self.caller.pending.popleft() if self.caller.pending else self._barge_phrase
            self.caller.start(phrase)
        elif self.caller.pending and line.bot_spoke and line.bot_quiet_ms(t) >= TURN_GAP_MS:
            self.caller.start(self.caller.pending.popleft())

    def _open_speaker(self) -> None:
        if self.o.speaker:
            try:
                self._speaker = Speaker(RATE)
            except Exception as exc:  # no module, no library, no device: play nothing
                self.timeline.say(0, "speaker", f"unavailable ({type(exc).__name__}: {exc})")

    def _finish_audio(self) -> None:
        self.timeline.end_bot_segment()
        if self._speaker is not None:
            self._speaker.close()
            self._speaker = None
        if self.caller.microphone is not None:
            self.caller.microphone.close()
            self.caller.microphone = None
        if self.o.record and self._left:
            audio.write_wav(self.o.record, RATE, np.concatenate(self._left),
                            np.concatenate(self._right))  # fmt: skip
            self.timeline.say(self._t, "record", f"{self.o.record} (caller left, bot right)")
            self._left = []


def _voice(text: str) -> np.ndarray:
    return audio.trim_silence(tts.synthesize(text, RATE, CALLER_VOICE), RATE)


async def run_call(options: Options) -> CallReport:
    """Place one call against the bot at options.url; returns when the call has ended."""
    wav = audio.read_wav_mono(options.wav, RATE) if options.wav else None
    utterances = [await asyncio.to_thread(_voice, text) for text in options.say]
    barge_phrase = await asyncio.to_thread(_voice, BARGE_IN_PHRASE)
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `bot softphone` options."""
    parser.add_argument("--url", help="the bot's base URL (default: PUBLIC_URL)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--wav", type=Path, help="caller audio, streamed from the start")
    source.add_argument(
        "--say", action="append", default=[], metavar="TEXT",
        help="a caller answer, spoken after the bot's turn (repeat: one per turn)",
    )  # fmt: skip
    source.add_argument(
        "--mic", action="store_true",
        help="speak yourself, from the default microphone (needs: pip install sounddevice)",
    )  # fmt: skip
    parser.add_argument("--record", type=Path, help="stereo WAV: caller left, bot right")
    parser.add_argument("--barge-in-after", type=float, metavar="SECONDS",
                        help="interrupt the bot once it has spoken this long")  # fmt: skip
    parser.add_argument("--speaker", action="store_true", help="play the bot on a sound device")
    parser.add_argument("--timeout", type=float, default=300.0, metavar="SECONDS",
                        help="hang up after this long (default 300)")  # fmt: skip


def main(args: argparse.Namespace) -> int:
    """Run `bot softphone`; the exit status says whether the call completed normally."""
    from bot.config import load_settings

    settings = load_settings()
    options = Options(
        url=args.url or settings.public_url,
        token=settings.twilio_auth_token,
        wav=args.wav,
        say=list(args.say or []),
        record=args.record,
        barge_in_after=args.barge_in_after,
        speaker=args.speaker,
        mic=args.mic,
        timeout=args.timeout,
        account_sid=settings.twilio_account_sid or Options.account_sid,
        to_number=settings.twilio_phone_number or Options.to_number,
    )
    try:
        report = asyncio.run(run_call(options))
    except MicrophoneUnavailable as exc:
        print(f"softphone: no microphone ({exc}); use --say or --wav instead", file=sys.stderr)
        return 1
    except (OSError, EOFError, wave.Error) as exc:  # an unreadable --wav or --record path
        print(f"softphone: {exc}", file=sys.stderr)
        return 1
    print(report.summary(), flush=True)
    return report.exit_code
