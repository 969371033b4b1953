"""A whole call over real sockets: webhook, stream, greeting, relay, pacing, barge-in, ending."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.fakes import audio
from tests.fakes.twilio_media import FakeTwilioCall
from tests.fakes.voicelive import FakeVoiceLive
from tests.support import AUTH_TOKEN
from tests.support.bridge import bridge, tone_power


def tones(lengths_ms: dict[int, int], default_ms: int = 800):
    """Response n is a tone of 400 + 150 n Hz lasting lengths_ms.get(n, default_ms)."""

    def make(index: int, fmt: str) -> bytes:
        rate = audio.FORMAT_RATES[fmt]
        ms = lengths_ms.get(index, default_ms)
        return audio.encode(audio.tone(400.0 + 150.0 * index, ms, rate, 0.3), fmt)

    return make


def played_after(call: FakeTwilioCall, t: float) -> np.ndarray:
    """The caller-side samples played from loop time t on."""
    chunks = []
    for chunk in call._chunks:  # the fake's own playout record
        n = chunk.played_bytes(asyncio.get_running_loop().time())
        if n and chunk.start >= t:
            chunks.append(chunk.data[:n])
    return audio.ulaw_decode(b"".join(chunks)).astype(np.float64)


async def test_whole_call_greets_relays_and_ends_when_the_caller_hangs_up(tmp_path: Path) -> None:
    async with bridge(tmp_path, FakeVoiceLive(response_audio=tones({0: 1500}))) as b:
        call = FakeTwilioCall(b.ws_url(), AUTH_TOKEN, continuous=True)
        stream_url, params, root = await b.answer(call.call_sid)
        assert stream_url == b.settings.stream_url == b.ws_url()
        assert root.find("./Connect").get("action") == b.settings.url_for("/twilio/stream-ended")
        assert set(params) == {"token", "direction", "from", "to", "profile"}
        assert params["profile"] == "practice"
        assert params["from"] == "+1******0142" and params["direction"] == "inbound"
        # The webhook already opened and configured the model session, before any stream.
        session = await b.vl.wait_for_session(1)
        assert session.query == {"api-version": "2026-07-15", "model": "gpt-realtime"}
        assert session.headers["api-key"] == "test-key"
        config = (await session.wait_event("session.update"))["session"]
        assert config["turn_detection"]["type"] == "azure_semantic_vad"
        assert config["input_audio_noise_reduction"] == {"type": "azure_deep_noise_suppression"}
        assert config["input_audio_echo_cancellation"] == {"type": "server_echo_cancellation"}
        # gpt-realtime takes OpenAI transcription models only (azure-speech is refused).
        assert config["input_audio_transcription"] == {"model": "gpt-4o-transcribe",
                                                        "language": "en"}  # fmt: skip
        assert "end_of_utterance_detection" not in config["turn_detection"]
        assert config["input_audio_format"] == config["output_audio_format"] == "pcm16"
        assert config["voice"] == {"type": "azure-standard", "name": "en-US-AvaNeural"}
        assert "end_interview" in [t["name"] for t in config["tools"]]
        assert config["parallel_tool_calls"] is False
        assert session.events_of("response.create") == []

        call.custom_parameters.update(params)
        call.signature_url = stream_url
        async with call:
            await call.connect()
            await call.start()
            greet = (await session.wait_event("response.create"))["response"]
            assert greet["pre_generated_assistant_message"]["content"][0]["text"].startswith(
                "Hello, thanks for calling."
            )  # the profile's greeting, word for word, without inference
            assert session.sent_of("error") == [], "the session took the whole configuration"
            await call.wait_for(lambda: call.played_ms() >= 1500, timeout=5, what="greeting")
            greeting = audio.ulaw_decode(call.played_audio())
            assert abs(audio.dominant_frequency(greeting, 8000) - 400) < 10
            assert len(b.vl.sessions) == 1, "the pre-opened session is the one used"
            assert not call.protocol_errors
            # Caller audio reaches the model: 160 μ-law bytes become 960 bytes of PCM16 24 kHz.
            await session.wait_for(lambda: len(session.appended_audio) >= 960 * 20)
            sent = sum(
                len(e["media"]["payload"]) * 3 // 4
                for _, e in call.sent_events
                if e["event"] == "media"
            )
            await session.wait_for(lambda: len(session.appended_audio) >= sent * 6)
            async with httpx.AsyncClient(base_url=b.base) as client:
                assert (await client.get("/healthz")).json()["active_calls"] == 1
            call_tasks = {"from_twilio", "from_model", "to_twilio", "watch_twilio"}
            assert call_tasks <= {t.get_name() for t in asyncio.all_tasks()}
            await call.hangup()
            await session.closed.wait()
        async with httpx.AsyncClient(base_url=b.base) as client:
            await asyncio.sleep(0.05)
            assert not call_tasks & {t.get_name() for t in asyncio.all_tasks()}, "tasks outlived"
            assert (await client.get("/healthz")).json() == {"status": "ok", "active_calls": 0}


@pytest.mark.parametrize("still_sending", [True, False], ids=["mid-response", "response-sent"])
async def test_barge_in_clears_cancels_truncates_and_the_conversation_goes_on(
    tmp_path: Path, still_sending: bool
) -> None:
    # Voice Live sends 4x faster than real time: an 8 s answer is still arriving after 1 s
    # of playback; a 3 s one has fully arrived (only Twilio's playback is left to clear).
    length = 8000 if still_sending else 3000
    fake = FakeVoiceLive(response_audio=tones({0: length, 1: 800}), speed=4.0)
    async with bridge(tmp_path, fake) as b:
        async with await b.call() as call:
            session = await b.vl.wait_for_session(1)
            await call.wait_for(lambda: call.played_ms() >= 1000, timeout=5)
            speaking = asyncio.create_task(call.speak(audio.ulaw_tone(1000, 300, 0.5)))
            truncate = await session.wait_event("conversation.item.truncate", timeout=3)
            await call.wait_for(lambda: len(call.clears) == 1, timeout=1)
            started = session.sent_of("input_audio_buffer.speech_started")[0]
            started_at = next(t for t, e in session.events_sent if e is started)
            clear = call.clears[0]
            assert clear.at - started_at < 0.2, "the bot falls silent at once"
            first = session.responses[0]
            assert truncate["item_id"] == first.item_id
            assert abs(truncate["audio_end_ms"] - clear.played_ms) <= 20, (truncate, clear)
            if still_sending:
                assert session.events_of("response.cancel"), "the active response is cancelled"
                assert first.status == "cancelled"
                assert first.audio_ms_sent < length
            else:
                assert session.events_of("response.cancel") == [], "nothing left to cancel"
                assert first.status == "completed"
            await speaking
            # After the caller's turn the model answers (response 1, 550 Hz) and it is heard.
            await session.wait_for(lambda: len(session.responses) == 2, timeout=5)
            await call.wait_for(lambda: call.played_ms() >= clear.played_ms + 790, timeout=5)
            after = played_after(call, clear.at)
            assert tone_power(after, 8000, 550) > 0.1  # a 0.3-amplitude tone gives 0.15
            # Nothing of the cancelled response (400 Hz) reached the caller after the clear,
            # although the fake sent late deltas for it.
            assert first.deltas_after_interrupt >= 1 or not still_sending
            assert tone_power(after, 8000, 400) < 0.002
            assert call.gaps(min_ms=5, max_ms=400) == []


async def test_pacing_keeps_twilio_about_half_a_second_ahead_without_gaps(tmp_path: Path) -> None:
    fake = FakeVoiceLive(response_audio=tones({0: 3000}), speed=math.inf, energy_vad=False)
    async with bridge(tmp_path, fake) as b:
        async with await b.call() as call:
            session = await b.vl.wait_for_session(1)
            await session.wait_for(lambda: session.responses and session.responses[0].done_at)
            # The whole response arrived at once; Twilio is given it only as it plays.
            assert call.buffered_ms() <= 620
            await call.wait_for(lambda: call.played_ms() >= 3000, timeout=6)
            assert 400 <= call.max_buffered_ms <= 620, call.max_buffered_ms
            assert call.gaps(min_ms=2) == [], "the caller never waits while audio is queued"
            assert len(call.received_audio) == 3000 * 8


async def test_g711_passthrough_is_bit_exact_both_ways(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    greeting = rng.integers(0, 256, 7999, dtype=np.uint8).tobytes()  # not a whole frame
    fake = FakeVoiceLive(response_audio=lambda i, fmt: greeting, energy_vad=False, speed=math.inf)
    async with bridge(tmp_path, fake, AUDIO_FORMAT="g711_ulaw") as b:
        async with await b.call(continuous=False) as call:
            session = await b.vl.wait_for_session(1)
            config = (await session.wait_event("session.update"))["session"]
            assert config["input_audio_format"] == config["output_audio_format"] == "g711_ulaw"
            caller = rng.integers(0, 256, 1600, dtype=np.uint8).tobytes()
            await call.speak(caller, realtime=False)
            await session.wait_for(lambda: len(session.appended_audio) >= len(caller))
            assert session.appended_audio == caller
            await call.wait_for(lambda: len(call.received_audio) >= 8000, timeout=5)
            padded = greeting + b"\xff" * (8000 - len(greeting))
            assert call.received_audio == padded, "the tail is padded with μ-law silence"


async def test_alias_rejection_through_a_whole_call(tmp_path: Path) -> None:
    def mixture(index: int, fmt: str) -> bytes:
        rate = audio.FORMAT_RATES[fmt]
        x = audio.tone(1000, 1200, rate, 0.25) + audio.tone(6000, 1200, rate, 0.25)
        return audio.encode(x, fmt)

    fake = FakeVoiceLive(response_audio=mixture, energy_vad=False)
    async with bridge(tmp_path, fake) as b:
        async with await b.call() as call:
            await call.wait_for(lambda: call.played_ms() >= 1200, timeout=5)
            out = audio.ulaw_decode(call.played_audio()).astype(np.float64)[1600:8800]
            wanted, alias = tone_power(out, 8000, 1000), tone_power(out, 8000, 2000)
            assert wanted > 0.1  # a 0.25-amplitude tone gives 0.125
            # audioop.ratecv would leave the 6 kHz tone as a 2 kHz whistle at full strength.
            assert 20 * math.log10(wanted / max(alias, 1e-9)) >= 70


async def test_end_interview_hangs_up_after_the_goodbye_has_played(tmp_path: Path) -> None:
    fake = FakeVoiceLive(response_audio=tones({0: 1200}), speed=math.inf, energy_vad=False)
    async with bridge(tmp_path, fake) as b:
        async with await b.call() as call:
            session = await b.vl.wait_for_session(1)
            await session.wait_for(lambda: session.responses and session.responses[0].done_at)
            await session.send(
                {
                    "type": "response.function_call_arguments.done",
                    "response_id": session.responses[0].id,
                    "item_id": "item_fc",
                    "output_index": 1,
                    "call_id": "call_1",
                    "name": "end_interview",
                    "arguments": '{"reason": "finished"}',
                }
            )
            code = await call.wait_closed(timeout=5)
            assert code == 1000
            assert call.played_ms() >= 1199, "the goodbye played to the end before hang-up"
            assert call.closed_by_app
        ended = await b.post("/twilio/stream-ended", {"CallSid": call.call_sid})
        assert ended.status_code == 200
        assert "<Hangup />" in ended.text and "<Say>" not in ended.text
