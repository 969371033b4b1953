"""The local engine over a real WebSocket: a cough or an "mm-hmm" while it speaks is no turn
and no interruption; words are, and cut it at once."""

from __future__ import annotations

import numpy as np

from bot.localengine import LocalEngine, audio
from tests.localengine.test_localengine import kinds, open_peer, silence, speech, spoken

TURN_DETECTION = {
    "type": "azure_semantic_vad",
    "threshold": 0.5,
    "silence_duration_ms": 500,
    "speech_duration_ms": 250,
    "remove_filler_words": True,
    "create_response": True,
    "interrupt_response": True,
}


async def test_a_cough_and_a_hum_leave_the_response_whole_words_cut_it() -> None:
    local = LocalEngine(speed=1.0)  # real time, so the greeting is still streaming
    url = (await local.start()).replace("http://", "ws://")
    try:
        peer = await open_peer(url, turn_detection=TURN_DETECTION)
        await peer.send("response.create")
        await peer.until("response.audio.delta")
        cough, hum = audio.cough(150, 8000), audio.hum(400, 8000)
        await peer.append(np.concatenate([cough, silence(700), hum, silence(700)]))
        events = await peer.until("response.done")
        assert "input_audio_buffer.speech_started" not in kinds(events)
        assert "input_audio_buffer.committed" not in kinds(events), "no turn either"
        assert events[-1]["response"]["status"] == "completed"
        # Words interrupt the next response.
        await peer.send("response.create")
        await peer.until("response.audio.delta")
        await peer.append(np.concatenate([speech("Sorry, can I ask something?"), silence(800)]))
        events = await peer.until("response.done")
        assert "input_audio_buffer.speech_started" in kinds(events)
        assert events[-1]["response"]["status_details"]["reason"] == "turn_detected"
        await peer.ws.close()
    finally:
        await local.stop()


async def test_without_filler_removal_a_long_hum_interrupts() -> None:
    local = LocalEngine(speed=1.0)
    url = (await local.start()).replace("http://", "ws://")
    try:
        detection = {**TURN_DETECTION, "remove_filler_words": False}
        peer = await open_peer(url, turn_detection=detection)
        await peer.send("response.create")
        await peer.until("response.audio.delta")
        await peer.append(np.concatenate([audio.hum(400, 8000), silence(700)]))
        events = await peer.until("response.done")
        assert "input_audio_buffer.speech_started" in kinds(events)
        assert events[-1]["response"]["status"] == "cancelled"
        await peer.ws.close()
    finally:
        await local.stop()


async def test_an_azure_voice_rate_sets_the_pace() -> None:
    local = LocalEngine(speed=20.0)
    url = (await local.start()).replace("http://", "ws://")
    lengths = []
    for rate in (None, "0.6"):
        voice = {"type": "azure-standard", "name": "en-US-AvaNeural"}
        peer = await open_peer(url, voice=voice if rate is None else {**voice, "rate": rate})
        await peer.send("response.create")
        lengths.append(len(spoken(await peer.until("response.done"))))
        await peer.ws.close()
    await local.stop()
    assert lengths[1] > lengths[0] * 1.4  # the same words, 0.6 times as fast
