"""The softphone against a small fake bot written from docs/twilio.md (not from the bot's code)."""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import io
import json
import time
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import numpy as np
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from twilio.request_validator import RequestValidator

from bot import softphone
from bot.localengine import audio
from bot.localengine.callclock import Playout
from tests.support.server import free_port

TOKEN = "fake-bot-token-0123456789abcdef"


def tone(ms: int) -> bytes:
    t = np.arange(8 * ms) / 8000
    return audio.ulaw_encode((6000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16))


class FakeBot:
    """Just enough of a bot: signed webhooks, TwiML, and a scripted media stream."""

    def __init__(self, base: str, token: str, mode: str = "interview") -> None:
        self.base, self.token, self.mode = base, token, mode
        self.received: list[dict[str, Any]] = []
        self.marks: dict[str, float] = {}  # name -> seconds from send to echo
        self.forms: dict[str, dict[str, str]] = {}

    def _signed(self, url: str, params: dict[str, str], signature: str) -> bool:
        return RequestValidator(self.token).validate(url, params, signature)

    async def webhook(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        url = self.base + request.url.path
        if not self._signed(url, form, request.headers.get("x-twilio-signature", "")):
            return PlainTextResponse("bad signature", status_code=403)
        self.forms[request.url.path] = form
        if request.url.path == "/twilio/voice":
            stream = self.base.replace("http://", "ws://") + "/twilio/media"
            twiml = (
                f'<Response><Connect action="{self.base}/twilio/stream-ended">'
                f'<Stream url="{stream}"><Parameter name="token" value="t0k"/></Stream>'
                "</Connect></Response>"
            )
        elif self.mode == "apology":
            twiml = "<Response><Say>Sorry, something went wrong.</Say><Hangup/></Response>"
        else:
            twiml = "<Response><Hangup/></Response>"
        return Response(twiml, media_type="application/xml")

    async def media(self, ws: WebSocket) -> None:
        url = self.base.replace("http://", "ws://") + "/twilio/media"
        if not self._signed(url, {}, ws.headers.get("x-twilio-signature", "")):
            await ws.close(code=1008)
            return
        await ws.accept()
        self.sid = ""
        self.sent_at: dict[str, float] = {}
        try:
            await self._script(ws)
        except WebSocketDisconnect:
            pass

    async def _next(self, ws: WebSocket) -> dict[str, Any]:
        event = json.loads(await ws.receive_text())
        self.received.append(event)
        if event["event"] == "mark":
            name = event["mark"]["name"]
            self.marks[name] = time.monotonic() - self.sent_at[name]
        return event

    async def _play(self, ws: WebSocket, data: bytes, mark: str) -> None:
        payload = base64.b64encode(data).decode()
        await ws.send_text(
            json.dumps({"event": "media", "streamSid": self.sid, "media": {"payload": payload}})
        )
        self.sent_at[mark] = time.monotonic()
        await ws.send_text(
            json.dumps({"event": "mark", "streamSid": self.sid, "mark": {"name": mark}})
        )

    async def _caller_turn(self, ws: WebSocket, clear_on_speech: bool = False) -> None:
        """Wait until the caller has spoken and then been quiet for 300 ms."""
        spoke, quiet = False, 0
        while True:
            event = await self._next(ws)
            if event["event"] != "media":
                continue
            pcm = audio.ulaw_decode(base64.b64decode(event["media"]["payload"]))
            loud = float(np.sqrt(np.mean(pcm.astype(float) ** 2))) > 500
            if loud and not spoke and clear_on_speech:
                await ws.send_text(json.dumps({"event": "clear", "streamSid": self.sid}))
            spoke, quiet = spoke or loud, 0 if loud else quiet + 1
            if spoke and quiet >= 15:
                return

    async def _script(self, ws: WebSocket) -> None:
        assert (await self._next(ws))["event"] == "connected"
        start = await self._next(ws)
        self.sid = start["streamSid"]
        if self.mode in ("crash", "apology"):
            await ws.close(code=1011 if self.mode == "crash" else 1000)
            return
        if self.mode == "hang":
            while (await self._next(ws))["event"] != "stop":
                pass
            return
        if self.mode == "sloppy":  # Twilio warns about these and carries on
            await ws.send_bytes(b"\x00\x01")
            await ws.send_text(json.dumps({"event": "clear", "streamSid": "MZwrong"}))
        long = self.mode == "barge"
        await self._play(ws, tone(3000 if long else 800), "greeting")
        await self._caller_turn(ws, clear_on_speech=long)
        await self._play(ws, tone(400), "goodbye")
        while "goodbye" not in self.marks:
            await self._next(ws)
        await ws.close(code=1000)


@contextlib.asynccontextmanager
async def fake_bot(mode: str = "interview", token: str = TOKEN) -> AsyncIterator[FakeBot]:
    port = free_port()  # outside the ephemeral range
    bot = FakeBot(f"http://127.0.0.1:{port}", token, mode)
    app = Starlette(
        routes=[
            Route("/twilio/voice", bot.webhook, methods=["POST"]),
            Route("/twilio/stream-ended", bot.webhook, methods=["POST"]),
            WebSocketRoute("/twilio/media", bot.media),
        ]
    )
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    try:
        yield bot
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


def options(bot: FakeBot, **overrides: Any) -> softphone.Options:
    values: dict[str, Any] = {"url": bot.base, "token": TOKEN, "timeout": 20, "out": io.StringIO()}
    return softphone.Options(**{**values, **overrides})


def test_playout_echoes_marks_like_twilio() -> None:
    playout = Playout()
    assert playout.add_mark("empty") == ["empty"]  # nothing queued: at once
    playout.add_audio(b"\x00" * 200)
    assert playout.add_mark("m1") == []
    assert playout.tick() == ([], b"\x00" * 160)
    marks, frame = playout.tick()
    assert marks == [] and frame is not None and frame[:40] == b"\x00" * 40
    assert frame[40:] == b"\xff" * 120  # a short tail is padded with silence
    assert playout.tick() == (["m1"], None)  # echoed once its audio has played
    playout.add_audio(b"\x00" * 1600)
    playout.add_mark("m2")
    playout.add_audio(b"\x00" * 160)
    playout.add_mark("m3")
    playout.tick()
    assert playout.clear() == ["m2", "m3"]  # clear: every pending mark at once
    assert playout.tick() == ([], None) and playout.queued_bytes == 0


def test_parse_connect() -> None:
    twiml = (
        '<?xml version="1.0"?><Response><Connect action="https://b/x">'
        '<Stream url="wss://b/twilio/media"><Parameter name="a" value="1"/></Stream>'
        "</Connect></Response>"
    )
    assert softphone.parse_connect(twiml) == ("wss://b/twilio/media", "https://b/x", {"a": "1"},
                                              ["Connect"])  # fmt: skip
    assert softphone.parse_connect("<Response><Say>no</Say><Hangup/></Response>")[0] is None


async def test_call_plays_out_in_real_time_and_records(tmp_path: Path) -> None:
    async with fake_bot() as bot:
        record = tmp_path / "call.wav"
        opts = options(bot, say=["Hello there."], record=record)
        report = await softphone.run_call(opts)
    assert report.status == "completed" and report.exit_code == 0, report.reason
    kinds = [e["event"] for e in bot.received]
    assert kinds[:2] == ["connected", "start"]
    start = bot.received[1]
    assert start["start"]["customParameters"] == {"token": "t0k"}
    assert start["start"]["mediaFormat"] == {
        "encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}  # fmt: skip
    assert start["start"]["callSid"].startswith("CA") and len(start["start"]["callSid"]) == 34
    media = [e for e in bot.received if e["event"] == "media"]
    assert [int(e["sequenceNumber"]) for e in bot.received[1:]] == list(range(1, len(bot.received)))
    assert [int(e["media"]["chunk"]) for e in media] == list(range(1, len(media) + 1))
    assert all(len(base64.b64decode(e["media"]["payload"])) == 160 for e in media)
    assert 0.75 <= bot.marks["greeting"] <= 1.0  # echoed once 800 ms had played
    assert bot.forms["/twilio/voice"]["CallStatus"] == "ringing"
    assert bot.forms["/twilio/stream-ended"]["CallSid"] == start["start"]["callSid"]
    assert report.action_twiml is not None and "Hangup" in report.action_twiml
    assert len(report.response_times_ms) == 1 and 250 <= report.response_times_ms[0] <= 600
    assert report.unplayed_ms == 0
    with wave.open(str(record)) as wav:
        assert (wav.getnchannels(), wav.getframerate()) == (2, 8000)
        frames = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").reshape(-1, 2)
    caller_rms, bot_rms = np.sqrt(np.mean(frames.astype(float) ** 2, axis=0))
    assert caller_rms > 200 and bot_rms > 1000
    timeline = opts.out.getvalue()
    assert "response time" in timeline and "completed: the bot ended the call" in timeline


async def test_barge_in_honours_clear() -> None:
    async with fake_bot("barge") as bot:
        opts = options(bot, say=["Wait a moment."], barge_in_after=0.5)
        report = await softphone.run_call(opts)
    assert report.exit_code == 0, report.reason
    assert len(report.barge_ins) == 1
    barge = report.barge_ins[0]
    assert 480 <= barge.start_ms - report.bot_segments[0][0] <= 560
    assert barge.silence_after_ms is not None and barge.silence_after_ms <= 80
    assert bot.marks["greeting"] < 1.5  # the cleared mark came back early
    assert "BARGE-IN" in opts.out.getvalue() and "fell silent" in opts.out.getvalue()


async def test_wav_caller_and_protocol_warnings(tmp_path: Path) -> None:
    wav = tmp_path / "caller.wav"
    t = np.arange(16000) / 16000
    voice = (8000 * np.sin(2 * np.pi * 300 * t)).astype(np.int16)  # 1 s at 16 kHz
    audio.write_wav(wav, 16000, np.concatenate([np.zeros(24000, np.int16), voice]))
    async with fake_bot("sloppy") as bot:
        report = await softphone.run_call(options(bot, wav=wav))
    assert report.exit_code == 0, report.reason
    assert [w[:5] for w in report.warnings] == ["31950", "31951"]
    assert len(report.caller_segments) == 1
    start, end = report.caller_segments[0]
    assert 1480 <= start <= 1520 and 2480 <= end <= 2520  # the WAV's speech, resampled to 8 kHz


async def test_bad_signature_is_refused() -> None:
    async with fake_bot(token="another-token") as bot:
        report = await softphone.run_call(options(bot, say=["Hi."]))
    assert report.status == "refused" and report.exit_code == 2
    assert "403" in report.reason


async def test_timeout_hangs_up_with_stop() -> None:
    async with fake_bot("hang") as bot:
        report = await softphone.run_call(options(bot, timeout=1.0))
        for _ in range(100):
            if bot.received and bot.received[-1]["event"] == "stop":
                break
            await asyncio.sleep(0.01)
    assert report.status == "timeout" and report.exit_code == 3
    assert bot.received[-1]["event"] == "stop"
    assert bot.received[-1]["stop"]["callSid"] == bot.received[1]["start"]["callSid"]


async def test_abnormal_close_is_an_error() -> None:
    async with fake_bot("crash") as bot:
        report = await softphone.run_call(options(bot))
    assert report.status == "error" and report.exit_code == 1
    assert "1011" in report.reason


async def test_an_apology_or_silent_hang_up_is_not_a_normal_end() -> None:
    async with fake_bot("apology") as bot:
        report = await softphone.run_call(options(bot))
    assert report.status == "error" and "Sorry, something went wrong." in report.reason


async def test_main_signs_with_the_dev_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.config import load_settings

    monkeypatch.chdir(tmp_path)
    for name in ("TWILIO_AUTH_TOKEN", "TWILIO_ACCOUNT_SID", "TWILIO_PHONE_NUMBER", "PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    token = load_settings({"DATA_DIR": str(tmp_path / "data")}).twilio_auth_token
    parser = argparse.ArgumentParser()
    softphone.add_arguments(parser)
    async with fake_bot(token=token) as bot:
        args = parser.parse_args(["--url", bot.base, "--say", "Hello.", "--timeout", "20"])
        code = await asyncio.to_thread(softphone.main, args)
    assert code == 0
    out = capsys.readouterr().out
    assert "call completed" in out and "bot response times" in out
