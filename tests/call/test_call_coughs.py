"""A cough does not cut the bot, words do: the profile's speech_duration_ms reaches the model's
turn detection, and once speech_started comes the bot falls silent at once (real sockets)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.fakes import audio
from tests.fakes.voicelive import FakeVoiceLive
from tests.support.bridge import bridge


def long_greeting(index: int, fmt: str) -> bytes:
    rate = audio.FORMAT_RATES[fmt]
    return audio.encode(audio.tone(400.0 + 150.0 * index, 8000 if index == 0 else 800, rate,
                                   0.3), fmt)  # fmt: skip


async def test_a_short_burst_does_not_cut_the_bot_a_long_one_does(tmp_path: Path) -> None:
    fake = FakeVoiceLive(response_audio=long_greeting, pre_generated_ms_per_char=120)
    async with bridge(tmp_path, fake) as b:
        async with await b.call() as call:
            session = await b.vl.wait_for_session(1)
            config = (await session.wait_event("session.update"))["session"]
            assert config["turn_detection"]["speech_duration_ms"] == 250  # the profile's
            assert config["turn_detection"]["remove_filler_words"] is True
            await call.wait_for(lambda: call.played_ms() >= 800, timeout=5)
            # A 150 ms cough: the service's VAD hears it, but it is shorter than 250 ms.
            await call.speak(audio.ulaw_tone(1000, 150, 0.5))
            await call.speak(audio.ulaw_silence(600))
            assert session.sent_of("input_audio_buffer.speech_started") == []
            assert call.clears == [] and session.events_of("conversation.item.truncate") == []
            assert session.events_of("response.cancel") == []
            # A real interruption: 800 ms of speech. The bot falls silent once it is detected.
            onset_ms = session.appended_ms
            speaking = asyncio.create_task(call.speak(audio.ulaw_tone(1000, 800, 0.5)))
            await call.wait_for(lambda: len(call.clears) == 1, timeout=3)
            started = session.sent_of("input_audio_buffer.speech_started")[0]
            assert abs(started["audio_start_ms"] - onset_ms) <= 40, "the onset, not the event"
            started_at = next(t for t, e in session.events_sent if e is started)
            assert call.clears[0].at - started_at < 0.2, "instant once speech_started came"
            truncate = await session.wait_event("conversation.item.truncate", timeout=3)
            assert abs(truncate["audio_end_ms"] - call.clears[0].played_ms) <= 20
            await speaking
