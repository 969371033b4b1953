"""A bot killed mid-call leaves a recording that plays up to a few seconds before the kill."""

from __future__ import annotations

import asyncio
import io
import signal
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile

from tests.fakes import audio
from tests.fakes.voicelive import FakeVoiceLive
from tests.support import bot_env, bot_process, free_port, make_settings
from tests.support.bridge import Bridge

API_TOKEN = "api-token-for-tests-0123456789"
LOST_AT_MOST_S = 3.0  # a flush every 2 s, 0.2 s held back, a FLAC block (0.5 s) in the encoder
pytestmark = pytest.mark.xdist_group("recording")


async def test_killed_mid_call_the_recording_is_kept_up_to_the_last_seconds(
    tmp_path: Path,
) -> None:
    fake = FakeVoiceLive(response_audio=lambda i, fmt: audio.encode(
        audio.tone(500.0, 20_000, audio.FORMAT_RATES[fmt], 0.3), fmt))  # fmt: skip
    async with fake:
        port = free_port()
        env = bot_env(tmp_path, port, fake.endpoint, API_TOKEN=API_TOKEN, RECORDING="on",
                      LOG_LEVEL="warning")  # fmt: skip
        settings = make_settings(port, tmp_path)
        base = f"http://127.0.0.1:{port}"
        async with bot_process(env, port) as proc:
            call = await Bridge(base, settings, fake).call()
            await fake.wait_for_session(1)
            await call.wait_for(lambda: call.played_ms() >= 6000, timeout=10)
            started = call.started_at
            killed_after = asyncio.get_running_loop().time() - started
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            await call.aclose()
        part = tmp_path / "recordings" / f"{call.call_sid}.flac.part"
        assert part.exists(), "the recording was written while the call ran"
        async with bot_process(env, port):
            headers = {"Authorization": f"Bearer {API_TOKEN}"}
            async with httpx.AsyncClient(base_url=base, headers=headers, timeout=20) as client:
                for _ in range(100):  # unfinished for 10 s (STALE_S) before it is mended
                    response = await client.get(f"/api/calls/{call.call_sid}/recording")
                    if response.status_code != 409:
                        break
                    await asyncio.sleep(0.5)
    assert response.status_code == 200, response.text
    samples, rate = soundfile.read(io.BytesIO(response.content), dtype="int16")
    kept = len(samples) / rate
    assert killed_after - LOST_AT_MOST_S <= kept <= killed_after + 0.1, (kept, killed_after)
    assert abs(samples[:, 1]).max() > 1000, "the bot's side is in it"
    assert not part.exists() and (tmp_path / "recordings" / f"{call.call_sid}.flac").exists()


async def test_a_blob_left_unfinished_is_mended_on_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.recording import blob
    from bot.recording.build import build_store
    from tests.support.azurite import azurite

    monkeypatch.setattr(blob, "UPLOAD_S", 0.0)
    with azurite(tmp_path) as connection:
        settings = make_settings(None, tmp_path, RECORDINGS_CONNECTION_STRING=connection)
        store = build_store(settings)
        sid = "CA" + "4" * 32
        sink = store.sink(sid)
        sink.path.parent.mkdir(parents=True, exist_ok=True)
        tone = audio.ulaw_to_linear(audio.ulaw_tone(440, 4000))
        out = soundfile.SoundFile(sink.path, "w", samplerate=8000, channels=2, format="FLAC",
                                  subtype="PCM_16")  # fmt: skip
        out.write(np.stack([tone, tone], axis=1))
        out.flush()
        await asyncio.to_thread(sink.flushed)  # committed as the call runs; then the crash
        info = await store.stat(sid)
        assert info is not None and not info.complete, "still being recorded"
        store.live.clear()  # another process, after the crash
        monkeypatch.setattr(blob, "STALE_S", 0.0)
        info = await store.stat(sid)
        assert info is not None and info.complete and info.duration_s is not None
        data = b"".join([chunk async for chunk in store.read(sid, 0, info.bytes - 1)])
        out.close()
    samples, _ = soundfile.read(io.BytesIO(data), dtype="int16")
    assert 3.0 <= len(samples) / 8000 == info.duration_s <= 4.0
    assert np.array_equal(samples[:, 0], tone[: len(samples)])
