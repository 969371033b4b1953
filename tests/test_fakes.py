"""Tests of the test fakes themselves, against twilio's validator and tiny local peers."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import numpy as np
import pytest
from twilio.request_validator import RequestValidator
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import InvalidStatus
from websockets.http11 import Request, Response

from tests.fakes import audio
from tests.fakes.signing import twilio_signature
from tests.fakes.twilio_media import (
    BINARY_FRAME,
    INVALID_MESSAGE,
    CallConnectError,
    FakeTwilioCall,
)
from tests.fakes.voicelive import FakeSession, FakeVoiceLive

TOKEN = "12345678901234567890123456789012"
PUBLIC_URL = "wss://bot.example.com/twilio/media"

# ---- signing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("https://bot.example.com/twilio/voice", {"CallSid": "CA1", "From": "+15551234567"}),
        ("https://example.com/myapp.php?foo=1&bar=2", {"Digits": "1234", "To": "+18005551212"}),
        (PUBLIC_URL, None),
        ("https://bot.example.com/twilio/voice", {"b": "2", "a": "1", "Body": "héllo wörld"}),
    ],
)
def test_signature_matches_twilio_library(url: str, params: dict[str, str] | None) -> None:
    expected = RequestValidator(TOKEN).compute_signature(url, params or {})
    assert twilio_signature(TOKEN, url, params) == expected


def test_signature_known_vector() -> None:
    # Pinned values, as computed by twilio 9.13's RequestValidator.compute_signature.
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert twilio_signature("12345", url, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert twilio_signature("12345", PUBLIC_URL) == "xfHDfpT47+GGEe+HqDnVlPDvUCM="


# ---- audio ---------------------------------------------------------------------------------


def test_g711_reference_points() -> None:
    assert audio.ulaw_to_linear(bytes([0x00, 0x80, 0xFF, 0x7F])).tolist() == [-32124, 32124, 0, 0]
    assert audio.alaw_to_linear(bytes([0xD5, 0x55])).tolist() == [8, -8]
    assert audio.linear_to_ulaw(np.array([0], dtype=np.int16)) == b"\xff"
    codes = bytes(range(256))
    assert audio.linear_to_alaw(audio.alaw_to_linear(codes)) == codes
    tone = audio.tone(1000, 100, 8000, 0.5)
    assert np.max(np.abs(audio.ulaw_decode(audio.ulaw_encode(tone)) - tone)) < 0.02


# ---- a tiny Media Streams app for FakeTwilioCall -------------------------------------------


class MiniApp:
    """A minimal bidirectional-stream app: checks the signature with twilio, records, replies."""

    def __init__(self, public_url: str | None = None) -> None:
        self.public_url = public_url
        self.inbound: list[dict[str, Any]] = []
        self.ws: ServerConnection | None = None
        self.connected = asyncio.Event()
        self.start_event: dict[str, Any] | None = None
        self.server: Server | None = None

    async def __aenter__(self) -> MiniApp:
        self.server = await serve(self._handler, "127.0.0.1", 0, process_request=self._check)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}/twilio/media"

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        signature = request.headers.get("X-Twilio-Signature", "")
        signed_url = self.public_url or self.url
        if not RequestValidator(TOKEN).validate(signed_url, {}, signature):
            return connection.respond(403, "bad signature\n")
        return None

    async def _handler(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.connected.set()
        async for message in ws:
            event = json.loads(message)
            self.inbound.append(event)
            if event["event"] == "start":
                self.start_event = event

    @property
    def sid(self) -> str:
        assert self.start_event is not None
        return self.start_event["streamSid"]

    async def send(self, event: dict[str, Any] | str | bytes) -> None:
        assert self.ws is not None
        await self.ws.send(event if isinstance(event, str | bytes) else json.dumps(event))

    async def media(self, mulaw: bytes) -> None:
        payload = base64.b64encode(mulaw).decode()
        await self.send({"event": "media", "streamSid": self.sid, "media": {"payload": payload}})

    async def mark(self, name: str) -> None:
        await self.send({"event": "mark", "streamSid": self.sid, "mark": {"name": name}})

    async def clear(self) -> None:
        await self.send({"event": "clear", "streamSid": self.sid})


async def _started_call(app: MiniApp, **kwargs: Any) -> FakeTwilioCall:
    call = FakeTwilioCall(app.url, TOKEN, **kwargs)
    await call.connect()
    await call.start()
    await call.wait_for(lambda: app.start_event is not None, 2)
    return call


async def test_twilio_signature_and_refusal() -> None:
    async with MiniApp(public_url=PUBLIC_URL) as app:
        async with FakeTwilioCall(app.url, TOKEN, signature_url=PUBLIC_URL) as call:
            await call.connect()
        with pytest.raises(CallConnectError) as refused:
            await FakeTwilioCall(app.url, TOKEN).connect()  # signs the ws:// URL: wrong
        assert refused.value.status == 403
        with pytest.raises(CallConnectError) as refused:
            await FakeTwilioCall(app.url, None).connect()  # no header at all
        assert refused.value.status == 403
        bad = FakeTwilioCall(app.url, TOKEN, signature_url=PUBLIC_URL, signature="AAAA")
        with pytest.raises(CallConnectError):
            await bad.connect()


async def test_twilio_inbound_events_shape() -> None:
    async with MiniApp() as app:
        call = await _started_call(app, custom_parameters={"token": "tok-1"})
        async with call:
            await call.speak(audio.ulaw_tone(300, 60), realtime=False)
            await call.send_dtmf("5")
            await call.hangup()
            await call.wait_for(lambda: len(app.inbound) == 7, 2)
        connected, start, m1, m2, m3, dtmf, stop = app.inbound
        assert connected == {"event": "connected", "protocol": "Call", "version": "1.0.0"}
        assert start["sequenceNumber"] == "1" and start["streamSid"] == call.stream_sid
        assert start["start"]["customParameters"] == {"token": "tok-1"}
        assert start["start"]["callSid"] == call.call_sid and call.call_sid.startswith("CA")
        assert start["start"]["mediaFormat"] == {
            "encoding": "audio/x-mulaw",
            "sampleRate": 8000,
            "channels": 1,
        }
        assert [m["media"]["chunk"] for m in (m1, m2, m3)] == ["1", "2", "3"]
        assert [m["media"]["timestamp"] for m in (m1, m2, m3)] == ["20", "40", "60"]
        assert [m["sequenceNumber"] for m in (m1, m2, m3, dtmf, stop)] == ["2", "3", "4", "5", "6"]
        assert len(base64.b64decode(m1["media"]["payload"])) == 160
        assert dtmf["dtmf"] == {"track": "inbound_track", "digit": "5"}
        assert stop["stop"] == {"accountSid": call.account_sid, "callSid": call.call_sid}
        assert call.closed and call.closed_by_app is False


async def test_twilio_speak_is_paced_in_real_time() -> None:
    async with MiniApp() as app:
        async with await _started_call(app) as call:
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            await call.speak(audio.ulaw_tone(300, 200))
            assert 0.19 <= loop.time() - t0 < 0.3
            await call.wait_for(lambda: len(app.inbound) == 12, 1)


async def test_twilio_mark_after_audio_and_at_once_when_idle() -> None:
    async with MiniApp() as app:
        async with await _started_call(app) as call:
            loop = asyncio.get_running_loop()
            await app.mark("idle")
            t0 = loop.time()
            await app.media(audio.ulaw_tone(500, 300))
            await app.mark("after-300")
            await call.wait_for(lambda: len(call.marks_echoed) == 2, 2)
            idle, after = call.marks_echoed
            assert idle.name == "idle" and idle.at - t0 < 0.05 and not idle.by_clear
            assert after.name == "after-300" and 0.28 <= after.at - t0 < 0.4
            assert not after.by_clear
            assert call.played_audio() == call.received_audio
            assert call.played_ms() == pytest.approx(300)
            assert call.max_buffered_ms == pytest.approx(300, abs=15)
            await call.wait_for(lambda: len([e for e in app.inbound if e["event"] == "mark"]) == 2)
            echoed = [e["mark"]["name"] for e in app.inbound if e["event"] == "mark"]
            assert echoed == ["idle", "after-300"]
            assert call.protocol_errors == []


async def test_twilio_clear_drops_audio_and_echoes_pending_marks() -> None:
    async with MiniApp() as app:
        async with await _started_call(app) as call:
            loop = asyncio.get_running_loop()
            sent = audio.ulaw_tone(500, 1000)
            await app.media(sent[:4000])
            await app.mark("half")
            await app.media(sent[4000:])
            await app.mark("end")
            t0 = loop.time()
            await asyncio.sleep(0.2)
            assert 0 < call.buffered_ms() < 820
            await app.clear()
            await call.wait_for(lambda: len(call.marks_echoed) == 2, 1)
            assert [m.name for m in call.marks_echoed] == ["half", "end"]
            assert all(m.by_clear for m in call.marks_echoed)
            assert call.marks_echoed[1].at - t0 < 0.3
            heard = call.played_audio()
            assert heard == sent[: len(heard)]
            assert len(heard) == pytest.approx(1600, abs=240)
            assert call.clears[0].played_ms == pytest.approx(len(heard) / 8, abs=1)
            await asyncio.sleep(0.1)
            assert call.played_audio() == heard and call.buffered_ms() == 0
            assert sum(c.n_bytes for c in call.playback_timeline) == len(heard)
            # new audio after the clear plays at once
            await app.media(audio.ulaw_silence(100))
            await call.wait_for(lambda: call.played_ms() >= len(heard) / 8 + 100, 1)


async def test_twilio_gaps_show_starvation() -> None:
    async with MiniApp() as app:
        async with await _started_call(app) as call:
            await app.media(audio.ulaw_tone(500, 100))
            await asyncio.sleep(0.2)
            await app.media(audio.ulaw_tone(500, 100))
            await call.wait_for(lambda: call.played_ms() >= 200, 1)
            (gap,) = call.gaps(min_ms=20)
            assert gap.ms == pytest.approx(100, abs=25)
            assert call.gaps(min_ms=20, max_ms=50) == []


async def test_twilio_protocol_errors_are_recorded_not_raised() -> None:
    async with MiniApp() as app:
        async with await _started_call(app) as call:
            good = base64.b64encode(b"\xff" * 160).decode()
            await app.send(b"\x00\x01")
            await app.send("{not json")
            await app.send({"event": "dance", "streamSid": app.sid})
            await app.send({"event": "clear", "streamSid": "MZwrong"})
            await app.send({"event": "clear"})
            await app.send({"event": "media", "streamSid": app.sid, "media": {"payload": "@@"}})
            await app.send(
                {"event": "media", "streamSid": app.sid, "media": {"payload": good, "x": 1}}
            )
            await app.send({"event": "mark", "streamSid": app.sid, "mark": {}})
            await call.wait_for(lambda: len(call.protocol_errors) == 8, 2)
            codes = [e.code for e in call.protocol_errors]
            assert codes == [BINARY_FRAME] + [INVALID_MESSAGE] * 7
            assert call.received_audio == b"" and call.clears == [] and not call.closed


async def test_twilio_app_closing_is_observed() -> None:
    async with MiniApp() as app:
        async with await _started_call(app) as call:
            assert app.ws is not None
            await app.ws.close(4000, "bye")
            assert await call.wait_closed(2) == 4000
            assert call.closed_by_app is True and call.close_reason == "bye"
            with pytest.raises(TimeoutError, match="played_ms"):
                await call.wait_for(lambda: False, 0.05)


async def test_twilio_continuous_line_sends_silence_between_speech() -> None:
    async with MiniApp() as app:
        async with await _started_call(app, continuous=True) as call:
            await asyncio.sleep(0.1)
            await call.speak(audio.ulaw_tone(300, 60))
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.05)  # let the app read what is in flight
        media = [e for e in app.inbound if e["event"] == "media"]
        payloads = [base64.b64decode(m["media"]["payload"]) for m in media]
        assert len(media) >= 9
        assert payloads[0] == b"\xff" * 160 and any(p != b"\xff" * 160 for p in payloads)
        assert [int(m["media"]["chunk"]) for m in media] == list(range(1, len(media) + 1))


# ---- Voice Live ----------------------------------------------------------------------------


class VLClient:
    """A bare client for the fake Voice Live: send events, read events in order."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []

    async def send(self, event: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(event))

    async def next(self, timeout: float = 2.0) -> dict[str, Any]:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            event = json.loads(await self.ws.recv())
        self.events.append(event)
        return event

    async def until(self, kind: str, timeout: float = 3.0) -> list[dict[str, Any]]:  # noqa: ASYNC109
        """Read events up to and including the first of type `kind`."""
        seen = []
        async with asyncio.timeout(timeout):
            while True:
                event = await self.next(timeout)
                seen.append(event)
                if event["type"] == kind:
                    return seen

    async def append(self, data: bytes) -> None:
        await self.send(
            {"type": "input_audio_buffer.append", "audio": base64.b64encode(data).decode()}
        )


async def _vl_connect(
    fake: FakeVoiceLive, *, model: str = "gpt-realtime", url: str | None = None, **headers: str
) -> tuple[VLClient, FakeSession]:
    ws = await connect(
        url or fake.ws_url(model=model),
        additional_headers=headers or {"api-key": "test-key"},
        proxy=None,
    )
    client = VLClient(ws)
    created = await client.next()
    assert created["type"] == "session.created" and created["session"]["id"].startswith("sess_")
    assert isinstance(created["session"]["expires_at"], int)
    return client, await fake.wait_for_session(len(fake.sessions))


async def _refused_status(url: str, headers: dict[str, str]) -> int:
    with pytest.raises(InvalidStatus) as refused:
        await connect(url, additional_headers=headers, proxy=None)
    return refused.value.response.status_code


async def test_voicelive_handshake_checks() -> None:
    async with FakeVoiceLive(bearer_token_check=lambda token: token == "entra") as fake:
        base = f"ws://127.0.0.1:{fake.port}/voice-live/realtime"
        key = {"api-key": "test-key"}
        assert await _refused_status(fake.ws_url(), {}) == 401
        assert await _refused_status(fake.ws_url(), {"api-key": "nope"}) == 401
        assert await _refused_status(fake.ws_url(), {"Authorization": "Bearer x"}) == 401
        assert await _refused_status(f"{base}?model=gpt-realtime", key) == 404
        assert await _refused_status(f"{base}?api-version=2026-07-15", key) == 404
        assert await _refused_status(fake.ws_url().replace("/realtime", "/rt"), key) == 404
        fake.refuse_status = 429
        assert await _refused_status(fake.ws_url(), key) == 429
        fake.refuse_status = None
        _, session = await _vl_connect(fake, Authorization="Bearer entra")
        assert session.request_path == "/voice-live/realtime"
        assert session.query == {"api-version": "2026-07-15", "model": "gpt-realtime"}
        assert session.headers["authorization"] == "Bearer entra"
        assert [h.status for h in fake.handshakes] == [401, 401, 401, 404, 404, 404, 429, 101]


TURN_ORDER = [
    "response.created",
    "response.output_item.added",
    "conversation.item.created",
    "response.content_part.added",
]
TURN_END = [
    "response.audio.done",
    "response.audio_transcript.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.done",
]


async def test_voicelive_response_turn_order_and_usage() -> None:
    async with FakeVoiceLive(speed=float("inf"), first_delta_delay_ms=0) as fake:
        client, session = await _vl_connect(fake)
        await client.send({"type": "session.update", "session": {"instructions": "Be brief."}})
        updated = await client.next()
        assert updated["type"] == "session.updated"
        assert updated["session"]["instructions"] == "Be brief."
        assert session.config["instructions"] == "Be brief."
        await client.send({"type": "response.create"})
        events = await client.until("response.done")
        kinds = [e["type"] for e in events]
        assert kinds[:4] == TURN_ORDER and kinds[-5:] == TURN_END
        middle = set(kinds[4:-5])
        assert middle == {"response.audio.delta", "response.audio_transcript.delta"}
        deltas = [e for e in events if e["type"] == "response.audio.delta"]
        pcm = b"".join(base64.b64decode(d["delta"]) for d in deltas)
        assert len(deltas) == 15 and len(pcm) == 72000  # 1.5 s of 24 kHz PCM16
        assert audio.dominant_frequency(audio.pcm16_decode(pcm), 24000) == pytest.approx(400, abs=2)
        item = events[2]["item"]
        assert item["role"] == "assistant" and item["id"].startswith("item_")
        assert {d["item_id"] for d in deltas} == {item["id"]}
        done = events[-1]["response"]
        assert done["status"] == "completed" and done["id"].startswith("resp_")
        usage = done["usage"]
        assert usage["output_token_details"]["audio_tokens"] == 30
        assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
        assert set(usage["input_token_details"]) == {
            "text_tokens",
            "audio_tokens",
            "cached_tokens",
            "cached_tokens_details",
        }
        text = "".join(e["delta"] for e in events if e["type"] == "response.audio_transcript.delta")
        assert text == "This is assistant response 0."
        response = session.responses[0]
        assert response.status == "completed" and response.audio_ms_sent == 1500
        # second response: different tone; g711_ulaw output is 8 kHz μ-law
        await client.send(
            {"type": "session.update", "session": {"output_audio_format": "g711_ulaw"}}
        )
        await client.until("session.updated")
        await client.send({"type": "response.create"})
        events = await client.until("response.done")
        mulaw = b"".join(
            base64.b64decode(e["delta"]) for e in events if e["type"] == "response.audio.delta"
        )
        assert len(mulaw) == 12000
        assert audio.dominant_frequency(audio.ulaw_decode(mulaw), 8000) == pytest.approx(550, abs=2)


@pytest.mark.contract_exempt("sends an unknown event type and a non-JSON frame on purpose")
async def test_voicelive_cancel_and_errors() -> None:
    async with FakeVoiceLive(speed=1.0) as fake:
        client, session = await _vl_connect(fake)
        await client.send({"type": "response.cancel", "event_id": "evt_1"})
        error = await client.next()
        assert error["type"] == "error"
        assert error["error"]["type"] == "invalid_request_error"
        assert error["error"]["event_id"] == "evt_1"
        await client.send({"type": "response.create"})
        await client.until("response.audio.delta")
        # one already active: with cancel_previous false the service refuses the new one
        create = {"type": "response.create", "event_id": "evt_2"}
        await client.send({**create, "response": {"cancel_previous": False}})
        refused = (await client.until("error"))[-1]["error"]
        assert refused["code"] == "conversation_already_has_active_response"
        assert refused["event_id"] == "evt_2" and len(session.responses) == 1
        await client.send({"type": "response.cancel"})
        done = (await client.until("response.done"))[-1]["response"]
        assert done["status"] == "cancelled"
        assert done["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
        assert session.responses[0].status == "cancelled" and len(session.cancels) == 2
        await client.send({"type": "no.such.event"})
        assert (await client.next())["error"]["param"] == "type"
        await client.ws.send("{oops")
        assert (await client.next())["type"] == "error"
        await client.send({"type": "session.update", "session": {"modalities": ["audio"]}})
        assert (await client.next())["type"] == "error"
        await client.send({"type": "session.update", "session": {"voice": "alloy"}})
        assert (await client.next())["type"] == "session.updated"  # still open


async def test_voicelive_truncate() -> None:
    async with FakeVoiceLive(speed=float("inf"), first_delta_delay_ms=0) as fake:
        client, session = await _vl_connect(fake)
        await client.send({"type": "response.create"})
        events = await client.until("response.done")
        item_id = events[-1]["response"]["output"][0]["id"]

        async def truncate(item: str, end_ms: int) -> dict[str, Any]:
            await client.send(
                {
                    "type": "conversation.item.truncate",
                    "item_id": item,
                    "content_index": 0,
                    "audio_end_ms": end_ms,
                }
            )
            return await client.next()

        ok = await truncate(item_id, 700)
        assert ok == {
            "type": "conversation.item.truncated",
            "event_id": ok["event_id"],
            "item_id": item_id,
            "content_index": 0,
            "audio_end_ms": 700,
        }
        assert (await truncate("item_unknown", 10))["type"] == "error"
        assert (await truncate(item_id, 1501))["type"] == "error"
        assert (await truncate(item_id, 1500))["type"] == "conversation.item.truncated"
        assert len(session.truncates) == 4


async def test_voicelive_energy_vad_turn_and_barge_in() -> None:
    async with FakeVoiceLive(speed=1.0, first_delta_delay_ms=0) as fake:
        client, session = await _vl_connect(fake)
        update = {
            "input_audio_format": "g711_ulaw",
            "input_audio_transcription": {"model": "gpt-4o-transcribe"},
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 300},
        }
        await client.send({"type": "session.update", "session": update})
        await client.until("session.updated")
        caller = audio.ulaw_silence(500) + audio.ulaw_tone(300, 400) + audio.ulaw_silence(400)
        for i in range(0, len(caller), 800):  # 100 ms appends
            await client.append(caller[i : i + 800])
        events = await client.until("response.created")
        kinds = [e["type"] for e in events]
        assert kinds == [
            "input_audio_buffer.speech_started",
            "input_audio_buffer.speech_stopped",
            "input_audio_buffer.committed",
            "conversation.item.created",
            "conversation.item.input_audio_transcription.completed",
            "response.created",
        ]
        assert events[0]["audio_start_ms"] == 500
        assert events[1]["audio_end_ms"] == 900 + 300  # speech ended at 900; silence included
        assert events[3]["item"]["role"] == "user"
        assert events[4]["transcript"] == "caller utterance 0"
        assert len({e["item_id"] for e in events[:3]} | {events[3]["item"]["id"]}) == 1
        assert session.appended_audio == caller and sum(n for _, n in session.append_log) == 10400

        # barge in while the response is streaming (real time): 2 late deltas, then cancelled
        await client.until("response.audio.delta")
        await client.append(audio.ulaw_tone(300, 100))
        events = await client.until("response.done")
        kinds = [e["type"] for e in events]
        started = kinds.index("input_audio_buffer.speech_started")
        assert events[started]["audio_start_ms"] == 1300
        assert kinds[started + 1 :].count("response.audio.delta") == 2
        assert events[-1]["response"]["status"] == "cancelled"
        assert events[-1]["response"]["status_details"]["reason"] == "turn_detected"
        assert session.responses[0].deltas_after_interrupt == 2


@pytest.mark.contract_exempt("the fake sends an unknown server event type on purpose")
async def test_voicelive_manual_triggers() -> None:
    async with FakeVoiceLive(speed=float("inf"), first_delta_delay_ms=0) as fake:
        client, session = await _vl_connect(fake)
        await session.caller_turn("hello there")
        events = await client.until("response.done")
        assert events[0]["type"] == "input_audio_buffer.speech_started"
        assert "conversation.item.input_audio_transcription.completed" not in [
            e["type"] for e in events
        ]  # transcription not configured
        await session.send({"type": "some.future.event", "x": 1})
        await session.send_error("session_expired", "Session expired")
        assert (await client.next())["type"] == "some.future.event"
        assert (await client.next())["error"]["code"] == "session_expired"
        await client.send({"type": "input_audio_buffer.commit", "event_id": "c1"})
        assert (await client.next())["error"]["event_id"] == "c1"  # empty buffer
        event = await session.wait_event("input_audio_buffer.commit", 1)
        assert event["event_id"] == "c1"
        await session.close(1001, "bye")
        await asyncio.wait_for(client.ws.wait_closed(), 2)
        assert client.ws.close_code == 1001
        await session.wait_for(lambda: session.closed.is_set(), 1)


async def test_voicelive_sessions_expire_as_reported_and_accept_slowly_on_demand() -> None:
    async with FakeVoiceLive(session_ttl_s=0.3, enforce_ttl=True) as fake:
        loop = asyncio.get_running_loop()
        fake.accept_delay_s = 0.2
        began = loop.time()
        client, session = await _vl_connect(fake)
        assert loop.time() - began >= 0.2
        seen = await client.until("error", timeout=2)
        error = seen[-1]["error"]
        assert error["code"] == "session_expired" and "60 minutes" in error["message"]
        await asyncio.wait_for(session.closed.wait(), 2)
        assert session.close_code == 1001 and session.expired_at is not None
        assert loop.time() - began >= 0.5
    async with FakeVoiceLive() as fake:  # expire() by hand, e.g. mid-interview
        client, session = await _vl_connect(fake)
        await session.expire()
        assert (await client.until("error"))[-1]["error"]["code"] == "session_expired"
        assert session.close_code == 1001


# ---- Voice Live: behaviours from the corrected reference ----------------------------------


async def _update(client: VLClient, session: dict[str, Any], event_id: str) -> dict[str, Any]:
    """Send a session.update; return the answer (session.updated or error)."""
    await client.send({"type": "session.update", "event_id": event_id, "session": session})
    return await client.next()


@pytest.mark.parametrize("model", ["gpt-realtime", "gpt-realtime-mini", "gpt-4o-realtime-preview"])
async def test_voicelive_openai_realtime_models_refuse_azure_speech(model: str) -> None:
    async with FakeVoiceLive() as fake:
        client, session = await _vl_connect(fake, model=model)
        update = {
            "instructions": "Be brief.",
            "output_audio_format": "g711_ulaw",
            "input_audio_transcription": {"model": "azure-speech", "language": "en-US"},
        }
        answer = await _update(client, update, "evt_cfg1")
        assert answer["type"] == "error" and answer["event_id"].startswith("event_")
        error = answer["error"]
        assert error["type"] == "invalid_request_error" and error["code"] == "invalid_value"
        assert error["param"] == "session.input_audio_transcription.model"
        assert error["event_id"] == "evt_cfg1"
        assert model in error["message"] and "azure-speech" in error["message"]
        # the WHOLE update is not applied
        assert session.config["instructions"] == ""
        assert session.config["output_audio_format"] == "pcm16"
        assert session.config["input_audio_transcription"] is None
        assert session.sent_of("session.updated") == []
        assert session.config_errors == [
            {"param": "session.input_audio_transcription.model", "event_id": "evt_cfg1"}
        ]
        for allowed in ("whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe",
                        "gpt-4o-transcribe-diarize", "mai-transcribe"):  # fmt: skip
            update["input_audio_transcription"] = {"model": allowed, "language": "en"}
            answer = await _update(client, update, f"evt_{allowed}")
            assert answer["type"] == "session.updated", answer
            assert answer["session"]["input_audio_transcription"]["model"] == allowed
        assert session.config["output_audio_format"] == "g711_ulaw"
        eou = {"model": "semantic_detection_v1", "threshold_level": "default", "timeout_ms": 1000}
        td = {"type": "azure_semantic_vad", "end_of_utterance_detection": eou}
        answer = await _update(client, {"turn_detection": td, "voice": "echo"}, "evt_td")
        assert answer["type"] == "error"
        assert answer["error"]["param"] == "session.turn_detection.end_of_utterance_detection"
        assert answer["error"]["event_id"] == "evt_td" and model in answer["error"]["message"]
        assert session.config["voice"] == "alloy"  # not applied
        td = {"type": "azure_semantic_vad", "end_of_utterance_detection": None}
        assert (await _update(client, {"turn_detection": td}, "e"))["type"] == "session.updated"


async def test_voicelive_other_models_and_agents_accept_only_azure_speech() -> None:
    async with FakeVoiceLive() as fake:
        client, session = await _vl_connect(fake, model="gpt-4.1")
        answer = await _update(client, {"input_audio_transcription": {"model": "whisper-1"}}, "w")
        assert answer["type"] == "error" and answer["error"]["event_id"] == "w"
        assert answer["error"]["param"] == "session.input_audio_transcription.model"
        assert "gpt-4.1" in answer["error"]["message"] and "whisper-1" in answer["error"]["message"]
        transcription = {"model": "azure-speech", "language": "en-US", "phrase_list": ["Acme"]}
        eou = {"model": "semantic_detection_v1"}
        update = {
            "input_audio_transcription": transcription,
            "turn_detection": {"type": "azure_semantic_vad", "end_of_utterance_detection": eou},
        }
        answer = await _update(client, update, "a")
        assert answer["type"] == "session.updated"
        assert session.config["input_audio_transcription"] == transcription
        url = (
            fake.ws_url().split("?")[0]
            + "?api-version=2026-07-15&agent-name=a&agent-project-name=p"
        )
        client, session = await _vl_connect(fake, url=url)
        answer = await _update(client, {"input_audio_transcription": {"model": "whisper-1"}}, "x")
        assert answer["type"] == "error"
        answer = await _update(client, {"input_audio_transcription": transcription}, "y")
        assert answer["type"] == "session.updated"


@pytest.mark.contract_exempt("server_vad with remove_filler_words, on purpose")
async def test_voicelive_refuse_params_on_demand() -> None:
    async with FakeVoiceLive(refuse_params={"session.input_audio_noise_reduction"}) as fake:
        assert fake.refuse_params == {"session.input_audio_noise_reduction"}
        client, session = await _vl_connect(fake)
        update = {
            "instructions": "Hi",
            "input_audio_noise_reduction": {"type": "azure_deep_noise_suppression"},
        }
        answer = await _update(client, update, "evt_n")
        assert answer["type"] == "error"
        assert answer["error"]["param"] == "session.input_audio_noise_reduction"
        assert answer["error"]["event_id"] == "evt_n" and answer["error"]["code"] == "invalid_value"
        assert session.config["instructions"] == ""
        del update["input_audio_noise_reduction"]
        assert (await _update(client, update, "evt_ok"))["type"] == "session.updated"
        fake.refuse_params.add("session.voice")
        answer = await _update(client, {"voice": {"type": "openai", "name": "cedar"}}, "evt_v")
        assert (
            answer["error"]["param"] == "session.voice" and answer["error"]["event_id"] == "evt_v"
        )
        fake.refuse_params = {"session.turn_detection.remove_filler_words"}
        td = {"type": "server_vad", "remove_filler_words": True}
        answer = await _update(client, {"turn_detection": td}, "evt_f")
        assert answer["error"]["param"] == "session.turn_detection.remove_filler_words"
        td = {"type": "server_vad"}
        assert (await _update(client, {"turn_detection": td}, "evt_g"))["type"] == "session.updated"
    async with FakeVoiceLive(refuse_session_params={"session.instructions"}) as fake:
        client, _ = await _vl_connect(fake)
        answer = await _update(client, {"instructions": "x"}, "evt_i")
        assert answer["error"]["param"] == "session.instructions"


def _no_name_on_done(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == "response.function_call_arguments.done"]


async def test_voicelive_function_calls_as_the_reference_shows_them() -> None:
    async with FakeVoiceLive(
        speed=float("inf"), first_delta_delay_ms=0, pre_generated_ms_per_char=60
    ) as fake:
        client, session = await _vl_connect(fake)
        calls = [("record_assessment", '{"question":1,"score":3}'), ("end_interview", "{}")]
        response = await session.function_calls(calls)
        events = await client.until("response.done")
        assert [e["type"] for e in events] == [
            "response.created",
            *[
                "response.output_item.added",
                "conversation.item.created",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
            ]
            * 2,
            "response.done",
        ]
        assert all(e["event_id"].startswith("event_") for e in events)
        assert [(c["name"], c["arguments"]) for c in response.calls] == calls
        ids = [c["call_id"] for c in response.calls]
        assert len(set(ids)) == 2 and all(i.startswith("call_") and len(i) > 5 for i in ids)
        added = [e for e in events if e["type"] == "response.output_item.added"]
        assert [e["output_index"] for e in added] == [0, 1]
        assert added[0]["item"] == {
            "id": added[0]["item"]["id"],
            "object": "realtime.item",
            "type": "function_call",
            "status": "in_progress",
            "name": "record_assessment",
            "call_id": ids[0],
            "arguments": "",
        }
        created = [e for e in events if e["type"] == "conversation.item.created"]
        assert [e["item"]["name"] for e in created] == ["record_assessment", "end_interview"]
        done = _no_name_on_done(events)
        assert [set(e) for e in done] == [
            {"type", "event_id", "response_id", "item_id", "output_index", "call_id", "arguments"}
        ] * 2
        assert [(e["call_id"], e["arguments"], e["output_index"]) for e in done] == [
            (ids[0], calls[0][1], 0),
            (ids[1], "{}", 1),
        ]
        assert done[0]["response_id"] == response.id == events[0]["response"]["id"]
        items_done = [e["item"] for e in events if e["type"] == "response.output_item.done"]
        assert [(i["status"], i["arguments"]) for i in items_done] == [
            ("completed", calls[0][1]),
            ("completed", "{}"),
        ]
        final = events[-1]["response"]
        assert final["status"] == "completed" and final["output"] == items_done
        assert final["usage"]["output_token_details"]["audio_tokens"] == 0
        assert response.status == "completed" and response.audio == b""

        # outputs by call_id; an unknown call_id is an error naming the client event
        output = {"type": "function_call_output", "call_id": ids[0], "output": '{"ok":true}'}
        await client.send({"type": "conversation.item.create", "event_id": "o1", "item": output})
        assert (await client.next())["type"] == "conversation.item.created"
        bad = {**output, "call_id": "call_unknown"}
        await client.send({"type": "conversation.item.create", "event_id": "o2", "item": bad})
        error = (await client.next())["error"]
        assert error["event_id"] == "o2" and error["param"] == "item.call_id"
        assert session.tool_outputs == {ids[0]: '{"ok":true}'}

        # name on .done on demand; a spoken message before the calls
        response = await session.function_calls(
            [("end_interview", '{"reason":"done"}')], name_on_done=True, text="Goodbye now."
        )
        events = await client.until("response.done")
        assert [e["name"] for e in _no_name_on_done(events)] == ["end_interview"]
        output = events[-1]["response"]["output"]
        assert [(o["type"], o.get("role")) for o in output] == [
            ("message", "assistant"),
            ("function_call", None),
        ]
        transcript = next(e for e in events if e["type"] == "response.audio_transcript.done")
        assert transcript["transcript"] == "Goodbye now." and transcript["output_index"] == 0
        assert _no_name_on_done(events)[0]["output_index"] == 1
        assert response.audio_ms_sent == 720  # 12 characters at 60 ms


async def test_voicelive_cached_tokens_with_and_without_details() -> None:
    async with FakeVoiceLive(speed=float("inf"), cached_tokens=3) as fake:
        client, _ = await _vl_connect(fake)
        await client.send({"type": "response.create"})
        details = (await client.until("response.done"))[-1]["response"]["usage"][
            "input_token_details"
        ]
        assert details["cached_tokens"] == 3
        assert sum(details["cached_tokens_details"].values()) == 3
    async with FakeVoiceLive(speed=float("inf"), cached_tokens=10**6, cached_details=False) as fake:
        client, _ = await _vl_connect(fake)
        await client.send({"type": "session.update", "session": {"instructions": "x" * 400}})
        await client.until("session.updated")
        await client.send({"type": "response.create"})
        usage = (await client.until("response.done"))[-1]["response"]["usage"]
        details = usage["input_token_details"]
        assert set(details) == {"text_tokens", "audio_tokens", "cached_tokens"}
        assert details["cached_tokens"] == usage["input_tokens"] > 100  # capped at the input


async def test_voicelive_failed_responses_on_demand() -> None:
    async with FakeVoiceLive(speed=float("inf"), first_delta_delay_ms=0) as fake:
        client, session = await _vl_connect(fake)
        fake.fail_responses(2)
        await client.send({"type": "response.create"})
        events = await client.until("response.done")
        assert [e["type"] for e in events] == ["response.created", "response.done"]
        done = events[-1]["response"]
        assert done["status"] == "failed" and done["output"] == []
        error = done["status_details"]["error"]
        assert done["status_details"]["type"] == "failed"
        assert error["type"] == "rate_limit_error" and error["code"] == "rate_limit_exceeded"
        assert error["message"].startswith("Rate limit reached")
        assert done["usage"]["output_tokens"] == 0
        assert done["usage"]["output_token_details"] == {"text_tokens": 0, "audio_tokens": 0}
        await session.caller_turn("hello")  # a server-initiated response fails too
        events = await client.until("response.done")
        assert events[-1]["response"]["status"] == "failed"
        assert "response.audio.delta" not in [e["type"] for e in events]
        assert fake.failed_responses == 2
        fake.fail_responses(1, code="server_error", error_type="server_error", message="Oops")
        await session.function_calls([("end_interview", "{}")])
        done = (await client.until("response.done"))[-1]["response"]
        assert done["status_details"]["error"] == {
            "type": "server_error",
            "code": "server_error",
            "message": "Oops",
        }
        await client.send({"type": "response.create"})  # the next one speaks again
        done = (await client.until("response.done"))[-1]["response"]
        assert done["status"] == "completed" and fake.failed_responses == 3
        assert [r.status for r in session.responses] == ["failed"] * 3 + ["completed"]


@pytest.mark.contract_exempt("a malformed pre_generated_assistant_message on purpose")
async def test_voicelive_pre_generated_message_is_spoken_exactly() -> None:
    async with FakeVoiceLive(
        speed=float("inf"), first_delta_delay_ms=0, pre_generated_ms_per_char=60
    ) as fake:
        client, session = await _vl_connect(fake)
        await client.send({"type": "session.update", "session": {"instructions": "Be rude."}})
        await client.until("session.updated")
        text = "Hello, this is Acme.  Thanks for  calling!"
        message = {"content": [{"type": "text", "text": text}]}
        await client.send(
            {"type": "response.create", "response": {"pre_generated_assistant_message": message}}
        )
        events = await client.until("response.done")
        deltas = [e for e in events if e["type"] == "response.audio_transcript.delta"]
        assert "".join(e["delta"] for e in deltas) == text
        done = next(e for e in events if e["type"] == "response.audio_transcript.done")
        assert done["transcript"] == text
        pcm = b"".join(
            base64.b64decode(e["delta"]) for e in events if e["type"] == "response.audio.delta"
        )
        assert len(pcm) == 48 * 60 * len(text)  # 60 ms per character, 24 kHz PCM16
        assert audio.dominant_frequency(audio.pcm16_decode(pcm), 24000) == pytest.approx(400, abs=2)
        item = events[-1]["response"]["output"][0]
        assert item["role"] == "assistant" and item["content"][0]["transcript"] == text
        assert session.items[item["id"]]["role"] == "assistant"
        assert session.responses[0].pre_generated == text
        # short lines last at least 300 ms
        short = {"content": [{"type": "text", "text": "Hi."}]}
        await client.send(
            {"type": "response.create", "response": {"pre_generated_assistant_message": short}}
        )
        await client.until("response.done")
        assert session.responses[1].audio_ms_sent == 300
        assert session.responses[1].transcript == "Hi."
        bad = {"pre_generated_assistant_message": {"content": "Hi."}}
        await client.send({"type": "response.create", "event_id": "p3", "response": bad})
        error = (await client.until("error"))[-1]["error"]
        assert error["event_id"] == "p3" and len(session.responses) == 2


async def test_voicelive_response_create_while_active_cancels_it_by_default() -> None:
    async with FakeVoiceLive(speed=1.0, first_delta_delay_ms=0) as fake:
        client, session = await _vl_connect(fake)
        await client.send({"type": "response.create"})
        await client.until("response.audio.delta")
        message = {"content": [{"type": "text", "text": "One moment."}]}
        create = {"type": "response.create", "event_id": "evt_new"}
        await client.send({**create, "response": {"pre_generated_assistant_message": message}})
        events = await client.until("response.done")
        first = events[-1]["response"]
        assert first["id"] == session.responses[0].id and first["status"] == "cancelled"
        assert first["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
        events = await client.until("response.done")
        assert events[0]["type"] == "response.created"
        assert events[-1]["response"]["status"] == "completed"
        assert [r.status for r in session.responses] == ["cancelled", "completed"]
        assert [e["event_id"] for e in session.creates_while_active] == ["evt_new"]
        assert session.sent_of("error") == []
