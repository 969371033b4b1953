"""The console over the bot's own recordings: the runtime's FLAC store, sized, ranged, drawn."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import soundfile

from bot.console.charts import wav_peaks
from bot.console.recordings import StoredRecordings, recordings_of
from bot.recording.local import DirStore


def _flac(path: Path, seconds: float, loud_from: float) -> None:
    """Stereo 8 kHz: silence, then a loud bot (right) from `loud_from` seconds."""
    frames = int(seconds * 8000)
    audio = np.zeros((frames, 2), dtype=np.float32)
    audio[int(loud_from * 8000) :, 1] = 0.5 * np.sin(np.arange(frames - int(loud_from * 8000)))
    soundfile.write(path, audio, 8000, format="FLAC", subtype="PCM_16")


async def test_the_runtime_store_is_read_by_range_and_its_waveform_shows_the_speech(
    tmp_path: Path,
) -> None:
    store = DirStore(tmp_path)
    _flac(tmp_path / "CA1.flac", 4.0, loud_from=2.0)
    request = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(recordings=store)))
    view = recordings_of(request)  # type: ignore[arg-type]
    assert isinstance(view, StoredRecordings)
    info = await view.stat("CA1")
    whole = (tmp_path / "CA1.flac").read_bytes()
    assert info is not None and info.size == len(whole) and info.content_type == "audio/flac"
    assert await view.read("CA1", 10, 20) == whole[10:20], "[start, end) as the console asks"
    assert await view.stat("CA2") is None
    peaks = wav_peaks(await view.read("CA1", 0, info.size), buckets=8)
    assert peaks is not None and len(peaks) == 8
    assert max(peaks[:4]) == 0.0 and min(peaks[4:]) > 0.4, peaks  # silence, then the bot
