"""Bad input and failing peers: each is refused or logged, and nothing else is disturbed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.fakes import audio
from tests.fakes.signing import twilio_signature
from tests.fakes.twilio_media import CallConnectError, FakeTwilioCall
from tests.fakes.voicelive import FakeVoiceLive
from tests.support import AUTH_TOKEN
from tests.support.bridge import bridge, voice_params


async def test_webhooks_refuse_bad_signatures_and_bad_forms(tmp_path: Path) -> None:
    async with bridge(tmp_path) as b:
        params = voice_params("CA" + "1" * 32)
        for path in ("/twilio/voice", "/twilio/status", "/twilio/stream-ended"):
            bad = await b.post(path, params, token="not-the-auth-token")
            assert bad.status_code == 403, path
            assert bad.text == "invalid X-Twilio-Signature\n"
            missing = await b.post(path, params, signature="")
            assert missing.status_code == 403, path
        tampered = twilio_signature(AUTH_TOKEN, b.settings.url_for("/twilio/voice"), params)
        changed = {**params, "From": "+19995550100"}
        assert (await b.post("/twilio/voice", changed, signature=tampered)).status_code == 403
        no_sid = {k: v for k, v in params.items() if k != "CallSid"}
        response = await b.post("/twilio/voice", no_sid)
        assert response.status_code == 400 and "CallSid" in response.text
        huge = {**params, "Padding": "x" * 100_000}
        assert (await b.post("/twilio/voice", huge)).status_code == 413
        status = await b.post(
            "/twilio/status", {"CallSid": params["CallSid"], "StreamEvent": "stream-started"}
        )
        assert status.status_code == 204
        assert b.vl.sessions == [], "no model session is opened for a refused webhook"


async def test_signatures_are_checked_against_public_url_behind_a_proxy(tmp_path: Path) -> None:
    async with bridge(tmp_path, PUBLIC_URL="https://bot.example.com") as b:
        call = FakeTwilioCall(b.ws_url(), AUTH_TOKEN)
        stream_url, params, _ = await b.answer(call.call_sid)
        assert stream_url == "wss://bot.example.com/twilio/media"
        # Signed over the local URL the request actually hit: refused.
        with pytest.raises(CallConnectError) as refused:
            await FakeTwilioCall(b.ws_url(), AUTH_TOKEN).connect()
        assert refused.value.status == 403
        # Signed over the public URL Twilio used: accepted.
        call.custom_parameters.update(params)
        call.signature_url = stream_url
        async with call:
            await call.connect()
            await call.start()
            session = await b.vl.wait_for_session(1)
            await session.wait_event("response.create")


async def test_stream_upgrade_without_a_valid_signature_is_refused(tmp_path: Path) -> None:
    async with bridge(tmp_path) as b:
        for signature in ("", "bm9wZQ=="):
            with pytest.raises(CallConnectError) as refused:
                await FakeTwilioCall(b.ws_url(), AUTH_TOKEN, signature=signature).connect()
            assert refused.value.status == 403
        with pytest.raises(CallConnectError):
            await FakeTwilioCall(b.ws_url(), None).connect()


@pytest.mark.parametrize("problem", ["no-token", "wrong-call", "reused", "forged", "unicode"])
async def test_stream_with_a_bad_token_is_closed_without_forwarding_audio(
    tmp_path: Path, problem: str
) -> None:
    async with bridge(tmp_path) as b:
        good = await b.call()
        token = good.custom_parameters["token"]
        await b.vl.wait_for_session(1)
        # The good stream has been taken (the bot sends it audio) before the bad one comes:
        # otherwise a reused token could be the first use, and the good call the refused one.
        await good.wait_for(lambda: len(good.received_audio) > 0, timeout=5, what="greeting")
        tokens = {
            "no-token": {},
            "wrong-call": {"token": token},
            "reused": {"token": token},
            "forged": {"token": "9999999999.abcd.0123456789abcdef0123456789abcdef"},
            "unicode": {"token": "²²².0123456789abcdef." + "é" * 32},
        }
        kwargs = {"call_sid": good.call_sid} if problem == "reused" else {}
        async with FakeTwilioCall(
            b.ws_url(), AUTH_TOKEN, custom_parameters=tokens[problem], **kwargs
        ) as bad:
            await bad.connect()
            await bad.start()
            await bad.send_media(audio.ulaw_tone(1000, 20))
            assert await bad.wait_closed(timeout=2) == 1008
            assert bad.received_audio == b""
        await good.hangup()
        await good.aclose()
        # Only the good call's session exists, and it got only the good call's audio.
        assert len(b.vl.sessions) == 1


async def test_stream_that_never_starts_is_closed(tmp_path: Path) -> None:
    async with bridge(tmp_path, STREAM_START_TIMEOUT_S="0.3") as b:
        async with FakeTwilioCall(b.ws_url(), AUTH_TOKEN) as call:
            await call.connect()
            await call.send_raw(
                json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})
            )
            loop = asyncio.get_running_loop()
            opened = loop.time()
            assert await call.wait_closed(timeout=2) == 1008
            assert 0.25 <= loop.time() - opened < 1.5
        assert b.vl.sessions == []


async def test_malformed_frames_are_skipped_and_the_call_goes_on(tmp_path: Path) -> None:
    fake = FakeVoiceLive(energy_vad=False)
    async with bridge(tmp_path, fake) as b:
        call = FakeTwilioCall(b.ws_url(), AUTH_TOKEN)
        stream_url, params, _ = await b.answer(call.call_sid)
        call.custom_parameters.update(params)
        call.signature_url = stream_url
        async with call:
            await call.connect()
            # Media before start is ignored, not forwarded.
            await call.send_raw(
                json.dumps(
                    {"event": "media", "streamSid": call.stream_sid, "media": {"payload": "/w=="}}
                )
            )
            await call.start()
            session = await b.vl.wait_for_session(1)
            await session.wait_event("response.create")
            for frame in (
                "{not json",
                b"\x00\x01\x02",
                json.dumps(
                    {
                        "event": "media",
                        "streamSid": call.stream_sid,
                        "media": {"payload": "!!not base64!!"},
                    }
                ),
                json.dumps(
                    {"event": "media", "streamSid": "MZ-other", "media": {"payload": "/w=="}}
                ),
                json.dumps({"event": "teleport", "streamSid": call.stream_sid}),
                json.dumps(
                    {
                        "event": "media",
                        "streamSid": call.stream_sid,
                        "media": {"payload": "/" * 200_000},
                    }
                ),
                "[]",
                "[" * 50_000,  # deep nesting within the size limit
                json.dumps(
                    {
                        "event": "media",
                        "streamSid": call.stream_sid,
                        "media": {"payload": "/w==", "timestamp": 1e999},
                    }
                ),
                json.dumps(
                    {
                        "event": "start",
                        "streamSid": call.stream_sid,
                        "start": {"callSid": call.call_sid, "mediaFormat": "x"},
                    }
                ),
            ):
                await call.send_raw(frame)
            await call.speak(b"\x01" * 320, realtime=False)
            await session.wait_for(lambda: len(session.appended_audio) == 2 * 960)
            assert not call.closed
            await call.hangup()
            await session.closed.wait()


@pytest.mark.contract_exempt("the fake sends an unknown event type and a bad delta on purpose")
async def test_model_errors_and_unknown_events_do_not_end_the_call(tmp_path: Path) -> None:
    fake = FakeVoiceLive(energy_vad=False)
    async with bridge(tmp_path, fake) as b:
        async with await b.call() as call:
            session = await b.vl.wait_for_session(1)
            await session.send_error("rate_limit_exceeded", "slow down")
            await session.send({"type": "avatar.animation.delta", "data": [1, 2]})
            await session.send_raw("not json at all")
            await session.send(
                {"type": "response.audio.delta", "response_id": "r", "item_id": "i", "delta": "***"}
            )
            await call.wait_for(lambda: call.played_ms() >= 1400, timeout=5)
            before = len(session.appended_audio)
            await session.wait_for(lambda: len(session.appended_audio) > before + 960 * 5)
            assert not call.closed


async def test_model_refusing_the_connection_ends_the_call_with_an_apology(
    tmp_path: Path,
) -> None:
    async with bridge(tmp_path, FakeVoiceLive(refuse_status=503)) as b:
        async with await b.call() as call:
            assert await call.wait_closed(timeout=3) == 1000
            assert call.received_audio == b""
        ended = await b.post("/twilio/stream-ended", {"CallSid": call.call_sid})
        assert "<Say>We're sorry" in ended.text and ended.text.endswith("<Hangup /></Response>")
        assert [h.status for h in b.vl.handshakes] == [503, 503]  # pre-open, then on start


async def test_model_dropping_mid_call_is_survived_while_other_calls_go_on(
    tmp_path: Path,
) -> None:
    fake = FakeVoiceLive(
        energy_vad=False,
        speed=1.0,
        response_audio=lambda i, fmt: audio.encode(
            audio.tone(500, 6000, audio.FORMAT_RATES[fmt], 0.3), fmt
        ),
    )
    async with bridge(tmp_path, fake) as b:
        async with await b.call() as doomed, await b.call() as other:
            s1 = await b.vl.wait_for_session(1)
            s2 = await b.vl.wait_for_session(2)
            await doomed.wait_for(lambda: doomed.played_ms() > 300, timeout=3)
            victim = s1 if s1.events_of("response.create") and s1.appended_ms > 0 else s2
            victim_call, survivor = (doomed, other) if victim is s1 else (other, doomed)
            await victim.close(1001, "going away")
            # The dropped call gets a new session at once and goes on; the other is untouched.
            fresh = await b.vl.wait_for_session(3, timeout=3)
            await fresh.wait_event("response.create", timeout=3)
            for call in (victim_call, survivor):
                played = call.played_ms()
                await call.wait_for(lambda c=call, p=played: c.played_ms() > p + 500, timeout=4)
                assert not call.closed
            assert len(b.vl.sessions) == 3


async def test_twilio_vanishing_without_stop_ends_the_call_after_the_idle_timeout(
    tmp_path: Path,
) -> None:
    async with bridge(tmp_path, FakeVoiceLive(energy_vad=False), STREAM_IDLE_TIMEOUT_S="0.5") as b:
        async with await b.call(continuous=False) as call:
            session = await b.vl.wait_for_session(1)
            await asyncio.wait_for(session.closed.wait(), 3)
            assert await call.wait_closed(timeout=2) == 1000


async def test_a_tool_call_from_a_cancelled_response_does_not_hang_up(tmp_path: Path) -> None:
    def audio_for(index: int, fmt: str) -> bytes:
        ms = 6000 if index == 0 else 800
        return audio.encode(audio.tone(400 + 150 * index, ms, audio.FORMAT_RATES[fmt], 0.3), fmt)

    async with bridge(tmp_path, FakeVoiceLive(speed=2.0, response_audio=audio_for)) as b:
        async with await b.call() as call:
            session = await b.vl.wait_for_session(1)
            await call.wait_for(lambda: call.played_ms() >= 800, timeout=5)
            goodbye = session.responses[0]
            await call.speak(audio.ulaw_tone(1000, 300, 0.5))  # "wait, one more question"
            await call.wait_for(lambda: len(call.clears) == 1, timeout=3)
            # The cut-off response's end_interview arrives late, as Voice Live may send it.
            late = {"type": "response.function_call_arguments.done", "response_id": goodbye.id,
                    "item_id": "item_late", "output_index": 1, "call_id": "call_late",
                    "name": "end_interview", "arguments": "{}"}  # fmt: skip
            await session.send(late)
            await session.wait_for(lambda: len(session.responses) == 2, timeout=5)
            played = call.played_ms()
            await call.wait_for(lambda: call.played_ms() >= played + 600, timeout=5)
            assert not call.closed, "the call goes on"
